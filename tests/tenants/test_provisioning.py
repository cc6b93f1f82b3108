"""Tenant provisioning through the CLI and services: good input works, bad input changes nothing."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_exists

from tenants import services
from tenants.models import Domain, Tenant

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


def test_provisioning_clones_the_template_instead_of_replaying_migrations(tenant_registry, db):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        services.provision_tenant(
            None, tenant_type="municipality", slug="stadt-witten", name="Stadt Witten"
        )
    statements = [q["sql"] for q in queries.captured_queries]
    assert sum(sql.lstrip().startswith("SELECT clone_schema(") for sql in statements) == 1
    assert not any(sql.lstrip().upper().startswith("CREATE TABLE") for sql in statements)
    assert len(statements) < 40, "a handful of statements, not a migration run"
    # Speed is measured in benchmarks/tenant_provisioning.py, not asserted here.


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
