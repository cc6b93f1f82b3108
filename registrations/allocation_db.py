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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from .allocation.market import MARKET_FORMAT
from .criteria import Scorer
from .models import (
    AgeGroupOffer,
    Application,
    ApplicationChild,
    Child,
    District,
    Facility,
    Wish,
    WishStatus,
)
from .models_allocation import AllocationPolicy, ApplicationCircumstances, Offer, PlaceCapacity
from .services import age_group_at

BAND_WEIGHTS = {25: 20, 35: 55, 45: 25}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OPEN_WISH_STATUSES = (WishStatus.RECEIVED, WishStatus.IN_REVIEW)


def child_key(child_id: int) -> str:
    return f"k{child_id}"


def facility_key(facility_id: int) -> str:
    return f"f{facility_id}"


def daycare_key(district_slug: str) -> str:
    return f"KTP:{district_slug}"


canonical_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
"""The canonical JSON text of a document (sorted keys, no spaces, UTF-8 as is)."""

_json_string = json.encoder.encode_basestring  # a str as a JSON string (no ASCII escaping)
_RECORD_KEYS = frozenset({"explanation", "group", "id", "placement"})


def canonical_hash(document: Any) -> str:
    """SHA-256 over the canonical JSON text (sorted keys, no spaces): stable across the
    database's JSON storage, which does not keep key order."""
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def canonical_record(record: dict[str, Any]) -> tuple[str, str]:
    """A result's child record as canonical JSON, assembled from its parts: (the canonical
    text of its explanation, the canonical text of the record). The keys sort as
    explanation < group < id < placement, so the record's text is exactly
    ``canonical_json(record)`` while the explanation is serialised once."""
    explanation = canonical_json(record["explanation"])
    if record.keys() != _RECORD_KEYS:
        return explanation, canonical_json(record)
    group, key, placement = record["group"], record["id"], record["placement"]
    return explanation, (
        f'{{"explanation":{explanation},'
        f'"group":{_json_string(group) if isinstance(group, str) else canonical_json(group)},'
        f'"id":{_json_string(key) if isinstance(key, str) else canonical_json(key)},'
        f'"placement":{canonical_json(placement)}}}'
    )


def canonical_result_hash(result: dict[str, Any], children: list[str]) -> str:
    """``canonical_hash(result)`` from the canonical texts of its child records (in order,
    from :func:`canonical_record`): "children" sorts before every other key."""
    rest = {key: value for key, value in result.items() if key != "children"}
    if "children" not in result or not rest or min(rest) < "children":
        return canonical_hash(result)
    digest = hashlib.sha256(b'{"children":[')
    digest.update(",".join(children).encode())
    digest.update(b"],")
    digest.update(canonical_json(rest)[1:].encode())
    return digest.hexdigest()


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


def employer_data(as_of: date, application_ids: list[int] | None = None) -> EmployerData:
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


@dataclass(slots=True)
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


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _applications_sql() -> str:
    """One query for the run's applications: the application's columns, its children (ids
    and birth dates), its open wishes (facility ids, wish ids, ranks) and its circumstances
    (facts, employers, sibling Kitas, carrier rules), arrays unordered. Each array is a
    LATERAL subquery by the application's id (an index scan per application), and the
    applications with an offer are excluded by a hashed ``NOT IN``: a plan that does not
    depend on the planner's row estimates (after a bulk import, before ANALYZE, a join
    plan chosen on stale estimates took a minute)."""
    through_siblings = ApplicationCircumstances.sibling_facilities.through
    through_rules = ApplicationCircumstances.carrier_rules.through
    return f"""
        SELECT a.id, a.start_date, a.care_hours, a.district_id,
               (extract(epoch FROM a.created_at) * 1000000)::bigint,
               a.place_together,
               CASE WHEN a.wants_family_daycare THEN a.family_daycare_district_id END,
               kids.ids, kids.births, wishes.facilities, wishes.ids, wishes.ranks,
               ci.id IS NOT NULL, ci.both_working, ci.single_parent, ci.hardship, ci.resident,
               ci.employers, extra.siblings, extra.rules
        FROM {_table(Application)} a
        LEFT JOIN {_table(ApplicationCircumstances)} ci ON ci.application_id = a.id
        CROSS JOIN LATERAL (
            SELECT array_agg(ac.child_id) AS ids, array_agg(c.birth_date) AS births
            FROM {_table(ApplicationChild)} ac
            JOIN {_table(Child)} c ON c.id = ac.child_id
            WHERE ac.application_id = a.id
        ) kids
        CROSS JOIN LATERAL (
            SELECT array_agg(w.facility_id) AS facilities, array_agg(w.id) AS ids,
                   array_agg(w.rank) AS ranks
            FROM {_table(Wish)} w
            WHERE w.application_id = a.id AND w.status = ANY(%(open_wishes)s)
        ) wishes
        CROSS JOIN LATERAL (
            SELECT (
                SELECT array_agg(t.facility_id) FROM {_table(through_siblings)} t
                WHERE t.applicationcircumstances_id = ci.id
            ) AS siblings, (
                SELECT array_agg(t.criterion_id) FROM {_table(through_rules)} t
                WHERE t.applicationcircumstances_id = ci.id
            ) AS rules
        ) extra
        WHERE a.status = %(active)s AND a.start_date >= %(start)s AND a.start_date < %(end)s
          AND a.id NOT IN (
              SELECT o.application_id FROM {_table(Offer)} o WHERE o.status = ANY(%(busy)s)
          )
        ORDER BY a.id
    """


STREAM_ROWS = 500  # rows per chunk when the applications are streamed


def load_applications(kita_year: int) -> list[ApplicationRow]:
    """The run's applications as plain rows (one query, no model instances): active,
    desired start in the Kita year, no open or accepted offer; children in id order; open
    wishes in rank order; the circumstances."""
    return list(iter_applications(kita_year))


def iter_applications(kita_year: int) -> Iterator[ApplicationRow]:
    """:func:`load_applications` as a stream: the rows arrive in chunks while the server is
    still producing the later ones, so the caller's work on them overlaps the query. The
    caller must not query the database until the iterator is exhausted."""
    start, end = kita_year_bounds(kita_year, AllocationPolicy.current().kita_year_start_month)
    params = {
        "active": Application.Status.ACTIVE.value,
        "start": start,
        "end": end,
        "busy": [Offer.Status.OPEN.value, Offer.Status.ACCEPTED.value],
        "open_wishes": [status.value for status in OPEN_WISH_STATUSES],
    }
    with connection.cursor() as cursor:
        records = cursor.cursor.stream(_applications_sql(), params, size=STREAM_ROWS)
        for (
            pk,
            start_date,
            hours,
            district,
            created_us,
            together,
            daycare_district,
            kid_ids,
            births,
            wish_facilities,
            wish_ids,
            wish_ranks,
            has_info,
            working,
            single,
            hardship,
            resident,
            employers,
            siblings,
            rules,
        ) in records:
            # Arrays come unordered (an ordered aggregate sorts per group): children by id,
            # wishes by rank, here.
            kids = sorted(zip(kid_ids, births, strict=True)) if kid_ids else []
            if wish_ids:
                ordered = sorted(zip(wish_ranks, wish_ids, wish_facilities, strict=True))
                facilities = [facility for _, _, facility in ordered]
                wish_map = {facility: wish for _, wish, facility in ordered}
            else:
                facilities, wish_map = [], {}
            row = ApplicationRow(
                pk,
                start_date,
                hours,
                district,
                _EPOCH + timedelta(microseconds=created_us),
                together,
                daycare_district,
                kids,
                facilities,
                wish_map,
            )
            if has_info:
                row.facts = (working, single, hardship, resident)
                row.employers = list(employers or [])
                if siblings:
                    row.siblings = frozenset(siblings)
                if rules:
                    row.rules = frozenset(rules)
            yield row


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
    employers = employer_data(as_of)

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
    # Per facility: (snapshot id, carrier, district); the points of the district criterion.
    facility_info = {
        pk: (facility_key(pk), f.carrier_id, f.district_id) for pk, f in facilities.items()
    }
    district_points = scorer.district_points
    static_points = scorer.static_points_of
    daycare_keys = {pk: daycare_key(d.slug) for pk, d in districts.items()}
    eligible = employers.eligible
    no_employers: frozenset[str] = frozenset()
    local_tz = timezone.get_current_timezone()
    allowed = set(age_groups)
    rows: dict[int, ApplicationRow] = {}
    # The applications are streamed: the loop works on the first rows while the server
    # produces the rest (no other query until the stream is exhausted).
    for row in iter_applications(kita_year):
        rows[row.pk] = row
        kids = row.children
        if not kids:
            continue
        start_date = row.start_date
        ages = [age_group_at(birth, start_date) for _, birth in kids]
        if not allowed.issuperset(ages):
            continue
        own_employers = frozenset([*row.employers, *eligible.get(row.pk, ())])
        registered = row.created_at.astimezone(local_tz)
        registered_on = registered.date()
        registered_text = registered.isoformat()
        home = row.district_id
        facts = row.facts
        # Wishes as (snapshot id, facility, carrier, district); the points that do not
        # depend on the child (district, local criteria) once per application.
        local = bool(row.siblings or row.rules or own_employers)
        wish_points: list[tuple[str, int | float]] = []
        for facility_id in row.wishes:
            info = facility_info.get(facility_id)
            if info is None:
                continue
            slug, carrier_id, facility_district = info
            if local:
                points = scorer.facility_points(
                    home,
                    facility_id,
                    carrier_id,
                    facility_district,
                    row.siblings,
                    row.rules,
                    own_employers,
                    facility_employers.get(facility_id, no_employers),
                )
            else:
                points = district_points if home == facility_district else 0
            wish_points.append((slug, points))
        if row.daycare_district_id:
            dkey = daycare_keys[row.daycare_district_id]
            if dkey in daycare_districts:
                points = district_points if home == row.daycare_district_id else 0
                wish_points.append((dkey, points))
        member_keys = []
        for (kid_id, birth), age in zip(kids, ages, strict=True):
            if not wish_points:
                break
            key = child_key(kid_id)
            cache_key = (birth, start_date, registered_on, facts)
            static = static_cache.get(cache_key)
            if static is None:
                static = static_cache[cache_key] = static_points(
                    birth, start_date, registered_on, *facts
                )
            doc: dict[str, Any] = {
                "id": key,
                "birth_date": birth.isoformat(),
                "registered_at": registered_text,
                "age_group": age,
                "care_hours": row.care_hours,
                "wishes": [
                    {"facility": slug, "priority": static + points}
                    for slug, points in wish_points[:20]
                ],
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
        rows=rows,
        child_application=child_application,
        facility_ids={facility_key(pk): pk for pk in facilities},
        daycare_districts=daycare_districts,
    )


def total_places() -> int:
    return AgeGroupOffer.objects.aggregate(total=Sum("places"))["total"] or 0
