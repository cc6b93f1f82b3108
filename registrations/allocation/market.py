"""Reading a market instance (``market.schema.json``) into compact, integer-indexed arrays.

:func:`load_instance` accepts a path, an open text file or an already parsed ``dict``. It

1. parses JSON strictly (``NaN``/``Infinity`` are rejected, a syntax error names the file,
   line and column),
2. validates the document against ``schema/market.schema.json``,
3. checks what the schema cannot express (unique ids, known facility and child ids, at most
   one capacity entry per category, reserved places not exceeding the capacity, real
   calendar dates, registration times with a UTC offset, ...),
4. and builds a :class:`Market`.

Every failure raises :class:`MarketError` whose message starts with the JSON path of the
offending value, e.g. ``children[3].wishes[1].facility: unknown facility 'X'``.

Internal representation
-----------------------
Children are re-indexed by their position in the **tie-break order** (older child first,
then earlier registration, then the seeded lottery, see :func:`lottery_number`), so the
internal index ``c`` of a child *is* its tie-break rank. Priority scores are replaced by
*levels*: level 0 is the highest score found anywhere in the input. A child's standing at a
category is then one integer, smaller is better::

    key = level(priority) * n + c

Keys are unique within a category (a child wishes a facility at most once), they order the
applicants exactly by the tie-break chain, and the child is recovered as ``key % n``. The
deferred-acceptance loop therefore works on plain ``int`` heaps.

A *category* is one (facility, age group, care hours) capacity. Only wishes whose facility
offers the child's category with a capacity above zero are *feasible* and take part in the
matching; they are stored flattened (``wish_start``/``wish_category``/``wish_key``/
``wish_rank``). The other wishes are kept in ``infeasible_wishes`` for the explanations.
"""

from __future__ import annotations

import gc
import hashlib
import json
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import accumulate, compress
from pathlib import Path
from typing import IO, Any

from .validation import SchemaViolation, Validator, format_path

MARKET_FORMAT = "kitaportal.allocation.market/1"
SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
AGE_GROUPS = ("U3", "UE3")
CARE_HOURS = (25, 35, 45)
_CATEGORY_SLOTS = tuple((age, hours) for age in AGE_GROUPS for hours in CARE_HOURS)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_REGISTRATION_OFFSET = 1 << 62  # keeps registration times (from year 1 on) non-negative
_CHUNK = 1 << 12  # children per chunk when flattening the wishes


@contextmanager
def without_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector (restored afterwards).

    Loading and solving allocate millions of small acyclic objects; every few thousand
    allocations the collector would otherwise re-scan all surviving objects, which costs
    more than the work itself on large markets. Reference counting still frees everything.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class MarketError(ValueError):
    """Invalid market input. ``str(error)`` is ``"<where>: <what>"``.

    ``where`` is a JSON path such as ``children[3].wishes[1].facility`` or, for unreadable
    files and JSON syntax errors, the file name with line and column.
    """

    def __init__(self, message: str, path: list[str | int] | str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = path if isinstance(path, str) else format_path(path)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@cache
def schema(name: str) -> dict[str, Any]:
    """The parsed JSON schema ``schema/<name>.schema.json`` (``market`` or ``result``)."""
    with open(SCHEMA_DIR / f"{name}.schema.json", encoding="utf-8") as handle:
        return json.load(handle)


@cache
def validator(name: str) -> Validator:
    """A compiled validator for ``schema/<name>.schema.json``."""
    return Validator(schema(name))


def lottery_number(seed: int | str, child_id: str) -> int:
    """The child's lottery number for ``seed`` (lower wins), the last link of the tie-break chain.

    It is the first 8 bytes (big-endian) of BLAKE2b over the UTF-8 text
    ``json.dumps(seed) + "\\x1f" + child_id``. It depends only on the seed and the child's
    id, never on the order of the input, so a replay of the same round gives the same
    lottery, and a different seed re-draws it.
    """
    text = f"{json.dumps(seed)}\x1f{child_id}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


@dataclass(eq=False)
class Market:
    """A validated market in compact form. Build it with :func:`load_instance`."""

    seed: int | str
    round: str | None
    # Facilities and categories (category = facility x age group x care hours).
    facility_ids: list[str]
    facility_categories: list[list[int]]
    category_facility: list[int]
    category_age_group: list[str]
    category_care_hours: list[int]
    category_capacity: list[int]
    category_reserves: list[tuple[tuple[int, int], ...]]
    employer_ids: list[str]
    # Children; the internal index is the tie-break rank.
    n: int
    child_ids: list[str]
    child_input_position: Sequence[int]
    child_age_group: list[str]
    child_care_hours: list[int]
    child_employers: list[frozenset[int] | None]
    child_wish_count: Sequence[int]
    # Feasible wishes, flattened per child in the child's own order (typed arrays).
    wish_start: Sequence[int]
    wish_category: Sequence[int]
    wish_key: Sequence[int]
    wish_rank: Sequence[int]
    infeasible_wishes: dict[int, list[tuple[int, int, int | float]]]
    priority_levels: list[int | float]
    # Groups of siblings/twins.
    group_ids: list[str] = field(default_factory=list)
    group_kind: list[str | None] = field(default_factory=list)
    group_together: list[bool] = field(default_factory=list)
    group_members: list[list[int]] = field(default_factory=list)
    group_joint: list[list[tuple[int, tuple[int, ...]]]] = field(default_factory=list)
    child_group: list[int] = field(default_factory=list)

    @property
    def category_count(self) -> int:
        return len(self.category_capacity)

    def priority_of(self, key: int) -> int | float:
        """The priority score behind a key."""
        return self.priority_levels[key // self.n]

    def category_label(self, q: int) -> str:
        return f"{self.category_age_group[q]}/{self.category_care_hours[q]}h"


def load_instance(
    source: str | Path | IO[str] | dict[str, Any], *, validate_schema: bool = True
) -> Market:
    """Read, validate and compile a market instance. Raises :class:`MarketError`.

    ``validate_schema=False`` skips only the JSON Schema pass (the semantic checks always
    run); for documents a trusted builder produced, such as the tenant's run (whose output
    a test validates against the schema)."""
    if isinstance(source, dict):
        document = source
    elif isinstance(source, str | Path):
        try:
            with open(source, encoding="utf-8") as handle:
                document = _parse_json(handle, str(source))
        except OSError as error:
            raise MarketError(f"cannot read the file: {error.strerror}", str(source)) from None
    else:
        document = _parse_json(source, getattr(source, "name", "<input>"))
    with without_gc():
        if validate_schema:
            try:
                validator("market").validate(document)
            except SchemaViolation as error:
                raise MarketError(error.message, error.path) from None
        return _build(document)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(handle: IO[str], name: str) -> Any:
    try:
        return json.load(handle, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        where = f"{name}: line {error.lineno} column {error.colno}"
        raise MarketError(f"invalid JSON: {error.msg}", where) from None
    except ValueError as error:  # NaN / Infinity, or undecodable bytes
        raise MarketError(f"invalid JSON: {error}", name) from None


def _build(document: dict[str, Any]) -> Market:
    seed = document["seed"]
    if isinstance(seed, float):
        seed = int(seed)
    facility_index: dict[str, int] = {}
    facility_ids: list[str] = []
    facility_categories: list[list[int]] = []
    # (facility, age group, care hours) -> category
    category_of: dict[tuple[int, str, int], int] = {}
    category_facility: list[int] = []
    category_age_group: list[str] = []
    category_care_hours: list[int] = []
    category_capacity: list[int] = []
    category_reserves: list[tuple[tuple[int, int], ...]] = []
    employer_index: dict[str, int] = {}

    for i, facility in enumerate(document["facilities"]):
        fid = facility["id"]
        if fid in facility_index:
            raise MarketError(
                f"duplicate facility id {fid!r} (first at facilities[{facility_index[fid]}])",
                ["facilities", i, "id"],
            )
        if facility.get("kind") == "family_daycare" and not facility.get("district"):
            raise MarketError("a family_daycare facility needs its district", ["facilities", i])
        f = len(facility_ids)
        facility_index[fid] = f
        facility_ids.append(fid)
        own: list[int] = []
        for j, category in enumerate(facility["categories"]):
            where: list[str | int] = ["facilities", i, "categories", j]
            age, hours = category["age_group"], int(category["care_hours"])
            capacity = int(category["capacity"])
            if (f, age, hours) in category_of:
                raise MarketError(f"duplicate category {age}/{hours}h in this facility", where)
            reserves: list[tuple[int, int]] = []
            seen_employers: set[str] = set()
            for k, reserve in enumerate(category.get("reserved", ())):
                employer = reserve["employer"]
                if employer in seen_employers:
                    raise MarketError(
                        f"employer {employer!r} is listed twice", [*where, "reserved", k]
                    )
                seen_employers.add(employer)
                places = int(reserve["places"])
                if places:
                    e = employer_index.setdefault(employer, len(employer_index))
                    reserves.append((e, places))
            reserved = sum(places for _, places in reserves)
            if reserved > capacity:
                raise MarketError(
                    f"{reserved} reserved places exceed the capacity of {capacity}",
                    [*where, "reserved"],
                )
            q = len(category_capacity)
            category_of[(f, age, hours)] = q
            own.append(q)
            category_facility.append(f)
            category_age_group.append(age)
            category_care_hours.append(hours)
            category_capacity.append(capacity)
            category_reserves.append(tuple(reserves))
        facility_categories.append(own)

    # (facility, age group, care hours) as one cell index: facility * 6 + slot.
    slots = {(age, hours): i for i, (age, hours) in enumerate(_CATEGORY_SLOTS)}
    cell_category = [-1] * (len(facility_ids) * len(_CATEGORY_SLOTS))
    for (f, age, hours), q in category_of.items():
        if category_capacity[q] > 0:
            cell_category[f * len(_CATEGORY_SLOTS) + slots[(age, hours)]] = q

    # Pass 1 over the children, in input order: ids, dates, tie-break keys, wishes.
    children = document["children"]
    n = len(children)
    child_index: dict[str, int] = {}
    sort_key: list[int] = [0] * n
    child_slot: list[int] = [0] * n
    seed_text = json.dumps(seed)
    blake2b = hashlib.blake2b
    from_bytes = int.from_bytes
    fromisoformat_date = date.fromisoformat
    fromisoformat_datetime = datetime.fromisoformat
    facility_get = facility_index.get
    width = len(_CATEGORY_SLOTS)
    facility_cell = {fid: f * width for fid, f in facility_index.items()}
    raw_start: list[int] = [0] * (n + 1)
    raw_cell = array("l")
    raw_priority: list[int | float] = []
    for p, child in enumerate(children):
        cid = child["id"]
        if cid in child_index:
            raise MarketError(
                f"duplicate child id {cid!r} (first at children[{child_index[cid]}])",
                ["children", p, "id"],
            )
        child_index[cid] = p
        try:
            birth = fromisoformat_date(child["birth_date"]).toordinal()
        except ValueError:
            raise MarketError(
                f"invalid date {child['birth_date']!r}", ["children", p, "birth_date"]
            ) from None
        try:
            registered = fromisoformat_datetime(child["registered_at"])
        except ValueError:
            raise MarketError(
                f"invalid date-time {child['registered_at']!r}", ["children", p, "registered_at"]
            ) from None
        registered_us = (registered - _EPOCH) // _MICROSECOND + _REGISTRATION_OFFSET
        lottery = from_bytes(
            blake2b(f"{seed_text}\x1f{cid}".encode(), digest_size=8).digest(), "big"
        )
        sort_key[p] = (((birth << 64) | registered_us) << 64) | lottery
        slot = child_slot[p] = slots[(child["age_group"], child["care_hours"])]
        wishes = child["wishes"]
        try:
            cells = [facility_cell[wish["facility"]] + slot for wish in wishes]
        except KeyError:
            cells = []
        if len(set(cells)) < len(wishes):
            _wish_error(p, wishes, [facility_get(wish["facility"]) for wish in wishes])
        raw_cell.extend(cells)
        raw_priority += [wish["priority"] for wish in wishes]
        raw_start[p + 1] = len(raw_cell)

    priority_levels = sorted(set(raw_priority), reverse=True)
    level_of = {value: level for level, value in enumerate(priority_levels)}

    # Tie-break order: the internal index of a child is its rank. Python's sort is stable,
    # so the (astronomically unlikely) lottery collision falls back to input order.
    order = sorted(range(n), key=sort_key.__getitem__)
    del sort_key
    internal = [0] * n
    for c, p in enumerate(order):
        internal[p] = c

    # Pass 2, whole-list operations in tie-break order: the flattened wishes with keys.
    child_ids = [children[p]["id"] for p in order]
    child_employers: list[frozenset[int] | None] = [None] * n
    for c, p in enumerate(order):
        employers = children[p].get("employers")
        if employers:
            known = frozenset(employer_index[e] for e in employers if e in employer_index)
            child_employers[c] = known or None
    # Chunks of children bound the temporary lists; the results go into typed arrays
    # (8 bytes per wish instead of a pointer plus a 28-byte int object).
    wish_category = array("l")
    wish_key = array("q")
    wish_rank = array("b")
    feasible_counts = array("l")
    infeasible: dict[int, list[tuple[int, int, int | float]]] = {}
    for low in range(0, n, _CHUNK):
        spans = [(raw_start[p], raw_start[p + 1]) for p in order[low : low + _CHUNK]]
        categories = [cell_category[x] for s, e in spans for x in raw_cell[s:e]]
        keys = [
            level_of[x] * n + c
            for c, (s, e) in enumerate(spans, start=low)
            for x in raw_priority[s:e]
        ]
        ranks = [rank for s, e in spans for rank in range(e - s)]
        counts = [e - s for s, e in spans]
        if -1 in categories:
            feasible = [q >= 0 for q in categories]
            owners = [c for c, (s, e) in enumerate(spans, start=low) for _ in range(e - s)]
            positions = [w for s, e in spans for w in range(s, e)]
            for i in compress(range(len(feasible)), [not ok for ok in feasible]):
                c, w = owners[i], positions[i]
                infeasible.setdefault(c, []).append(
                    (ranks[i], raw_cell[w] // width, raw_priority[w])
                )
                counts[c - low] -= 1
            categories = list(compress(categories, feasible))
            keys = list(compress(keys, feasible))
            ranks = list(compress(ranks, feasible))
        wish_category.extend(categories)
        wish_key.extend(keys)
        wish_rank.extend(ranks)
        feasible_counts.extend(counts)
    wish_start = array("q", accumulate(feasible_counts, initial=0))
    child_wish_count = array("b", [raw_start[p + 1] - raw_start[p] for p in order])
    del raw_cell, raw_priority, raw_start, feasible_counts
    child_age_group = [_CATEGORY_SLOTS[child_slot[p]][0] for p in order]
    child_care_hours = [_CATEGORY_SLOTS[child_slot[p]][1] for p in order]

    market = Market(
        seed=seed,
        round=document.get("round"),
        facility_ids=facility_ids,
        facility_categories=facility_categories,
        category_facility=category_facility,
        category_age_group=category_age_group,
        category_care_hours=category_care_hours,
        category_capacity=category_capacity,
        category_reserves=category_reserves,
        employer_ids=sorted(employer_index, key=employer_index.__getitem__),
        n=n,
        child_ids=child_ids,
        child_input_position=array("q", order),
        child_age_group=child_age_group,
        child_care_hours=child_care_hours,
        child_employers=child_employers,
        child_wish_count=child_wish_count,
        wish_start=wish_start,
        wish_category=wish_category,
        wish_key=wish_key,
        wish_rank=wish_rank,
        infeasible_wishes=infeasible,
        priority_levels=priority_levels,
        child_group=[-1] * n,
    )
    _build_groups(market, document.get("groups", ()), child_index, internal)
    return market


def _wish_error(p: int, wishes: list[dict[str, Any]], wished: list[int | None]) -> None:
    """Raise the error for the first unknown or repeated facility among a child's wishes."""
    first: dict[int, int] = {}
    for j, f in enumerate(wished):
        where: list[str | int] = ["children", p, "wishes", j, "facility"]
        if f is None:
            raise MarketError(f"unknown facility {wishes[j]['facility']!r}", where)
        if f in first:
            raise MarketError(
                f"facility {wishes[j]['facility']!r} is already wished at wishes[{first[f]}]",
                where,
            )
        first[f] = j


def _build_groups(
    market: Market,
    groups: list[dict[str, Any]],
    child_index: dict[str, int],
    internal: list[int],
) -> None:
    """Resolve the groups and compute each together-group's *joint wish list*.

    The joint list follows the first listed member's order of (feasible) wishes and keeps a
    facility only if every member wished it with a feasible category there, and if each
    category there has at least as many places as members need it. Everything else cannot
    host the whole group and is reported as ``not_joint`` in the explanations.
    """
    group_index: dict[str, int] = {}
    for i, group in enumerate(groups):
        gid = group["id"]
        if gid in group_index:
            raise MarketError(
                f"duplicate group id {gid!r} (first at groups[{group_index[gid]}])",
                ["groups", i, "id"],
            )
        group_index[gid] = i
        members: list[int] = []
        for j, member_id in enumerate(group["members"]):
            p = child_index.get(member_id)
            if p is None:
                raise MarketError(f"unknown child {member_id!r}", ["groups", i, "members", j])
            c = internal[p]
            if market.child_group[c] >= 0:
                other = market.group_ids[market.child_group[c]]
                raise MarketError(
                    f"child {member_id!r} is already in group {other!r}",
                    ["groups", i, "members", j],
                )
            market.child_group[c] = i
            members.append(c)
        together = bool(group.get("together", True))
        market.group_ids.append(gid)
        market.group_kind.append(group.get("kind"))
        market.group_together.append(together)
        market.group_members.append(members)
        market.group_joint.append(_joint_wishes(market, members) if together else [])


def _joint_wishes(market: Market, members: list[int]) -> list[tuple[int, tuple[int, ...]]]:
    category_facility = market.category_facility
    by_facility: list[dict[int, int]] = []
    for c in members:
        own = {}
        for w in range(market.wish_start[c], market.wish_start[c + 1]):
            own[category_facility[market.wish_category[w]]] = w
        by_facility.append(own)
    joint: list[tuple[int, tuple[int, ...]]] = []
    first = members[0]
    for w in range(market.wish_start[first], market.wish_start[first + 1]):
        f = category_facility[market.wish_category[w]]
        if not all(f in own for own in by_facility):
            continue
        wishes = tuple(own[f] for own in by_facility)
        needed: dict[int, int] = {}
        for v in wishes:
            q = market.wish_category[v]
            needed[q] = needed.get(q, 0) + 1
        if all(count <= market.category_capacity[q] for q, count in needed.items()):
            joint.append((f, wishes))
    return joint
