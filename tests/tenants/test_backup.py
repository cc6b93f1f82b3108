"""Per-tenant export and import: a demo tenant round-trips table by table, media and sequences
included; broken, tampered or newer archives change nothing; older ones are migrated forward."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django_tenants.utils import schema_exists, tenant_context

from tenants import backup
from tenants.common.models import AuditEntry
from tenants.common.services import queue_email, record_audit
from tenants.models import Domain, Tenant
from tenants.services import ProvisioningError
from tests.conftest import make_user

pytestmark = pytest.mark.tenancy


def tables_of(schema: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY 1",
            [schema],
        )
        return [row[0] for row in cursor.fetchall()]


def table_contents(schema: str) -> dict[str, tuple[int, str]]:
    """Per table: row count and a digest of all rows (every column, order-independent)."""
    contents = {}
    with connection.cursor() as cursor:
        for table in tables_of(schema):
            cursor.execute(
                "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) "
                f'FROM "{schema}"."{table}" AS t'
            )
            contents[table] = cursor.fetchone()
    return contents


def manifest_of(archive: Path) -> dict:
    with tarfile.open(archive, "r:gz") as tar:
        return json.load(tar.extractfile("manifest.json"))


def rewrite_archive(source: Path, target: Path, edit) -> None:
    """Unpack, let `edit(folder, manifest)` change it, fix the checksums, pack again."""
    folder = target.parent / f"{target.name}.d"
    with tarfile.open(source, "r:gz") as tar:
        tar.extractall(folder, filter="data")
    manifest = json.loads((folder / "manifest.json").read_text())
    edit(folder, manifest)
    for entry in [*manifest["tables"], *manifest["public"]]:
        entry["sha256"] = hashlib.sha256((folder / entry["file"]).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with tarfile.open(target, "w:gz") as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=path.name)


@pytest.fixture
def media_root(tmp_path):
    root = tmp_path / "media"
    with override_settings(MEDIA_ROOT=root):
        yield root


def test_a_municipality_round_trips_table_by_table_under_a_new_slug(
    city, media_root, tmp_path, django_capture_on_commit_callbacks
):
    # Beyond the demo data: an account, a queued email, an audit entry and an uploaded file.
    make_user(city, "eltern.muster@example.org", "parent")
    with tenant_context(city):
        queue_email(to=["eltern.muster@example.org"], subject="Ihre Voranmeldung", text="…")
        record_audit(None, "facility.updated")
    upload = media_root / city.schema_name / "satzungen" / "satzung-2026.pdf"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"%PDF-1.7 Satzung")

    archive = tmp_path / "bochum.tar.gz"
    exported = backup.export_tenant(None, city.slug, archive)
    assert exported.tables >= 10 and exported.rows > 190 and exported.media_files == 1

    with django_capture_on_commit_callbacks(execute=True):
        imported = backup.import_tenant(None, archive, slug="bochum-kopie")
    copy = imported.tenant
    assert (copy.slug, copy.schema_name, copy.type) == ("bochum-kopie", "bochum_kopie", city.type)
    assert copy.name == city.name
    assert Domain.objects.get(tenant=copy).domain == "bochum-kopie.localhost"

    original, restored = table_contents(city.schema_name), table_contents(copy.schema_name)
    assert set(restored) == set(original)
    for table in sorted(original):
        if table in backup.EXCLUDED_TABLES:
            continue
        assert restored[table] == original[table], table
    assert original["registrations_facility"][0] == 190
    assert restored["django_session"][0] == 0
    assert (media_root / "bochum_kopie/satzungen/satzung-2026.pdf").read_bytes() == (
        b"%PDF-1.7 Satzung"
    )


def test_sequences_continue_after_the_largest_imported_id(
    city, media_root, tmp_path, django_capture_on_commit_callbacks
):
    from registrations.models import District

    archive = tmp_path / "bochum.tar.gz"
    backup.export_tenant(None, city.slug, archive)
    with django_capture_on_commit_callbacks(execute=True):
        copy = backup.import_tenant(None, archive, slug="bochum-neu").tenant
    with tenant_context(copy):
        largest = max(District.objects.values_list("pk", flat=True))
        district = District.objects.create(name="Neuer Bezirk", slug="neuer-bezirk")
    assert district.pk == largest + 1


def test_an_employer_comes_back_under_its_own_slug_with_identical_tables(
    employer, media_root, tmp_path, django_capture_on_commit_callbacks
):
    first = tmp_path / "rathauskids.tar.gz"
    backup.export_tenant(None, employer.slug, first)
    # The tenant is lost (schema and registry rows) ...
    Tenant.objects.filter(pk=employer.pk).delete()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA "{employer.schema_name}" CASCADE')
    assert not schema_exists(employer.schema_name)
    # ... and restored from its archive.
    with django_capture_on_commit_callbacks(execute=True):
        restored = backup.import_tenant(None, first).tenant
    assert restored.slug == employer.slug and restored.schema_name == employer.schema_name
    second = tmp_path / "rathauskids-again.tar.gz"
    backup.export_tenant(None, employer.slug, second)
    before, after = manifest_of(first), manifest_of(second)
    assert [t["name"] for t in after["tables"]] == [t["name"] for t in before["tables"]]
    for old, new in zip(before["tables"], after["tables"], strict=True):
        assert (new["rows"], new["sha256"]) == (old["rows"], old["sha256"]), old["name"]
    assert after["migrations"] == before["migrations"]


def test_the_archive_documents_its_tables_and_leaves_out_login_sessions(city, tmp_path):
    archive = tmp_path / "bochum.tar.gz"
    backup.export_tenant(None, city.slug, archive)
    manifest = manifest_of(archive)
    assert (manifest["format"], manifest["format_version"]) == (backup.FORMAT, 1)
    assert manifest["tenant"]["slug"] == "bochum" and manifest["tenant"]["type"] == "municipality"
    assert ["registrations", "0001_initial"] in manifest["migrations"]
    facility = next(t for t in manifest["tables"] if t["name"] == "registrations_facility")
    types = {column["name"]: column["type"] for column in facility["columns"]}
    assert types["care_hours"] == "smallint[]" and types["name"] == "character varying(200)"
    assert facility["primary_key"] == ["id"] and facility["rows"] == 190
    assert manifest["excluded_tables"] == ["django_session"]
    with tarfile.open(archive, "r:gz") as tar:
        names = tar.getnames()
        header = tar.extractfile("schema/registrations_facility.csv").readline().decode()
        domains = tar.extractfile("public/tenants_domain.csv").read().decode()
    assert "schema/django_session.csv" not in names
    assert header.startswith("id,name,slug,")
    assert "bochum.localhost" in domains


def test_export_and_import_are_audited_without_personal_data(
    employer, media_root, tmp_path, django_capture_on_commit_callbacks
):
    archive = tmp_path / "rathauskids.tar.gz"
    backup.export_tenant(None, employer.slug, archive)
    with django_capture_on_commit_callbacks(execute=True):
        copy = backup.import_tenant(None, archive, slug="rathauskids-kopie").tenant
    connection.set_schema_to_public()
    exported = AuditEntry.objects.get(action="tenant.exported", object_id=str(employer.pk))
    imported = AuditEntry.objects.get(action="tenant.imported", object_id=str(copy.pk))
    assert exported.actor_role == imported.actor_role == "system"
    assert set(exported.data) == {"tables", "rows", "media_files"}
    assert imported.data["source_slug"] == "rathauskids"
    # The platform's audit entries about the tenant travel in the archive.
    assert manifest_of(archive)["public"][1]["name"] == "tenant_common_auditentry"


def test_a_tampered_archive_changes_nothing(city, media_root, tmp_path):
    archive = tmp_path / "bochum.tar.gz"
    backup.export_tenant(None, city.slug, archive)
    tampered = tmp_path / "tampered.tar.gz"
    folder = tmp_path / "unpacked"
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(folder, filter="data")
    with (folder / "schema/registrations_district.csv").open("a") as handle:
        handle.write("999,Erfundener Bezirk,erfunden,,\n")
    with tarfile.open(tampered, "w:gz") as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=path.name)
    tenants_before = Tenant.objects.count()
    with pytest.raises(backup.BackupError, match="registrations_district.csv"):
        backup.import_tenant(None, tampered, slug="bochum-falsch")
    assert Tenant.objects.count() == tenants_before
    assert not schema_exists("bochum_falsch")
    assert not (media_root / "bochum_falsch").exists()


def test_a_failing_import_rolls_back_the_tenant_its_schema_and_its_files(
    city, media_root, tmp_path
):
    upload = media_root / city.schema_name / "logo.png"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"\x89PNG")
    archive = tmp_path / "bochum.tar.gz"
    backup.export_tenant(None, city.slug, archive)
    broken = tmp_path / "broken.tar.gz"

    def drop_a_column(folder, manifest):
        facility = next(t for t in manifest["tables"] if t["name"] == "registrations_facility")
        facility["columns"].append({"name": "does_not_exist", "type": "text"})

    rewrite_archive(archive, broken, drop_a_column)
    with pytest.raises(backup.BackupError, match="does_not_exist"):
        backup.import_tenant(None, broken, slug="bochum-kaputt")
    assert not Tenant.objects.filter(slug="bochum-kaputt").exists()
    assert not schema_exists("bochum_kaputt")
    assert [p.name for p in media_root.iterdir()] == [city.schema_name], "no staged files left"


def test_an_archive_from_a_newer_release_is_refused(city, tmp_path):
    archive = tmp_path / "bochum.tar.gz"
    backup.export_tenant(None, city.slug, archive)
    future = tmp_path / "future.tar.gz"
    rewrite_archive(
        archive,
        future,
        lambda folder, manifest: manifest["migrations"].append(["registrations", "9999_future"]),
    )
    with pytest.raises(backup.BackupError, match="registrations.9999_future"):
        backup.import_tenant(None, future, slug="bochum-zukunft")
    assert not schema_exists("bochum_zukunft")


def test_an_archive_from_an_older_release_is_migrated_forward(
    employer, media_root, tmp_path, django_capture_on_commit_callbacks
):
    archive = tmp_path / "rathauskids.tar.gz"
    backup.export_tenant(None, employer.slug, archive)
    older = tmp_path / "older.tar.gz"
    missing = ["tenants", "0002_tenant_type_platform"]

    def as_before_the_migration(folder, manifest):
        manifest["migrations"].remove(missing)
        path = folder / "schema/django_migrations.csv"
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(line for line in lines if ",tenants,0002_" not in line))

    rewrite_archive(archive, older, as_before_the_migration)
    with django_capture_on_commit_callbacks(execute=True):
        report = backup.import_tenant(None, older, slug="rathauskids-alt")
    assert report.migrated_forward == ["tenants.0002_tenant_type_platform"]
    original = table_contents(employer.schema_name)
    restored = table_contents(report.tenant.schema_name)
    assert set(restored) == set(original)
    for table in set(original) - {"django_migrations", "django_session"}:
        assert restored[table] == original[table], table
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT count(*) FROM "rathauskids_alt".django_migrations '
            "WHERE app = 'tenants' AND name = '0002_tenant_type_platform'"
        )
        assert cursor.fetchone()[0] == 1


def test_an_import_cannot_take_a_slug_that_is_in_use(city, tmp_path):
    archive = tmp_path / "bochum.tar.gz"
    backup.export_tenant(None, city.slug, archive)
    with pytest.raises(ProvisioningError, match="bereits vergeben"):
        backup.import_tenant(None, archive)


def test_the_cli_exports_and_imports(employer, media_root, tmp_path, capsys):
    archive = tmp_path / "export.tar.gz"
    call_command("tenants", "export", employer.slug, "--out", str(archive))
    assert "Exportiert: rathauskids" in capsys.readouterr().out
    call_command("tenants", "import", str(archive), "--slug", "rathauskids-2", "--name", "Kopie")
    out = capsys.readouterr().out
    assert "Importiert: Kopie (employer) → http://rathauskids-2.localhost:8000/" in out
    assert Tenant.objects.get(slug="rathauskids-2").name == "Kopie"


def test_every_public_model_that_points_at_a_tenant_is_in_the_export():
    pointing = {
        model._meta.db_table
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if getattr(field, "many_to_one", False) or getattr(field, "one_to_one", False)
        if field.related_model is Tenant and field.concrete
    }
    assert "tenants_domain" in pointing
    assert pointing <= set(backup.PUBLIC_EXPORTS) | set(backup.PUBLIC_NOT_EXPORTED)
    assert not set(backup.PUBLIC_EXPORTS) & set(backup.PUBLIC_NOT_EXPORTED)


def test_the_command_line_export_reads_one_consistent_snapshot(city, tmp_path):
    """Outside a transaction the export opens its own read-only REPEATABLE READ snapshot."""
    import os
    import subprocess
    import sys

    from tests.worker import database_url

    archive = tmp_path / "bochum-cli.tar.gz"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))},
        "DJANGO_SETTINGS_MODULE": "kitaportal.settings.test",
        "DATABASE_URL": database_url(),
    }
    result = subprocess.run(
        [sys.executable, "-m", "kitaportal.cli", "tenants", "export", "bochum", "--out", archive],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    manifest = manifest_of(archive)
    facility = next(t for t in manifest["tables"] if t["name"] == "registrations_facility")
    assert facility["rows"] == 190
