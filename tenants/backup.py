"""Per-tenant backup and restore: one archive with everything of one tenant.

`export_tenant` writes a gzip'd tar archive in a documented, portable format (also the
municipality's DSGVO takeout and exit path; platform/docs/operations.md describes it):

    manifest.json                       format, tenant, migration state, tables, checksums
    schema/<table>.csv                  every table of the tenant's schema
    public/tenants_domain.csv           the tenant's host names (public schema)
    public/tenant_common_auditentry.csv the platform's audit entries about the tenant
    media/<path>                        the tenant's files (MEDIA_ROOT/<schema>/)

Each CSV is PostgreSQL's COPY CSV format: UTF-8, a header row, NULL as an empty unquoted field
(an empty string is ""), timestamps in ISO 8601 in UTC, arrays as PostgreSQL array literals,
JSON as JSON text, rows ordered by primary key. Login sessions (`django_session`) are left out.

`import_tenant` provisions a new tenant from its type's template (same or new slug), replaces
the template rows by the archive's, table by table in foreign-key order, resets the sequences,
and copies the media files, all in one transaction: a broken or tampered archive changes
nothing. An archive made at an older migration state is loaded into a schema migrated to that
state and then brought forward by the rollout; one from a newer release is refused.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone
from django.utils.translation import gettext as _
from psycopg import IsolationLevel

from tenants import rollout, services
from tenants.common.services import record_audit

from .models import Domain, Tenant

FORMAT = "kitaportal-tenant-export"
FORMAT_VERSION = 1
# Not data: a restored tenant's users sign in again.
EXCLUDED_TABLES = frozenset({"django_session"})
# Public-schema tables holding rows of one tenant, and how those rows are found.
# (tests/tenants/test_backup.py checks that every public model pointing at a tenant is here.)
PUBLIC_EXPORTS = {
    "tenants_domain": "tenant_id = {tenant_id:d}",
    "tenant_common_auditentry": "object_type = 'tenants.tenant' AND object_id = '{tenant_id:d}'",
}
# Public-schema tables that point at a tenant but are NOT part of its export, with the reason.
PUBLIC_NOT_EXPORTED = {
    # The platform operator's billing records (contract, states, invoices, Stripe event ids,
    # sign-up, support approvals): kept by the platform for the statutory period (§ 147 AO)
    # and never moved with a tenant; an imported tenant gets a subscription of its own.
    "billing_signupapplication": "platform billing record",
    "billing_subscription": "platform billing record",
    "billing_webhookevent": "platform billing record",
    "billing_billingevent": "platform billing record",
    "billing_invoice": "platform billing record",
    "billing_supportaccessgrant": "platform billing record",
    # What binds an employer to a municipality (issue 5): rows name BOTH tenants (and ids inside
    # the other's schema), so they cannot move with one of them; kept by the platform (agreements
    # 10 years for accounting) and set up again by both sides after a move.
    "employer_agreements_agreement": "binds two tenants",
    "employer_agreements_eligibilitycode": "binds two tenants",
    "employer_agreements_placerequest": "binds two tenants",
    "employer_agreements_companydaycarelisting": "binds two tenants",
}
# Session settings that make COPY's text output exact and the same on every server.
COPY_SETTINGS = (
    "SET LOCAL TimeZone = 'UTC'",
    "SET LOCAL DateStyle = 'ISO, YMD'",
    "SET LOCAL IntervalStyle = 'iso_8601'",
    "SET LOCAL extra_float_digits = 1",
    "SET LOCAL bytea_output = 'hex'",
)


class BackupError(ValueError):
    """The export or import cannot be done; the message says why, for the operator."""


@dataclass
class ExportReport:
    slug: str
    path: Path
    tables: int = 0
    rows: int = 0
    media_files: int = 0
    bytes: int = 0
    seconds: float = 0.0


@dataclass
class ImportReport:
    tenant: Tenant
    tables: int = 0
    rows: int = 0
    media_files: int = 0
    migrated_forward: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def media_root_of(schema_name: str) -> Path:
    """Where a tenant's files live (django-tenants' TenantFileSystemStorage layout)."""
    return Path(settings.MEDIA_ROOT) / schema_name


# --- Reading a schema -----------------------------------------------------------------------


def schema_tables(cursor, schema: str) -> dict[str, dict]:
    """Every table of a schema: its columns (name, type; generated columns left out) and its
    primary key. Two queries."""
    cursor.execute(
        """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND a.attgenerated = ''
        ORDER BY c.relname, a.attnum
        """,
        [schema],
    )
    tables: dict[str, dict] = {}
    for table, column, column_type in cursor.fetchall():
        tables.setdefault(table, {"columns": [], "primary_key": []})["columns"].append(
            {"name": column, "type": column_type}
        )
    cursor.execute(
        """
        SELECT c.relname, a.attname
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position) ON true
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
        WHERE n.nspname = %s AND i.indisprimary
        ORDER BY c.relname, k.position
        """,
        [schema],
    )
    for table, column in cursor.fetchall():
        if table in tables:
            tables[table]["primary_key"].append(column)
    return tables


def foreign_key_order(cursor, schema: str, tables: list[str]) -> list[str]:
    """The tables ordered so that each comes after the tables it references (within the
    schema). Self-references and cycles are left to deferred constraint checks."""
    cursor.execute(
        """
        SELECT c.relname, r.relname
        FROM pg_constraint con
        JOIN pg_class c ON c.oid = con.conrelid
        JOIN pg_class r ON r.oid = con.confrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_namespace rn ON rn.oid = r.relnamespace
        WHERE con.contype = 'f' AND n.nspname = %s AND rn.nspname = %s
        """,
        [schema, schema],
    )
    depends: dict[str, set[str]] = {table: set() for table in tables}
    for table, referenced in cursor.fetchall():
        if table in depends and referenced in depends and referenced != table:
            depends[table].add(referenced)
    ordered: list[str] = []
    while depends:
        ready = sorted(t for t, needs in depends.items() if not needs - set(ordered))
        if not ready:  # a cycle: the rest in name order, checked at commit (deferred FKs)
            ready = sorted(depends)
        for table in ready:
            ordered.append(table)
            del depends[table]
    return ordered


def _copy_out(cursor, query: str, target: Path) -> int:
    """COPY (query) TO a CSV file with a header; returns the number of rows."""
    with target.open("wb") as handle:
        with cursor.cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
            for chunk in copy:
                handle.write(chunk)
    return max(cursor.cursor.rowcount, 0)


# --- Export ---------------------------------------------------------------------------------


def export_tenant(actor, slug: str, out: Path | str) -> ExportReport:
    """Write one tenant's schema, public rows and media files to `out` (.tar.gz).

    The rows come from one consistent snapshot (a REPEATABLE READ, read-only transaction, or
    the caller's transaction if there is one). The archive appears only when complete."""
    started = time.perf_counter()
    out = Path(out)
    connection.set_schema_to_public()
    tenant = (
        Tenant.objects.filter(slug=slug, is_template=False).exclude(schema_name="public").first()
    )
    if tenant is None:
        raise BackupError(_("Es gibt keinen Mandanten „%(slug)s“.") % {"slug": slug})
    report = ExportReport(slug=slug, path=out)
    with tempfile.TemporaryDirectory(prefix="kitaportal-export-") as work_dir:
        work = Path(work_dir)
        manifest = _write_snapshot(tenant, work, report)
        manifest["media"] = _copy_media(tenant.schema_name, work / "media", report)
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.{uuid.uuid4().hex}.part")
        try:
            with tarfile.open(partial, "w:gz") as archive:
                archive.add(work / "manifest.json", arcname="manifest.json")
                for folder in ("schema", "public", "media"):
                    if (work / folder).exists():
                        archive.add(work / folder, arcname=folder)
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
    report.bytes = out.stat().st_size
    report.seconds = time.perf_counter() - started
    record_audit(
        actor,
        "tenant.exported",
        tenant,
        tables=report.tables,
        rows=report.rows,
        media_files=report.media_files,
    )
    return report


def _snapshot_isolation():
    """Outside any transaction, make the next one REPEATABLE READ and read-only; returns a
    function that restores the connection."""
    if connection.in_atomic_block:
        return lambda: None
    connection.ensure_connection()
    raw = connection.connection
    previous = (raw.isolation_level, raw.read_only)
    raw.isolation_level, raw.read_only = IsolationLevel.REPEATABLE_READ, True

    def restore():
        raw.isolation_level, raw.read_only = previous

    return restore


def _write_snapshot(tenant: Tenant, work: Path, report: ExportReport) -> dict:
    schema = tenant.schema_name
    (work / "schema").mkdir()
    (work / "public").mkdir()
    restore = _snapshot_isolation()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in COPY_SETTINGS:
                cursor.execute(statement)
            tables = schema_tables(cursor, schema)
            if "django_migrations" not in tables:
                raise BackupError(
                    _("Das Schema von „%(slug)s“ fehlt oder ist unvollständig.")
                    % {"slug": tenant.slug}
                )
            cursor.execute(f"SELECT app, name FROM {_quote(schema)}.django_migrations")
            migrations = sorted({(app, name) for app, name in cursor.fetchall()})
            table_entries = []
            for table in sorted(set(tables) - EXCLUDED_TABLES):
                info = tables[table]
                columns = ", ".join(_quote(c["name"]) for c in info["columns"])
                order = ", ".join(_quote(c) for c in info["primary_key"]) or "1"
                target = work / "schema" / f"{table}.csv"
                rows = _copy_out(
                    cursor,
                    f"SELECT {columns} FROM {_quote(schema)}.{_quote(table)} ORDER BY {order}",
                    target,
                )
                table_entries.append(
                    {
                        "name": table,
                        "file": f"schema/{table}.csv",
                        "rows": rows,
                        "sha256": _sha256(target),
                        "columns": info["columns"],
                        "primary_key": info["primary_key"],
                    }
                )
                report.tables += 1
                report.rows += rows
            public_entries = []
            for table, condition in PUBLIC_EXPORTS.items():
                target = work / "public" / f"{table}.csv"
                where = condition.format(tenant_id=int(tenant.pk))
                rows = _copy_out(
                    cursor,
                    f"SELECT * FROM public.{_quote(table)} WHERE {where} ORDER BY id",
                    target,
                )
                public_entries.append(
                    {
                        "name": table,
                        "file": f"public/{table}.csv",
                        "rows": rows,
                        "sha256": _sha256(target),
                    }
                )
    finally:
        restore()
        connection.set_schema_to_public()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": timezone.now().isoformat(),
        "source": {"base_domain": settings.BASE_DOMAIN},
        "tenant": {
            "slug": tenant.slug,
            "name": tenant.name,
            "type": tenant.type,
            "schema_name": schema,
            "is_active": tenant.is_active,
            "created_at": tenant.created_at.isoformat(),
        },
        "migrations": [list(key) for key in migrations],
        "tables": table_entries,
        "excluded_tables": sorted(EXCLUDED_TABLES & set(tables)),
        "public": public_entries,
    }


def _copy_media(schema: str, target: Path, report: ExportReport) -> list[dict]:
    source = media_root_of(schema)
    entries = []
    if not source.is_dir():
        return entries
    for path in sorted(p for p in source.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = path.relative_to(source).as_posix()
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
        entries.append(
            {"path": relative, "bytes": path.stat().st_size, "sha256": _sha256(destination)}
        )
        report.media_files += 1
    return entries


# --- Import ---------------------------------------------------------------------------------


def read_archive(archive: Path | str, work: Path) -> dict:
    """Unpack an archive into `work`, check its format and every checksum; return the
    manifest. Only regular files at known places are taken."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(work, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(_("Das Archiv ist nicht lesbar: %(error)s") % {"error": exc}) from exc
    try:
        manifest = json.loads((work / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(_("Das Archiv enthält kein gültiges manifest.json.")) from exc
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            _("Unbekanntes Archivformat %(format)s %(version)s.")
            % {"format": manifest.get("format"), "version": manifest.get("format_version")}
        )
    for entry in [*manifest["tables"], *manifest["public"]]:
        _check_file(work, entry["file"], entry["sha256"])
    for entry in manifest["media"]:
        _check_file(work, f"media/{entry['path']}", entry["sha256"])
    return manifest


def _check_file(work: Path, relative: str, sha256: str) -> None:
    path = (work / relative).resolve()
    if work.resolve() not in path.parents or not path.is_file() or _sha256(path) != sha256:
        raise BackupError(
            _("Die Datei %(file)s im Archiv fehlt oder ist verändert.") % {"file": relative}
        )


def import_tenant(
    actor, archive: Path | str, *, slug: str | None = None, name: str | None = None
) -> ImportReport:
    """Create a tenant from an export archive, under its own or a new slug. All or nothing."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kitaportal-import-") as work_dir:
        work = Path(work_dir)
        manifest = read_archive(archive, work)
        source = manifest["tenant"]
        slug = slug or source["slug"]
        tenant_type = source["type"]
        loader = MigrationLoader(None, ignore_no_migrations=True)
        exported = {tuple(key) for key in manifest["migrations"]}
        newer = sorted(exported - set(loader.graph.nodes) - _replaced(loader))
        if newer:
            raise BackupError(
                _(
                    "Das Archiv stammt aus einer neueren Version (unbekannte Migrationen: "
                    "%(migrations)s). Bitte mit dieser oder einer neueren Version importieren."
                )
                % {"migrations": ", ".join(f"{a}.{m}" for a, m in newer[:5])}
            )
        services.validate_new_tenant(tenant_type, slug, name or source["name"])
        final_media = media_root_of(services.schema_name_for(slug))
        if final_media.exists():
            raise BackupError(
                _("Für „%(slug)s“ gibt es schon Dateien unter %(path)s.")
                % {"slug": slug, "path": final_media}
            )
        staged = _stage_media(work, manifest, final_media)
        connection.set_schema_to_public()
        try:
            with transaction.atomic():
                report = _restore(actor, manifest, work, slug, name, loader, exported)
                if staged is not None:
                    transaction.on_commit(lambda: staged.replace(final_media))
        except BaseException:
            if staged is not None:
                shutil.rmtree(staged, ignore_errors=True)
            raise
        finally:
            connection.set_schema_to_public()
    report.seconds = time.perf_counter() - started
    return report


def _replaced(loader: MigrationLoader) -> set[tuple[str, str]]:
    """Migrations a squashed migration on disk replaces (an archive may still list them)."""
    return {key for migration in loader.replacements.values() for key in migration.replaces}


def _restore(actor, manifest, work, slug, name, loader, exported):
    source = manifest["tenant"]
    needed = rollout.needed_migrations(loader)
    older = {key for key in needed if key not in exported} - _squashed_by(loader, exported)
    if older:
        tenant = _provision_at(
            actor, source["type"], slug, name or source["name"], loader, exported
        )
    else:
        tenant = services.provision_tenant(
            actor, tenant_type=source["type"], slug=slug, name=name or source["name"]
        )
    report = ImportReport(tenant=tenant)
    schema = tenant.schema_name
    with connection.cursor() as cursor:
        for statement in COPY_SETTINGS:
            cursor.execute(statement)
        tables = schema_tables(cursor, schema)
        archived = {entry["name"]: entry for entry in manifest["tables"]}
        unknown = sorted(set(archived) - set(tables))
        if unknown:
            raise BackupError(
                _("Das Archiv enthält Tabellen, die es hier nicht gibt: %(tables)s")
                % {"tables": ", ".join(unknown)}
            )
        for table, entry in archived.items():
            here = {c["name"] for c in tables[table]["columns"]}
            missing = [c["name"] for c in entry["columns"] if c["name"] not in here]
            if missing:
                raise BackupError(
                    _("Spalten von %(table)s fehlen hier: %(columns)s")
                    % {"table": table, "columns": ", ".join(missing)}
                )
        # The clone brought the template's rows (migrations, content types, permissions):
        # the archive's replace them.
        cursor.execute(
            "TRUNCATE " + ", ".join(f"{_quote(schema)}.{_quote(t)}" for t in sorted(tables))
        )
        for table in foreign_key_order(cursor, schema, sorted(archived)):
            entry = archived[table]
            columns = ", ".join(_quote(c["name"]) for c in entry["columns"])
            with (work / entry["file"]).open("rb") as handle:
                with cursor.cursor.copy(
                    f"COPY {_quote(schema)}.{_quote(table)} ({columns}) "
                    "FROM STDIN WITH (FORMAT csv, HEADER true)"
                ) as copy:
                    while chunk := handle.read(1 << 20):
                        copy.write(chunk)
            report.tables += 1
            report.rows += entry["rows"]
        reset_sequences(cursor, schema)
    if older:
        result = rollout.rollout([schema])
        if not result.ok:
            raise BackupError(
                _("Das Schema ließ sich nicht auf den aktuellen Stand bringen: %(error)s")
                % {"error": "; ".join(result.failed.values())}
            )
        report.migrated_forward = sorted(f"{a}.{m}" for a, m in older)
    record_audit(
        actor,
        "tenant.imported",
        tenant,
        source_slug=source["slug"],
        tables=report.tables,
        rows=report.rows,
        media_files=len(manifest["media"]),
    )
    report.media_files = len(manifest["media"])
    return report


def _squashed_by(loader: MigrationLoader, exported: set) -> set[tuple[str, str]]:
    """Squashed migrations counted as applied because everything they replace is."""
    return {
        key
        for key, migration in loader.replacements.items()
        if all(replaced in exported for replaced in migration.replaces)
    }


def _provision_at(actor, tenant_type: str, slug: str, name: str, loader, exported) -> Tenant:
    """A tenant whose schema is migrated to the archive's (older) state instead of cloned."""
    tenant_type, slug, name = services.validate_new_tenant(tenant_type, slug, name)
    tenant = Tenant(
        schema_name=services.schema_name_for(slug), slug=slug, name=name, type=tenant_type
    )
    tenant.save()
    Domain.objects.create(domain=tenant.hostname, tenant=tenant, is_primary=True)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {_quote(tenant.schema_name)}")
    connection.set_tenant(tenant)
    executor = MigrationExecutor(connection)
    # Per app, the archive's latest migration: migrating to these rebuilds the archive's state.
    by_app: dict[str, list] = {}
    for key in exported & set(loader.graph.nodes):
        by_app.setdefault(key[0], []).append(key)
    state = [
        max(keys, key=lambda node: len(loader.graph.forwards_plan(node)))
        for keys in by_app.values()
    ]
    executor.migrate(targets=state)
    connection.set_schema_to_public()
    record_audit(actor, "tenant.provisioned", tenant, tenant_type=tenant_type)
    return tenant


def reset_sequences(cursor, schema: str) -> int:
    """Point every sequence owned by a column of the schema past the column's largest value."""
    cursor.execute(
        """
        SELECT c.relname, a.attname,
               pg_get_serial_sequence(format('%%I.%%I', n.nspname, c.relname), a.attname)
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
        """,
        [schema],
    )
    owned = [(t, c, seq) for t, c, seq in cursor.fetchall() if seq]
    for table, column, sequence in owned:
        cursor.execute(
            f"SELECT setval(%s, COALESCE(max({_quote(column)}), 1), max({_quote(column)}) "
            f"IS NOT NULL) FROM {_quote(schema)}.{_quote(table)}",
            [sequence],
        )
    return len(owned)


def _stage_media(work: Path, manifest: dict, final: Path) -> Path | None:
    """Copy the archive's media next to their final place (moved there on commit)."""
    if not manifest["media"]:
        return None
    final.parent.mkdir(parents=True, exist_ok=True)
    staged = final.with_name(f".{final.name}.importing-{uuid.uuid4().hex}")
    shutil.copytree(work / "media", staged)
    return staged
