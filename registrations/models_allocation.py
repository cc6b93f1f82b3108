"""Allocation data the youth office edits (issue 4): admission criteria, applicants'
circumstances, fee tables, the allocation policy; and what runs produce: runs, offers,
care contracts.

Imported by ``registrations.models`` (one Django app). Personal data: the circumstances of an
application (working, single parent, hardship), offers and contracts (child, fee, income
bracket). They are deleted with the application (CASCADE); runs keep only pseudonymous ids
(``k<child id>``), birth dates, registration times and priority scores in their snapshot;
dry runs are deleted after 90 days (``services_allocation.purge_dry_runs``).
"""

from __future__ import annotations

import json
import zlib
from datetime import date

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


class CriterionKind(models.TextChoices):
    # global criteria: count at every wish
    AGE = "age", _("Alter des Kindes (Punkte je vollendetem Lebensjahr zum Beginn)")
    WORKING = (
        "working",
        _("beide Eltern (bzw. die alleinerziehende Person) berufstätig/in Ausbildung"),
    )
    SINGLE_PARENT = "single_parent", _("alleinerziehend")
    HARDSHIP = "hardship", _("Härtefall oder Zuweisung durch das Jugendamt")
    RESIDENT = "resident", _("Wohnsitz in der Kommune")
    DISTRICT = "district", _("Wohnsitz im Bezirk der Kita")
    REGISTRATION = "registration", _("Voranmeldung bis zum Stichtag")
    # local criteria: count only at one facility or carrier
    SIBLING = "sibling", _("Geschwisterkind besucht bereits diese Kita")
    EMPLOYER = "employer", _("Belegplatz-Berechtigung beim Arbeitgeber (Kita mit Belegplätzen)")
    CARRIER_RULE = "carrier_rule", _("trägerspezifisches Kriterium")


GLOBAL_KINDS = frozenset(
    {
        CriterionKind.AGE,
        CriterionKind.WORKING,
        CriterionKind.SINGLE_PARENT,
        CriterionKind.HARDSHIP,
        CriterionKind.RESIDENT,
        CriterionKind.DISTRICT,
        CriterionKind.REGISTRATION,
    }
)
LOCAL_KINDS = frozenset({CriterionKind.SIBLING, CriterionKind.EMPLOYER, CriterionKind.CARRIER_RULE})


class Criterion(models.Model):
    """One admission criterion (Aufnahmekriterium) with its points.

    Global kinds count at every wish; local kinds count only at the facility or carrier they
    name (a sibling criterion without a scope counts at the facility the sibling attends).
    Holds no personal data.
    """

    kind = models.CharField(_("Art"), max_length=20, choices=CriterionKind.choices)
    title = models.CharField(_("Bezeichnung"), max_length=200)
    title_en = models.CharField(_("Bezeichnung (Englisch)"), max_length=200, blank=True)
    explanation = models.TextField(_("Erklärung in einfacher Sprache"), max_length=2000)
    explanation_en = models.TextField(
        _("Erklärung in einfacher Sprache (Englisch)"), max_length=2000, blank=True
    )
    points = models.SmallIntegerField(_("Punkte"))
    carrier = models.ForeignKey(
        "registrations.Carrier",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="criteria",
        verbose_name=_("nur bei Träger"),
    )
    facility = models.ForeignKey(
        "registrations.Facility",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="criteria",
        verbose_name=_("nur in Kita"),
    )
    cutoff_date = models.DateField(
        _("Stichtag (nur Voranmeldung bis zum Stichtag)"), null=True, blank=True
    )
    position = models.PositiveSmallIntegerField(_("Reihenfolge"), default=0)
    active = models.BooleanField(_("aktiv"), default=True)

    class Meta:
        verbose_name = _("Aufnahmekriterium")
        verbose_name_plural = _("Aufnahmekriterien")
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_local(self) -> bool:
        return self.kind in LOCAL_KINDS

    @property
    def display_title(self) -> str:
        return self.title_en if get_language() == "en" and self.title_en else self.title

    @property
    def display_explanation(self) -> str:
        if get_language() == "en" and self.explanation_en:
            return self.explanation_en
        return self.explanation


class ApplicationCircumstances(models.Model):
    """What the admission criteria look at for one application, as declared by the family
    and checked by the youth office. Personal data; deleted with the application."""

    application = models.OneToOneField(
        "registrations.Application",
        on_delete=models.CASCADE,
        related_name="circumstances",
        verbose_name=_("Voranmeldung"),
    )
    both_working = models.BooleanField(_("berufstätig oder in Ausbildung"), default=False)
    single_parent = models.BooleanField(_("alleinerziehend"), default=False)
    hardship = models.BooleanField(_("Härtefall / Zuweisung durch das Jugendamt"), default=False)
    resident = models.BooleanField(_("Wohnsitz in der Kommune"), default=True)
    sibling_facilities = models.ManyToManyField(
        "registrations.Facility",
        blank=True,
        related_name="+",
        verbose_name=_("Kitas, die ein Geschwisterkind bereits besucht"),
    )
    carrier_rules = models.ManyToManyField(
        Criterion,
        blank=True,
        related_name="+",
        limit_choices_to={"kind": CriterionKind.CARRIER_RULE},
        verbose_name=_("erfüllte trägerspezifische Kriterien"),
    )
    employers = ArrayField(
        models.CharField(max_length=60),
        default=list,
        blank=True,
        verbose_name=_("Belegplatz-Berechtigungen (Arbeitgeber-Schlüssel)"),
    )
    verified_at = models.DateTimeField(_("geprüft am"), null=True, blank=True)

    class Meta:
        verbose_name = _("Angaben zu den Aufnahmekriterien")
        verbose_name_plural = _("Angaben zu den Aufnahmekriterien")

    def __str__(self) -> str:
        return f"{self.application_id}"


class SiblingRule(models.TextChoices):
    NONE = "none", _("keine Ermäßigung")
    SECOND_FREE = "second_free", _("ab dem zweiten Kind beitragsfrei (nur der höchste Beitrag)")
    SECOND_HALF = "second_half", _("ab dem zweiten Kind halber Beitrag")


class FeeTable(models.Model):
    """A dated parent-fee table (Elternbeitragstabelle); applies from ``valid_from`` until the
    next table starts. Holds no personal data."""

    name = models.CharField(_("Bezeichnung"), max_length=200)
    valid_from = models.DateField(_("gültig ab"), unique=True)
    sibling_rule = models.CharField(
        _("Geschwisterregel"),
        max_length=20,
        choices=SiblingRule.choices,
        default=SiblingRule.SECOND_FREE,
    )
    fee_free_years = models.PositiveSmallIntegerField(
        _("beitragsfreie Jahre vor der Einschulung"), default=2
    )

    class Meta:
        verbose_name = _("Beitragstabelle")
        verbose_name_plural = _("Beitragstabellen")
        ordering = ["-valid_from"]

    def __str__(self) -> str:
        return f"{self.name} ({self.valid_from:%d.%m.%Y})"


class FeeBracket(models.Model):
    """One cell of a fee table: income bracket × age group × care hours → monthly fee."""

    table = models.ForeignKey(
        FeeTable, on_delete=models.CASCADE, related_name="brackets", verbose_name=_("Tabelle")
    )
    income_up_to = models.DecimalField(
        _("Jahreseinkommen bis (leer = darüber)"),
        max_digits=9,
        decimal_places=0,
        null=True,
        blank=True,
    )
    age_group = models.CharField(
        _("Altersgruppe"), max_length=3, choices=[("U3", "U3"), ("UE3", "Ü3")]
    )
    care_hours = models.PositiveSmallIntegerField(_("Betreuungsumfang"))
    monthly_fee = models.DecimalField(_("Monatsbeitrag (€)"), max_digits=7, decimal_places=2)

    class Meta:
        verbose_name = _("Beitragsstufe")
        verbose_name_plural = _("Beitragsstufen")
        ordering = [
            "table",
            "age_group",
            "care_hours",
            models.F("income_up_to").asc(nulls_last=True),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["table", "age_group", "care_hours", "income_up_to"],
                name="one_fee_per_cell",
                nulls_distinct=False,
            ),
            models.CheckConstraint(condition=models.Q(monthly_fee__gte=0), name="fee_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.age_group}/{self.care_hours}h ≤ {self.income_up_to}: {self.monthly_fee}"


class PlaceCapacity(models.Model):
    """Free places of one facility for one Kita year per age group × care-hour band (the
    engine's categories). Without rows for a facility, its ``AgeGroupOffer`` places are split
    over its care-hour bands (see ``allocation_db.capacities``). No personal data."""

    facility = models.ForeignKey(
        "registrations.Facility",
        on_delete=models.CASCADE,
        related_name="capacities",
        verbose_name=_("Kita"),
    )
    kita_year = models.PositiveSmallIntegerField(_("Kita-Jahr (Beginn)"))
    age_group = models.CharField(
        _("Altersgruppe"), max_length=3, choices=[("U3", "U3"), ("UE3", "Ü3")]
    )
    care_hours = models.PositiveSmallIntegerField(_("Betreuungsumfang"))
    places = models.PositiveSmallIntegerField(_("freie Plätze"))

    class Meta:
        verbose_name = _("freie Plätze")
        verbose_name_plural = _("freie Plätze")
        constraints = [
            models.UniqueConstraint(
                fields=["facility", "kita_year", "age_group", "care_hours"],
                name="one_capacity_per_category",
            )
        ]

    def __str__(self) -> str:
        return f"{self.facility_id} {self.kita_year} {self.age_group}/{self.care_hours}h"


class AllocationPolicy(models.Model):
    """Per-municipality allocation policy (one row per schema)."""

    class Mode(models.TextChoices):
        CENTRAL = "central", _("zentrale Vergaberunden des Jugendamts")
        DECENTRAL = "decentral", _("dezentral: Kitas vergeben aus ihrer Liste")

    mode = models.CharField(
        _("Vergabeverfahren"), max_length=10, choices=Mode.choices, default=Mode.CENTRAL
    )
    offer_days = models.PositiveSmallIntegerField(_("Frist für Zusagen (Tage)"), default=14)
    reminder_days = models.PositiveSmallIntegerField(
        _("Erinnerung so viele Tage vor Fristende"), default=3
    )
    kita_year_start_month = models.PositiveSmallIntegerField(
        _("Kita-Jahr beginnt im Monat"), default=8
    )

    class Meta:
        verbose_name = _("Vergaberegeln")
        verbose_name_plural = _("Vergaberegeln")

    def __str__(self) -> str:
        return str(_("Vergaberegeln"))

    @classmethod
    def current(cls) -> AllocationPolicy:
        row = cls.objects.first()
        return row if row is not None else cls.objects.create()


class AllocationRun(models.Model):
    """One allocation run: parameters, seed, input snapshot and hash, and outputs.

    The snapshot is the engine's market document with pseudonymous child ids (``k<id>``),
    birth dates, registration times and priority scores; no names or addresses. Dry runs
    are deleted after 90 days (``services_allocation.purge_dry_runs``); binding runs are
    kept as the record behind the offers.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("wartet")
        RUNNING = "running", _("läuft")
        DONE = "done", _("fertig")
        FAILED = "failed", _("fehlgeschlagen")

    created_at = models.DateTimeField(_("gestartet am"), auto_now_add=True)
    finished_at = models.DateTimeField(_("fertig am"), null=True, blank=True)
    created_by_id = models.IntegerField(null=True, blank=True)
    label = models.CharField(_("Bezeichnung"), max_length=200, blank=True)
    kita_year = models.PositiveSmallIntegerField(_("Kita-Jahr (Beginn)"))
    age_groups = ArrayField(models.CharField(max_length=3), verbose_name=_("Altersgruppen"))
    binding = models.BooleanField(_("verbindlich"), default=False)
    seed = models.BigIntegerField(_("Losstartwert"))
    parameters = models.JSONField(_("Parameter"), default=dict)
    status = models.CharField(
        _("Status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    progress = models.PositiveSmallIntegerField(_("Fortschritt (%)"), default=0)
    error = models.CharField(_("Fehler"), max_length=500, blank=True)
    # The snapshot's canonical JSON text (UTF-8), zlib-compressed: the exact bytes whose
    # SHA-256 is ``snapshot_hash`` (a few MB of JSON at Bochum's size; stored as jsonb, the
    # server spent 0.15 s per run parsing it). Read it through ``snapshot``.
    snapshot_gz = models.BinaryField(
        _("Eingabe-Schnappschuss (zlib)"), null=True, blank=True, editable=False
    )
    snapshot_hash = models.CharField(_("Prüfsumme der Eingabe"), max_length=64, blank=True)
    result = models.JSONField(_("Ergebnis"), null=True, blank=True)
    result_hash = models.CharField(_("Prüfsumme des Ergebnisses"), max_length=64, blank=True)
    summary = models.JSONField(_("Zusammenfassung"), default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("Vergaberunde")
        verbose_name_plural = _("Vergaberunden")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.label or f"#{self.pk}"

    @property
    def snapshot_text(self) -> bytes | None:
        """The stored snapshot's canonical JSON text (decompressed)."""
        return None if self.snapshot_gz is None else zlib.decompress(self.snapshot_gz)

    @property
    def snapshot(self) -> dict | None:
        """The input snapshot as a document (parsed once per instance)."""
        if "_snapshot" not in self.__dict__:
            text = self.snapshot_text
            self.__dict__["_snapshot"] = None if text is None else json.loads(text)
        return self.__dict__["_snapshot"]

    def set_snapshot(self, document: dict, compressed: bytes) -> None:
        """Keep ``document`` with its compressed canonical JSON text (not saved)."""
        self.snapshot_gz = compressed
        self.__dict__["_snapshot"] = document


class RunOutcome(models.Model):
    """One child's outcome in a run (placement or none, explanation, waiting positions).

    Holds ids and scores; the explanation references facilities and priority scores only.

    The foreign keys have no database constraints (ADR 0009): a run writes one outcome per
    child, and their deferred checks were a third of a Bochum-size run's commit. The ORM
    still cascades (deleting a run, application, child, Kita or district deletes its
    outcomes), and ``services_allocation.purge_orphan_outcomes`` (periodic) removes any
    outcome whose row vanished otherwise. No ``run`` index of its own: the ``(run, child)``
    and ``(run, facility)`` indexes lead with the run.
    """

    run = models.ForeignKey(
        AllocationRun,
        on_delete=models.CASCADE,
        related_name="outcomes",
        db_constraint=False,
        db_index=False,
    )
    application = models.ForeignKey(
        "registrations.Application",
        on_delete=models.CASCADE,
        related_name="outcomes",
        db_constraint=False,
    )
    child = models.ForeignKey(
        "registrations.Child",
        on_delete=models.CASCADE,
        related_name="outcomes",
        db_constraint=False,
    )
    facility = models.ForeignKey(
        "registrations.Facility",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    daycare_district = models.ForeignKey(
        "registrations.District",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    wish_number = models.PositiveSmallIntegerField(null=True, blank=True)
    age_group = models.CharField(max_length=3)
    care_hours = models.PositiveSmallIntegerField()
    seat = models.CharField(max_length=10, blank=True)
    explanation = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "child"], name="one_outcome_per_child")
        ]
        indexes = [models.Index(fields=["run", "facility"], name="outcome_run_facility_idx")]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.child_id}"

    @property
    def placed(self) -> bool:
        return self.facility_id is not None or self.daycare_district_id is not None


class Offer(models.Model):
    """A place offered to one child at one facility, with a deadline.

    At most one open offer per child in the whole tenant (the lock of the decentralised mode,
    and of follow-up rounds). Personal data by reference only; deleted with the application.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("offen")
        ACCEPTED = "accepted", _("angenommen")
        DECLINED = "declined", _("abgelehnt")
        EXPIRED = "expired", _("abgelaufen")
        WITHDRAWN = "withdrawn", _("zurückgenommen")

    class Source(models.TextChoices):
        RUN = "run", _("Vergaberunde")
        FOLLOW_UP = "follow_up", _("Nachrückverfahren")
        FACILITY = "facility", _("Angebot der Kita")

    run = models.ForeignKey(
        AllocationRun, on_delete=models.PROTECT, null=True, blank=True, related_name="offers"
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.RUN)
    application = models.ForeignKey(
        "registrations.Application", on_delete=models.CASCADE, related_name="offers"
    )
    child = models.ForeignKey(
        "registrations.Child", on_delete=models.CASCADE, related_name="offers"
    )
    wish = models.ForeignKey(
        "registrations.Wish",
        on_delete=models.CASCADE,
        related_name="offers",
        verbose_name=_("Wunsch"),
    )
    facility = models.ForeignKey(
        "registrations.Facility",
        on_delete=models.PROTECT,
        related_name="offers",
        verbose_name=_("Kita"),
    )
    age_group = models.CharField(_("Altersgruppe"), max_length=3)
    care_hours = models.PositiveSmallIntegerField(_("Betreuungsumfang"))
    start_date = models.DateField(_("Betreuungsbeginn"))
    status = models.CharField(
        _("Status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    created_at = models.DateTimeField(_("angeboten am"), auto_now_add=True)
    deadline = models.DateTimeField(_("Frist"))
    reminded_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(_("beantwortet am"), null=True, blank=True)
    created_by_id = models.IntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("Platzangebot an Familie")
        verbose_name_plural = _("Platzangebote an Familien")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["child"], condition=models.Q(status="open"), name="one_open_offer_per_child"
            )
        ]
        indexes = [models.Index(fields=["status", "deadline"], name="offer_status_deadline_idx")]

    def __str__(self) -> str:
        return f"{self.pk}: {self.child_id} → {self.facility_id}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN and self.deadline > timezone.now()


class ContractTemplate(models.Model):
    """A carrier's care-contract text (Betreuungsvertrag); the row without a carrier is the
    municipality's default. Holds no personal data."""

    carrier = models.OneToOneField(
        "registrations.Carrier",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="contract_template",
        verbose_name=_("Träger"),
    )
    title = models.CharField(_("Titel"), max_length=200, default="Betreuungsvertrag")
    clauses = models.TextField(
        _("Vertragsbedingungen (Absätze durch Leerzeilen getrennt)"), max_length=20000
    )

    class Meta:
        verbose_name = _("Vertragsvorlage")
        verbose_name_plural = _("Vertragsvorlagen")
        constraints = [
            models.UniqueConstraint(
                fields=["carrier"], nulls_distinct=False, name="one_template_per_carrier"
            )
        ]

    def __str__(self) -> str:
        return self.title


class CareContract(models.Model):
    """The care contract generated when an offer is accepted; the PDF is stored with it.

    Personal data (names in the PDF, fee); deleted with the application."""

    class Status(models.TextChoices):
        SENT = "sent", _("an die Familie gesendet")
        SIGNED = "signed", _("von der Familie unterschrieben")
        COUNTERSIGNED = "countersigned", _("vom Träger gegengezeichnet")

    offer = models.OneToOneField(Offer, on_delete=models.CASCADE, related_name="contract")
    number = models.CharField(_("Vertragsnummer"), max_length=30, unique=True)
    created_at = models.DateTimeField(_("erstellt am"), auto_now_add=True)
    status = models.CharField(
        _("Status"), max_length=15, choices=Status.choices, default=Status.SENT
    )
    status_changed_at = models.DateTimeField(_("Status seit"), default=timezone.now)
    monthly_fee = models.DecimalField(_("Monatsbeitrag (€)"), max_digits=7, decimal_places=2)
    fee_note = models.CharField(_("Beitragsberechnung"), max_length=300, blank=True)
    pdf = models.BinaryField(_("PDF"))
    pdf_sha256 = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("Betreuungsvertrag")
        verbose_name_plural = _("Betreuungsverträge")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.number


def kita_year_of(day: date, start_month: int = 8) -> int:
    """The Kita year (by its starting calendar year) that ``day`` belongs to."""
    return day.year if day.month >= start_month else day.year - 1


__all__ = [
    "GLOBAL_KINDS",
    "LOCAL_KINDS",
    "AllocationPolicy",
    "AllocationRun",
    "ApplicationCircumstances",
    "CareContract",
    "ContractTemplate",
    "Criterion",
    "CriterionKind",
    "FeeBracket",
    "FeeTable",
    "Offer",
    "PlaceCapacity",
    "RunOutcome",
    "SiblingRule",
    "kita_year_of",
]
