"""The municipality's Kita landscape (one schema per municipality).

Facilities, carriers, districts and family-daycare persons are public information about
organisations and professionals; they hold no children's data. Retention: kept while the
municipality is a tenant; exported and deleted with it.
"""

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils.translation import gettext_lazy as _


class AgeGroup(models.TextChoices):
    U3 = "U3", _("unter 3 Jahren (U3)")
    UE3 = "UE3", _("3 Jahre bis Schuleintritt (Ü3)")


class CareHours(models.IntegerChoices):
    H25 = 25, _("25 Stunden/Woche")
    H35 = 35, _("35 Stunden/Woche")
    H45 = 45, _("45 Stunden/Woche")


class FacilityTag(models.TextChoices):
    FAMILIENZENTRUM = "familienzentrum", _("Familienzentrum")
    BEWEGUNGSKITA = "bewegungskita", _("Bewegungskita")
    INKLUSION = "inklusion", _("inklusive Betreuung")
    WALDKITA = "waldkita", _("Waldkita")
    SPRACHKITA = "sprachkita", _("Sprach-Kita")
    BILINGUAL = "bilingual", _("bilingual")
    MINT = "mint", _("Haus der kleinen Forscher")
    PLUSKITA = "pluskita", _("plusKITA")


class District(models.Model):
    """Stadtbezirk (or a town, in a Kreis)."""

    name = models.CharField(_("Name"), max_length=100, unique=True)
    fachberatung_email = models.EmailField(
        _("E-Mail der Fachberatung Kindertagespflege"), blank=True
    )
    slug = models.SlugField(_("Kurzname"), max_length=100, unique=True)
    latitude = models.DecimalField(_("Breite"), max_digits=8, decimal_places=5, null=True)
    longitude = models.DecimalField(_("Länge"), max_digits=8, decimal_places=5, null=True)

    class Meta:
        verbose_name = _("Bezirk")
        verbose_name_plural = _("Bezirke")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Carrier(models.Model):
    """Träger: the organisation running one or more facilities."""

    class Kind(models.TextChoices):
        MUNICIPAL = "kommunal", _("kommunal")
        CATHOLIC = "katholisch", _("katholisch")
        PROTESTANT = "evangelisch", _("evangelisch")
        WELFARE = "wohlfahrt", _("Wohlfahrtsverband")
        PARENT_INITIATIVE = "elterninitiative", _("Elterninitiative")
        INDEPENDENT = "frei", _("freier Träger")
        COMPANY = "betrieblich", _("betrieblich")

    name = models.CharField(_("Name"), max_length=200, unique=True)
    kind = models.CharField(_("Trägerart"), max_length=20, choices=Kind.choices)
    email = models.EmailField(_("E-Mail (Geschäftsstelle)"), blank=True)
    website = models.URLField(_("Webseite"), blank=True)

    class Meta:
        verbose_name = _("Träger")
        verbose_name_plural = _("Träger")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Facility(models.Model):
    """A Kita (Kindertageseinrichtung)."""

    name = models.CharField(_("Name"), max_length=200)
    slug = models.SlugField(_("Kurzname"), max_length=220, unique=True)
    carrier = models.ForeignKey(
        Carrier, on_delete=models.PROTECT, related_name="facilities", verbose_name=_("Träger")
    )
    district = models.ForeignKey(
        District, on_delete=models.PROTECT, related_name="facilities", verbose_name=_("Bezirk")
    )
    street = models.CharField(_("Straße und Hausnummer"), max_length=200)
    postcode = models.CharField(_("PLZ"), max_length=5)
    city = models.CharField(_("Ort"), max_length=100)
    latitude = models.DecimalField(_("Breite"), max_digits=8, decimal_places=5)
    longitude = models.DecimalField(_("Länge"), max_digits=8, decimal_places=5)
    care_hours = ArrayField(
        models.PositiveSmallIntegerField(choices=CareHours.choices),
        verbose_name=_("Betreuungsumfänge"),
        default=list,
    )
    opens_at = models.TimeField(_("öffnet um"))
    closes_at = models.TimeField(_("schließt um"))
    tags = ArrayField(
        models.CharField(max_length=30, choices=FacilityTag.choices),
        verbose_name=_("Merkmale"),
        default=list,
        blank=True,
    )
    phone = models.CharField(_("Telefon (Einrichtung)"), max_length=40, blank=True)
    email = models.EmailField(_("E-Mail (Einrichtung)"), blank=True)
    concept = models.TextField(_("Pädagogisches Konzept"), blank=True, max_length=4000)
    closing_days = models.TextField(
        _("Schließtage"),
        blank=True,
        max_length=1000,
        help_text=_("z. B. drei Wochen in den Sommerferien, zwischen den Jahren"),
    )

    class Meta:
        verbose_name = _("Kita")
        verbose_name_plural = _("Kitas")
        ordering = ["name"]
        indexes = [
            # The facility finder lists a district's Kitas by name and filters by
            # features and care hours (array containment, `tags @> ARRAY[…]`).
            models.Index(fields=["district", "name"], name="facility_district_name_idx"),
            GinIndex(fields=["tags"], name="facility_tags_gin"),
            GinIndex(fields=["care_hours"], name="facility_care_hours_gin"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tag_labels(self) -> list[str]:
        return [str(FacilityTag(tag).label) for tag in self.tags if tag in FacilityTag.values]

    @property
    def total_places(self) -> int:
        return sum(offer.places for offer in self.age_groups.all())


class AgeGroupOffer(models.Model):
    """Places a facility offers for one age group."""

    facility = models.ForeignKey(
        Facility, on_delete=models.CASCADE, related_name="age_groups", verbose_name=_("Kita")
    )
    age_group = models.CharField(_("Altersgruppe"), max_length=3, choices=AgeGroup.choices)
    places = models.PositiveSmallIntegerField(_("Plätze"))

    class Meta:
        verbose_name = _("Platzangebot")
        verbose_name_plural = _("Platzangebote")
        ordering = ["age_group"]
        constraints = [
            models.UniqueConstraint(fields=["facility", "age_group"], name="one_offer_per_age")
        ]

    def __str__(self) -> str:
        return f"{self.facility_id}: {self.age_group} × {self.places}"


class FamilyDaycarePerson(models.Model):
    """Kindertagespflegeperson (Tagesmutter/Tagesvater), listed by district.

    Professional listing data only (name as advertised, district, places).
    """

    display_name = models.CharField(_("Name"), max_length=120)
    district = models.ForeignKey(
        District,
        on_delete=models.PROTECT,
        related_name="daycare_persons",
        verbose_name=_("Bezirk"),
    )
    places = models.PositiveSmallIntegerField(_("Plätze"), default=5)
    care_hours = ArrayField(
        models.PositiveSmallIntegerField(choices=CareHours.choices),
        verbose_name=_("Betreuungsumfänge"),
        default=list,
    )

    class Meta:
        verbose_name = _("Kindertagespflegeperson")
        verbose_name_plural = _("Kindertagespflegepersonen")
        ordering = ["district__name", "display_name"]

    def __str__(self) -> str:
        return self.display_name


# --- Pre-registration (Voranmeldung) --------------------------------------------------------
#
# Personal data: guardians' names and contact details, children's names and birth dates,
# the family's address. Collected only as far as allocation needs it. Retention: an
# application and its children's data are deleted 24 months after the desired start date or
# 6 months after withdrawal (see services.purge_expired_applications); history entries hold
# no personal data.


class PortalSettings(models.Model):
    """Per-municipality policy (one row per schema): wish limit and edit lock."""

    max_wishes = models.PositiveSmallIntegerField(_("höchstens Wunsch-Kitas"), default=5)
    edits_locked = models.BooleanField(_("Änderungen gesperrt (Vergaberunde läuft)"), default=False)
    lock_reason = models.CharField(_("Hinweis zur Sperre"), max_length=300, blank=True)
    reference_prefix = models.CharField(_("Präfix der Vorgangsnummern"), max_length=6, default="KP")

    class Meta:
        verbose_name = _("Portal-Einstellungen")
        verbose_name_plural = _("Portal-Einstellungen")

    def __str__(self) -> str:
        return str(_("Portal-Einstellungen"))

    @classmethod
    def current(cls) -> "PortalSettings":
        settings_row = cls.objects.first()
        return settings_row if settings_row is not None else cls.objects.create()


class Family(models.Model):
    """A family account: up to two guardians and their children."""

    created_at = models.DateTimeField(_("angelegt"), auto_now_add=True)

    class Meta:
        verbose_name = _("Familie")
        verbose_name_plural = _("Familien")

    def __str__(self) -> str:
        return f"#{self.pk}"


class Guardian(models.Model):
    family = models.ForeignKey(
        Family, on_delete=models.CASCADE, related_name="guardians", verbose_name=_("Familie")
    )
    user = models.OneToOneField(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="guardian",
        verbose_name=_("Benutzerkonto"),
    )
    first_name = models.CharField(_("Vorname"), max_length=100)
    last_name = models.CharField(_("Nachname"), max_length=100)
    email = models.EmailField(_("E-Mail-Adresse"))
    phone = models.CharField(_("Telefon (optional)"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("Sorgeberechtigte Person")
        verbose_name_plural = _("Sorgeberechtigte")

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Child(models.Model):
    family = models.ForeignKey(
        Family, on_delete=models.CASCADE, related_name="children", verbose_name=_("Familie")
    )
    first_name = models.CharField(_("Vorname"), max_length=100)
    last_name = models.CharField(_("Nachname"), max_length=100)
    birth_date = models.DateField(_("Geburtsdatum oder errechneter Termin"))
    is_expected = models.BooleanField(_("noch nicht geboren"), default=False)
    duplicate_key = models.CharField(max_length=250, db_index=True, editable=False)

    class Meta:
        verbose_name = _("Kind")
        verbose_name_plural = _("Kinder")

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Application(models.Model):
    """One pre-registration for one child, or jointly for siblings/twins starting together."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("aktiv")
        WITHDRAWN = "withdrawn", _("zurückgezogen")
        MERGED = "merged", _("zusammengeführt")

    family = models.ForeignKey(
        Family, on_delete=models.CASCADE, related_name="applications", verbose_name=_("Familie")
    )
    reference = models.CharField(_("Vorgangsnummer"), max_length=20, unique=True)
    idempotency_key = models.UUIDField(unique=True, editable=False)
    created_at = models.DateTimeField(_("eingegangen am"), auto_now_add=True)
    updated_at = models.DateTimeField(_("geändert am"), auto_now=True)
    status = models.CharField(
        _("Status"), max_length=12, choices=Status.choices, default=Status.ACTIVE
    )
    children = models.ManyToManyField(
        Child, through="ApplicationChild", related_name="applications", verbose_name=_("Kinder")
    )
    start_date = models.DateField(_("gewünschter Betreuungsbeginn"))
    care_hours = models.PositiveSmallIntegerField(_("Betreuungsumfang"), choices=CareHours.choices)
    street = models.CharField(_("Straße und Hausnummer"), max_length=200)
    postcode = models.CharField(_("PLZ"), max_length=5)
    district = models.ForeignKey(
        District, on_delete=models.PROTECT, related_name="applications", verbose_name=_("Bezirk")
    )
    place_together = models.BooleanField(
        _("Geschwister nur gemeinsam in derselben Kita betreuen"), default=False
    )
    wants_family_daycare = models.BooleanField(_("auch Kindertagespflege"), default=False)
    family_daycare_district = models.ForeignKey(
        District,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="daycare_applications",
        verbose_name=_("Bezirk für Kindertagespflege"),
    )
    notes = models.TextField(_("Hinweise (optional)"), blank=True, max_length=1000)

    class Meta:
        verbose_name = _("Voranmeldung")
        verbose_name_plural = _("Voranmeldungen")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.reference


class ApplicationChild(models.Model):
    """A child in an application. One active application per child (duplicate_key)."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE)
    child = models.ForeignKey(Child, on_delete=models.CASCADE)
    duplicate_key = models.CharField(max_length=250)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["duplicate_key"],
                condition=models.Q(is_active=True),
                name="one_active_application_per_child",
            ),
            models.UniqueConstraint(fields=["application", "child"], name="child_once_per_app"),
        ]

    def __str__(self) -> str:
        return f"{self.application_id}/{self.child_id}"


class WishStatus(models.TextChoices):
    RECEIVED = "received", _("eingegangen")
    IN_REVIEW = "in_review", _("in Bearbeitung")
    OFFER = "offer", _("Angebot")
    ACCEPTED = "accepted", _("angenommen")
    DECLINED = "declined", _("abgelehnt")
    WITHDRAWN = "withdrawn", _("zurückgezogen")


class Wish(models.Model):
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="wishes", verbose_name=_("Voranmeldung")
    )
    facility = models.ForeignKey(
        Facility, on_delete=models.PROTECT, related_name="wishes", verbose_name=_("Kita")
    )
    rank = models.PositiveSmallIntegerField(_("Rang"))
    status = models.CharField(
        _("Status"), max_length=12, choices=WishStatus.choices, default=WishStatus.RECEIVED
    )
    status_changed_at = models.DateTimeField(_("Status seit"), auto_now_add=True)

    class Meta:
        verbose_name = _("Wunsch")
        verbose_name_plural = _("Wünsche")
        ordering = ["application", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["application", "facility"], name="one_wish_per_kita"),
        ]

    def __str__(self) -> str:
        return f"{self.application_id}#{self.rank}"


class DaycareRequest(models.Model):
    """A family-daycare request, forwarded to the Fachberatung of the chosen district."""

    class Status(models.TextChoices):
        FORWARDED = "forwarded", _("an Fachberatung weitergeleitet")
        IN_CONTACT = "in_contact", _("in Kontakt")
        PLACED = "placed", _("vermittelt an Tagespflegeperson")
        WITHDRAWN = "withdrawn", _("zurückgezogen")

    application = models.OneToOneField(
        Application, on_delete=models.CASCADE, related_name="daycare_request"
    )
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="daycare_queue")
    status = models.CharField(
        _("Status"), max_length=12, choices=Status.choices, default=Status.FORWARDED
    )
    forwarded_at = models.DateTimeField(_("weitergeleitet am"), null=True, blank=True)

    class Meta:
        verbose_name = _("Anfrage Kindertagespflege")
        verbose_name_plural = _("Anfragen Kindertagespflege")

    def __str__(self) -> str:
        return f"{self.application_id} → {self.district_id}"


class ApplicationEvent(models.Model):
    """Dated history of an application; holds no personal data beyond the ids."""

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="events", verbose_name=_("Voranmeldung")
    )
    created_at = models.DateTimeField(_("Zeitpunkt"), auto_now_add=True)
    kind = models.CharField(_("Ereignis"), max_length=40)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("Verlaufseintrag")
        verbose_name_plural = _("Verlauf")
        ordering = ["created_at", "pk"]

    LABELS = {
        "submitted": _("Voranmeldung eingegangen"),
        "wishes_changed": _("Wünsche geändert"),
        "wish_withdrawn": _("Wunsch zurückgezogen"),
        "withdrawn": _("Voranmeldung zurückgezogen"),
        "daycare_forwarded": _("an die Fachberatung Kindertagespflege weitergeleitet"),
        "daycare_in_contact": _("Fachberatung ist mit Ihnen in Kontakt"),
        "daycare_placed": _("an eine Tagespflegeperson vermittelt"),
        "start_changed": _("Betreuungsbeginn oder -umfang geändert"),
        "merged_in": _("mit einer doppelten Voranmeldung zusammengeführt"),
        "merged_into": _("als Dublette zusammengeführt"),
    }

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d} {self.kind}"

    @property
    def label(self) -> str:
        return str(self.LABELS.get(self.kind, self.kind))


class FacilityPhoto(models.Model):
    """Up to three photos per facility, re-encoded on upload (no people's data expected;
    carriers confirm they hold the rights)."""

    MAX_PER_FACILITY = 3

    facility = models.ForeignKey(
        Facility, on_delete=models.CASCADE, related_name="photos", verbose_name=_("Kita")
    )
    image = models.ImageField(_("Foto"), upload_to="facility-photos/")
    alt_text = models.CharField(_("Bildbeschreibung (Alternativtext)"), max_length=200)
    position = models.PositiveSmallIntegerField(_("Reihenfolge"), default=1)

    class Meta:
        verbose_name = _("Foto")
        verbose_name_plural = _("Fotos")
        ordering = ["facility", "position", "pk"]

    def __str__(self) -> str:
        return self.alt_text


class StaffAssignment(models.Model):
    """What a staff account may see: the youth office sees all; carrier staff their carrier's
    facilities; facility staff one facility; Fachberatung its district. Deleted with the account."""

    user = models.OneToOneField(
        "accounts.User",
        on_delete=models.CASCADE,
        related_name="staff_assignment",
        verbose_name=_("Benutzerkonto"),
    )
    carrier = models.ForeignKey(
        Carrier, on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("Träger")
    )
    facility = models.ForeignKey(
        Facility, on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("Kita")
    )
    district = models.ForeignKey(
        District, on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("Bezirk")
    )

    class Meta:
        verbose_name = _("Zuständigkeit")
        verbose_name_plural = _("Zuständigkeiten")

    def __str__(self) -> str:
        return f"{self.user_id}"


class AccessibilityFeedback(models.Model):
    """Feedback on barriers (BITV 2.0). The email is optional; entries are deleted after a year."""

    created_at = models.DateTimeField(_("eingegangen am"), auto_now_add=True)
    page = models.CharField(_("Seite"), max_length=300, blank=True)
    message = models.TextField(_("Beschreibung der Barriere"), max_length=3000)
    email = models.EmailField(_("E-Mail für Rückfragen (optional)"), blank=True)
    handled = models.BooleanField(_("erledigt"), default=False)

    class Meta:
        verbose_name = _("Rückmeldung Barrierefreiheit")
        verbose_name_plural = _("Rückmeldungen Barrierefreiheit")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d}"


# Issue 4 (allocation): criteria, fee tables, runs, offers, contracts.
from .models_allocation import *  # noqa: E402, F403

# Issue 4 follow-ups: income-bracket declaration, child population, family-daycare places.
from .models_family_data import *  # noqa: E402, F403
