"""`kitaportal tenants create|list|deactivate|export|import`: the tenant CLI. Parses input,
calls services."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tenants import backup, services
from tenants.models import NEW_TENANT_TYPES


class Command(BaseCommand):
    help = "Mandanten anlegen, auflisten, deaktivieren / create, list and deactivate tenants."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Mandanten anlegen")
        create.add_argument(
            "--type", required=True, dest="tenant_type", help=", ".join(NEW_TENANT_TYPES)
        )
        create.add_argument("--slug", required=True)
        create.add_argument("--name", required=True)
        listing = sub.add_parser("list", help="Mandanten auflisten")
        listing.add_argument("--active", action="store_true", help="nur aktive")
        deactivate = sub.add_parser("deactivate", help="Mandanten deaktivieren")
        deactivate.add_argument("slug")
        export = sub.add_parser("export", help="Mandanten in ein Archiv exportieren")
        export.add_argument("slug")
        export.add_argument("--out", help="Archivdatei (Vorgabe: <slug>-<Datum>.tar.gz)")
        restore = sub.add_parser("import", help="Mandanten aus einem Archiv anlegen")
        restore.add_argument("archive")
        restore.add_argument("--slug", help="neuer Kurzname (Vorgabe: der im Archiv)")
        restore.add_argument("--name", help="neuer Name (Vorgabe: der im Archiv)")

    def handle(self, *args, action, **options):
        try:
            if action == "create":
                tenant = services.provision_tenant(
                    None,
                    tenant_type=options["tenant_type"],
                    slug=options["slug"],
                    name=options["name"],
                )
                self.stdout.write(
                    self.style.SUCCESS(
                        f"Angelegt: {tenant.name} ({tenant.type}) → {tenant.portal_url}"
                    )
                )
            elif action == "list":
                for tenant in services.list_tenants(include_inactive=not options["active"]):
                    state = "aktiv" if tenant.is_active else "deaktiviert"
                    self.stdout.write(
                        f"{tenant.slug:<24} {tenant.type:<13} {state:<12} "
                        f"{tenant.name}  {tenant.portal_url}"
                    )
            elif action == "deactivate":
                tenant = services.deactivate_tenant(None, options["slug"])
                self.stdout.write(self.style.SUCCESS(f"Deaktiviert: {tenant.name}"))
            elif action == "export":
                self.export(options["slug"], options["out"])
            elif action == "import":
                self.restore(options["archive"], options["slug"], options["name"])
        except (services.ProvisioningError, backup.BackupError) as exc:
            raise CommandError(str(exc)) from exc

    def export(self, slug: str, out: str | None) -> None:
        path = Path(out or f"{slug}-{timezone.now():%Y%m%d-%H%M%S}.tar.gz")
        report = backup.export_tenant(None, slug, path)
        self.stdout.write(
            self.style.SUCCESS(
                f"Exportiert: {slug} → {report.path} ({report.tables} Tabellen, "
                f"{report.rows} Zeilen, {report.media_files} Dateien, "
                f"{report.bytes / 1e6:.1f} MB, {report.seconds:.1f} s)"
            )
        )

    def restore(self, archive: str, slug: str | None, name: str | None) -> None:
        report = backup.import_tenant(None, archive, slug=slug, name=name)
        forward = (
            f", nachmigriert: {', '.join(report.migrated_forward)}"
            if report.migrated_forward
            else ""
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Importiert: {report.tenant.name} ({report.tenant.type}) → "
                f"{report.tenant.portal_url} ({report.tables} Tabellen, {report.rows} Zeilen, "
                f"{report.media_files} Dateien, {report.seconds:.1f} s{forward})"
            )
        )
