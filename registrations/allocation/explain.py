"""Explanations, waiting positions and the result document (``result.schema.json``).

For every child the result gives the placement (facility, wish number, category, slot kind
and employer for reserved or released slots) or ``null``, and one explanation entry per
wish ranked *above* the placement (all wishes for an unplaced child):

* ``capacity`` and ``admitted`` of the child's category at that facility,
* ``cutoff``: the priority score of the lowest-ranked child admitted on an *open* slot
  (general or released) of that category, ``null`` when places stayed free or when every
  place is reserved and went to eligible children,
* ``own_priority``: the child's priority score there,
* ``reason``: ``no_places`` (the facility has no place of the child's age group and care
  hours), ``not_joint`` (a group member: the facility cannot host the whole group),
  ``outranked`` (lower priority score than the cutoff), ``tie_break`` (same score as the
  cutoff, lost on birth date, registration time or lottery), ``reserved`` (all places are
  reserved and were taken by eligible children), ``group_not_admitted`` (a group member
  who would have been admitted alone, but not every member of the group was),
* ``waiting_position`` (unplaced children only): the rank among the *unplaced* applicants
  of that category by the category's ranking (priority, then the tie-break chain), or
  ``null`` for a wish without a matching category.

No other child's personal data (birth date, registration time, lottery number) appears in
an explanation: the cutoff is a priority score only.

:func:`dump_result` streams the document, so a result for a very large market never exists
as one big ``dict`` in memory. :func:`result_dict` builds the same document as a ``dict``.
"""

from __future__ import annotations

import json
import os
import secrets
from bisect import bisect_left
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .engine import GENERAL, RESERVED, Allocation
from .market import Market

RESULT_FORMAT = "kitaportal.allocation.result/1"


class _Explainer:
    """Per-category figures and per-child records of one allocation."""

    def __init__(self, allocation: Allocation) -> None:
        self.allocation = allocation
        market = self.market = allocation.market
        n = market.n
        seats = allocation.seats
        self.cutoff_key: list[int | None] = []
        self.open_seats: list[int] = []
        for q, keys in enumerate(allocation.held):
            capacity = market.category_capacity[q]
            open_keys = [k for k in keys if seats.get(k % n, (GENERAL, -1))[0] != RESERVED]
            self.open_seats.append(len(open_keys))
            full = len(keys) >= capacity
            self.cutoff_key.append(max(open_keys) if full and open_keys else None)
        # Waiting lists: the keys of unplaced applicants per category, sorted.
        waiting: dict[int, list[int]] = {}
        assigned = allocation.assigned
        start, wish_category, wish_key = market.wish_start, market.wish_category, market.wish_key
        for c in range(n):
            if assigned[c] < 0:
                for w in range(start[c], start[c + 1]):
                    waiting.setdefault(wish_category[w], []).append(wish_key[w])
        for keys in waiting.values():
            keys.sort()
        self.waiting = waiting
        self.joint_facilities = [
            {f for f, _ in joint} if together else None
            for joint, together in zip(market.group_joint, market.group_together, strict=True)
        ]

    def summary(self) -> dict[str, Any]:
        market, allocation = self.market, self.allocation
        by_wish: list[int] = []
        placed = 0
        for w in allocation.assigned:
            if w >= 0:
                placed += 1
                rank = market.wish_rank[w]
                while len(by_wish) <= rank:
                    by_wish.append(0)
                by_wish[rank] += 1
        kinds = [kind for kind, _ in allocation.seats.values()]
        together = [g for g, flag in enumerate(market.group_together) if flag]
        return {
            "children": market.n,
            "placed": placed,
            "unplaced": market.n - placed,
            "placed_at_wish": by_wish,
            "places": sum(market.category_capacity),
            "free_places": sum(market.category_capacity) - placed,
            "reserved_slots_used": kinds.count(RESERVED),
            "released_slots_used": len(kinds) - kinds.count(RESERVED),
            "groups_together": len(together),
            "groups_placed": sum(1 for g in together if allocation.group_position[g] >= 0),
            "rounds": allocation.rounds,
        }

    def facilities(self) -> list[dict[str, Any]]:
        market, allocation = self.market, self.allocation
        n = market.n
        used: dict[tuple[int, int], int] = {}
        for c, (kind, employer) in allocation.seats.items():
            if kind == RESERVED:
                q = market.wish_category[allocation.assigned[c]]
                used[(q, employer)] = used.get((q, employer), 0) + 1
        records = []
        for f, fid in enumerate(market.facility_ids):
            categories = []
            for q in market.facility_categories[f]:
                capacity = market.category_capacity[q]
                admitted = len(allocation.held[q])
                cutoff = self.cutoff_key[q]
                categories.append(
                    {
                        "age_group": market.category_age_group[q],
                        "care_hours": market.category_care_hours[q],
                        "capacity": capacity,
                        "admitted": admitted,
                        "free": capacity - admitted,
                        "cutoff": None if cutoff is None else market.priority_levels[cutoff // n],
                        "reserved": [
                            {
                                "employer": market.employer_ids[e],
                                "places": places,
                                "taken_by_eligible": used.get((q, e), 0),
                            }
                            for e, places in market.category_reserves[q]
                        ],
                    }
                )
            records.append({"id": fid, "categories": categories})
        return records

    def child(self, c: int) -> dict[str, Any]:
        market, allocation = self.market, self.allocation
        n = market.n
        w_placed = allocation.assigned[c]
        placed_rank = market.wish_rank[w_placed] if w_placed >= 0 else market.child_wish_count[c]
        g = market.child_group[c]
        joint = self.joint_facilities[g] if g >= 0 else None
        entries: list[tuple[int, dict[str, Any]]] = []
        for rank, f, priority in market.infeasible_wishes.get(c, ()):
            if rank < placed_rank:
                entry: dict[str, Any] = {
                    "wish": rank + 1,
                    "facility": market.facility_ids[f],
                    "own_priority": priority,
                    "capacity": 0,
                    "admitted": 0,
                    "cutoff": None,
                    "reason": "no_places",
                }
                if w_placed < 0:
                    entry["waiting_position"] = None
                entries.append((rank, entry))
        for w in range(market.wish_start[c], market.wish_start[c + 1]):
            rank = market.wish_rank[w]
            if rank >= placed_rank:
                break
            q = market.wish_category[w]
            k = market.wish_key[w]
            f = market.category_facility[q]
            cutoff = self.cutoff_key[q]
            entry = {
                "wish": rank + 1,
                "facility": market.facility_ids[f],
                "own_priority": market.priority_levels[k // n],
                "capacity": market.category_capacity[q],
                "admitted": len(allocation.held[q]),
                "cutoff": None if cutoff is None else market.priority_levels[cutoff // n],
                "reason": self._reason(c, q, k, joint, f),
            }
            if w_placed < 0:
                entry["waiting_position"] = bisect_left(self.waiting[q], k) + 1
            entries.append((rank, entry))
        entries.sort(key=lambda item: item[0])
        record: dict[str, Any] = {
            "id": market.child_ids[c],
            "placement": self._placement(c, w_placed),
            "group": market.group_ids[g] if g >= 0 else None,
            "explanation": [entry for _, entry in entries],
        }
        return record

    def _placement(self, c: int, w: int) -> dict[str, Any] | None:
        if w < 0:
            return None
        market = self.market
        q = market.wish_category[w]
        kind, employer = self.allocation.seats.get(c, (GENERAL, -1))
        return {
            "facility": market.facility_ids[market.category_facility[q]],
            "wish": market.wish_rank[w] + 1,
            "age_group": market.category_age_group[q],
            "care_hours": market.category_care_hours[q],
            "seat": kind,
            "employer": market.employer_ids[employer] if employer >= 0 else None,
        }

    def _reason(self, c: int, q: int, k: int, joint: set[int] | None, f: int) -> str:
        market = self.market
        if joint is not None and f not in joint:
            return "not_joint"
        cutoff = self.cutoff_key[q]
        if cutoff is not None and k > cutoff:
            return "tie_break" if k // market.n == cutoff // market.n else "outranked"
        full = len(self.allocation.held[q]) >= market.category_capacity[q]
        if full and self.open_seats[q] == 0:
            return "reserved"
        if joint is not None:
            return "group_not_admitted"
        raise RuntimeError(
            f"internal error: child {market.child_ids[c]!r} was not admitted to "
            f"{market.facility_ids[f]} {market.category_label(q)} although it outranks "
            "the cutoff (the stability invariant is violated)"
        )

    def children(self) -> Iterator[dict[str, Any]]:
        """Child records in the order of the input."""
        internal = [0] * self.market.n
        for c, p in enumerate(self.market.child_input_position):
            internal[p] = c
        for c in internal:
            yield self.child(c)


def _head(market: Market, explainer: _Explainer) -> dict[str, Any]:
    return {
        "format": RESULT_FORMAT,
        "round": market.round,
        "seed": market.seed,
        "summary": explainer.summary(),
        "facilities": explainer.facilities(),
    }


def summarize(allocation: Allocation) -> dict[str, Any]:
    """The ``summary`` object of the result."""
    return _Explainer(allocation).summary()


def result_dict(allocation: Allocation) -> dict[str, Any]:
    """The whole result document as a ``dict``."""
    explainer = _Explainer(allocation)
    document = _head(allocation.market, explainer)
    document["children"] = list(explainer.children())
    return document


def write_result(allocation: Allocation, stream: IO[str]) -> dict[str, Any]:
    """Stream the result document to a text stream; returns its ``summary``."""
    explainer = _Explainer(allocation)
    head = _head(allocation.market, explainer)
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))
    stream.write(text[:-1])
    stream.write(',"children":[')
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    first = True
    for record in explainer.children():
        stream.write("\n" if first else ",\n")
        stream.write(dumps(record))
        first = False
    stream.write("\n]}\n")
    return head["summary"]


def dump_result(allocation: Allocation, destination: str | Path | IO[str]) -> dict[str, Any]:
    """Write the result document to a path (atomically) or a text stream.

    A path is written to a temporary file in the same folder, flushed to disk and renamed
    over the destination, so readers never see a partial file and a failure leaves no
    output. Returns the ``summary``.
    """
    if not isinstance(destination, str | Path):
        return write_result(allocation, destination)
    target = Path(destination)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "x", encoding="utf-8") as stream:
            summary = write_result(allocation, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return summary
