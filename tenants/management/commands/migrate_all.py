"""`kitaportal migrate`: shared schema, platform tenant, templates, then the fast rollout."""

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from tenants import blueprint, rollout, services


class Command(BaseCommand):
    help = "Migrate the public schema, create the tenant templates and roll out to all tenants."

    def handle(self, *args, **options):
        verbosity = options["verbosity"]
        call_command(
            "migrate_schemas", shared=True, interactive=False, verbosity=max(verbosity - 1, 0)
        )
        connection.set_schema_to_public()
        services.ensure_public_tenant()
        services.ensure_templates(verbosity=max(verbosity - 1, 0))
        report = rollout.rollout(stdout=self.stdout if verbosity > 1 else None)
        self.stdout.write(
            f"Rollout: {report.schemas} Schemas geprüft, {len(report.migrated)} migriert "
            f"in {report.seconds:.2f} s."
        )
        for template in rollout.template_schemas().values():
            blueprint.blueprint_for(template)  # compiled once here, not by the first sign-up
        if report.failed:
            for schema, error in report.failed.items():
                self.stderr.write(f"{schema}: {error}")
            raise CommandError(f"{len(report.failed)} Schema(s) konnten nicht migriert werden.")
