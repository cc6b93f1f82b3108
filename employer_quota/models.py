"""The employer's own schema: its profile and HR contacts.

HR contacts are employees' business contact data; they are deleted when removed from the
profile or when the employer leaves the platform.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class EmployerProfile(models.Model):
    """One row per employer schema."""

    name = models.CharField(_("Name"), max_length=200)
    program_name = models.CharField(_("Programmname"), max_length=120, blank=True)
    description = models.TextField(_("Beschreibung"), blank=True)
    employee_count = models.PositiveIntegerField(_("Beschäftigte"), null=True, blank=True)
    street = models.CharField(_("Straße und Hausnummer"), max_length=200, blank=True)
    postcode = models.CharField(_("PLZ"), max_length=5, blank=True)
    city = models.CharField(_("Ort"), max_length=100, blank=True)
    website = models.URLField(_("Webseite"), blank=True)

    class Meta:
        verbose_name = _("Arbeitgeberprofil")
        verbose_name_plural = _("Arbeitgeberprofile")

    def __str__(self) -> str:
        return self.name


class HRContact(models.Model):
    profile = models.ForeignKey(
        EmployerProfile, on_delete=models.CASCADE, related_name="contacts", verbose_name=_("Profil")
    )
    name = models.CharField(_("Name"), max_length=120)
    function = models.CharField(_("Funktion"), max_length=120, blank=True)
    email = models.EmailField(_("E-Mail"))
    phone = models.CharField(_("Telefon"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("Ansprechperson Personal")
        verbose_name_plural = _("Ansprechpersonen Personal")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# --- Needs surveys (Bedarfsumfragen) ---------------------------------------------------------
#
# Answers are anonymous: a Response has no link to an Invitation. Invitations hold the email
# address only until the invitation is handed to the outbox, and a hash of the token; they are
# deleted when the survey closes. Responses are kept until HR deletes the survey.


class Survey(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Entwurf")
        OPEN = "open", _("läuft")
        CLOSED = "closed", _("abgeschlossen")

    title = models.CharField(_("Titel"), max_length=200)
    intro = models.TextField(_("Einleitung"), blank=True, max_length=2000)
    status = models.CharField(
        _("Status"), max_length=6, choices=Status.choices, default=Status.DRAFT
    )
    min_cell = models.PositiveSmallIntegerField(
        _("Mindestzahl Antworten je angezeigtem Wert"),
        default=5,
        help_text=_("Werte mit weniger Antworten werden nicht gezeigt (mindestens 3)."),
    )
    link_token = models.CharField(max_length=64, blank=True, editable=False)
    invited = models.PositiveIntegerField(_("eingeladen"), default=0)
    invitations_sent = models.PositiveIntegerField(_("Einladungen versendet"), default=0)
    invitations_failed = models.PositiveIntegerField(_("Einladungen fehlgeschlagen"), default=0)
    created_at = models.DateTimeField(_("angelegt"), auto_now_add=True)
    opened_at = models.DateTimeField(_("gestartet"), null=True, blank=True)
    closed_at = models.DateTimeField(_("abgeschlossen"), null=True, blank=True)

    class Meta:
        verbose_name = _("Bedarfsumfrage")
        verbose_name_plural = _("Bedarfsumfragen")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(min_cell__gte=3), name="survey_min_cell_3")
        ]

    def __str__(self) -> str:
        return self.title


class Question(models.Model):
    class Kind(models.TextChoices):
        SINGLE = "single", _("eine Antwort")
        MULTI = "multi", _("mehrere Antworten")
        NUMBER = "number", _("Zahl")

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField(_("Reihenfolge"))
    key = models.SlugField(_("Kennung"), max_length=40)
    text = models.CharField(_("Frage"), max_length=300)
    kind = models.CharField(_("Art"), max_length=6, choices=Kind.choices)
    options = models.JSONField(_("Antwortmöglichkeiten"), default=list, blank=True)
    required = models.BooleanField(_("Pflichtfrage"), default=False)

    class Meta:
        verbose_name = _("Frage")
        verbose_name_plural = _("Fragen")
        ordering = ["survey", "position", "pk"]
        constraints = [models.UniqueConstraint(fields=["survey", "key"], name="question_key_once")]

    def __str__(self) -> str:
        return self.text


class Invitation(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("wartet")
        SENT = "sent", _("versendet")
        FAILED = "failed", _("fehlgeschlagen")

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(blank=True)  # wiped once handed to the outbox
    token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    # the queued email (tenants.common.OutboxMessage): delivered, retried or failed there
    outbox_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=7, choices=Status.choices, default=Status.PENDING)
    used = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("Einladung")
        verbose_name_plural = _("Einladungen")

    def __str__(self) -> str:
        return f"{self.survey_id}/{self.pk}"


class Response(models.Model):
    """One anonymous answer sheet. No link to an invitation; the date only, no time."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="responses")
    submitted_on = models.DateField(_("eingegangen am"))
    answers = models.JSONField(_("Antworten"), default=dict)

    class Meta:
        verbose_name = _("Antwort")
        verbose_name_plural = _("Antworten")

    def __str__(self) -> str:
        return f"{self.survey_id}/{self.pk}"


# --- Company daycare (Betriebskita) ----------------------------------------------------------
#
# Personal data: educators' names and weekly hours (employees, kept while employed there);
# staff children's applications (child's first name and birth date, the parent's name and
# work email), offers and contracts: deleted 24 months after the contract ends or 6 months
# after a withdrawal or decline (daycare.purge_expired).


class CompanyDaycare(models.Model):
    name = models.CharField(_("Name"), max_length=200)
    street = models.CharField(_("Straße und Hausnummer"), max_length=200)
    postcode = models.CharField(_("PLZ"), max_length=5)
    city = models.CharField(_("Ort"), max_length=100)
    opens_at = models.TimeField(_("öffnet um"))
    closes_at = models.TimeField(_("schließt um"))
    description = models.TextField(_("Beschreibung"), blank=True, max_length=2000)
    monthly_fee = models.DecimalField(
        _("Elternbeitrag je Monat (EUR)"), max_digits=7, decimal_places=2, default=0
    )
    # the municipality tenant (public schema id) whose finder lists it; no cross-schema key
    listed_in = models.BigIntegerField(_("im Kita-Finder der Kommune (ID)"), null=True, blank=True)

    class Meta:
        verbose_name = _("Betriebskita")
        verbose_name_plural = _("Betriebskitas")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DaycareGroup(models.Model):
    daycare = models.ForeignKey(CompanyDaycare, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(_("Gruppe"), max_length=100)
    room = models.CharField(_("Raum"), max_length=100, blank=True)
    capacity = models.PositiveSmallIntegerField(_("Plätze"))
    min_age_months = models.PositiveSmallIntegerField(_("Mindestalter (Monate)"))
    max_age_months = models.PositiveSmallIntegerField(_("Höchstalter (Monate)"))

    class Meta:
        verbose_name = _("Gruppe")
        verbose_name_plural = _("Gruppen")
        ordering = ["daycare", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_age_months__gt=models.F("min_age_months")),
                name="group_age_range",
            ),
            models.CheckConstraint(condition=models.Q(capacity__gte=1), name="group_capacity_min"),
        ]

    def __str__(self) -> str:
        return self.name


class Educator(models.Model):
    daycare = models.ForeignKey(CompanyDaycare, on_delete=models.CASCADE, related_name="educators")
    name = models.CharField(_("Name"), max_length=120)
    qualification = models.CharField(_("Qualifikation"), max_length=120, blank=True)
    weekly_hours = models.DecimalField(_("Wochenstunden"), max_digits=4, decimal_places=1)
    group = models.ForeignKey(
        DaycareGroup, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("Gruppe")
    )

    FULL_TIME_HOURS = 39

    class Meta:
        verbose_name = _("Fachkraft")
        verbose_name_plural = _("Fachkräfte")
        ordering = ["daycare", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def full_time(self) -> bool:
        return self.weekly_hours >= self.FULL_TIME_HOURS


class StaffChildApplication(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting", _("auf der Warteliste")
        OFFERED = "offered", _("Angebot")
        ACCEPTED = "accepted", _("angenommen")
        CONTRACTED = "contracted", _("Vertrag")
        DECLINED = "declined", _("abgelehnt")
        WITHDRAWN = "withdrawn", _("zurückgezogen")

    daycare = models.ForeignKey(
        CompanyDaycare, on_delete=models.CASCADE, related_name="applications"
    )
    child_first_name = models.CharField(_("Vorname des Kindes"), max_length=100)
    child_birth_date = models.DateField(_("Geburtsdatum"))
    parent_name = models.CharField(_("Name der/des Beschäftigten"), max_length=200)
    parent_email = models.EmailField(_("dienstliche E-Mail"))
    start_date = models.DateField(_("gewünschter Beginn"))
    weekly_hours = models.PositiveSmallIntegerField(_("Stunden/Woche"), default=35)
    status = models.CharField(
        _("Status"), max_length=10, choices=Status.choices, default=Status.WAITING
    )
    created_at = models.DateTimeField(_("eingegangen am"), auto_now_add=True)
    closed_at = models.DateTimeField(_("abgeschlossen am"), null=True, blank=True)

    class Meta:
        verbose_name = _("Anmeldung Betriebskita")
        verbose_name_plural = _("Anmeldungen Betriebskita")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"#{self.pk}"


class DaycareOffer(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("offen")
        ACCEPTED = "accepted", _("angenommen")
        DECLINED = "declined", _("abgelehnt")
        EXPIRED = "expired", _("abgelaufen")

    application = models.ForeignKey(
        StaffChildApplication, on_delete=models.CASCADE, related_name="offers"
    )
    group = models.ForeignKey(DaycareGroup, on_delete=models.PROTECT, related_name="offers")
    start_date = models.DateField(_("Beginn"))
    expires_on = models.DateField(_("Antwort bis"))
    status = models.CharField(
        _("Status"), max_length=8, choices=Status.choices, default=Status.OPEN
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("Platzangebot Betriebskita")
        verbose_name_plural = _("Platzangebote Betriebskita")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.application_id}/{self.status}"


class DaycareContract(models.Model):
    offer = models.OneToOneField(DaycareOffer, on_delete=models.CASCADE, related_name="contract")
    start_date = models.DateField(_("Beginn"))
    weekly_hours = models.PositiveSmallIntegerField(_("Stunden/Woche"))
    monthly_fee = models.DecimalField(
        _("Elternbeitrag je Monat (EUR)"), max_digits=7, decimal_places=2
    )
    created_at = models.DateTimeField(auto_now_add=True)
    ended_on = models.DateField(_("beendet am"), null=True, blank=True)

    class Meta:
        verbose_name = _("Betreuungsvertrag Betriebskita")
        verbose_name_plural = _("Betreuungsverträge Betriebskita")

    def __str__(self) -> str:
        return f"{self.offer_id}"
