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
20 : 55 : 25, only bands it offers, largest remainder), minus the places already accepted
for that Kita year. Family daycare: the district's Tagespflegepersonen's places, U3 only,
split the same way.

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

from django.db.models import Prefetch, Sum
from django.utils import timezone

from .allocation.market import MARKET_FORMAT
from .criteria import Scorer, WishContext, circumstances_of
from .models import (
    AgeGroupOffer,
    Application,
    Child,
    District,
    Facility,
    FamilyDaycarePerson,
    Wish,
    WishStatus,
)
from .models_allocation import AllocationPolicy, Offer, PlaceCapacity
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
            status=Offer.Status.ACCEPTED, start_date__gte=start, start_date__lt=end
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
        eligible={key: list(value) for key, value in eligible_employers(application_ids).items()},
    )


@dataclass
class Instance:
    """A market document plus what is needed to map the result back."""

    document: dict[str, Any]
    applications: dict[int, Application]
    children: dict[str, Child]
    child_application: dict[str, int]
    facility_ids: dict[str, int]
    daycare_districts: dict[str, int]
    score_parts: dict[tuple[str, str], list[tuple[int, int | float]]]


def eligible_applications(kita_year: int, age_groups: list[str]):
    start, end = kita_year_bounds(kita_year, AllocationPolicy.current().kita_year_start_month)
    busy = Offer.objects.filter(status__in=(Offer.Status.OPEN, Offer.Status.ACCEPTED)).values(
        "application_id"
    )
    return (
        Application.objects.filter(
            status=Application.Status.ACTIVE, start_date__gte=start, start_date__lt=end
        )
        .exclude(pk__in=busy)
        .select_related("circumstances", "family_daycare_district")
        .prefetch_related(
            Prefetch("children", queryset=Child.objects.order_by("pk")),
            Prefetch(
                "wishes",
                queryset=Wish.objects.filter(status__in=OPEN_WISH_STATUSES).order_by("rank"),
                to_attr="open_wishes",
            ),
            "circumstances__sibling_facilities",
            "circumstances__carrier_rules",
        )
        .order_by("pk")
    )


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
    applications = list(eligible_applications(kita_year, age_groups))
    employers = employer_data(as_of, [a.pk for a in applications])

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
    # Family daycare: one pseudo-facility per district (U3).
    daycare: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    if "U3" in age_groups:
        for person in FamilyDaycarePerson.objects.all():
            for hours, count in split_places(person.places, person.care_hours).items():
                daycare[person.district_id][hours] += count
    daycare_districts: dict[str, int] = {}
    for district_id, cells in sorted(daycare.items()):
        key = daycare_key(districts[district_id].slug)
        daycare_districts[key] = district_id
        facility_docs.append(
            {
                "id": key,
                "kind": "family_daycare",
                "district": districts[district_id].slug,
                "categories": [
                    {"age_group": "U3", "care_hours": h, "capacity": c}
                    for h, c in sorted(cells.items())
                ],
            }
        )

    children_docs: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    children_by_key: dict[str, Child] = {}
    child_application: dict[str, int] = {}
    score_parts: dict[tuple[str, str], list[tuple[int, int | float]]] = {}
    apps_by_id: dict[int, Application] = {}
    for application in applications:
        kids = list(application.children.all())
        ages = [age_group_at(k.birth_date, application.start_date) for k in kids]
        if not kids or any(age not in age_groups for age in ages):
            continue
        info = circumstances_of(application)
        has_row = info.pk is not None
        own_employers = frozenset(
            [*(info.employers or []), *employers.eligible.get(application.pk, [])]
        )
        registered = timezone.localtime(application.created_at)
        common = {
            "start_date": application.start_date,
            "registered_on": registered.date(),
            "home_district_id": application.district_id,
            "both_working": info.both_working,
            "single_parent": info.single_parent,
            "hardship": info.hardship,
            "resident": info.resident,
            "sibling_facility_ids": frozenset(f.pk for f in info.sibling_facilities.all())
            if has_row
            else frozenset(),
            "carrier_rule_ids": frozenset(c.pk for c in info.carrier_rules.all())
            if has_row
            else frozenset(),
            "employers": own_employers,
        }
        apps_by_id[application.pk] = application
        member_keys = []
        for kid, age in zip(kids, ages, strict=True):
            key = child_key(kid.pk)
            wishes = []
            for wish in application.open_wishes:
                facility = facilities.get(wish.facility_id)
                if facility is None:
                    continue
                context = WishContext(
                    birth_date=kid.birth_date,
                    facility_id=facility.pk,
                    facility_carrier_id=facility.carrier_id,
                    facility_district_id=facility.district_id,
                    facility_employers=facility_employers.get(facility.pk, frozenset()),
                    **common,
                )
                total, parts = scorer.score(context)
                fkey = facility_key(facility.pk)
                wishes.append({"facility": fkey, "priority": total})
                score_parts[(key, fkey)] = parts
            if application.wants_family_daycare and application.family_daycare_district_id:
                district = districts[application.family_daycare_district_id]
                dkey = daycare_key(district.slug)
                if dkey in daycare_districts:
                    context = WishContext(
                        birth_date=kid.birth_date,
                        facility_id=None,
                        facility_carrier_id=None,
                        facility_district_id=district.pk,
                        **common,
                    )
                    total, parts = scorer.score(context)
                    wishes.append({"facility": dkey, "priority": total})
                    score_parts[(key, dkey)] = parts
            if not wishes:
                continue
            doc: dict[str, Any] = {
                "id": key,
                "birth_date": kid.birth_date.isoformat(),
                "registered_at": registered.isoformat(),
                "age_group": age,
                "care_hours": application.care_hours,
                "wishes": wishes[:20],
            }
            if own_employers:
                doc["employers"] = sorted(own_employers)
            children_docs.append(doc)
            children_by_key[key] = kid
            child_application[key] = application.pk
            member_keys.append(key)
        if len(member_keys) > 1:
            same_birth = len({k.birth_date for k in kids}) == 1
            groups.append(
                {
                    "id": f"a{application.pk}",
                    "kind": "twins" if same_birth else "siblings",
                    "together": application.place_together,
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
        applications=apps_by_id,
        children=children_by_key,
        child_application=child_application,
        facility_ids={facility_key(pk): pk for pk in facilities},
        daycare_districts=daycare_districts,
        score_parts=score_parts,
    )


def total_places() -> int:
    return AgeGroupOffer.objects.aggregate(total=Sum("places"))["total"] or 0
