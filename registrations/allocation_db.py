"""The in-tenant side of the allocation engine: build the engine's market document from the
database, and store a run's outputs (outcomes per child, offers for binding runs).

The same engine (``registrations.allocation``) serves the CLI and the tenant; this module
only translates.

**Who takes part in a run** for Kita year *Y* (1 August *Y* to 31 July *Y+1*) and a set of
age groups: every active application whose desired start lies in that Kita year and that
holds no open or accepted offer; each child with its age group at the start date; its
wishes that are still open (status received or in review, in the family's order), and
family daycare (``KTP:<district>``) as its last wish when the family asked for it.

**Ids in the snapshot are pseudonymous**: children ``k<child id>``, facilities
``f<facility id>``, groups ``a<application id>``. Names and addresses never enter it.

**Capacities**: ``PlaceCapacity`` rows for the Kita year; a facility without rows splits the
places of each ``AgeGroupOffer`` over its care-hour bands (25 h : 35 h : 45 h =
20 : 55 : 25, only bands it offers, largest remainder), minus the places held by open
or accepted offers for that Kita year. Family daycare: the district's places that the
youth office or Fachberatung set for the Kita year (``DaycareCapacity``), else its
Tagespflegepersonen's places, U3 only, split the same way
(``services_planning.daycare_capacities``).

**Employer reserves and eligibility** come from ``employer_quota.municipal.allocation``
(issue 5) when installed: ``reserves_for_round(as_of)`` →
``{(facility_id, age_group, care_hours): [(employer, places), ...]}`` and
``eligible_employers(application_ids)`` → ``{application_id: [employer, ...]}``; plus the
youth office's entries in ``ApplicationCircumstances.employers``. Reserves are capped at
the category's capacity.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from .allocation.market import MARKET_FORMAT
from .criteria import Scorer, WishContext
from .models import (
    AgeGroupOffer,
    Application,
    ApplicationChild,
    District,
    Facility,
    Wish,
    WishStatus,
)
from .models_allocation import AllocationPolicy, ApplicationCircumstances, Offer, PlaceCapacity
from .services import age_group_at

BAND_WEIGHTS = {25: 20, 35: 55, 45: 25}
OPEN_WISH_STATUSES = (WishStatus.RECEIVED, WishStatus.IN_REVIEW)


def child_key(child_id: int) -> str:
    return f"k{child_id}"


def facility_key(facility_id: int) -> str:
    return f"f{facility_id}"


def daycare_key(district_slug: str) -> str:
    return f"KTP:{district_slug}"


def canonical_hash(document: Any) -> str:
    """SHA-256 over the canonical JSON text (sorted keys, no spaces): stable across the
    database's JSON storage, which does not keep key order."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def kita_year_bounds(year: int, start_month: int = 8) -> tuple[date, date]:
    start = date(year, start_month, 1)
    end = date(year + 1, start_month, 1)
    return start, end


def split_places(total: int, bands: list[int]) -> dict[int, int]:
    """Split ``total`` over ``bands`` by ``BAND_WEIGHTS`` (largest remainder, ties to the
    longer band)."""
    bands = sorted(b for b in set(bands) if b in BAND_WEIGHTS)
    if not bands or total <= 0:
        return {}
    weight = sum(BAND_WEIGHTS[b] for b in bands)
    raw = {b: total * BAND_WEIGHTS[b] / weight for b in bands}
    parts = {b: int(raw[b]) for b in bands}
    rest = total - sum(parts.values())
    for b in sorted(bands, key=lambda b: (raw[b] - parts[b], b), reverse=True)[:rest]:
        parts[b] += 1
    return parts


def capacities(kita_year: int) -> dict[int, dict[tuple[str, int], int]]:
    """Free places per facility and (age group, care hours) for the Kita year."""
    result: dict[int, dict[tuple[str, int], int]] = defaultdict(dict)
    explicit = PlaceCapacity.objects.filter(kita_year=kita_year).values_list(
        "facility_id", "age_group", "care_hours", "places"
    )
    for facility_id, age, hours, places in explicit:
        result[facility_id][(age, hours)] = places
    bands = dict(Facility.objects.values_list("pk", "care_hours"))
    for facility_id, age, places in AgeGroupOffer.objects.values_list(
        "facility_id", "age_group", "places"
    ):
        if facility_id in result and any(key[0] == age for key in result[facility_id]):
            continue
        for hours, count in split_places(places, bands.get(facility_id) or []).items():
            result[facility_id][(age, hours)] = count
    start, end = kita_year_bounds(kita_year)
    taken = (
        Offer.objects.filter(
            status__in=(Offer.Status.OPEN, Offer.Status.ACCEPTED),
            start_date__gte=start,
            start_date__lt=end,
        )
        .values_list("facility_id", "age_group", "care_hours")
        .order_by()
    )
    for facility_id, age, hours in taken:
        cell = result.get(facility_id)
        if cell is not None and (age, hours) in cell:
            cell[(age, hours)] = max(0, cell[(age, hours)] - 1)
    return result


@dataclass
class EmployerData:
    reserves: dict[tuple[int, str, int], list[tuple[str, int]]] = field(default_factory=dict)
    eligible: dict[int, list[str]] = field(default_factory=dict)


def employer_data(as_of: date, application_ids: list[int]) -> EmployerData:
    """Reserves and eligibility from the employer module (issue 5), if it is installed."""
    try:
        from employer_quota.municipal.allocation import (  # type: ignore[import-not-found]
            eligible_employers,
            reserves_for_round,
        )
    except ImportError:
        return EmployerData()
    return EmployerData(
        reserves={key: list(value) for key, value in reserves_for_round(as_of).items()},
        eligible={key: list(value) for key, value in eligible_employers(None).items()},
    )


@dataclass
class Instance:
    """A market document plus what is needed to map the result back."""

    document: dict[str, Any]
    rows: dict[int, ApplicationRow]
    child_application: dict[str, int]
    facility_ids: dict[str, int]
    daycare_districts: dict[str, int]


@dataclass
class ApplicationRow:
    pk: int
    start_date: date
    care_hours: int
    district_id: int
    created_at: Any
    place_together: bool
    daycare_district_id: int | None
    children: list[tuple[int, date]] = field(default_factory=list)
    wishes: list[int] = field(default_factory=list)
    wish_ids: dict[int, int] = field(default_factory=dict)
    facts: tuple[bool, bool, bool, bool] = (False, False, False, True)
    employers: list[str] = field(default_factory=list)
    siblings: frozenset[int] = frozenset()
    rules: frozenset[int] = frozenset()


def load_applications(kita_year: int) -> list[ApplicationRow]:
    """The run's applications as plain rows (a handful of queries, no model instances):
    active, desired start in the Kita year, no open or accepted offer; children in id
    order; open wishes in rank order; the circumstances."""
    start, end = kita_year_bounds(kita_year, AllocationPolicy.current().kita_year_start_month)
    busy = Offer.objects.filter(status__in=(Offer.Status.OPEN, Offer.Status.ACCEPTED)).values(
        "application_id"
    )
    selected = Application.objects.filter(
        status=Application.Status.ACTIVE, start_date__gte=start, start_date__lt=end
    ).exclude(pk__in=busy)
    rows: dict[int, ApplicationRow] = {}
    for values in selected.order_by("pk").values_list(
        "pk",
        "start_date",
        "care_hours",
        "district_id",
        "created_at",
        "place_together",
        "wants_family_daycare",
        "family_daycare_district_id",
    ):
        pk, start_date, hours, district, created, together, daycare, daycare_district = values
        rows[pk] = ApplicationRow(
            pk,
            start_date,
            hours,
            district,
            created,
            together,
            daycare_district if daycare else None,
        )
    ids = selected.values("pk")
    for app_id, child_id, birth in (
        ApplicationChild.objects.filter(application_id__in=ids)
        .order_by("child_id")
        .values_list("application_id", "child_id", "child__birth_date")
    ):
        rows[app_id].children.append((child_id, birth))
    for app_id, facility_id, wish_id in (
        Wish.objects.filter(application_id__in=ids, status__in=OPEN_WISH_STATUSES)
        .order_by("application_id", "rank")
        .values_list("application_id", "facility_id", "pk")
    ):
        rows[app_id].wishes.append(facility_id)
        rows[app_id].wish_ids[facility_id] = wish_id
    info_ids: dict[int, int] = {}
    for (
        info_id,
        app_id,
        working,
        single,
        hardship,
        resident,
        employers,
    ) in ApplicationCircumstances.objects.filter(application_id__in=ids).values_list(
        "pk",
        "application_id",
        "both_working",
        "single_parent",
        "hardship",
        "resident",
        "employers",
    ):
        row = rows[app_id]
        row.facts = (working, single, hardship, resident)
        row.employers = list(employers or [])
        info_ids[info_id] = app_id
    siblings: dict[int, set[int]] = defaultdict(set)
    through = ApplicationCircumstances.sibling_facilities.through
    for info_id, facility_id in through.objects.filter(
        applicationcircumstances__application_id__in=ids
    ).values_list("applicationcircumstances_id", "facility_id"):
        siblings[info_ids[info_id]].add(facility_id)
    rules: dict[int, set[int]] = defaultdict(set)
    through = ApplicationCircumstances.carrier_rules.through
    for info_id, criterion_id in through.objects.filter(
        applicationcircumstances__application_id__in=ids
    ).values_list("applicationcircumstances_id", "criterion_id"):
        rules[info_ids[info_id]].add(criterion_id)
    for app_id, values in siblings.items():
        rows[app_id].siblings = frozenset(values)
    for app_id, values in rules.items():
        rows[app_id].rules = frozenset(values)
    return list(rows.values())


def build_instance(
    kita_year: int,
    age_groups: list[str],
    *,
    seed: int,
    weights: dict | None = None,
    round_label: str | None = None,
) -> Instance:
    """The engine's market document for a run, built from the database."""
    policy = AllocationPolicy.current()
    as_of = date(kita_year, policy.kita_year_start_month, 1)
    scorer = Scorer(weights=weights)
    facilities = {
        f.pk: f for f in Facility.objects.only("pk", "carrier_id", "district_id", "care_hours")
    }
    districts = {d.pk: d for d in District.objects.all()}
    cap = capacities(kita_year)
    rows = load_applications(kita_year)
    employers = employer_data(as_of, [r.pk for r in rows])

    facility_docs: list[dict[str, Any]] = []
    facility_employers: dict[int, frozenset[str]] = {}
    for facility_id, cells in sorted(cap.items()):
        if facility_id not in facilities:
            continue
        categories = []
        for (age, hours), places in sorted(cells.items()):
            if age not in age_groups:
                continue
            category: dict[str, Any] = {"age_group": age, "care_hours": hours, "capacity": places}
            reserved = []
            left = places
            for employer, count in employers.reserves.get((facility_id, age, hours), []):
                count = min(int(count), left)
                if count > 0 and employer not in {r["employer"] for r in reserved}:
                    reserved.append({"employer": str(employer), "places": count})
                    left -= count
            if reserved:
                category["reserved"] = reserved
                facility_employers[facility_id] = facility_employers.get(
                    facility_id, frozenset()
                ) | {r["employer"] for r in reserved}
            categories.append(category)
        if categories:
            facility_docs.append(
                {
                    "id": facility_key(facility_id),
                    "district": districts[facilities[facility_id].district_id].slug,
                    "categories": categories,
                }
            )
    # Family daycare: one pseudo-facility per district (services_planning.daycare_capacities).
    from .services_planning import daycare_capacities

    daycare = {
        district_id: {cell: places for cell, places in cells.items() if cell[0] in age_groups}
        for district_id, cells in daycare_capacities(kita_year).items()
    }
    daycare_districts: dict[str, int] = {}
    for district_id, cells in sorted(daycare.items()):
        if not cells:
            continue
        key = daycare_key(districts[district_id].slug)
        daycare_districts[key] = district_id
        facility_docs.append(
            {
                "id": key,
                "kind": "family_daycare",
                "district": districts[district_id].slug,
                "categories": [
                    {"age_group": age, "care_hours": h, "capacity": c}
                    for (age, h), c in sorted(cells.items())
                ],
            }
        )

    children_docs: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    child_application: dict[str, int] = {}
    static_cache: dict[tuple, int | float] = {}
    facility_slugs = {pk: facility_key(pk) for pk in facilities}
    for row in rows:
        kids = row.children
        ages = [age_group_at(birth, row.start_date) for _, birth in kids]
        if not kids or any(age not in age_groups for age in ages):
            continue
        own_employers = frozenset([*row.employers, *employers.eligible.get(row.pk, [])])
        registered = timezone.localtime(row.created_at)
        registered_on = registered.date()
        registered_text = registered.isoformat()
        member_keys = []
        for (kid_id, birth), age in zip(kids, ages, strict=True):
            key = child_key(kid_id)
            cache_key = (birth, row.start_date, registered_on, row.facts)
            static = static_cache.get(cache_key)
            if static is None:
                both_working, single_parent, hardship, resident = row.facts
                static = static_cache[cache_key] = scorer.static_points(
                    WishContext(
                        birth_date=birth,
                        start_date=row.start_date,
                        registered_on=registered_on,
                        home_district_id=row.district_id,
                        facility_id=None,
                        facility_carrier_id=None,
                        facility_district_id=0,
                        both_working=both_working,
                        single_parent=single_parent,
                        hardship=hardship,
                        resident=resident,
                    )
                )
            wishes = []
            for facility_id in row.wishes:
                facility = facilities.get(facility_id)
                if facility is None:
                    continue
                points = static + scorer.facility_points(
                    row.district_id,
                    facility_id,
                    facility.carrier_id,
                    facility.district_id,
                    row.siblings,
                    row.rules,
                    own_employers,
                    facility_employers.get(facility_id, frozenset()),
                )
                wishes.append({"facility": facility_slugs[facility_id], "priority": points})
            if row.daycare_district_id:
                district = districts[row.daycare_district_id]
                dkey = daycare_key(district.slug)
                if dkey in daycare_districts:
                    points = static + scorer.facility_points(
                        row.district_id, None, None, district.pk
                    )
                    wishes.append({"facility": dkey, "priority": points})
            if not wishes:
                continue
            doc: dict[str, Any] = {
                "id": key,
                "birth_date": birth.isoformat(),
                "registered_at": registered_text,
                "age_group": age,
                "care_hours": row.care_hours,
                "wishes": wishes[:20],
            }
            if own_employers:
                doc["employers"] = sorted(own_employers)
            children_docs.append(doc)
            child_application[key] = row.pk
            member_keys.append(key)
        if len(member_keys) > 1:
            same_birth = len({birth for _, birth in kids}) == 1
            groups.append(
                {
                    "id": f"a{row.pk}",
                    "kind": "twins" if same_birth else "siblings",
                    "together": row.place_together,
                    "members": member_keys,
                }
            )
    document: dict[str, Any] = {
        "format": MARKET_FORMAT,
        "round": round_label or f"{kita_year}-{'+'.join(sorted(age_groups))}",
        "seed": seed,
        "facilities": facility_docs,
        "children": children_docs,
    }
    if groups:
        document["groups"] = groups
    return Instance(
        document=document,
        rows={row.pk: row for row in rows},
        child_application=child_application,
        facility_ids={facility_key(pk): pk for pk in facilities},
        daycare_districts=daycare_districts,
    )


def total_places() -> int:
    return AgeGroupOffer.objects.aggregate(total=Sum("places"))["total"] or 0
