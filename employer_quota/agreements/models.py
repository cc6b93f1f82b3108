"""Public schema: reserved-place agreements between an employer and a municipality.

Nothing here is a person's data. An agreement names two tenants (organisations), a facility
of the municipality (id and name of an organisation's building), counts, dates and money.
Eligibility codes are stored as keyed hashes with dates only; place claims carry an opaque
token the municipality keeps next to its application. Retention: agreements, versions,
claims and releases are kept for 10 years after the agreement ends (accounting); codes are
deleted 12 months after expiry or revocation; code attempts after 24 hours
(services.purge_expired).
"""

from __future__ import annotations

import uuid
from datetime import date

from django.db import models
from django.utils.translation import gettext_lazy as _

KITA_YEAR_START_MONTH = 8  # a Kita year runs from 1 August to 31 July


def kita_year_of(day: date) -> int:
    """The Kita year a date falls in, named by the year it starts (Aug 2027 – Jul 2028: 2027)."""
    return day.year if day.month >= KITA_YEAR_START_MONTH else day.year - 1


class AgeGroup(models.TextChoices):
    U3 = "U3", _("U3 (unter 3 Jahren)")
    UE3 = "UE3", _("Ü3 (3 Jahre bis Schuleintritt)")


class Agreement(models.Model):
    """A reserved-place agreement (Belegplatzvereinbarung). Its terms live in versions."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("vorgeschlagen")
        ACTIVE = "active", _("bestätigt")
        DECLINED = "declined", _("abgelehnt")
        ENDED = "ended", _("beendet")

    municipality = models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.PROTECT,
        related_name="agreements_given",
        verbose_name=_("Kommune"),
    )
    employer = models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.PROTECT,
        related_name="agreements_taken",
        verbose_name=_("Arbeitgeber"),
    )
    # Either one facility or all facilities of a carrier (ids in the municipality's schema).
    facility_id = models.BigIntegerField(_("Kita-ID (Schema der Kommune)"), null=True, blank=True)
    carrier_id = models.BigIntegerField(_("Träger-ID (Schema der Kommune)"), null=True, blank=True)
    facility_name = models.CharField(_("Kita"), max_length=200)
    status = models.CharField(
        _("Status"), max_length=10, choices=Status.choices, default=Status.PROPOSED
    )
    current = models.ForeignKey(
        "AgreementVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("geltende Fassung"),
    )
    created_at = models.DateTimeField(_("angelegt"), auto_now_add=True)

    class Meta:
        verbose_name = _("Belegplatz-Vereinbarung")
        verbose_name_plural = _("Belegplatz-Vereinbarungen")
        ordering = ["facility_name", "pk"]
        indexes = [models.Index(fields=["municipality", "employer", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(facility_id__isnull=False, carrier_id__isnull=True)
                | models.Q(facility_id__isnull=True, carrier_id__isnull=False),
                name="agreement_one_facility_or_carrier",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.facility_name}"

    @property
    def pending(self) -> AgreementVersion | None:
        return self.versions.filter(state=AgreementVersion.State.PROPOSED).last()


class AgreementVersion(models.Model):
    """One version of an agreement's terms: proposed by the municipality, confirmed by HR."""

    class State(models.TextChoices):
        PROPOSED = "proposed", _("vorgeschlagen")
        CONFIRMED = "confirmed", _("bestätigt")
        DECLINED = "declined", _("abgelehnt")
        SUPERSEDED = "superseded", _("ersetzt")
        WITHDRAWN = "withdrawn", _("zurückgezogen")

    class ReleaseRule(models.TextChoices):
        UNCLAIMED_BY_DATE = (
            "unclaimed_by_date",
            _("nicht beanspruchte Plätze werden zum Stichtag frei"),
        )
        NEVER = "never", _("Plätze bleiben das ganze Kita-Jahr reserviert")

    agreement = models.ForeignKey(
        Agreement, on_delete=models.CASCADE, related_name="versions", verbose_name=_("Vereinbarung")
    )
    number = models.PositiveSmallIntegerField(_("Fassung"))
    state = models.CharField(
        _("Stand"), max_length=10, choices=State.choices, default=State.PROPOSED
    )
    age_group = models.CharField(_("Altersgruppe"), max_length=3, choices=AgeGroup.choices)
    places = models.PositiveSmallIntegerField(_("Plätze"))
    care_hours = models.PositiveSmallIntegerField(
        _("Betreuungsumfang (Std./Woche)"), choices=[(25, "25"), (35, "35"), (45, "45")]
    )
    valid_from = models.DateField(_("gültig ab"))
    valid_to = models.DateField(_("gültig bis"))
    monthly_fee = models.DecimalField(
        _("Monatsentgelt je Platz (EUR)"), max_digits=8, decimal_places=2
    )
    release_rule = models.CharField(
        _("Freigaberegel"),
        max_length=20,
        choices=ReleaseRule.choices,
        default=ReleaseRule.UNCLAIMED_BY_DATE,
    )
    release_month = models.PositiveSmallIntegerField(_("Stichtag: Monat"), default=3)
    release_day = models.PositiveSmallIntegerField(_("Stichtag: Tag"), default=15)
    proposed_by_role = models.CharField(_("vorgeschlagen von (Rolle)"), max_length=30)
    proposed_at = models.DateTimeField(_("vorgeschlagen am"), auto_now_add=True)
    decided_at = models.DateTimeField(_("entschieden am"), null=True, blank=True)

    class Meta:
        verbose_name = _("Fassung einer Vereinbarung")
        verbose_name_plural = _("Fassungen von Vereinbarungen")
        ordering = ["agreement", "number"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "number"], name="agreement_version_once"),
            models.UniqueConstraint(
                fields=["agreement"],
                condition=models.Q(state="proposed"),
                name="one_pending_version_per_agreement",
            ),
            models.CheckConstraint(
                condition=models.Q(valid_to__gte=models.F("valid_from")),
                name="agreement_valid_range",
            ),
            models.CheckConstraint(condition=models.Q(places__gte=1), name="agreement_places_min"),
            models.CheckConstraint(
                condition=models.Q(monthly_fee__gte=0), name="agreement_fee_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agreement_id} v{self.number}"

    def release_date(self, kita_year: int) -> date | None:
        """The date before Kita year `kita_year` by which unclaimed places are released."""
        if self.release_rule != self.ReleaseRule.UNCLAIMED_BY_DATE:
            return None
        year = kita_year if self.release_month < KITA_YEAR_START_MONTH else kita_year - 1
        return date(year, self.release_month, self.release_day)

    def kita_years(self) -> list[int]:
        return list(range(kita_year_of(self.valid_from), kita_year_of(self.valid_to) + 1))


class PlaceClaim(models.Model):
    """One reserved place claimed by an eligible child's application (held by an opaque token;
    the municipality keeps the link to its application in its own schema)."""

    class State(models.TextChoices):
        CLAIMED = "claimed", _("beansprucht")
        OCCUPIED = "occupied", _("belegt")
        ENDED = "ended", _("beendet")

    agreement = models.ForeignKey(
        Agreement, on_delete=models.PROTECT, related_name="claims", verbose_name=_("Vereinbarung")
    )
    token = models.UUIDField(_("Kennung"), default=uuid.uuid4, unique=True, editable=False)
    # the Kita the claim is for (for a carrier-wide agreement: the wished Kita of that carrier)
    facility_id = models.BigIntegerField(_("Kita-ID (Schema der Kommune)"), null=True, blank=True)
    kita_year = models.PositiveSmallIntegerField(_("Kita-Jahr"))
    state = models.CharField(
        _("Stand"), max_length=10, choices=State.choices, default=State.CLAIMED
    )
    created_at = models.DateTimeField(_("angelegt"), auto_now_add=True)
    ended_at = models.DateTimeField(_("beendet am"), null=True, blank=True)

    class Meta:
        verbose_name = _("beanspruchter Belegplatz")
        verbose_name_plural = _("beanspruchte Belegplätze")
        indexes = [models.Index(fields=["agreement", "kita_year", "state"])]

    def __str__(self) -> str:
        return f"{self.agreement_id}/{self.kita_year}/{self.state}"


class Release(models.Model):
    """Places of an agreement released to the general pool for one Kita year."""

    agreement = models.ForeignKey(
        Agreement, on_delete=models.CASCADE, related_name="releases", verbose_name=_("Vereinbarung")
    )
    kita_year = models.PositiveSmallIntegerField(_("Kita-Jahr"))
    places = models.PositiveSmallIntegerField(_("freigegebene Plätze"))
    released_at = models.DateTimeField(_("freigegeben am"), auto_now_add=True)

    class Meta:
        verbose_name = _("Freigabe")
        verbose_name_plural = _("Freigaben")
        constraints = [
            models.UniqueConstraint(fields=["agreement", "kita_year"], name="release_once_per_year")
        ]

    def __str__(self) -> str:
        return f"{self.agreement_id}/{self.kita_year}: {self.places}"


class EligibilityCode(models.Model):
    """A single-use code an employer's HR hands to a staff member. Only its keyed hash is
    stored; the plain code exists in the invitation email or on the printed sheet."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-Mail-Einladung")
        PRINT = "print", _("gedruckt")

    employer = models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.CASCADE,
        related_name="eligibility_codes",
        verbose_name=_("Arbeitgeber"),
    )
    number = models.PositiveIntegerField(_("Nr."))
    code_hash = models.CharField(_("Prüfsumme"), max_length=64, unique=True, editable=False)
    channel = models.CharField(_("Ausgabe"), max_length=5, choices=Channel.choices)
    created_at = models.DateTimeField(_("ausgegeben am"), auto_now_add=True)
    expires_at = models.DateTimeField(_("gültig bis"))
    revoked_at = models.DateTimeField(_("widerrufen am"), null=True, blank=True)
    redeemed_at = models.DateTimeField(_("eingelöst am"), null=True, blank=True)
    municipality = models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="redeemed_codes",
        verbose_name=_("eingelöst bei"),
    )
    # Only with the parent's consent, given in the municipality's portal:
    status_shared = models.BooleanField(_("Status freigegeben"), default=False)
    shared_status = models.CharField(_("Status der Voranmeldung"), max_length=20, blank=True)
    shared_status_at = models.DateTimeField(_("Status vom"), null=True, blank=True)

    class Meta:
        verbose_name = _("Berechtigungscode")
        verbose_name_plural = _("Berechtigungscodes")
        ordering = ["employer", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["employer", "number"], name="code_number_per_employer")
        ]

    def __str__(self) -> str:
        return f"{self.employer_id}#{self.number}"

    @property
    def shared_status_label(self) -> str:
        return str(SHARED_STATUS_LABELS.get(self.shared_status, ""))


SHARED_STATUS_LABELS = {
    "received": _("eingegangen"),
    "offer": _("Platzangebot"),
    "accepted": _("Angebot angenommen"),
    "contract": _("Betreuungsvertrag"),
    "withdrawn": _("zurückgezogen"),
}


class CodeAttempt(models.Model):
    """A failed code entry, for the rate limit. Keys are keyed hashes of (tenant, account)
    and of the client address; kept 24 hours."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    account_key = models.CharField(max_length=64, db_index=True)
    address_key = models.CharField(max_length=64, db_index=True)

    class Meta:
        verbose_name = _("Fehlversuch Code")
        verbose_name_plural = _("Fehlversuche Code")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M}"


class PlaceRequest(models.Model):
    """An employer asks a municipality for reserved places (e.g. from a needs survey)."""

    class Status(models.TextChoices):
        OPEN = "open", _("offen")
        PROPOSED = "proposed", _("Vereinbarung vorgeschlagen")
        DECLINED = "declined", _("abgelehnt")

    employer = models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.CASCADE,
        related_name="place_requests_sent",
        verbose_name=_("Arbeitgeber"),
    )
    municipality = models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.CASCADE,
        related_name="place_requests_received",
        verbose_name=_("Kommune"),
    )
    u3_places = models.PositiveSmallIntegerField(_("U3-Plätze"), default=0)
    ue3_places = models.PositiveSmallIntegerField(_("Ü3-Plätze"), default=0)
    care_hours = models.PositiveSmallIntegerField(_("Betreuungsumfang (Std./Woche)"), default=35)
    wanted_from = models.DateField(_("gewünscht ab"))
    basis = models.CharField(_("Grundlage"), max_length=200, blank=True)
    status = models.CharField(
        _("Status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    created_at = models.DateTimeField(_("gestellt am"), auto_now_add=True)

    class Meta:
        verbose_name = _("Anfrage nach Belegplätzen")
        verbose_name_plural = _("Anfragen nach Belegplätzen")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.employer_id}→{self.municipality_id}"


class CompanyDaycareListing(models.Model):
    """An employer's company daycare shown in a municipality's finder as "only for staff of …".
    Organisation data only (name, address, ages, places, opening hours)."""

    employer = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="daycare_listings"
    )
    municipality = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="company_daycares_listed"
    )
    daycare_id = models.BigIntegerField()
    name = models.CharField(_("Name"), max_length=200)
    address = models.CharField(_("Adresse"), max_length=300)
    min_age_months = models.PositiveSmallIntegerField(_("ab (Monate)"))
    max_age_months = models.PositiveSmallIntegerField(_("bis (Monate)"))
    places = models.PositiveSmallIntegerField(_("Plätze"))
    opens_at = models.TimeField(_("öffnet um"))
    closes_at = models.TimeField(_("schließt um"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("Eintrag Betriebskita im Kita-Finder")
        verbose_name_plural = _("Einträge Betriebskitas im Kita-Finder")
        constraints = [
            models.UniqueConstraint(
                fields=["employer", "daycare_id"], name="one_listing_per_daycare"
            )
        ]

    def __str__(self) -> str:
        return self.name
