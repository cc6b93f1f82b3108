"""`kitaportal allocate --instance market.json --out result.json`: run an allocation round.

A thin wrapper around the Django-free engine in ``registrations.allocation``: read and
validate the market, solve, write the result atomically (temporary file + rename, so a
failure never leaves a partial or stale output), print a summary. Invalid input raises
``CommandError`` with the offending JSON path, e.g.
``children[3].wishes[1].facility: unknown facility 'X'``, and writes nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registrations.allocation import MarketError, dump_result, load_instance, solve


class Command(BaseCommand):
    help = (
        "Allocate Kita places for a market instance (JSON, market.schema.json) and write the "
        "placements with explanations (result.schema.json)."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("--instance", required=True, help="market instance (JSON file)")
        parser.add_argument("--out", required=True, help="where to write the result (JSON)")

    def handle(self, *args, **options) -> None:
        instance = Path(options["instance"])
        out = Path(options["out"])
        if not out.parent.is_dir():
            raise CommandError(f"{out}: the folder {out.parent} does not exist")
        started = time.perf_counter()
        try:
            market = load_instance(instance)
        except MarketError as error:
            raise CommandError(f"{instance}: {error}") from None
        loaded = time.perf_counter()
        allocation = solve(market)
        solved = time.perf_counter()
        try:
            summary = dump_result(allocation, out)
        except OSError as error:
            raise CommandError(f"{out}: cannot write the result: {error.strerror}") from None
        written = time.perf_counter()

        by_wish = ", ".join(
            f"{rank}.: {count}" for rank, count in enumerate(summary["placed_at_wish"], start=1)
        )
        self.stdout.write(
            f"{summary['placed']} of {summary['children']} children placed "
            f"({summary['unplaced']} unplaced; by wish {by_wish or '-'})."
        )
        self.stdout.write(
            f"Places: {summary['places']}, free: {summary['free_places']}; reserved places "
            f"taken by eligible children: {summary['reserved_slots_used']}, released to the "
            f"general pool: {summary['released_slots_used']}."
        )
        self.stdout.write(
            f"Groups placed together: {summary['groups_placed']} of "
            f"{summary['groups_together']} ({summary['rounds']} round(s))."
        )
        self.stdout.write(
            f"Written {out} (load {loaded - started:.2f} s, solve {solved - loaded:.3f} s, "
            f"write {written - solved:.2f} s)."
        )
