from django.conf import settings
from django.core.management.base import BaseCommand

from tenants.demo import DEMO_PASSWORD, load_demo


class Command(BaseCommand):
    help = "Demo-Mandanten anlegen und befüllen (idempotent) / load the demo tenants."

    def handle(self, *args, **options):
        rows = load_demo()
        port = f":{settings.PORTAL_PORT}" if settings.PORTAL_PORT else ""
        self.stdout.write("\nKitaportal-Demo / demo portals:\n")
        for row in rows:
            url = row["url"] or f"{settings.PORTAL_SCHEME}://{settings.BASE_DOMAIN}{port}/admin/"
            figures = ", ".join(f"{k}={v}" for k, v in (row.get("figures") or {}).items())
            self.stdout.write(f"  {row['name']:<40} {url}  {figures}")
            for email, role in row["logins"]:
                self.stdout.write(f"      Login ({role}): {email} / {DEMO_PASSWORD}")
        self.stdout.write("")
