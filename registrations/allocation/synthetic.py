"""Seeded synthetic markets shaped like Bochum, for tests, demos and benchmarks.

At ``scale=1`` a market has Bochum's size: 190 facilities (184 Kitas plus one
family-daycare pseudo-facility ``KTP:<district>`` per district), 11,435 places and 8,861
children with 5 wishes each. ``scale=s`` multiplies facilities, places and children by
``s``; there are always 6 districts.

* Locality: 80 % of a child's wishes are in its own district.
* Popularity skew: facilities have log-normal popularity weights.
* Categories: every Kita splits its places over U3/UE3 x 25/35/45 h; 45-hour places are
  scarcer than the demand for them. Family daycare offers U3 places only.
* Priorities: social points of the child (0-4), +3 in the own district, +1 for some
  carrier-specific criteria; many ties, so the tie-break chain matters.
* Reserves (``reserves=True``): about 5 % of the Kitas reserve a few places of one
  category for an employer's staff; about 3 % of the children are eligible and mostly wish
  a facility with their employer's reserve first.
* Groups (``groups=True``): about 2 % of the children are twins and 1 % siblings of
  different age groups, with identical wishes; one group in ten does not insist on being
  placed together.

The same ``(scale, seed, reserves, groups)`` always gives the same document.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from itertools import accumulate
from typing import Any

from .market import MARKET_FORMAT

DISTRICTS = ("mitte", "wattenscheid", "nord", "ost", "sued", "suedwest")
BOCHUM_FACILITIES = 190
BOCHUM_PLACES = 11_435
BOCHUM_CHILDREN = 8_861
_KITA_SHARES = {
    ("U3", 25): 0.03,
    ("U3", 35): 0.14,
    ("U3", 45): 0.08,
    ("UE3", 25): 0.12,
    ("UE3", 35): 0.41,
    ("UE3", 45): 0.22,
}
_KTP_SHARES = {("U3", 25): 0.2, ("U3", 35): 0.5, ("U3", 45): 0.3}
_KTP_PLACE_SHARE = 0.07


def _split(total: int, weights: list[float], rng: random.Random) -> list[int]:
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder)."""
    scale = total / sum(weights)
    raw = [w * scale for w in weights]
    parts = [int(x) for x in raw]
    remainders = sorted(
        range(len(raw)), key=lambda i: (raw[i] - parts[i], rng.random()), reverse=True
    )
    for i in remainders[: total - sum(parts)]:
        parts[i] += 1
    return parts


def generate_market(
    scale: int = 1,
    seed: int = 2027,
    *,
    reserves: bool = True,
    groups: bool = True,
    wishes: int = 5,
) -> dict[str, Any]:
    """A market document (``market.schema.json``) of Bochum's size times ``scale``."""
    rng = random.Random(f"kitaportal-synthetic-{scale}-{seed}")
    n_kitas = BOCHUM_FACILITIES * scale - len(DISTRICTS)
    places = BOCHUM_PLACES * scale
    n_children = BOCHUM_CHILDREN * scale

    # Facilities: Kitas with log-normal sizes and popularity, one KTP per district.
    ktp_places = int(places * _KTP_PLACE_SHARE)
    kita_sizes = _split(
        places - ktp_places, [rng.lognormvariate(0, 0.35) for _ in range(n_kitas)], rng
    )
    facilities: list[dict[str, Any]] = []
    popularity: list[float] = []
    facility_district: list[int] = []
    for i, size in enumerate(kita_sizes):
        district = i % len(DISTRICTS)
        shares = list(_KITA_SHARES.items())
        counts = _split(size, [share for _, share in shares], rng)
        facilities.append(
            {
                "id": f"kita-{i + 1:05d}",
                "district": DISTRICTS[district],
                "categories": [
                    {"age_group": age, "care_hours": hours, "capacity": count}
                    for ((age, hours), _), count in zip(shares, counts, strict=True)
                ],
            }
        )
        popularity.append(rng.lognormvariate(0, 0.9))
        facility_district.append(district)
    ktp_sizes = _split(ktp_places, [1.0] * len(DISTRICTS), rng)
    ktp_index = {}
    for district, size in enumerate(ktp_sizes):
        shares = list(_KTP_SHARES.items())
        counts = _split(size, [share for _, share in shares], rng)
        ktp_index[district] = len(facilities)
        facility_district.append(district)
        facilities.append(
            {
                "id": f"KTP:{DISTRICTS[district]}",
                "kind": "family_daycare",
                "district": DISTRICTS[district],
                "categories": [
                    {"age_group": age, "care_hours": hours, "capacity": count}
                    for ((age, hours), _), count in zip(shares, counts, strict=True)
                ],
            }
        )

    # Reserves: ~5 % of the Kitas, for 4 employers per scale unit.
    employer_facilities: dict[str, list[int]] = {}
    if reserves:
        employers = [f"employer-{e + 1:04d}" for e in range(4 * scale)]
        for i in rng.sample(range(n_kitas), max(1, n_kitas // 20)):
            candidates = [c for c in facilities[i]["categories"] if c["capacity"] >= 4]
            if not candidates:
                continue
            category = rng.choice(candidates)
            employer = rng.choice(employers)
            category["reserved"] = [
                {"employer": employer, "places": min(category["capacity"] // 2, rng.randint(2, 5))}
            ]
            employer_facilities.setdefault(employer, []).append(i)
    employer_list = sorted(employer_facilities)

    # Popularity-weighted sampling per district.
    by_district: list[list[int]] = [[] for _ in DISTRICTS]
    for i in range(n_kitas):
        by_district[facility_district[i]].append(i)
    cumulative = [list(accumulate(popularity[i] for i in pool)) for pool in by_district]
    all_kitas = list(range(n_kitas))
    all_cumulative = list(accumulate(popularity))

    base_day = date(2026, 8, 1)
    base_time = datetime(2025, 10, 1, 8, 0)
    children: list[dict[str, Any]] = []
    group_docs: list[dict[str, Any]] = []

    def make_child(age: str) -> dict[str, Any]:
        district = rng.randrange(len(DISTRICTS))
        age_days = rng.randint(365, 3 * 365) if age == "U3" else rng.randint(3 * 365, 6 * 365)
        hours = rng.choices((25, 35, 45), weights=(12, 50, 38))[0]
        social = rng.choices(range(5), weights=(40, 25, 18, 10, 7))[0]
        chosen: list[int] = []
        while len(chosen) < wishes:
            if rng.random() < 0.8:
                pool, weights = by_district[district], cumulative[district]
            else:
                pool, weights = all_kitas, all_cumulative
            f = rng.choices(pool, cum_weights=weights)[0]
            if f not in chosen:
                chosen.append(f)
        if age == "U3" and rng.random() < 0.25:
            chosen[rng.randrange(1, wishes)] = ktp_index[district]
        employer_ids: list[str] = []
        if employer_list and rng.random() < 0.03:
            employer = rng.choice(employer_list)
            employer_ids = [employer]
            if rng.random() < 0.7:
                favourite = rng.choice(employer_facilities[employer])
                if favourite in chosen:
                    chosen.remove(favourite)
                chosen = [favourite, *chosen[: wishes - 1]]
        registered = base_time + timedelta(minutes=10 * rng.randrange(26_000))
        child: dict[str, Any] = {
            "id": "",
            "birth_date": (base_day - timedelta(days=age_days)).isoformat(),
            "registered_at": registered.isoformat() + "+02:00",
            "age_group": age,
            "care_hours": hours,
            "wishes": [
                {
                    "facility": facilities[f]["id"],
                    "priority": social
                    + (3 if facility_district[f] == district else 0)
                    + (1 if (f * 7919 + social) % 5 == 0 else 0),
                }
                for f in chosen
            ],
        }
        if employer_ids:
            child["employers"] = employer_ids
        return child

    while len(children) < n_children:
        roll = rng.random() if groups else 1.0
        left = n_children - len(children)
        if roll < 0.01 and left >= 2:  # twins: same birth date, category, wishes
            first = make_child(rng.choice(("U3", "UE3")))
            second = dict(first, wishes=[dict(w) for w in first["wishes"]])
            members = [first, second]
            kind = "twins"
        elif roll < 0.015 and left >= 2:  # siblings in different age groups
            first = make_child("U3")
            second = make_child("UE3")
            second["wishes"] = [dict(w) for w in first["wishes"]]
            members = [first, second]
            kind = "siblings"
        else:
            members = [make_child("U3" if rng.random() < 0.4 else "UE3")]
            kind = ""
        for child in members:
            child["id"] = f"child-{len(children) + 1:07d}"
            children.append(child)
        if kind:
            group_docs.append(
                {
                    "id": f"group-{len(group_docs) + 1:06d}",
                    "kind": kind,
                    "together": rng.random() >= 0.1,
                    "members": [child["id"] for child in members],
                }
            )

    document: dict[str, Any] = {
        "format": MARKET_FORMAT,
        "round": f"synthetic-x{scale}-{seed}",
        "seed": seed,
        "facilities": facilities,
        "children": children,
    }
    if groups:
        document["groups"] = group_docs
    return document


def strip_extras(document: dict[str, Any]) -> dict[str, Any]:
    """The same market without reserves and groups (what a plain DA library can solve)."""
    facilities = [
        dict(
            facility,
            categories=[
                {key: value for key, value in category.items() if key != "reserved"}
                for category in facility["categories"]
            ],
        )
        for facility in document["facilities"]
    ]
    stripped = {key: value for key, value in document.items() if key != "groups"}
    stripped["facilities"] = facilities
    return stripped
