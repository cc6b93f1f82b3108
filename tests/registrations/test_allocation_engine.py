"""The allocation engine (registrations.allocation): pure Python, no database.

Every result produced here goes through ``checked()``, which runs the independent audit
(capacities, categories, reserved slots, groups together, no blocking pair for singles,
explanations and waiting positions) and validates the result against result.schema.json.
"""

from __future__ import annotations

import copy
import io
import json
import random
import sys
import threading
import warnings
from itertools import combinations
from typing import Any

import pytest
from matching.games import HospitalResident

from registrations.allocation import (
    MARKET_FORMAT,
    MarketError,
    audit,
    fill_slots,
    load_instance,
    lottery_number,
    result_dict,
    solve,
    validator,
    write_result,
)
from registrations.allocation.audit import choose
from registrations.allocation.synthetic import generate_market, strip_extras
from registrations.allocation.validation import SchemaViolation, Validator

# -- building markets ----------------------------------------------------------------------


def facility(fid: str, *categories: tuple, **extra: Any) -> dict[str, Any]:
    """``categories``: (age group, care hours, capacity) or (..., {employer: places})."""
    cats = []
    for category in categories:
        age, hours, capacity = category[:3]
        entry: dict[str, Any] = {"age_group": age, "care_hours": hours, "capacity": capacity}
        if len(category) > 3:
            entry["reserved"] = [{"employer": e, "places": p} for e, p in category[3].items()]
        cats.append(entry)
    return {"id": fid, "categories": cats, **extra}


def child(
    cid: str,
    *wishes: str | tuple[str, float],
    age: str = "U3",
    hours: int = 35,
    born: str = "2024-01-01",
    registered: str = "2025-01-10T08:00:00+01:00",
    employers: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A child; a wish is a facility id (priority 1) or (facility id, priority)."""
    doc: dict[str, Any] = {
        "id": cid,
        "birth_date": born,
        "registered_at": registered,
        "age_group": age,
        "care_hours": hours,
        "wishes": [
            {"facility": w, "priority": 1}
            if isinstance(w, str)
            else {"facility": w[0], "priority": w[1]}
            for w in wishes
        ],
    }
    if employers:
        doc["employers"] = list(employers)
    return doc


def market(
    facilities: list[dict[str, Any]],
    children: list[dict[str, Any]],
    groups: list[dict[str, Any]] | None = None,
    seed: int | str = 1,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": MARKET_FORMAT,
        "seed": seed,
        "facilities": facilities,
        "children": children,
    }
    if groups is not None:
        doc["groups"] = groups
    return doc


def checked(doc: dict[str, Any]) -> dict[str, Any]:
    """Solve, then audit the result and validate it against result.schema.json."""
    result = result_dict(solve(load_instance(doc)))
    assert audit(doc, result) == []
    assert validator("result").errors(result) == []
    return result


def placements(result: dict[str, Any]) -> dict[str, str | None]:
    return {
        record["id"]: record["placement"]["facility"] if record["placement"] else None
        for record in result["children"]
    }


def record_of(result: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(record for record in result["children"] if record["id"] == cid)


# -- random markets ------------------------------------------------------------------------


def random_plain_market(rng: random.Random) -> dict[str, Any]:
    """One category, no reserves, no groups; many ties in priority, birth and registration."""
    facilities = [
        facility(f"f{i}", ("U3", 35, rng.randint(0, 4))) for i in range(rng.randint(1, 6))
    ]
    children = []
    for i in range(rng.randint(1, 24)):
        wished = rng.sample([f["id"] for f in facilities], rng.randint(0, min(4, len(facilities))))
        children.append(
            child(
                f"c{i}",
                *[(f, rng.randint(0, 3)) for f in wished],
                born=f"2024-0{rng.randint(1, 3)}-01",
                registered=f"2025-01-0{rng.randint(1, 2)}T08:00:00Z",
            )
        )
    return market(facilities, children, seed=rng.randint(0, 10**6))


def random_market_with_extras(rng: random.Random) -> dict[str, Any]:
    """Two age groups x three care-hour bands, reserves, twins and siblings."""
    employers = ["e1", "e2", "e3"]
    facilities = []
    for i in range(rng.randint(1, 5)):
        categories = []
        for age in ("U3", "UE3"):
            for hours in (25, 35, 45):
                if rng.random() < 0.6:
                    capacity = rng.randint(0, 4)
                    reserved = {}
                    for employer in rng.sample(employers, rng.randint(0, 2)):
                        reserved[employer] = rng.randint(0, 2)
                    while sum(reserved.values()) > capacity:
                        reserved[next(iter(reserved))] = 0
                        reserved = {e: p for e, p in reserved.items() if p} or {}
                    categories.append(
                        (age, hours, capacity, reserved) if reserved else (age, hours, capacity)
                    )
        facilities.append(facility(f"f{i}", *categories))
    ids = [f["id"] for f in facilities]
    children: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []

    def make(age: str, hours: int, wished: list[str]) -> dict[str, Any]:
        return child(
            f"c{len(children)}",
            *[(f, rng.randint(0, 3)) for f in wished],
            age=age,
            hours=hours,
            born=f"202{rng.randint(1, 4)}-0{rng.randint(1, 2)}-01",
            registered=f"2025-01-0{rng.randint(1, 3)}T08:00:00Z",
            employers=tuple(rng.sample(employers, rng.randint(0, 2))) if rng.random() < 0.3 else (),
        )

    for _ in range(rng.randint(1, 20)):
        wished = rng.sample(ids, rng.randint(0, len(ids)))
        age, hours = rng.choice(("U3", "UE3")), rng.choice((25, 35, 45))
        roll = rng.random()
        if roll < 0.25:
            size = rng.choice((2, 2, 3))
            members = []
            for _ in range(size):
                kid = (
                    make(age, hours, wished)
                    if rng.random() < 0.6
                    else make(rng.choice(("U3", "UE3")), rng.choice((25, 35, 45)), wished)
                )
                if rng.random() < 0.2:
                    kid["wishes"] = list(reversed(kid["wishes"]))
                children.append(kid)
                members.append(kid["id"])
            groups.append(
                {"id": f"g{len(groups)}", "members": members, "together": rng.random() < 0.85}
            )
        else:
            children.append(make(age, hours, wished))
    return market(facilities, children, groups, seed=rng.randint(0, 10**6))


# -- differential test against the PyPI `matching` library ----------------------------------


def matching_library_outcome(doc: dict[str, Any]) -> dict[str, str | None]:
    """The resident-optimal stable matching of matching's HospitalResident solver."""
    capacities = {
        f["id"]: f["categories"][0]["capacity"]
        for f in doc["facilities"]
        if f["categories"][0]["capacity"] > 0
    }

    def rank(c: dict[str, Any], fid: str) -> tuple:
        priority = next(w["priority"] for w in c["wishes"] if w["facility"] == fid)
        return (
            -priority,
            c["birth_date"],
            c["registered_at"],
            lottery_number(doc["seed"], c["id"]),
        )

    resident_prefs = {
        c["id"]: [w["facility"] for w in c["wishes"] if w["facility"] in capacities]
        for c in doc["children"]
    }
    resident_prefs = {r: prefs for r, prefs in resident_prefs.items() if prefs}
    hospital_prefs = {
        fid: sorted(
            (c for c in doc["children"] if fid in resident_prefs.get(c["id"], ())),
            key=lambda c, fid=fid: rank(c, fid),
        )
        for fid in capacities
    }
    hospital_prefs = {h: [c["id"] for c in prefs] for h, prefs in hospital_prefs.items() if prefs}
    outcome: dict[str, str | None] = {c["id"]: None for c in doc["children"]}
    if not resident_prefs:
        return outcome
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the inputs must be clean: no player excluded
        game = HospitalResident.create_from_dictionaries(
            resident_prefs, hospital_prefs, {h: capacities[h] for h in hospital_prefs}
        )
        matching = game.solve(optimal="resident")
    for hospital, residents in matching.items():
        for resident in residents:
            outcome[resident.name] = hospital.name
    return outcome


def test_engine_returns_the_resident_optimal_matching_of_the_matching_library_on_500_markets():
    rng = random.Random(20270801)
    differing = []
    for _ in range(500):
        doc = random_plain_market(rng)
        ours = placements(checked(doc))
        theirs = matching_library_outcome(doc)
        if ours != theirs:
            differing.append((doc, ours, theirs))
    assert differing == []


def test_the_differential_markets_exercise_ties_and_the_lottery():
    rng = random.Random(20270801)
    exact_ties = 0
    for _ in range(500):
        doc = random_plain_market(rng)
        seen = set()
        for c in doc["children"]:
            for w in c["wishes"]:
                key = (w["facility"], w["priority"], c["birth_date"], c["registered_at"])
                exact_ties += key in seen
                seen.add(key)
    assert exact_ties > 500


# -- Münster failure cases: groups and care hours -------------------------------------------


def test_twins_are_never_separated_when_only_one_place_is_left_at_their_first_wish():
    doc = market(
        [facility("A", ("U3", 35, 2)), facility("B", ("U3", 35, 2))],
        [
            child("older", "A", born="2023-06-01"),
            child("twin-1", "A", "B", born="2024-02-02"),
            child("twin-2", "A", "B", born="2024-02-02"),
        ],
        [{"id": "twins", "kind": "twins", "members": ["twin-1", "twin-2"]}],
    )
    result = checked(doc)
    assert placements(result) == {"older": "A", "twin-1": "B", "twin-2": "B"}
    # A keeps a free place: the twins could not both get in, and A is not split up.
    facility_a = next(f for f in result["facilities"] if f["id"] == "A")
    assert facility_a["categories"][0]["admitted"] == 1
    assert record_of(result, "twin-1")["explanation"][0]["reason"] in {
        "group_not_admitted",
        "outranked",
        "tie_break",
    }


def test_twins_stay_unplaced_together_rather_than_being_split():
    doc = market(
        [facility("A", ("U3", 45, 1)), facility("B", ("U3", 45, 3))],
        [
            child("t1", "A", "B", hours=45, registered="2025-01-10T08:00:00Z"),
            child("t2", "A", "B", hours=45, registered="2025-01-10T08:05:00Z"),
            child("s1", ("B", 5), hours=45),
            child("s2", ("B", 5), hours=45),
        ],
        [{"id": "g", "kind": "twins", "members": ["t1", "t2"]}],
    )
    result = checked(doc)
    assert placements(result) == {"t1": None, "t2": None, "s1": "B", "s2": "B"}
    # A has one place only: it is no option for the twins as a group.
    assert record_of(result, "t1")["explanation"][0]["reason"] == "not_joint"
    assert record_of(result, "t1")["explanation"][1]["waiting_position"] == 1


def test_siblings_in_different_age_groups_are_placed_in_the_same_facility():
    doc = market(
        [
            facility("A", ("U3", 35, 1), ("UE3", 35, 0)),
            facility("B", ("U3", 35, 1), ("UE3", 35, 1)),
            facility("C", ("U3", 35, 1), ("UE3", 35, 1)),
        ],
        [
            child("baby", "A", "B", "C", age="U3"),
            child("big", "B", "A", "C", age="UE3", born="2021-05-01"),
            child("rival", ("B", 9), age="U3"),
        ],
        [{"id": "siblings", "kind": "siblings", "members": ["baby", "big"]}],
    )
    result = checked(doc)
    assert placements(result) == {"baby": "C", "big": "C", "rival": "B"}
    explanation = record_of(result, "baby")["explanation"]
    assert [(e["facility"], e["reason"]) for e in explanation] == [
        ("A", "not_joint"),  # no UE3 place at A for the big sibling
        ("B", "outranked"),  # the rival has the higher priority at B
    ]


def test_groups_that_do_not_insist_on_being_together_are_placed_as_singles():
    doc = market(
        [facility("A", ("U3", 35, 1)), facility("B", ("U3", 35, 1))],
        [child("t1", "A", "B", born="2024-01-01"), child("t2", "A", "B", born="2024-01-01")],
        [{"id": "g", "members": ["t1", "t2"], "together": False}],
    )
    result = checked(doc)
    assert sorted(placements(result).values()) == ["A", "B"]
    assert record_of(result, "t1")["group"] == "g"


def test_a_45_hour_child_never_takes_a_35_hour_place_and_vice_versa():
    doc = market(
        [facility("A", ("U3", 35, 5), ("U3", 45, 1))],
        [
            child("long-1", ("A", 3), hours=45),
            child("long-2", ("A", 2), hours=45),
            child("short-1", ("A", 1), hours=35),
            child("short-2", ("A", 1), hours=25),
        ],
    )
    result = checked(doc)
    assert placements(result) == {"long-1": "A", "long-2": None, "short-1": "A", "short-2": None}
    assert record_of(result, "long-1")["placement"]["care_hours"] == 45
    assert record_of(result, "short-1")["placement"]["care_hours"] == 35
    # Four 35-hour places stay free, yet the second 45-hour child gets none of them.
    assert record_of(result, "long-2")["explanation"][0] == {
        "wish": 1,
        "facility": "A",
        "own_priority": 2,
        "capacity": 1,
        "admitted": 1,
        "cutoff": 3,
        "reason": "outranked",
        "waiting_position": 1,
    }
    assert record_of(result, "short-2")["explanation"][0]["reason"] == "no_places"


def test_family_daycare_is_a_pseudo_facility_per_district_with_its_own_capacity():
    doc = market(
        [
            facility("A", ("U3", 35, 1)),
            facility("KTP:mitte", ("U3", 35, 2), kind="family_daycare", district="mitte"),
        ],
        [child("a", ("A", 2), "KTP:mitte"), child("b", "A", "KTP:mitte"), child("c", "KTP:mitte")],
    )
    assert placements(checked(doc)) == {"a": "A", "b": "KTP:mitte", "c": "KTP:mitte"}


# -- reserved places ------------------------------------------------------------------------


def test_eligible_children_fill_reserved_places_before_higher_priority_applicants():
    doc = market(
        [facility("A", ("U3", 35, 3, {"rathaus": 2})), facility("B", ("U3", 35, 9))],
        [
            child("top-1", ("A", 9), "B"),
            child("top-2", ("A", 8), "B"),
            child("top-3", ("A", 7), "B"),
            child("staff-1", ("A", 1), "B", employers=("rathaus",)),
            child("staff-2", ("A", 0), "B", employers=("rathaus",)),
            child("other-staff", ("A", 5), "B", employers=("stadtwerke",)),
        ],
    )
    result = checked(doc)
    assert placements(result) == {
        "top-1": "A",
        "top-2": "B",
        "top-3": "B",
        "staff-1": "A",
        "staff-2": "A",
        "other-staff": "B",
    }
    assert record_of(result, "staff-1")["placement"]["seat"] == "reserved"
    assert record_of(result, "staff-1")["placement"]["employer"] == "rathaus"
    assert record_of(result, "top-1")["placement"]["seat"] == "general"
    assert record_of(result, "top-2")["explanation"][0]["cutoff"] == 9
    assert result["summary"]["reserved_slots_used"] == 2


def test_unused_reserved_places_fall_back_to_the_general_pool_in_the_same_run():
    doc = market(
        [facility("A", ("U3", 35, 3, {"rathaus": 2})), facility("B", ("U3", 35, 9))],
        [
            child("staff", ("A", 0), "B", employers=("rathaus",)),
            child("x", ("A", 3), "B"),
            child("y", ("A", 2), "B"),
            child("z", ("A", 1), "B"),
        ],
    )
    result = checked(doc)
    assert placements(result) == {"staff": "A", "x": "A", "y": "A", "z": "B"}
    assert record_of(result, "staff")["placement"]["seat"] == "reserved"
    assert record_of(result, "x")["placement"]["seat"] == "released"
    assert record_of(result, "x")["placement"]["employer"] == "rathaus"
    assert record_of(result, "y")["placement"]["seat"] == "general"
    assert result["summary"]["released_slots_used"] == 1
    category = result["facilities"][0]["categories"][0]
    assert category["reserved"] == [{"employer": "rathaus", "places": 2, "taken_by_eligible": 1}]


def test_reserves_are_filled_in_the_listed_order():
    # One child is eligible for both employers; the first listed reserve takes it.
    doc = market(
        [facility("A", ("U3", 35, 2, {"e1": 1, "e2": 1}))],
        [
            child("both", ("A", 5), employers=("e1", "e2")),
            child("only-e2", ("A", 1), employers=("e2",)),
            child("nobody", ("A", 3)),
        ],
    )
    result = checked(doc)
    assert placements(result) == {"both": "A", "only-e2": "A", "nobody": None}
    assert record_of(result, "both")["placement"]["employer"] == "e1"
    assert record_of(result, "only-e2")["placement"]["employer"] == "e2"
    assert record_of(result, "nobody")["explanation"][0]["reason"] == "reserved"


def test_the_choice_function_is_substitutable_and_satisfies_the_law_of_aggregate_demand():
    rng = random.Random(7)
    n = 12
    for _ in range(400):
        capacity = rng.randint(0, 6)
        reserves = []
        for employer in rng.sample(range(3), rng.randint(0, 3)):
            reserves.append((employer, rng.randint(0, 2)))
        while sum(p for _, p in reserves) > capacity:
            reserves.pop()
        employers = [frozenset(rng.sample(range(3), rng.randint(0, 2))) or None for _ in range(n)]
        applicants = sorted(rng.sample(range(n), rng.randint(0, n)))
        chosen = {k for k, _, _ in fill_slots(applicants, capacity, reserves, n, employers)}
        for extra in set(range(n)) - set(applicants):
            bigger = sorted([*applicants, extra])
            chosen_bigger = {k for k, _, _ in fill_slots(bigger, capacity, reserves, n, employers)}
            assert chosen_bigger & set(applicants) <= chosen  # substitutes
            assert len(chosen_bigger) >= len(chosen)  # law of aggregate demand
        # The audit's independent implementation agrees, slots included.
        ids = [str(k) for k in applicants]
        eligible = {str(k): {str(e) for e in employers[k] or ()} for k in applicants}
        independent = choose(ids, capacity, [(str(e), p) for e, p in reserves], eligible)
        engine = {
            str(k): (kind, None if e < 0 else str(e))
            for k, kind, e in fill_slots(applicants, capacity, reserves, n, employers)
        }
        assert independent == engine


# -- random markets with every extra pass the audit -------------------------------------------


def test_random_markets_with_reserves_and_groups_pass_the_stability_audit():
    rng = random.Random(4)
    placed_groups = 0
    for _ in range(300):
        doc = random_market_with_extras(rng)
        result = checked(doc)
        placed_groups += sum(
            1
            for g in doc["groups"]
            if g["together"] and all(placements(result)[m] for m in g["members"])
        )
    assert placed_groups > 50


def test_a_bochum_size_synthetic_market_passes_the_stability_audit():
    doc = generate_market(1, seed=11)
    result = checked(doc)
    summary = result["summary"]
    assert summary["children"] == 8861
    assert summary["places"] == 11435
    assert summary["groups_placed"] > 0
    assert summary["reserved_slots_used"] > 0


def with_deep_recursion(function, *args):
    """Run ``function`` in a thread with a big stack and recursion limit: matching deep-copies
    its players recursively, which overflows Python's default limit on bigger markets."""
    outcome: list[Any] = []
    limit = sys.getrecursionlimit()
    stack = threading.stack_size(256 << 20)
    try:
        sys.setrecursionlimit(200_000)
        thread = threading.Thread(target=lambda: outcome.append(function(*args)))
        thread.start()
        thread.join()
    finally:
        threading.stack_size(stack)
        sys.setrecursionlimit(limit)
    return outcome[0]


def test_the_engine_matches_the_library_on_a_synthetic_market_without_extras():
    doc = strip_extras(generate_market(1, seed=3))
    doc["children"] = doc["children"][:1500]
    doc["facilities"] = [dict(f, categories=f["categories"][:1]) for f in doc["facilities"]]
    for c in doc["children"]:
        c["age_group"], c["care_hours"] = "U3", 25
    assert placements(checked(doc)) == with_deep_recursion(matching_library_outcome, doc)


# -- tie-breaks, determinism, replay -----------------------------------------------------------


def test_ties_go_to_the_older_child_then_the_earlier_registration_then_the_lottery():
    doc = market(
        [facility("A", ("U3", 35, 1))],
        [
            child("young", ("A", 2), born="2024-05-01"),
            child("old", ("A", 2), born="2024-01-01", registered="2025-03-01T00:00:00Z"),
            child("old-early", ("A", 2), born="2024-01-01", registered="2025-02-01T00:00:00Z"),
        ],
    )
    assert placements(checked(doc))["old-early"] == "A"
    # Same birth date and registration: the lower lottery number wins.
    same = dict(born="2024-01-01", registered="2025-02-01T00:00:00Z")
    lottery = market(
        [facility("A", ("U3", 35, 1))],
        [child(cid, "A", **same) for cid in ("p", "q", "r", "s")],
        seed="bochum-2027",
    )
    winner = min("pqrs", key=lambda cid: lottery_number("bochum-2027", cid))
    assert [cid for cid, f in placements(checked(lottery)).items() if f] == [winner]
    # A higher priority beats age.
    doc["children"].append(child("priority", ("A", 3), born="2025-01-01"))
    assert placements(checked(doc))["priority"] == "A"


def test_registration_times_are_compared_as_instants_across_utc_offsets():
    doc = market(
        [facility("A", ("U3", 35, 1))],
        [
            child("berlin", "A", registered="2025-03-01T09:30:00+01:00"),  # 08:30 UTC
            child("utc", "A", registered="2025-03-01T08:45:00Z"),
        ],
    )
    assert placements(checked(doc)) == {"berlin": "A", "utc": None}


def test_same_input_and_seed_give_a_byte_identical_result():
    doc = generate_market(1, seed=5)
    first, second = io.StringIO(), io.StringIO()
    write_result(solve(load_instance(doc)), first)
    write_result(solve(load_instance(json.loads(json.dumps(doc)))), second)
    assert first.getvalue() == second.getvalue()
    assert json.loads(first.getvalue()) == checked(doc)


def test_shuffling_the_children_and_groups_in_the_input_changes_no_placement():
    rng = random.Random(9)
    for _ in range(30):
        doc = random_market_with_extras(rng)
        shuffled = copy.deepcopy(doc)
        rng.shuffle(shuffled["children"])
        rng.shuffle(shuffled["groups"])
        assert placements(checked(doc)) == placements(checked(shuffled))


def test_without_exact_ties_the_seed_changes_nothing():
    rng = random.Random(12)
    for _ in range(30):
        doc = random_market_with_extras(rng)
        for i, c in enumerate(doc["children"]):
            c["registered_at"] = f"2025-01-01T08:{i // 60:02d}:{i % 60:02d}Z"  # all distinct
        results = [checked(dict(doc, seed=seed)) for seed in (1, 2, 3)]
        for result in results:
            result.pop("seed")
        assert results[0] == results[1] == results[2]


def test_with_exact_ties_a_different_seed_can_change_the_placements():
    same = dict(born="2024-01-01", registered="2025-02-01T00:00:00Z")
    doc = market(
        [facility("A", ("U3", 35, 2)), facility("B", ("U3", 35, 2))],
        [child(f"c{i}", "A", "B", **same) for i in range(6)],
    )
    outcomes = {json.dumps(placements(checked(dict(doc, seed=seed)))) for seed in range(8)}
    assert len(outcomes) > 1


# -- explanations and waiting positions ------------------------------------------------------


def test_explanations_report_capacity_cutoff_and_own_priority_for_each_better_wish():
    doc = market(
        [
            facility("A", ("U3", 35, 2)),
            facility("B", ("U3", 35, 1)),
            facility("C", ("UE3", 35, 4)),
            facility("D", ("U3", 35, 3)),
        ],
        [
            child("a1", ("A", 5)),
            child("a2", ("A", 4)),
            child("b1", ("B", 3), born="2023-12-01"),
            child("me", ("A", 3), ("B", 3), ("C", 9), ("D", 1)),
        ],
    )
    result = checked(doc)
    me = record_of(result, "me")
    assert me["placement"] == {
        "facility": "D",
        "wish": 4,
        "age_group": "U3",
        "care_hours": 35,
        "seat": "general",
        "employer": None,
    }
    assert me["explanation"] == [
        {
            "wish": 1,
            "facility": "A",
            "own_priority": 3,
            "capacity": 2,
            "admitted": 2,
            "cutoff": 4,
            "reason": "outranked",
        },
        {
            "wish": 2,
            "facility": "B",
            "own_priority": 3,
            "capacity": 1,
            "admitted": 1,
            "cutoff": 3,
            "reason": "tie_break",
        },
        {
            "wish": 3,
            "facility": "C",
            "own_priority": 9,
            "capacity": 0,
            "admitted": 0,
            "cutoff": None,
            "reason": "no_places",
        },
    ]
    assert record_of(result, "a1")["explanation"] == []


def test_unplaced_children_get_a_waiting_position_per_wish():
    doc = market(
        [facility("A", ("U3", 35, 1)), facility("B", ("U3", 35, 1))],
        [
            child("in-a", ("A", 9)),
            child("in-b", ("B", 9)),
            child("x", ("A", 5), ("B", 1)),
            child("y", ("B", 5), ("A", 1)),
            child("z", ("A", 3), ("B", 3)),
        ],
    )
    result = checked(doc)
    positions = {
        record["id"]: [e["waiting_position"] for e in record["explanation"]]
        for record in result["children"]
        if record["placement"] is None
    }
    assert positions == {"x": [1, 3], "y": [1, 3], "z": [2, 2]}


# -- input validation -----------------------------------------------------------------------


def base_market() -> dict[str, Any]:
    return market(
        [facility("A", ("U3", 35, 2, {"rathaus": 1})), facility("B", ("UE3", 45, 1))],
        [child("c0", "A"), child("c1", "A", "B", age="UE3", hours=45)],
        [{"id": "g", "members": ["c0", "c1"]}],
    )


def _set(path: list[Any], value: Any):
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(path: list[Any]):
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


INVALID_MARKETS = [
    (
        _set(["children", 1, "wishes", 1, "facility"], "X"),
        "children[1].wishes[1].facility: unknown facility 'X'",
    ),
    (
        _set(["children", 1, "wishes", 1, "facility"], "A"),
        "children[1].wishes[1].facility: facility 'A' is already wished at wishes[0]",
    ),
    (
        _set(["facilities", 1, "id"], "A"),
        "facilities[1].id: duplicate facility id 'A' (first at facilities[0])",
    ),
    (
        _set(["children", 1, "id"], "c0"),
        "children[1].id: duplicate child id 'c0' (first at children[0])",
    ),
    (
        _set(["facilities", 1, "categories", 0, "capacity"], -1),
        "facilities[1].categories[0].capacity: -1 is less than the minimum of 0",
    ),
    (
        _set(["facilities", 0, "categories", 0, "reserved", 0, "places"], 3),
        "facilities[0].categories[0].reserved: 3 reserved places exceed the capacity of 2",
    ),
    (
        _set(["facilities", 0, "categories", 0, "capacity"], 2.5),
        "facilities[0].categories[0].capacity: 2.5 is not of type 'integer'",
    ),
    (
        _set(["children", 0, "wishes", 0, "priority"], "high"),
        "children[0].wishes[0].priority: 'high' is not of type 'number'",
    ),
    (
        _set(["children", 0, "wishes", 0, "priority"], True),
        "children[0].wishes[0].priority: True is not of type 'number'",
    ),
    (
        _set(["children", 0, "care_hours"], 40),
        "children[0].care_hours: 40 is not one of [25, 35, 45]",
    ),
    (
        _set(["children", 0, "birth_date"], "2024-02-30"),
        "children[0].birth_date: invalid date '2024-02-30'",
    ),
    (
        _set(["children", 0, "registered_at"], "2025-01-10T08:00:00"),
        "children[0].registered_at: '2025-01-10T08:00:00' does not match",
    ),
    (_delete(["children", 1, "wishes"]), "children[1]: 'wishes' is a required property"),
    (
        _set(["children", 0, "nickname"], "Mo"),
        "children[0]: Additional properties are not allowed ('nickname' unexpected)",
    ),
    (_set(["seed"], None), "seed: None is not of type 'integer' or 'string'"),
    (
        _set(["format"], "kitaportal.allocation.market/2"),
        "format: 'kitaportal.allocation.market/1' was expected",
    ),
    (_set(["groups", 0, "members", 1], "nobody"), "groups[0].members[1]: unknown child 'nobody'"),
    (
        lambda doc: doc["groups"].append({"id": "h", "members": ["c1", "c0"]}),
        "groups[1].members[0]: child 'c1' is already in group 'g'",
    ),
    (
        lambda doc: doc["facilities"][1]["categories"].append(
            {"age_group": "UE3", "care_hours": 45, "capacity": 1}
        ),
        "facilities[1].categories[1]: duplicate category UE3/45h in this facility",
    ),
    (
        _set(["facilities", 1, "kind"], "family_daycare"),
        "facilities[1]: a family_daycare facility needs its district",
    ),
    (_set(["children", 0, "wishes"], {}), "children[0].wishes: {} is not of type 'array'"),
]


@pytest.mark.parametrize(("mutate", "message"), INVALID_MARKETS)
def test_invalid_markets_are_rejected_with_the_json_path_of_the_offending_value(mutate, message):
    doc = base_market()
    load_instance(copy.deepcopy(doc))  # the unmodified market is valid
    mutate(doc)
    with pytest.raises(MarketError) as error:
        load_instance(doc)
    assert str(error.value).startswith(message)


def test_a_json_syntax_error_names_the_file_line_and_column(tmp_path):
    path = tmp_path / "market.json"
    path.write_text('{\n  "format": "kitaportal.allocation.market/1",\n  "seed": 1,,\n}')
    with pytest.raises(MarketError) as error:
        load_instance(path)
    message = "invalid JSON: Expecting property name enclosed in double quotes"
    assert str(error.value) == f"{path}: line 3 column 13: {message}"


def test_nan_and_infinity_are_not_accepted_as_json_numbers(tmp_path):
    doc = base_market()
    text = json.dumps(doc).replace('"priority": 1', '"priority": NaN', 1)
    path = tmp_path / "market.json"
    path.write_text(text)
    with pytest.raises(MarketError, match="NaN is not valid JSON"):
        load_instance(path)


def test_the_validator_follows_json_schema_semantics_for_numbers_booleans_and_enums():
    checker = Validator(
        {
            "type": "object",
            "properties": {
                "count": {"type": "integer"},
                "flag": {"type": "boolean"},
                "choice": {"enum": [1, "a"]},
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            },
        }
    )
    assert checker.errors({"count": 3.0, "flag": False, "choice": 1.0, "tags": ["x", "y"]}) == []
    assert checker.errors({"count": True}) == ["count: True is not of type 'integer'"]
    assert checker.errors({"flag": 0}) == ["flag: 0 is not of type 'boolean'"]
    assert checker.errors({"choice": True}) == ["choice: True is not one of [1, 'a']"]
    assert checker.errors({"tags": ["x", 1]}) == ["tags[1]: 1 is not of type 'string'"]
    assert checker.errors({"tags": ["x", "x"]}) == ["tags[1]: 'x' is not unique (also at index 0)"]
    with pytest.raises(ValueError, match="unsupported JSON Schema keywords"):
        Validator({"oneOf": [{"type": "string"}]})


def test_schema_violations_carry_the_path_as_a_list():
    with pytest.raises(SchemaViolation) as error:
        validator("market").validate(dict(base_market(), children=[{"id": 5}]))
    assert error.value.path == ["children", 0]
    assert error.value.message == "'birth_date' is a required property"


# -- the audit catches broken results ---------------------------------------------------------


def tampered(mutate) -> list[str]:
    doc = market(
        [facility("A", ("U3", 35, 1)), facility("B", ("U3", 35, 2)), facility("C", ("U3", 45, 1))],
        [
            child("t1", ("A", 1), ("B", 1)),
            child("t2", ("A", 1), ("B", 1)),
            child("s", ("A", 5), ("B", 1)),
        ],
        [{"id": "g", "members": ["t1", "t2"]}],
    )
    result = checked(doc)
    mutate(result)
    return audit(doc, result)


def test_the_audit_detects_a_blocking_pair():
    def demote(result):
        record = record_of(result, "s")
        record["placement"] = None
        record["explanation"] = []

    assert any(p.startswith("blocking pair: child s") for p in tampered(demote))


def test_the_audit_detects_split_twins_over_capacity_and_wrong_care_hours():
    def split(result):
        record_of(result, "t1")["placement"].update(facility="A", wish=1)

    problems = tampered(split)
    assert any(p.startswith("group g is split") for p in problems)
    assert any("holds 2 children for 1 places" in p for p in problems)

    def wrong_hours(result):
        record_of(result, "s")["placement"].update(care_hours=45)

    assert any("sits on a U3/45h place" in p for p in tampered(wrong_hours))


def test_every_pair_of_twins_in_random_markets_ends_up_together():
    rng = random.Random(21)
    for _ in range(100):
        doc = random_market_with_extras(rng)
        spots = placements(checked(doc))
        for group in doc["groups"]:
            if group["together"]:
                for first, second in combinations(group["members"], 2):
                    assert spots[first] == spots[second]
