"""Admission criteria (Aufnahmekriterien) → priority scores per wish, and the default catalogue.

A child's priority score at a wished facility is the sum of the points of every active
criterion that applies there:

* global criteria (age, working, single parent, hardship, residence, residence in the
  facility's district, registration by the cut-off date) count at every wish,
* local criteria count only where they apply: a sibling already attending that facility,
  employer eligibility at a facility with that employer's reserved places, a carrier-specific
  rule at the facilities of its carrier (or its one facility).

Ties are broken by the documented chain (older child first, then the earlier registration,
then the seeded lottery, whose seed is stored with each run; see
``registrations/allocation/README.md``).

``score`` returns the total and the list of (criterion id, points) that made it, so an
explanation can name every point.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from django.utils import timezone
from django.utils.translation import gettext_noop

from .models_allocation import LOCAL_KINDS, ApplicationCircumstances, Criterion, CriterionKind

TIE_BREAK_CHAIN = (
    gettext_noop("ältere Kinder zuerst (Geburtsdatum)"),
    gettext_noop("frühere Voranmeldung zuerst (Eingangszeitpunkt)"),
    gettext_noop("Losentscheid mit einem Startwert, der mit der Vergaberunde gespeichert wird"),
)


def full_years(birth: date, on: date) -> int:
    return max(0, on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day)))


@dataclass(frozen=True)
class WishContext:
    """What a criterion looks at for one child at one wished place."""

    birth_date: date
    start_date: date
    registered_on: date
    home_district_id: int
    facility_id: int | None  # None: family daycare
    facility_carrier_id: int | None
    facility_district_id: int
    both_working: bool = False
    single_parent: bool = False
    hardship: bool = False
    resident: bool = True
    sibling_facility_ids: frozenset[int] = frozenset()
    carrier_rule_ids: frozenset[int] = frozenset()
    employers: frozenset[str] = frozenset()
    facility_employers: frozenset[str] = frozenset()  # employers with reserves there


class Scorer:
    """Scores wishes with the active criteria; ``weights`` override points per criterion id
    (dry runs comparing weights)."""

    def __init__(
        self,
        criteria: Iterable[Criterion] | None = None,
        weights: Mapping[int | str, int | float] | None = None,
    ) -> None:
        self.criteria = list(
            criteria if criteria is not None else Criterion.objects.filter(active=True)
        )
        weights = {int(k): v for k, v in (weights or {}).items()}
        self.points = {c.pk: weights.get(c.pk, c.points) for c in self.criteria}

    def applies(self, criterion: Criterion, w: WishContext) -> bool:
        kind = criterion.kind
        if criterion.kind in (
            CriterionKind.SIBLING,
            CriterionKind.EMPLOYER,
            CriterionKind.CARRIER_RULE,
        ):
            if w.facility_id is None:
                return False
            if criterion.facility_id is not None and criterion.facility_id != w.facility_id:
                return False
            if criterion.carrier_id is not None and criterion.carrier_id != w.facility_carrier_id:
                return False
        if kind == CriterionKind.AGE:
            return full_years(w.birth_date, w.start_date) > 0
        if kind == CriterionKind.WORKING:
            return w.both_working
        if kind == CriterionKind.SINGLE_PARENT:
            return w.single_parent
        if kind == CriterionKind.HARDSHIP:
            return w.hardship
        if kind == CriterionKind.RESIDENT:
            return w.resident
        if kind == CriterionKind.DISTRICT:
            return w.home_district_id == w.facility_district_id
        if kind == CriterionKind.REGISTRATION:
            return criterion.cutoff_date is not None and w.registered_on <= criterion.cutoff_date
        if kind == CriterionKind.SIBLING:
            return w.facility_id in w.sibling_facility_ids
        if kind == CriterionKind.EMPLOYER:
            return bool(w.employers & w.facility_employers)
        if kind == CriterionKind.CARRIER_RULE:
            return criterion.pk in w.carrier_rule_ids
        return False

    # Fast path for whole runs: the facility-independent part once per child, then per wish
    # only the district and the local criteria (same result as ``score``).
    STATIC_KINDS = frozenset(
        {
            CriterionKind.AGE,
            CriterionKind.WORKING,
            CriterionKind.SINGLE_PARENT,
            CriterionKind.HARDSHIP,
            CriterionKind.RESIDENT,
            CriterionKind.REGISTRATION,
        }
    )

    def static_points(self, w: WishContext) -> int | float:
        return self.static_points_of(
            w.birth_date,
            w.start_date,
            w.registered_on,
            w.both_working,
            w.single_parent,
            w.hardship,
            w.resident,
        )

    def static_points_of(
        self,
        birth_date: date,
        start_date: date,
        registered_on: date,
        both_working: bool,
        single_parent: bool,
        hardship: bool,
        resident: bool,
    ) -> int | float:
        """The facility-independent points (what ``applies`` decides for the static kinds,
        in the criteria's order), without building a ``WishContext`` per child."""
        static = self.__dict__.get("_static")
        if static is None:
            static = self._static = [
                (criterion.kind, self.points[criterion.pk], criterion.cutoff_date)
                for criterion in self.criteria
                if criterion.kind in self.STATIC_KINDS
            ]
        total = 0
        for kind, points, cutoff in static:
            if kind == CriterionKind.AGE:
                years = full_years(birth_date, start_date)
                if years > 0:
                    total += points * years
            elif kind == CriterionKind.WORKING:
                if both_working:
                    total += points
            elif kind == CriterionKind.SINGLE_PARENT:
                if single_parent:
                    total += points
            elif kind == CriterionKind.HARDSHIP:
                if hardship:
                    total += points
            elif kind == CriterionKind.RESIDENT:
                if resident:
                    total += points
            elif cutoff is not None and registered_on <= cutoff:  # REGISTRATION
                total += points
        return total

    @property
    def district_points(self) -> int | float:
        """The points of the district criteria (home district = the facility's district)."""
        return sum(self.points[c.pk] for c in self.criteria if c.kind == CriterionKind.DISTRICT)

    def facility_points(
        self,
        home_district_id: int,
        facility_id: int | None,
        facility_carrier_id: int | None,
        facility_district_id: int,
        sibling_facility_ids: frozenset[int] = frozenset(),
        carrier_rule_ids: frozenset[int] = frozenset(),
        employers: frozenset[str] = frozenset(),
        facility_employers: frozenset[str] = frozenset(),
    ) -> int | float:
        if not hasattr(self, "_district_points"):
            self._district_points = sum(
                self.points[c.pk] for c in self.criteria if c.kind == CriterionKind.DISTRICT
            )
            self._local = [c for c in self.criteria if c.kind in LOCAL_KINDS]
        total = self._district_points if home_district_id == facility_district_id else 0
        if facility_id is None or not (
            sibling_facility_ids or carrier_rule_ids or (employers and facility_employers)
        ):
            return total
        for criterion in self._local:
            if criterion.facility_id is not None and criterion.facility_id != facility_id:
                continue
            if criterion.carrier_id is not None and criterion.carrier_id != facility_carrier_id:
                continue
            kind = criterion.kind
            if (
                (kind == CriterionKind.SIBLING and facility_id in sibling_facility_ids)
                or (kind == CriterionKind.EMPLOYER and employers & facility_employers)
                or (kind == CriterionKind.CARRIER_RULE and criterion.pk in carrier_rule_ids)
            ):
                total += self.points[criterion.pk]
        return total

    def score(self, w: WishContext) -> tuple[int | float, list[tuple[int, int | float]]]:
        """The priority score and the criteria (id, points) that make it up."""
        parts: list[tuple[int, int | float]] = []
        for criterion in self.criteria:
            if not self.applies(criterion, w):
                continue
            points = self.points[criterion.pk]
            if criterion.kind == CriterionKind.AGE:
                points = points * full_years(w.birth_date, w.start_date)
            if points:
                parts.append((criterion.pk, points))
        return sum(p for _, p in parts), parts


def circumstances_of(application) -> ApplicationCircumstances:
    """The stored circumstances, or the defaults (resident, nothing else) without a row."""
    try:
        return application.circumstances
    except ApplicationCircumstances.DoesNotExist:
        return ApplicationCircumstances(application=application)


def registered_on(application) -> date:
    return timezone.localtime(application.created_at).date()


DEFAULT_CATALOGUE = [
    # kind, points, title, title_en, explanation, explanation_en
    (
        CriterionKind.HARDSHIP,
        10,
        "Härtefall oder Zuweisung durch das Jugendamt",
        "Hardship or referral by the youth office",
        "Das Jugendamt hat bestätigt, dass Ihr Kind aus besonderen Gründen dringend einen Platz "
        "braucht (zum Beispiel Gefährdung, Krankheit oder Behinderung in der Familie).",
        "The youth office has confirmed that your child urgently needs a place for special "
        "reasons (for example risk to the child, illness or disability in the family).",
    ),
    (
        CriterionKind.WORKING,
        4,
        "Eltern berufstätig oder in Ausbildung",
        "Parents working or in training",
        "Beide Eltern – oder Sie als alleinerziehende Person – arbeiten, studieren, machen eine "
        "Ausbildung oder nehmen an einer Eingliederungsmaßnahme teil.",
        "Both parents – or you as a single parent – work, study, are in training or take part "
        "in an integration programme.",
    ),
    (
        CriterionKind.SINGLE_PARENT,
        3,
        "Alleinerziehend",
        "Single parent",
        "Ihr Kind lebt nur bei Ihnen, und Sie erziehen es allein.",
        "Your child lives only with you and you bring it up alone.",
    ),
    (
        CriterionKind.AGE,
        1,
        "Alter des Kindes",
        "Age of the child",
        "Für jedes vollendete Lebensjahr zum gewünschten Betreuungsbeginn gibt es einen Punkt. "
        "Ältere Kinder haben also einen Vorteil.",
        "Your child gets one point for every full year of age at the desired start date, so "
        "older children have an advantage.",
    ),
    (
        CriterionKind.RESIDENT,
        2,
        "Wohnsitz in der Kommune",
        "Residence in the municipality",
        "Ihr Kind wohnt mit Hauptwohnsitz in unserer Kommune.",
        "Your child's main residence is in our municipality.",
    ),
    (
        CriterionKind.DISTRICT,
        3,
        "Wohnsitz im Bezirk der Kita",
        "Residence in the facility's district",
        "Sie wohnen im selben Bezirk wie die gewünschte Kita. Das gilt für jede Wunsch-Kita "
        "einzeln.",
        "You live in the same district as the facility you wish. This is checked for each "
        "wished facility on its own.",
    ),
    (
        CriterionKind.REGISTRATION,
        1,
        "Voranmeldung bis zum Stichtag",
        "Registered by the deadline",
        "Ihre Voranmeldung ist bis zum Stichtag eingegangen.",
        "Your pre-registration arrived by the deadline.",
    ),
    (
        CriterionKind.SIBLING,
        5,
        "Geschwisterkind in der Kita",
        "Sibling already in the facility",
        "Ein Geschwisterkind besucht diese Kita bereits und wird sie auch nach dem "
        "Betreuungsbeginn noch besuchen. Das zählt nur bei dieser Kita.",
        "A brother or sister already attends this facility and will still attend after the "
        "start date. This counts only at that facility.",
    ),
    (
        CriterionKind.EMPLOYER,
        2,
        "Belegplatz des Arbeitgebers",
        "Employer's reserved place",
        "Ihr Arbeitgeber hat in dieser Kita Belegplätze, und Sie sind dafür berechtigt. Das "
        "zählt nur bei Kitas mit Belegplätzen Ihres Arbeitgebers.",
        "Your employer reserves places in this facility and you are eligible for them. This "
        "counts only at facilities with your employer's reserved places.",
    ),
]


def ensure_default_catalogue() -> int:
    """Create the default criteria catalogue if the municipality has none; returns how many
    criteria were created (0 if a catalogue exists). Used by the demo and onboarding."""
    if Criterion.objects.exists():
        return 0
    Criterion.objects.bulk_create(
        [
            Criterion(
                kind=kind,
                points=points,
                title=title,
                title_en=title_en,
                explanation=text,
                explanation_en=text_en,
                position=position,
                cutoff_date=date(timezone.localdate().year, 1, 15)
                if kind == CriterionKind.REGISTRATION
                else None,
            )
            for position, (kind, points, title, title_en, text, text_en) in enumerate(
                DEFAULT_CATALOGUE, start=1
            )
        ]
    )
    return len(DEFAULT_CATALOGUE)


def add_criterion(
    actor,
    *,
    kind: str,
    title: str,
    explanation: str,
    points: int,
    carrier_id: int | None = None,
    facility_id: int | None = None,
    cutoff_date: date | None = None,
    title_en: str = "",
    explanation_en: str = "",
) -> Criterion:
    """Add a criterion (e.g. a carrier's own rule). ValidationError per field; atomic."""
    from django.core.exceptions import ValidationError
    from django.utils.translation import gettext as _

    from tenants.common.services import record_audit

    from .models import Carrier, Facility
    from .models_allocation import LOCAL_KINDS

    errors: dict[str, list[str]] = {}
    if kind not in CriterionKind.values:
        errors["kind"] = [_("Unbekannte Art.")]
    if not title.strip() or not explanation.strip():
        errors["title"] = [_("Bezeichnung und Erklärung dürfen nicht leer sein.")]
    if not -100 <= points <= 100:
        errors["points"] = [_("Bitte eine ganze Zahl zwischen -100 und 100 angeben.")]
    scoped = carrier_id is not None or facility_id is not None
    if scoped and kind not in LOCAL_KINDS:
        errors["scope"] = [_("Nur örtliche Kriterien gelten für einen Träger oder eine Kita.")]
    if kind == CriterionKind.CARRIER_RULE and not scoped:
        errors["scope"] = [
            _("Ein trägerspezifisches Kriterium braucht einen Träger oder eine Kita.")
        ]
    if carrier_id is not None and not Carrier.objects.filter(pk=carrier_id).exists():
        errors["scope"] = [_("Diesen Träger gibt es nicht.")]
    if facility_id is not None and not Facility.objects.filter(pk=facility_id).exists():
        errors["scope"] = [_("Diese Kita gibt es nicht.")]
    if kind == CriterionKind.REGISTRATION and cutoff_date is None:
        errors["cutoff_date"] = [_("Bitte geben Sie den Stichtag an.")]
    if errors:
        raise ValidationError(errors)
    criterion = Criterion.objects.create(
        kind=kind,
        title=title.strip()[:200],
        title_en=title_en.strip()[:200],
        explanation=explanation.strip()[:2000],
        explanation_en=explanation_en.strip()[:2000],
        points=points,
        carrier_id=carrier_id,
        facility_id=facility_id,
        cutoff_date=cutoff_date,
        position=(Criterion.objects.count() + 1),
    )
    record_audit(actor, "criterion.added", criterion)
    return criterion
