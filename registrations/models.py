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
