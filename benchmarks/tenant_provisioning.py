"""Benchmark: provisioning a tenant, and rolling one migration out across many tenants.

    .venv/bin/python benchmarks/tenant_provisioning.py [--tenants N] [--keep]

Works in a database of its own (``kitaportal_bench`` by default), created and dropped on
the server of DATABASE_URL, or on the embedded server (started if needed) when
DATABASE_URL is unset. The demo and test databases are never touched.

What it measures, in this order:

1. setup: ``kitaportal migrate`` (``migrate_all``) on the empty database, then the
   municipality template is migrated back by one migration (the latest of ``registrations``)
   with stock ``migrate_schemas``, and N municipality tenants are provisioned from it. They are
   now one migration behind. Not part of any target.
2. rollout: ``tenants.rollout.rollout()`` brings all N (+ the template) to the latest
   migration; every schema is then checked to record the same migrations and to have the
   template's columns, indexes, constraints, content types and permissions.
3. no-op: a second ``rollout()``, with nothing to apply.
4. for comparison: stock ``migrate_schemas`` with nothing to apply, measured per schema on
   a small sample and extrapolated to N.
5. provisioning one tenant: from the template's blueprint (``services.provision_tenant``,
   median of 5; the figure keeps the issue's name ``provision_clone_s``), by django-tenants'
   ``clone_schema`` (DATA mode, median of 3) and by running the migrations (CREATE SCHEMA +
   stock ``migrate_schemas --schema``, median of 3).

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import statistics
import sys
import time
from urllib.parse import urlsplit, urlunsplit

TARGET_PROVISION_S = 0.5
TARGET_ROLLOUT_S = 60.0
TARGET_NOOP_S = 10.0
TARGET_TENANTS = 1000
NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000, help="tenants to roll out to")
    parser.add_argument(
        "--sample", type=int, default=20, help="schemas for the stock migrate_schemas no-op"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="connections the rollout replays on at once (rollout(workers=…); default 1, "
        "as `kitaportal migrate` runs unless TENANT_ROLLOUT_WORKERS is set)",
    )
    parser.add_argument("--db-name", default="kitaportal_bench", help="database to create")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    if args.tenants < 1 or args.sample < 1 or args.workers < 1:
        parser.error("--tenants, --sample and --workers must be at least 1")
    if not NAME_RE.match(args.db_name) or args.db_name in {"kitaportal", "postgres"}:
        parser.error(f"refusing database name {args.db_name!r}")
    return args


def server_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from kitaportal import embedded

    return embedded.start()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


class BenchDatabase:
    """Creates the benchmark's own database and drops it again.

    The tenant schemas are dropped a few at a time before the database itself: DROP DATABASE
    deletes every file in one go without answering other sessions' barriers, so on a
    database with thousands of schemas it would hold up every other DROP DATABASE on the
    (shared) server for minutes."""

    def __init__(self, url: str, name: str):
        self.name = name
        self.admin_url = with_database(url, "postgres")
        self.url = with_database(url, name)

    def _execute(self, sql: str, url: str | None = None) -> list[tuple]:
        import psycopg

        with psycopg.connect(url or self.admin_url, autocommit=True) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def _exists(self) -> bool:
        return bool(self._execute(f"SELECT 1 FROM pg_database WHERE datname = '{self.name}'"))

    def _empty(self) -> None:
        self._execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.name}' AND pid <> pg_backend_pid()"
        )
        schemas = [
            row[0]
            for row in self._execute(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                "AND nspname NOT IN ('public', 'information_schema') ORDER BY 1",
                self.url,
            )
        ]
        for start in range(0, len(schemas), 10):
            names = ", ".join(f'"{schema}"' for schema in schemas[start : start + 10])
            self._execute(f"DROP SCHEMA {names} CASCADE", self.url)

    def _drop(self) -> None:
        if not self._exists():
            return
        try:
            self._empty()
        except KeyboardInterrupt:  # asked again to stop: drop it in one go
            pass
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def create(self) -> None:
        self._drop()
        self._execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django may not be set up yet
            pass
        self._drop()


def say(label: str, text: str) -> None:
    print(f"{label}: {text}", flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# --- Everything below runs after django.setup() ---------------------------------------------


def latest_and_previous(app_label: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """The app's latest migration on disk and the one before it."""
    from django.db.migrations.loader import MigrationLoader

    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    (latest,) = [key for key in graph.leaf_nodes() if key[0] == app_label]
    (previous,) = [
        parent.key for parent in graph.node_map[latest].parents if parent.key[0] == app_label
    ]
    return latest, previous


def migrate_template_back(previous: tuple[str, str]) -> float:
    """Stock migrate_schemas, one schema: unapply the latest registrations migration in the
    municipality template."""
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    call_command(
        "migrate_schemas",
        *previous,
        schema_name="template_municipality",
        interactive=False,
        verbosity=0,
    )
    connection.set_schema_to_public()
    return time.perf_counter() - started


def clone_tenants(count: int, prefix: str) -> float:
    """Create `count` municipality tenants the way provision_tenant does (registry row, domain,
    the template's blueprint replayed, in one transaction each), without re-validating the
    generated, known-unique names every time."""
    from django.db import connection, transaction

    from tenants.blueprint import provision_schema
    from tenants.common.services import record_audit
    from tenants.models import Domain, Tenant

    connection.set_schema_to_public()
    started = time.perf_counter()
    last = 0.0
    for i in range(count):
        slug = f"{prefix}-{i:05d}"
        with transaction.atomic():
            tenant = Tenant(
                schema_name=slug.replace("-", "_"),
                slug=slug,
                name=f"Benchmark-Kommune {i}",
                type="municipality",
            )
            tenant.save()
            Domain.objects.create(domain=tenant.hostname, tenant=tenant, is_primary=True)
            if not provision_schema("template_municipality", tenant.schema_name):
                raise SystemExit("the municipality template has no blueprint")
            record_audit(None, "tenant.provisioned", tenant, tenant_type="municipality")
        if (i + 1) % 100 == 0 and i + 1 < count:
            elapsed = time.perf_counter() - started
            say(
                "setup",
                f"{i + 1}/{count} tenants provisioned ({elapsed:.1f} s; the last 100 took "
                f"{elapsed - last:.1f} s)",
            )
            last = elapsed
    return time.perf_counter() - started


STRUCTURE_QUERIES = {
    "columns": """
        SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull, a.attidentity, pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v') AND a.attnum > 0
          AND NOT a.attisdropped
    """,
    "indexes": "SELECT schemaname, tablename, indexdef FROM pg_indexes WHERE schemaname = ANY(%s)",
    "constraints": """
        SELECT n.nspname, c.relname, con.conname, pg_get_constraintdef(con.oid)
        FROM pg_constraint con
        JOIN pg_class c ON c.oid = con.conrelid
        JOIN pg_namespace n ON n.oid = con.connamespace
        WHERE n.nspname = ANY(%s)
    """,
}


def structures(schemas: list[str]) -> dict[str, set[tuple]]:
    """Columns, indexes and constraints per schema (the schema's name taken out of them), and
    its content types and permissions."""
    from django.db import connection

    result: dict[str, set[tuple]] = {schema: set() for schema in schemas}
    with connection.cursor() as cursor:
        for kind, sql in STRUCTURE_QUERIES.items():
            cursor.execute(sql, [schemas])
            for schema, *row in cursor.fetchall():
                cleaned = (
                    v.replace(f"{schema}.", "SCHEMA.") if isinstance(v, str) else v for v in row
                )
                result[schema].add((kind, *cleaned))
        cursor.execute(
            " UNION ALL ".join(
                f"SELECT '{schema}', ct.app_label, ct.model, p.codename, p.name "
                f'FROM "{schema}".django_content_type ct '
                f'LEFT JOIN "{schema}".auth_permission p ON p.content_type_id = ct.id'
                for schema in schemas
            )
        )
        for schema, *row in cursor.fetchall():
            result[schema].add(("permissions", *row))
    return result


def verify(expected_migrations: set) -> tuple[int, int]:
    """Every tenant schema records the same migrations (those on disk) and every municipality
    schema has the template's structure, content types and permissions.
    Returns (schemas, municipality schemas)."""
    from django.db import connection

    from tenants.models import Tenant
    from tenants.rollout import applied_by_schema

    connection.set_schema_to_public()
    tenants = list(Tenant.objects.exclude(schema_name="public").values_list("schema_name", "type"))
    applied = applied_by_schema([schema for schema, _ in tenants])
    wrong = [schema for schema, got in applied.items() if got != expected_migrations]
    if wrong:
        raise SystemExit(f"verify: {len(wrong)} schema(s) record other migrations: {wrong[:5]}")
    municipal = [schema for schema, kind in tenants if kind == "municipality"]
    found = structures(municipal)
    reference = found["template_municipality"]
    differing = [schema for schema, items in found.items() if items != reference]
    if differing:
        example = found[differing[0]] ^ reference
        raise SystemExit(
            f"verify: {len(differing)} schema(s) differ from the template, e.g. {differing[0]}: "
            f"{sorted(example)[:5]}"
        )
    return len(tenants), len(municipal)


def stock_noop_per_schema(schemas: list[str], tenant_type: str, with_checks: bool) -> float:
    """Seconds per schema of stock migrate_schemas with nothing to apply: its executor run over
    the given schemas with the options the command line gives it (`migrate_schemas --tenant
    --noinput -v0`), so each schema gets what it gets there: the migrate command, including
    the system checks unless `with_checks` is False (`--skip-checks`)."""
    from django.db import connection
    from django_tenants.management.commands.migrate_schemas import Command
    from django_tenants.migration_executors import get_executor

    argv = ["--tenant", "--noinput", "-v", "0"] + ([] if with_checks else ["--skip-checks"])
    options = vars(Command().create_parser("kitaportal", "migrate_schemas").parse_args(argv))
    options.pop("args", None)
    executor = get_executor(codename="standard")((), options)
    # Warm up (imports, URL conf and check registry load on first use), not counted.
    executor.run_multi_type_migrations(tenants=[(schemas[0], tenant_type)])
    started = time.perf_counter()
    executor.run_multi_type_migrations(tenants=[(schema, tenant_type) for schema in schemas])
    elapsed = time.perf_counter() - started
    connection.set_schema_to_public()
    return elapsed / len(schemas)


def provision_by_clone(count: int) -> list[float]:
    from tenants import services

    times = []
    for i in range(count):
        started = time.perf_counter()
        services.provision_tenant(
            None, tenant_type="municipality", slug=f"klon-{i}", name=f"Klon-Kommune {i}"
        )
        times.append(time.perf_counter() - started)
    return times


def provision_by_clone_schema(count: int) -> list[float]:
    """django-tenants' own clone: registry row, domain and `clone_schema(…, 'DATA')`."""
    from django.db import transaction
    from django_tenants.clone import CloneSchema

    from tenants import services
    from tenants.models import Domain, Tenant

    times = []
    for i in range(count):
        started = time.perf_counter()
        tenant_type, slug, name = services.validate_new_tenant(
            "municipality", f"stock-klon-{i}", f"Stock-Klon-Kommune {i}"
        )
        with transaction.atomic():
            tenant = Tenant(
                schema_name=services.schema_name_for(slug), slug=slug, name=name, type=tenant_type
            )
            tenant.save()
            Domain.objects.create(domain=tenant.hostname, tenant=tenant, is_primary=True)
            CloneSchema().clone_schema(
                "template_municipality", tenant.schema_name, "DATA", set_connection=False
            )
        times.append(time.perf_counter() - started)
    return times


def provision_by_migrations(count: int) -> list[float]:
    """The stock way: registry row and domain, CREATE SCHEMA, then `migrate_schemas --schema`
    (as call_command runs it: without the system checks, which favours this path)."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from tenants import services
    from tenants.models import Domain, Tenant

    times = []
    for i in range(count):
        started = time.perf_counter()
        tenant_type, slug, name = services.validate_new_tenant(
            "municipality", f"migriert-{i}", f"Migrierte Kommune {i}"
        )
        with transaction.atomic():
            tenant = Tenant(
                schema_name=services.schema_name_for(slug), slug=slug, name=name, type=tenant_type
            )
            tenant.save()
            Domain.objects.create(domain=tenant.hostname, tenant=tenant, is_primary=True)
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE SCHEMA "{tenant.schema_name}"')
        call_command(
            "migrate_schemas", schema_name=tenant.schema_name, interactive=False, verbosity=0
        )
        connection.set_schema_to_public()
        times.append(time.perf_counter() - started)
    return times


def migrations_on_disk() -> set[tuple[str, str]]:
    from django.db.migrations.loader import MigrationLoader

    from tenants.rollout import needed_migrations

    return needed_migrations(MigrationLoader(None, ignore_no_migrations=True))


def check_unchanged(expected: set[tuple[str, str]], when: str) -> None:
    """The figures only mean something if nobody added a migration file meanwhile."""
    found = migrations_on_disk()
    if found != expected:
        raise SystemExit(
            f"the migrations on disk changed {when} (added {sorted(found - expected)}, "
            f"removed {sorted(expected - found)}): the figures would not compare; run again"
        )


def run(args: argparse.Namespace, figures: dict) -> None:
    from django.core.management import call_command

    from tenants.rollout import rollout

    n = args.tenants
    started = time.perf_counter()
    call_command("migrate_all", verbosity=0, stdout=io.StringIO())
    say("setup", f"kitaportal migrate on the empty database: {time.perf_counter() - started:.2f} s")
    expected = migrations_on_disk()
    latest, previous = latest_and_previous("registrations")

    seconds = migrate_template_back(previous)
    say("setup", f"template_municipality migrated back to {' '.join(previous)}: {seconds:.2f} s")
    seconds = clone_tenants(n, "bench")
    figures["bulk_clone_s"] = round(seconds, 3)
    say(
        "setup",
        f"{n} municipality tenants provisioned at {' '.join(previous)} in {seconds:.1f} s "
        f"({seconds / n:.3f} s per tenant; not part of the rollout time)",
    )

    check_unchanged(expected, "during the setup")
    report = rollout(workers=args.workers)
    if report.failed:
        raise SystemExit(f"rollout failed in {len(report.failed)} schema(s): {report.failed}")
    expected_behind = {f"bench_{i:05d}" for i in range(n)} | {"template_municipality"}
    if set(report.migrated) != expected_behind:
        raise SystemExit(
            f"rollout: migrated {len(report.migrated)} schemas, expected {n + 1}; unexpected: "
            f"{sorted(set(report.migrated) - expected_behind)[:10]}, "
            f"not migrated: {sorted(expected_behind - set(report.migrated))[:10]}"
        )
    figures["rollout_s"] = round(report.seconds, 3)
    say(
        "rollout",
        f"{' '.join(latest)} rolled out to {len(report.migrated)} schemas "
        f"(of {report.schemas}) in {report.seconds:.2f} s with {args.workers} connection(s) "
        f"({1000 * report.seconds / len(report.migrated):.1f} ms per schema)",
    )
    schemas, municipal = verify(expected)
    say(
        "verify",
        f"all {schemas} tenant schemas record the same {len(expected)} migrations; "
        f"all {municipal} municipality schemas have the template's columns, indexes, "
        "constraints, content types and permissions",
    )

    report = rollout(workers=args.workers)
    if report.behind or report.migrated or report.failed:
        raise SystemExit(f"no-op rollout changed something: {report}")
    figures["noop_s"] = round(report.seconds, 3)
    say(
        "no-op rollout",
        f"{report.schemas} schemas checked, nothing to apply: {report.seconds:.2f} s",
    )

    sample = [f"bench_{i:05d}" for i in range(min(args.sample, n))]
    per_schema = stock_noop_per_schema(sample, "municipality", with_checks=True)
    per_schema_unchecked = stock_noop_per_schema(sample, "municipality", with_checks=False)
    figures["stock_noop_per_schema_s"] = round(per_schema, 4)
    figures["stock_noop_extrapolated_s"] = round(per_schema * n, 1)
    say(
        "stock migrate_schemas no-op",
        f"measured on {len(sample)} schemas: {per_schema:.3f} s per schema "
        f"({per_schema_unchecked:.3f} s with --skip-checks); EXTRAPOLATED to {n} tenants: "
        f"{per_schema * n:.0f} s ({per_schema_unchecked * n:.0f} s with --skip-checks)",
    )

    check_unchanged(expected, "during the run")
    clone_times = provision_by_clone(5)
    pg_clone_times = provision_by_clone_schema(3)
    migrate_times = provision_by_migrations(3)
    figures["provision_clone_s"] = round(statistics.median(clone_times), 3)
    figures["provision_first_s"] = round(clone_times[0], 3)
    figures["provision_clone_schema_s"] = round(statistics.median(pg_clone_times), 3)
    figures["provision_migrate_s"] = round(statistics.median(migrate_times), 3)
    say(
        "provision one tenant from the blueprint",
        f"{figures['provision_clone_s']:.3f} s (median of 5: services.provision_tenant; "
        f"{', '.join(f'{t:.3f}' for t in clone_times)}; the first one compiles the blueprint)",
    )
    say(
        "provision one tenant by clone_schema",
        f"{figures['provision_clone_schema_s']:.3f} s (median of 3: django-tenants' "
        f"clone_schema DATA; {', '.join(f'{t:.3f}' for t in pg_clone_times)})",
    )
    say(
        "provision one tenant by migrations",
        f"{figures['provision_migrate_s']:.3f} s (median of 3: CREATE SCHEMA + migrate_schemas "
        f"--schema; {', '.join(f'{t:.3f}' for t in migrate_times)})",
    )


def report_targets(n: int, figures: dict) -> None:
    say("machine", f"load average {os.getloadavg()[0]:.2f} at the end (shared machine)")
    scale = TARGET_TENANTS / n
    note = "" if n == TARGET_TENANTS else f", scaled linearly from {n} tenants"
    rollout_1000 = figures["rollout_s"] * scale
    noop_1000 = figures["noop_s"] * scale
    checks = [
        (
            f"new tenant ready in under {TARGET_PROVISION_S} s",
            figures["provision_clone_s"] <= TARGET_PROVISION_S,
            f"{figures['provision_clone_s']:.3f} s",
        ),
        (
            f"rollout across {TARGET_TENANTS} tenants under {TARGET_ROLLOUT_S:.0f} s",
            rollout_1000 <= TARGET_ROLLOUT_S,
            f"{rollout_1000:.2f} s{note}",
        ),
        (
            f"no-op rollout across {TARGET_TENANTS} tenants under {TARGET_NOOP_S:.0f} s",
            noop_1000 <= TARGET_NOOP_S,
            f"{noop_1000:.2f} s{note}",
        ),
    ]
    for label, ok, value in checks:
        say(f"target {verdict(ok)}", f"{label}: {value}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM ends the run the way Ctrl-C does, so the database is dropped either way.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    database = BenchDatabase(server_url(), args.db_name)
    database.create()
    say("database", f"{args.db_name} created on {database.url}")
    say("machine", f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start")
    os.environ["DATABASE_URL"] = database.url
    os.environ["DJANGO_SETTINGS_MODULE"] = "kitaportal.settings.dev"
    figures: dict = {}
    status = 0
    try:
        import django

        django.setup()
        run(args, figures)
        report_targets(args.tenants, figures)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr, flush=True)
        status = 130
    finally:
        if args.keep:
            say("database", f"{args.db_name} kept ({database.url})")
        else:
            database.drop()
            say("database", f"{args.db_name} dropped")
    if status:
        return status
    summary = {key: figures[key] for key in ("provision_clone_s", "provision_migrate_s")}
    summary.update(rollout_s=figures["rollout_s"], noop_s=figures["noop_s"], tenants=args.tenants)
    summary["rollout_workers"] = args.workers
    summary.update({key: value for key, value in figures.items() if key not in summary})
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
