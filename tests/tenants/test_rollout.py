"""The fast rollout (tenants.rollout) leaves every schema as Django's migrate would.

Schemas one migration behind are made honestly: the type's template is migrated back by the
latest registrations migration with Django's MigrationExecutor, and new tenants are cloned
from it by the real provisioning service. Everything runs inside the test's transaction
(PostgreSQL's DDL is transactional) and is rolled back afterwards.
"""

from __future__ import annotations

import re

import pytest
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import get_tenant_base_schema

from tenants import rollout as rollout_module
from tenants import services
from tenants.models import Tenant
from tenants.rollout import applied_by_schema, needed_migrations, rollout

pytestmark = pytest.mark.tenancy


def disk_graph():
    return MigrationLoader(None, ignore_no_migrations=True).graph


def latest_registrations_migration() -> tuple[str, str]:
    (leaf,) = [key for key in disk_graph().leaf_nodes() if key[0] == "registrations"]
    return leaf


def previous_registrations_migration() -> tuple[str, str]:
    node = disk_graph().node_map[latest_registrations_migration()]
    (parent,) = [p.key for p in node.parents if p.key[0] == "registrations"]
    return parent


def table_the_latest_migration_needs() -> str:
    """A registrations table that the latest registrations migration alters or references."""
    migration = MigrationLoader(None, ignore_no_migrations=True).graph.nodes[
        latest_registrations_migration()
    ]
    created = {
        operation.name.lower()
        for operation in migration.operations
        if type(operation).__name__ == "CreateModel"
    }
    for operation in migration.operations:
        name = getattr(operation, "model_name", None)
        if name and name.lower() not in created:
            return f"registrations_{name.lower()}"
    for operation in migration.operations:
        for _, field in getattr(operation, "fields", []):
            target = getattr(getattr(field, "remote_field", None), "model", None)
            if isinstance(target, str) and target.startswith("registrations."):
                name = target.split(".")[1].lower()
                if name not in created:
                    return f"registrations_{name}"
    raise AssertionError(f"{migration} neither alters nor references an existing table")


def migrate_template_back(tenant_type: str) -> None:
    """Unapply the latest registrations migration in the type's template (Django's executor;
    for employers the router skips the SQL and only the record goes)."""
    template = Tenant.objects.get(schema_name=get_tenant_base_schema(tenant_type))
    connection.set_tenant(template)
    try:
        MigrationExecutor(connection).migrate([previous_registrations_migration()])
    finally:
        connection.set_schema_to_public()


def late_tenants(municipalities: int = 0, employers: int = 0) -> list[Tenant]:
    """New tenants one registrations migration behind, cloned from a template set back."""
    created = []
    for tenant_type, count in (("municipality", municipalities), ("employer", employers)):
        if count:
            migrate_template_back(tenant_type)
        for i in range(count):
            created.append(
                services.provision_tenant(
                    None,
                    tenant_type=tenant_type,
                    slug=f"spaet-{tenant_type}-{i}",
                    name=f"Nachzügler {tenant_type} {i}",
                )
            )
    return created


def tenant_schemas(tenant_type: str | None = None) -> list[str]:
    tenants = Tenant.objects.exclude(schema_name="public")
    if tenant_type:
        tenants = tenants.filter(type=tenant_type)
    return sorted(tenants.values_list("schema_name", flat=True))


def _normalise(schema: str, value):
    if not isinstance(value, str):
        return value
    return re.sub(rf'(?<![\w"])"?{re.escape(schema)}"?\.', "SCHEMA.", value)


def structure(schema: str) -> dict[str, set[tuple]]:
    """Columns, indexes, constraints, content types and permissions of a schema, with its
    name taken out."""
    queries = {
        # Columns in their order (not their attnum: a clone has no gaps of dropped columns).
        "columns": (
            "SELECT table_name, column_name, "
            "rank() OVER (PARTITION BY table_name ORDER BY ordinal_position), data_type, "
            "udt_name, is_nullable, column_default, character_maximum_length, "
            "numeric_precision, numeric_scale, is_identity "
            "FROM information_schema.columns WHERE table_schema = %s"
        ),
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %s",
        "constraints": (
            "SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid) "
            "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
            "JOIN pg_namespace n ON n.oid = con.connamespace WHERE n.nspname = %s"
        ),
    }
    result = {}
    with connection.cursor() as cursor:
        for kind, sql in queries.items():
            cursor.execute(sql, [schema])
            result[kind] = {
                tuple(_normalise(schema, value) for value in row) for row in cursor.fetchall()
            }
        cursor.execute(
            f"SELECT ct.app_label, ct.model, p.codename, p.name "
            f'FROM "{schema}".django_content_type ct '
            f'LEFT JOIN "{schema}".auth_permission p ON p.content_type_id = ct.id'
        )
        result["permissions"] = set(cursor.fetchall())
    return result


def unique_constraint_names(schema: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'u' "
            "AND connamespace = %s::regnamespace",
            [schema],
        )
        return {row[0] for row in cursor.fetchall()}


def build_with_djangos_migrate(schema: str, tenant_type: str) -> None:
    """What `migrate_schemas --schema` does for a new schema, minus the system checks."""
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema}"')
    connection.set_schema(schema, tenant_type=tenant_type, include_public=False)
    MigrationRecorder(connection).ensure_schema()
    connection.set_schema(schema, tenant_type=tenant_type)
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        emit_post_migrate_signal(0, False, connection.alias)
    finally:
        connection.set_schema_to_public()


def test_rollout_brings_templates_and_tenants_of_both_types_to_the_migrations_on_disk(
    tenant_registry, db
):
    late = late_tenants(municipalities=2, employers=1)
    latest = latest_registrations_migration()
    assert not any(
        latest in found for found in applied_by_schema([t.schema_name for t in late]).values()
    )

    report = rollout()

    assert report.ok, report.failed
    assert set(report.migrated) == {t.schema_name for t in late} | {
        "template_municipality",
        "template_employer",
    }
    assert report.behind == len(report.migrated)
    schemas = tenant_schemas()
    on_disk = needed_migrations(MigrationLoader(None, ignore_no_migrations=True))
    assert applied_by_schema(schemas) == dict.fromkeys(schemas, on_disk)
    for tenant_type in ("municipality", "employer"):
        template = get_tenant_base_schema(tenant_type)
        expected = structure(template)
        for schema in tenant_schemas(tenant_type):
            assert structure(schema) == expected, f"{schema} differs from {template}"


def test_a_rolled_out_clone_is_identical_to_a_schema_built_by_djangos_own_migrate(
    tenant_registry, db
):
    (clone,) = late_tenants(municipalities=1)
    assert rollout().ok

    build_with_djangos_migrate("built_by_django", "municipality")

    built, rolled_out = structure("built_by_django"), structure(clone.schema_name)
    for kind in built:
        assert rolled_out[kind] == built[kind], kind


def test_a_no_op_rollout_migrates_nothing_in_the_same_number_of_queries_for_more_tenants(
    tenant_registry, db
):
    def no_op_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            report = rollout()
        assert report.ok, report.failed
        assert (report.behind, report.migrated, report.renamed) == (0, [], [])
        assert report.schemas == len(tenant_schemas())
        return len(queries.captured_queries)

    def tenant_count() -> int:
        return Tenant.objects.filter(is_template=False).exclude(schema_name="public").count()

    rollout()  # settle what the session's clones brought (see the constraint-name test)
    tenants_before, queries_before = tenant_count(), no_op_queries()

    for i in range(3):
        services.provision_tenant(None, tenant_type="municipality", slug=f"mehr-{i}", name=f"K {i}")
    rollout()
    tenants_after, queries_after = tenant_count(), no_op_queries()

    assert tenants_after == tenants_before + 3
    assert queries_after == queries_before
    assert queries_before <= 6


@pytest.mark.parametrize("batch_size", [1, 25])
def test_a_broken_schema_is_reported_and_rolled_back_without_stopping_the_others(
    tenant_registry, db, batch_size
):
    first, broken, last = late_tenants(municipalities=3)
    table = table_the_latest_migration_needs()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{broken.schema_name}"."{table}" CASCADE')
    before = structure(broken.schema_name)
    latest = latest_registrations_migration()

    report = rollout(batch_size=batch_size)

    assert list(report.failed) == [broken.schema_name]
    assert f'relation "{table}" does not exist' in report.failed[broken.schema_name]
    assert broken.schema_name not in report.migrated
    assert {first.schema_name, last.schema_name, "template_municipality"} <= set(report.migrated)
    applied = applied_by_schema([first.schema_name, broken.schema_name, last.schema_name])
    assert latest in applied[first.schema_name]
    assert latest in applied[last.schema_name]
    assert latest not in applied[broken.schema_name]
    # Rolled back as a whole: no table, index, constraint name or content type changed.
    assert structure(broken.schema_name) == before
    template = structure("template_municipality")
    assert structure(first.schema_name) == template
    assert structure(last.schema_name) == template


def test_employer_schemas_record_the_registrations_migration_without_getting_its_tables(
    tenant_registry, employer, db
):
    (late,) = late_tenants(employers=1)
    latest = latest_registrations_migration()
    assert latest not in applied_by_schema([late.schema_name])[late.schema_name]

    report = rollout()

    assert report.ok, report.failed
    assert {late.schema_name, "template_employer"} <= set(report.migrated)
    employer_schemas = tenant_schemas("employer")
    assert employer.schema_name in employer_schemas
    for schema, found in applied_by_schema(employer_schemas).items():
        assert latest in found, schema
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(%s) AND c.relname LIKE 'registrations%%'",
            [employer_schemas],
        )
        assert cursor.fetchone()[0] == 0


def test_rollout_gives_cloned_schemas_the_template_constraint_names_a_migration_may_use(
    tenant_registry, db
):
    (clone,) = late_tenants(municipalities=1)

    report = rollout()

    assert report.ok, report.failed
    assert unique_constraint_names(clone.schema_name) == unique_constraint_names(
        "template_municipality"
    )
    with connection.cursor() as cursor:
        # What a RemoveConstraint migration for AgeGroupOffer's constraint would run.
        cursor.execute(
            f'ALTER TABLE "{clone.schema_name}".registrations_agegroupoffer '
            'DROP CONSTRAINT "one_offer_per_age"'
        )


def test_plans_with_python_code_fall_back_to_djangos_executor_with_the_same_result(
    tenant_registry, db, monkeypatch
):
    monkeypatch.setattr(rollout_module, "_is_sql_only", lambda plan: False)
    (late,) = late_tenants(municipalities=1)

    report = rollout()

    assert report.ok, report.failed
    assert {late.schema_name, "template_municipality"} <= set(report.migrated)
    assert (
        latest_registrations_migration() in applied_by_schema([late.schema_name])[late.schema_name]
    )
    assert structure(late.schema_name) == structure("template_municipality")
