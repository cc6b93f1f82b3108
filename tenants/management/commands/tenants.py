"""`kitaportal tenants create|list|deactivate`: the tenant CLI. Parses input, calls services."""

from django.core.management.base import BaseCommand, CommandError

from tenants import services
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
        except services.ProvisioningError as exc:
            raise CommandError(str(exc)) from exc
