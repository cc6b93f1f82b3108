"""Benchmark: one PostgreSQL cluster with many tenant schemas (2,000 by default).

    .venv/bin/python benchmarks/many_tenants.py [--tenants N] [--db-name NAME] [--keep]

Works in a database of its own (``kitaportal_many`` by default), created and dropped on the
server of DATABASE_URL, or on the embedded server (started if needed) when DATABASE_URL is
unset. The demo and test databases are never touched.

What it measures (platform/docs/scaling.md cites the figures):

1. setup: ``kitaportal migrate``; the municipality template is migrated back by one
   registrations migration; N tenants are provisioned from the templates' blueprints (9 in 10
   municipalities, 1 in 10 employers), timed per hundred, so the cost as the catalog grows shows.
2. catalog: database and system-catalog size, relations and files per tenant.
3. connections: a new connection plus the first query in a tenant schema (cold caches), the
   same query again (warm), and the memory a single backend holds after it has touched 1, 100,
   … all tenant schemas (what a pooled, long-lived connection accumulates).
4. rollout: ``tenants.rollout`` applies the held-back migration to every municipality schema;
   then a no-op rollout. The readiness check's migration query (/readyz) and the outbox
   backlog query (/metrics) over all schemas; ``flush_outbox`` as one sweep over all tenants
   and in one tenant's schema, and how many tasks TenantAwareScheduler sends per entry.
5. one tenant: Bochum's demo data (190 facilities) loaded into one tenant; provisioning one
   more tenant; ``kitaportal tenants export`` and ``import`` of Bochum; ``pg_dump -n`` of the
   same schema for comparison.

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tenant_provisioning import (  # noqa: E402
    NAME_RE,
    latest_and_previous,
    migrate_template_back,
    server_url,
    with_database,
)

MEMORY_MARKS = (1, 100, 500, 1000, 2000, 5000, 11000)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=2000, help="tenant schemas to create")
    parser.add_argument("--db-name", default="kitaportal_many", help="database to create")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    if args.tenants < 20:
        parser.error("--tenants must be at least 20")
    if not NAME_RE.match(args.db_name) or args.db_name in {"kitaportal", "postgres"}:
        parser.error(f"refusing database name {args.db_name!r}")
    return args


def admin_execute(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql)


def say(label: str, text: str) -> None:
    print(f"{label}: {text}", flush=True)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


# --- Everything below runs after django.setup() ---------------------------------------------


def hold_back_one_migration() -> tuple[tuple[str, str], tuple[str, str]]:
    """Migrate the municipality template back by its app's latest migration (stock
    migrate_schemas), so the tenants provisioned next are one migration behind."""
    latest, previous = latest_and_previous("registrations")
    migrate_template_back(previous)
    return latest, previous


def clone_many(count: int, figures: dict) -> list[str]:
    """N tenants as provision_tenant makes them (registry row, domain, the template's blueprint
    replayed, audit entry, one transaction each), without re-validating the generated, unique
    names. (The figures keep their names clone_*; before ADR 0006 this was clone_schema.)"""
    from django.db import connection, transaction

    from tenants.blueprint import provision_schema
    from tenants.common.services import record_audit
    from tenants.models import Domain, Tenant

    connection.set_schema_to_public()
    schemas, per_hundred = [], []
    started = last = time.perf_counter()
    for i in range(count):
        tenant_type = "employer" if i % 10 == 9 else "municipality"
        slug = f"{'firma' if tenant_type == 'employer' else 'kommune'}-{i:05d}"
        with transaction.atomic():
            tenant = Tenant(
                schema_name=slug.replace("-", "_"),
                slug=slug,
                name=f"Benchmark {i}",
                type=tenant_type,
            )
            tenant.save()
            Domain.objects.create(domain=tenant.hostname, tenant=tenant, is_primary=True)
            if not provision_schema(f"template_{tenant_type}", tenant.schema_name):
                raise SystemExit(f"template_{tenant_type} has no blueprint")
            record_audit(None, "tenant.provisioned", tenant, tenant_type=tenant_type)
        schemas.append(tenant.schema_name)
        if (i + 1) % 100 == 0:
            now = time.perf_counter()
            per_hundred.append(now - last)
            last = now
            if (i + 1) % 500 == 0 or i + 1 == count:
                say(
                    "setup", f"{i + 1}/{count} provisioned, the last 100 in {per_hundred[-1]:.1f} s"
                )
    total = time.perf_counter() - started
    figures["clone_total_s"] = round(total, 1)
    figures["clone_first_100_s"] = round(per_hundred[0], 2) if per_hundred else None
    figures["clone_last_100_s"] = round(per_hundred[-1], 2) if per_hundred else None
    return schemas


def catalog_figures(count: int, empty: dict, figures: dict) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        database = cursor.fetchone()[0]
        cursor.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'pg_catalog'"
        )
        catalog = int(cursor.fetchone()[0])
        cursor.execute("SELECT count(*) FROM pg_class")
        relations = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM pg_attribute")
        attributes = cursor.fetchone()[0]
        cursor.execute(
            "SELECT c.relkind, count(*) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = 'kommune_00000' GROUP BY 1"
        )
        per_municipality = dict(cursor.fetchall())
        cursor.execute(
            "SELECT count(*) FROM pg_class WHERE relfilenode <> 0 AND relpersistence = 'p'"
        )
        files = cursor.fetchone()[0]
    figures.update(
        database_mb=round(database / 1e6, 1),
        catalog_mb=round(catalog / 1e6, 1),
        catalog_mb_empty=round(empty["catalog"] / 1e6, 1),
        catalog_kb_per_tenant=round((catalog - empty["catalog"]) / count / 1e3, 1),
        database_kb_per_tenant=round((database - empty["database"]) / count / 1e3, 1),
        pg_class_rows=relations,
        pg_attribute_rows=attributes,
        relations_per_municipality=sum(per_municipality.values()),
        tables_per_municipality=per_municipality.get("r", 0),
        relation_files=files,
    )
    say(
        "catalog",
        f"database {figures['database_mb']} MB ({figures['database_kb_per_tenant']} kB per "
        f"tenant), system catalog {figures['catalog_mb']} MB (empty database: "
        f"{figures['catalog_mb_empty']} MB; {figures['catalog_kb_per_tenant']} kB per tenant), "
        f"{relations} rows in pg_class, {attributes} in pg_attribute; a municipality has "
        f"{figures['relations_per_municipality']} relations "
        f"({figures['tables_per_municipality']} tables); {files} relation files on disk",
    )


def empty_sizes() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        database = cursor.fetchone()[0]
        cursor.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'pg_catalog'"
        )
        return {"database": database, "catalog": int(cursor.fetchone()[0])}


FINDER_QUERY = (
    "SELECT f.id, f.name, d.name, c.name FROM registrations_facility f "
    "JOIN registrations_district d ON d.id = f.district_id "
    "JOIN registrations_carrier c ON c.id = f.carrier_id ORDER BY f.name LIMIT 25"
)


def connection_figures(url: str, municipal: list[str], figures: dict) -> None:
    """A fresh connection and the first query in a tenant schema, then the memory one backend
    holds after touching more and more tenant schemas."""
    import psycopg

    connect, first, warm = [], [], []
    for schema in municipal[:: max(1, len(municipal) // 25)][:25]:
        started = time.perf_counter()
        conn = psycopg.connect(url, autocommit=True)
        connected = time.perf_counter()
        conn.execute(f'SET search_path = "{schema}", public')
        conn.execute(FINDER_QUERY).fetchall()
        queried = time.perf_counter()
        conn.execute(FINDER_QUERY).fetchall()
        again = time.perf_counter()
        conn.close()
        connect.append(connected - started)
        first.append(queried - connected)
        warm.append(again - queried)
    figures.update(
        connect_ms=ms(statistics.median(connect)),
        first_query_ms=ms(statistics.median(first)),
        warm_query_ms=ms(statistics.median(warm)),
    )
    say(
        "connections",
        f"new connection {figures['connect_ms']} ms; first finder query in a tenant schema "
        f"{figures['first_query_ms']} ms, the same query again {figures['warm_query_ms']} ms "
        "(medians of 25)",
    )
    memory = {}
    conn = psycopg.connect(url, autocommit=True)
    switch = []
    marks = [mark for mark in MEMORY_MARKS if mark <= len(municipal)] + [len(municipal)]
    for index, schema in enumerate(municipal, start=1):
        started = time.perf_counter()
        conn.execute(f'SET search_path = "{schema}", public')
        conn.execute(FINDER_QUERY).fetchall()
        switch.append(time.perf_counter() - started)
        if index in marks:
            total, cache = conn.execute(
                "SELECT sum(total_bytes), sum(total_bytes) FILTER (WHERE name = "
                "'CacheMemoryContext' OR parent = 'CacheMemoryContext') "
                "FROM pg_backend_memory_contexts"
            ).fetchone()
            memory[index] = (round(int(total) / 1e6, 1), round(int(cache or 0) / 1e6, 1))
    conn.close()
    figures["backend_memory_mb_by_schemas_touched"] = {str(k): v[0] for k, v in memory.items()}
    figures["backend_cache_mb_by_schemas_touched"] = {str(k): v[1] for k, v in memory.items()}
    figures["schema_switch_first_query_ms"] = ms(statistics.median(switch))
    say(
        "backend memory",
        "one connection after touching n tenant schemas (total / catalog caches, MB): "
        + ", ".join(f"{n}: {total} / {cache}" for n, (total, cache) in memory.items())
        + f"; switching schema + first query: {figures['schema_switch_first_query_ms']} ms "
        "(median)",
    )


def rollout_figures(latest, count_municipal: int, figures: dict) -> None:
    from tenants.rollout import rollout

    report = rollout()
    if report.failed:
        raise SystemExit(f"rollout failed in {len(report.failed)} schema(s)")
    if len(report.migrated) != count_municipal + 1:
        raise SystemExit(f"rollout migrated {len(report.migrated)}, expected {count_municipal + 1}")
    figures["rollout_s"] = round(report.seconds, 2)
    figures["rollout_ms_per_schema"] = round(1000 * report.seconds / len(report.migrated), 1)
    say(
        "rollout",
        f"{'.'.join(latest)} rolled out to {len(report.migrated)} of {report.schemas} schemas "
        f"in {report.seconds:.1f} s ({figures['rollout_ms_per_schema']} ms per schema)",
    )
    report = rollout()
    if report.migrated or report.failed:
        raise SystemExit("the no-op rollout changed something")
    figures["noop_rollout_s"] = round(report.seconds, 2)
    say("no-op rollout", f"{report.schemas} schemas checked in {report.seconds:.2f} s")


def timed(function, repeat: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def platform_query_figures(figures: dict) -> None:
    from django.conf import settings
    from django.db import connection
    from django_tenants.utils import tenant_context
    from kitaportal import health, observability

    from tenants.common.tasks import flush_outbox
    from tenants.models import Tenant

    health.migration_loader()
    seconds, (schemas, behind) = timed(health.schemas_behind)
    if behind:
        raise SystemExit(f"readiness: {len(behind)} schemas behind")
    figures["readyz_migrations_check_ms"] = ms(seconds)
    seconds, _ = timed(observability.outbox_backlog)
    figures["outbox_backlog_query_ms"] = ms(seconds)
    say(
        "platform queries",
        f"/readyz migration check over {schemas} schemas {figures['readyz_migrations_check_ms']} "
        f"ms; outbox backlog over all tenants {figures['outbox_backlog_query_ms']} ms "
        "(medians of 3)",
    )
    connection.set_schema_to_public()
    sweep, _ = timed(flush_outbox, repeat=1)
    figures["flush_outbox_all_tenants_s"] = round(sweep, 2)
    # What a task of TenantAwareScheduler's fan-out does: the same task in one tenant's schema.
    some = Tenant.objects.filter(type="municipality", is_template=False).order_by("pk").first()
    with tenant_context(some):
        one, _ = timed(flush_outbox)
    connection.set_schema_to_public()
    figures["flush_outbox_one_tenant_ms"] = ms(one)
    # An entry that names no schemas is sent once per tenant (templates and inactive included).
    entries = settings.CELERY_BEAT_SCHEDULE
    fan_out = {
        name: (
            len(entry["tenant_schemas"])
            if "tenant_schemas" in entry
            else Tenant.objects.exclude(schema_name="public").count()
        )
        for name, entry in entries.items()
    }
    figures["beat_tasks_per_entry"] = fan_out
    flush_entry = next(
        (name for name, entry in entries.items() if entry["task"].endswith("flush_outbox")), None
    )
    if flush_entry:
        per_run = fan_out[flush_entry] * one
        figures["flush_outbox_work_per_run_s"] = round(per_run, 1)
        say(
            "beat",
            f"flush_outbox as one sweep over all tenants: {sweep:.2f} s; in one tenant's schema: "
            f"{ms(one)} ms; TenantAwareScheduler sends '{flush_entry}' as "
            f"{fan_out[flush_entry]} tasks: about {per_run:.0f} s of worker time per run",
        )


def one_tenant_figures(url: str, figures: dict, work: Path) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import tenant_context

    from registrations.demo import load_municipality_demo
    from tenants import services

    seconds, _ = timed(
        lambda: services.provision_tenant(
            None, tenant_type="municipality", slug=f"neu-{time.monotonic_ns()}", name="Neu"
        )
    )
    figures["provision_one_tenant_s"] = round(seconds, 3)
    bochum = services.provision_tenant(
        None, tenant_type="municipality", slug="bochum", name="Stadt Bochum"
    )
    with tenant_context(bochum):
        load_municipality_demo("bochum")
    connection.set_schema_to_public()
    archive = work / "bochum.tar.gz"
    started = time.perf_counter()
    call_command("tenants", "export", "bochum", "--out", str(archive), stdout=io.StringIO())
    figures["export_one_tenant_s"] = round(time.perf_counter() - started, 2)
    figures["export_archive_kb"] = round(archive.stat().st_size / 1e3, 1)
    started = time.perf_counter()
    call_command("tenants", "import", str(archive), "--slug", "bochum-kopie", stdout=io.StringIO())
    figures["import_one_tenant_s"] = round(time.perf_counter() - started, 2)
    say(
        "one tenant",
        f"provisioning at this size {seconds:.3f} s (median of 3); Bochum's export "
        f"{figures['export_one_tenant_s']} s ({figures['export_archive_kb']} kB), import "
        f"{figures['import_one_tenant_s']} s",
    )
    pg_dump = shutil.which("pg_dump")
    if pg_dump:
        target = work / "bochum.dump"
        started = time.perf_counter()
        result = subprocess.run(
            [pg_dump, "--no-password", "-n", "bochum", "-Fc", "-f", str(target), url],
            capture_output=True,
            text=True,
        )
        if result.returncode == 0:
            figures["pg_dump_one_schema_s"] = round(time.perf_counter() - started, 2)
            say("one tenant", f"pg_dump -n bochum: {figures['pg_dump_one_schema_s']} s")
        else:
            say("one tenant", f"pg_dump -n bochum failed: {result.stderr.strip()[:200]}")


def run(args: argparse.Namespace, url: str, figures: dict, work: Path) -> None:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate_all", verbosity=0, stdout=io.StringIO())
    say("setup", f"kitaportal migrate on the empty database: {time.perf_counter() - started:.1f} s")
    empty = empty_sizes()
    latest, previous = hold_back_one_migration()
    say("setup", f"template_municipality held back at {'.'.join(previous)}")
    schemas = clone_many(args.tenants, figures)
    municipal = [schema for schema in schemas if schema.startswith("kommune_")]
    say(
        "setup",
        f"{len(schemas)} tenants cloned in {figures['clone_total_s']} s (first 100: "
        f"{figures['clone_first_100_s']} s, last 100: {figures['clone_last_100_s']} s)",
    )
    rollout_figures(latest, len(municipal), figures)
    catalog_figures(args.tenants, empty, figures)
    connection_figures(url, municipal, figures)
    platform_query_figures(figures)
    one_tenant_figures(url, figures, work)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server = server_url()
    url = with_database(server, args.db_name)
    admin_execute(server, f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
    admin_execute(server, f'CREATE DATABASE "{args.db_name}"')
    say("database", f"{args.db_name} created on {url}")
    work = Path(tempfile.mkdtemp(prefix="kitaportal-many-"))
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="kitaportal.settings.dev",
        # media and the file broker of this run stay in its own folder
        KITAPORTAL_DATA_DIR=str(work),
        LOG_LEVEL="WARNING",
    )
    figures: dict = {"tenants": args.tenants}
    status = 0
    try:
        import django

        django.setup()
        run(args, url, figures, work)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr, flush=True)
        status = 130
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django may not be set up
            pass
        if args.keep:
            say("database", f"{args.db_name} kept ({url})")
        else:
            admin_execute(server, f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
            say("database", f"{args.db_name} dropped")
        shutil.rmtree(work, ignore_errors=True)
    if status:
        return status
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
