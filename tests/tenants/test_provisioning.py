"""Tenant provisioning through the CLI and services: good input works, bad input changes nothing."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_exists

from tenants import blueprint, services
from tenants.models import Domain, SchemaBlueprint, Tenant

pytestmark = pytest.mark.tenancy


def counts():
    return Tenant.objects.count(), Domain.objects.count()


def schema_count():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_namespace")
        return cursor.fetchone()[0]


def test_cli_creates_a_municipality_with_schema_and_domain(tenant_registry, db, capsys):
    call_command(
        "tenants",
        "create",
        "--type",
        "municipality",
        "--slug",
        "stadt-herne",
        "--name",
        "Stadt Herne",
    )
    tenant = Tenant.objects.get(slug="stadt-herne")
    assert tenant.schema_name == "stadt_herne"
    assert tenant.type == "municipality"
    assert Domain.objects.get(tenant=tenant).domain == "stadt-herne.localhost"
    assert schema_exists("stadt_herne")
    assert "http://stadt-herne.localhost:8000/" in capsys.readouterr().out


def test_a_provisioned_schema_has_every_migration_of_its_type(tenant_registry, db):
    from django.db.migrations.loader import MigrationLoader

    from tenants.rollout import applied_by_schema, needed_migrations

    tenant = services.provision_tenant(None, tenant_type="employer", slug="firma-x", name="Firma X")
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    applied = applied_by_schema([tenant.schema_name])[tenant.schema_name]
    assert applied == needed_migrations(loader)
    assert ("employer_quota", "0001_initial") in applied
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name LIKE 'registrations_%%'",
            [tenant.schema_name],
        )
        assert cursor.fetchone()[0] == 0, "employer schemas get no municipality tables"


def test_provisioning_replays_the_templates_blueprint_in_one_statement(tenant_registry, db):
    from django.test.utils import CaptureQueriesContext

    blueprint.blueprint_for("template_municipality")  # compiled once per process
    with CaptureQueriesContext(connection) as queries:
        services.provision_tenant(
            None, tenant_type="municipality", slug="stadt-witten", name="Stadt Witten"
        )
    statements = [q["sql"] for q in queries.captured_queries]
    scripts = [sql for sql in statements if sql.startswith('CREATE SCHEMA "stadt_witten";')]
    assert len(scripts) == 1, "the whole schema in one round trip"
    assert not any("clone_schema" in sql for sql in statements)
    assert len(statements) < 25, "a handful of statements, not a migration run"
    # Speed is measured in benchmarks/tenant_provisioning.py, not asserted here.


def test_a_provisioned_schema_is_identical_to_its_template_with_djangos_own_names(
    tenant_registry, db
):
    from tests.tenants.test_rollout import structure, unique_constraint_names

    for tenant_type, slug in (("municipality", "stadt-herten"), ("employer", "firma-y")):
        tenant = services.provision_tenant(None, tenant_type=tenant_type, slug=slug, name=slug)
        template = f"template_{tenant_type}"
        assert structure(tenant.schema_name) == structure(template)
        # Unlike clone_schema (LIKE … INCLUDING ALL), multi-column unique constraints keep
        # the names Django gave them, which later migrations may refer to.
        assert unique_constraint_names(tenant.schema_name) == unique_constraint_names(template)


def test_a_provisioned_schema_continues_its_ids_after_the_copied_rows(tenant_registry, db):
    tenant = services.provision_tenant(
        None, tenant_type="municipality", slug="stadt-bottrop", name="Stadt Bottrop"
    )
    with connection.cursor() as cursor:
        cursor.execute('SELECT max(id) FROM "stadt_bottrop".django_content_type')
        (highest,) = cursor.fetchone()
        cursor.execute(
            'INSERT INTO "stadt_bottrop".django_content_type (app_label, model) '
            "VALUES ('neu', 'modell') RETURNING id"
        )
        assert cursor.fetchone()[0] == highest + 1
    connection.set_tenant(tenant)
    try:
        from registrations.models import District

        district = District.objects.create(name="Mitte", slug="mitte")
        assert district.pk == 1
    finally:
        connection.set_schema_to_public()


def test_stored_blueprints_let_a_new_process_provision_without_reading_the_catalog(
    tenant_registry, db
):
    from django.test.utils import CaptureQueriesContext

    stored = dict(SchemaBlueprint.objects.values_list("template", "state"))
    assert stored == {
        "template_municipality": blueprint.template_state("template_municipality"),
        "template_employer": blueprint.template_state("template_employer"),
    }
    blueprint._cache.clear()  # as in a freshly started worker
    with CaptureQueriesContext(connection) as queries:
        services.provision_tenant(None, tenant_type="employer", slug="firma-w", name="Firma W")
    assert not any("pg_attribute" in q["sql"] for q in queries.captured_queries)


def test_a_template_holding_objects_a_blueprint_does_not_cover_is_cloned_instead(
    tenant_registry, db
):
    from django.test.utils import CaptureQueriesContext

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE VIEW template_employer.hr_view AS SELECT 1 AS one"
        )  # rolled back with the test
    blueprint._cache.clear()
    SchemaBlueprint.objects.all().delete()  # rolled back with the test
    try:
        with CaptureQueriesContext(connection) as queries:
            tenant = services.provision_tenant(
                None, tenant_type="employer", slug="firma-z", name="Firma Z"
            )
        assert any("clone_schema" in q["sql"] for q in queries.captured_queries)
        assert schema_exists(tenant.schema_name)
    finally:
        blueprint._cache.clear()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--type", "municipality", "--slug", "Bochum_2", "--name", "X"], "Ungültiger Kurzname"),
        (["--type", "municipality", "--slug=-bochum", "--name", "X"], "Ungültiger Kurzname"),
        (["--type", "municipality", "--slug", "a" * 51, "--name", "X"], "Ungültiger Kurzname"),
        (["--type", "municipality", "--slug", "admin", "--name", "X"], "reserviert"),
        (["--type", "municipality", "--slug", "www", "--name", "X"], "reserviert"),
        (["--type", "municipality", "--slug", "test", "--name", "X"], "reserviert"),
        (["--type", "employer", "--slug", "template-municipality", "--name", "X"], "reserviert"),
        (
            ["--type", "municipality", "--slug", "bochum", "--name", "Noch mal Bochum"],
            "bereits vergeben",
        ),
        (["--type", "school", "--slug", "schule", "--name", "X"], "Unbekannte Mandantenart"),
        (["--type", "municipality", "--slug", "leer", "--name", "  "], "Namen"),
    ],
)
def test_cli_refuses_bad_input_with_a_clear_message_and_leaves_nothing(
    tenant_registry, db, args, message
):
    before, schemas_before = counts(), schema_count()
    with pytest.raises(CommandError, match=message):
        call_command("tenants", "create", *args)
    assert counts() == before
    assert schema_count() == schemas_before


def test_a_failure_midway_leaves_no_tenant_domain_or_schema(tenant_registry, db, monkeypatch):
    before, schemas_before = counts(), schema_count()

    def broken_audit(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "record_audit", broken_audit)
    with pytest.raises(RuntimeError):
        services.provision_tenant(
            None, tenant_type="municipality", slug="stadt-hagen", name="Stadt Hagen"
        )
    assert counts() == before
    assert schema_count() == schemas_before
    assert not schema_exists("stadt_hagen")


def test_cli_lists_and_deactivates_tenants(tenant_registry, db, capsys):
    call_command("tenants", "list")
    listing = capsys.readouterr().out
    for slug in ("bochum", "kreis-dueren", "rathauskids", "kreismaeuse"):
        assert slug in listing
    assert "template" not in listing
    call_command("tenants", "deactivate", "kreismaeuse")
    assert not Tenant.objects.get(slug="kreismaeuse").is_active
    with pytest.raises(CommandError, match="bereits deaktiviert"):
        call_command("tenants", "deactivate", "kreismaeuse")
    with pytest.raises(CommandError, match="keinen Mandanten"):
        call_command("tenants", "deactivate", "gibt-es-nicht")


def test_provisioning_is_audited_in_the_platform_log(tenant_registry, db):
    from tenants.common.models import AuditEntry

    tenant = services.provision_tenant(None, tenant_type="employer", slug="firma-y", name="Firma Y")
    entry = AuditEntry.objects.get(action="tenant.provisioned", object_id=str(tenant.pk))
    assert entry.data == {"tenant_type": "employer"}
