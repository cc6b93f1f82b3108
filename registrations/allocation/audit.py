"""An independent audit of a result document against its market document.

It deliberately shares no code with the engine except :func:`~.market.lottery_number` (the
documented lottery): it works on the JSON documents, re-derives every ranking from the
documented tie-break chain and re-implements the reserve-first-then-open choice function
plainly. It checks

* every child of the market appears exactly once, placements are among the child's wishes
  with the right wish number, age group and care hours (a 45-hour child never sits on a
  35-hour place and vice versa), in a category with places;
* no category holds more children than places, the children of a category are exactly what
  its choice function picks from them, and each one's slot (reserved, released, general,
  with employer) is the one the choice function gives;
* members of a together-group are all placed in the same facility or all unplaced;
* **no blocking pair for singles**: no child outside a together-group ranks a category
  above its placement that would choose it from the category's children plus itself;
* the explanations: one entry per wish ranked above the placement, with the category's
  capacity, the number admitted, the child's own priority, the cutoff (lowest-ranked child
  on an open slot of a full category) and, for unplaced children, the waiting position
  among the unplaced applicants of the category.

:func:`audit` returns a list of problems; an empty list means the result passed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from .market import lottery_number

Category = tuple[str, str, int]


def choose(
    applicants: list[str],
    capacity: int,
    reserves: list[tuple[str, int]],
    eligible: dict[str, set[str]],
) -> dict[str, tuple[str, str | None]]:
    """The reserve-first-then-open choice; ``applicants`` are ids, best first.

    Returns the chosen ids with their slot: ``("reserved", employer)``, ``("released",
    employer)`` or ``("general", None)``.
    """
    remaining = list(applicants)
    chosen: dict[str, tuple[str, str | None]] = {}
    for employer, places in reserves:
        for _ in range(places):
            pick = next((a for a in remaining if employer in eligible[a]), None)
            kind = "reserved"
            if pick is None:
                if not remaining:
                    break
                pick, kind = remaining[0], "released"
            remaining.remove(pick)
            chosen[pick] = (kind, employer)
    general = capacity - sum(places for _, places in reserves)
    for applicant in remaining[: max(general, 0)]:
        chosen[applicant] = ("general", None)
    return chosen


def audit(market: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """Check ``result`` against ``market``; returns the problems found (empty: passed)."""
    problems: list[str] = []
    seed = market["seed"]
    categories: dict[Category, dict[str, Any]] = {}
    for facility in market["facilities"]:
        for category in facility["categories"]:
            key = (facility["id"], category["age_group"], int(category["care_hours"]))
            categories[key] = {
                "capacity": int(category["capacity"]),
                "reserves": [
                    (r["employer"], int(r["places"])) for r in category.get("reserved", ())
                ],
            }
    children = {child["id"]: child for child in market["children"]}
    tiebreak = {
        cid: (
            date.fromisoformat(child["birth_date"]),
            datetime.fromisoformat(child["registered_at"]),
            lottery_number(seed, cid),
        )
        for cid, child in children.items()
    }
    eligible = {cid: set(child.get("employers", ())) for cid, child in children.items()}
    priority = {
        (cid, wish["facility"]): wish["priority"]
        for cid, child in children.items()
        for wish in child["wishes"]
    }

    def rank(cid: str, facility: str) -> tuple[Any, ...]:
        return (-priority[(cid, facility)], *tiebreak[cid])

    def category_of(cid: str, facility: str) -> Category:
        child = children[cid]
        return (facility, child["age_group"], int(child["care_hours"]))

    together: dict[str, list[str]] = {}
    for group in market.get("groups", ()):
        if group.get("together", True):
            for member in group["members"]:
                together[member] = group["members"]

    records = result["children"]
    seen: set[str] = set()
    placement: dict[str, dict[str, Any] | None] = {}
    for record in records:
        if record["id"] in seen:
            problems.append(f"child {record['id']} appears twice in the result")
        seen.add(record["id"])
        placement[record["id"]] = record["placement"]
    for cid in children.keys() - seen:
        problems.append(f"child {cid} is missing from the result")
    for cid in seen - children.keys():
        problems.append(f"the result has a child {cid} that is not in the market")

    occupants: dict[Category, list[str]] = {}
    for cid, placed in placement.items():
        if placed is None or cid not in children:
            continue
        child = children[cid]
        wished = [wish["facility"] for wish in child["wishes"]]
        facility = placed["facility"]
        if facility not in wished:
            problems.append(f"child {cid} is placed at {facility}, which it did not wish")
            continue
        if placed["wish"] != wished.index(facility) + 1:
            problems.append(f"child {cid}: wrong wish number {placed['wish']}")
        if (placed["age_group"], placed["care_hours"]) != (
            child["age_group"],
            int(child["care_hours"]),
        ):
            problems.append(
                f"child {cid} ({child['age_group']}/{child['care_hours']}h) sits on a "
                f"{placed['age_group']}/{placed['care_hours']}h place"
            )
        key = category_of(cid, facility)
        if key not in categories or categories[key]["capacity"] == 0:
            problems.append(f"child {cid} is placed in {key}, which has no places")
            continue
        occupants.setdefault(key, []).append(cid)

    # Capacity, choice consistency and slot labels.
    open_cutoff: dict[Category, Any] = {}
    for key, ids in occupants.items():
        spec = categories[key]
        ids.sort(key=lambda cid, facility=key[0]: rank(cid, facility))
        if len(ids) > spec["capacity"]:
            problems.append(f"{key} holds {len(ids)} children for {spec['capacity']} places")
        chosen = choose(ids, spec["capacity"], spec["reserves"], eligible)
        for cid in ids:
            placed = placement[cid] or {}
            if cid not in chosen:
                problems.append(f"{key} would not choose its own child {cid}")
            elif (placed.get("seat"), placed.get("employer")) != chosen[cid]:
                problems.append(
                    f"child {cid} in {key}: slot {placed['seat']}/{placed['employer']}, "
                    f"expected {chosen[cid][0]}/{chosen[cid][1]}"
                )
        open_ids = [cid for cid in ids if chosen.get(cid, ("",))[0] != "reserved"]
        if len(ids) >= spec["capacity"] and open_ids:
            open_cutoff[key] = priority[(open_ids[-1], key[0])]

    # Groups stay together.
    for group in market.get("groups", ()):
        if not group.get("together", True):
            continue
        spots = {placement[m]["facility"] if placement.get(m) else None for m in group["members"]}
        if len(spots) > 1:
            problems.append(f"group {group['id']} is split: {sorted(map(str, spots))}")

    # No blocking pair for singles.
    for cid, child in children.items():
        if cid in together or cid not in placement:
            continue
        placed = placement[cid]
        limit = placed["wish"] - 1 if placed else len(child["wishes"])
        for wish in child["wishes"][:limit]:
            key = category_of(cid, wish["facility"])
            spec = categories.get(key)
            if spec is None or spec["capacity"] == 0:
                continue
            candidates = sorted([*occupants.get(key, []), cid], key=lambda x, f=key[0]: rank(x, f))
            if cid in choose(candidates, spec["capacity"], spec["reserves"], eligible):
                problems.append(f"blocking pair: child {cid} and {key}")

    # Explanations and waiting positions.
    unplaced_applicants: dict[Category, list[str]] = {}
    for cid, child in children.items():
        if placement.get(cid) is None:
            for wish in child["wishes"]:
                key = category_of(cid, wish["facility"])
                if key in categories and categories[key]["capacity"] > 0:
                    unplaced_applicants.setdefault(key, []).append(cid)
    for key, ids in unplaced_applicants.items():
        ids.sort(key=lambda cid, facility=key[0]: rank(cid, facility))
    for record in records:
        cid = record["id"]
        if cid not in children:
            continue
        child = children[cid]
        placed = record["placement"]
        limit = placed["wish"] - 1 if placed else len(child["wishes"])
        entries = record["explanation"]
        if [e["wish"] for e in entries] != list(range(1, limit + 1)):
            problems.append(f"child {cid}: explanations for wishes {[e['wish'] for e in entries]}")
            continue
        for entry, wish in zip(entries, child["wishes"], strict=False):
            key = category_of(cid, wish["facility"])
            spec = categories.get(key, {"capacity": 0})
            expected = {
                "facility": wish["facility"],
                "own_priority": wish["priority"],
                "capacity": spec["capacity"],
                "admitted": len(occupants.get(key, [])),
                "cutoff": open_cutoff.get(key),
            }
            actual = {name: entry[name] for name in expected}
            if actual != expected:
                problems.append(f"child {cid} wish {entry['wish']}: {actual} != {expected}")
            if placed is None:
                if spec["capacity"] == 0:
                    position = None
                else:
                    position = unplaced_applicants[key].index(cid) + 1
                if entry.get("waiting_position", "missing") != position:
                    problems.append(
                        f"child {cid} wish {entry['wish']}: waiting position "
                        f"{entry.get('waiting_position', 'missing')} != {position}"
                    )
            elif "waiting_position" in entry:
                problems.append(f"child {cid} is placed but has a waiting position")
    return problems
