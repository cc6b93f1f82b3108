"""The Celery app. Tasks run in the schema of the tenant that queued them (tenant-schemas-celery)."""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kitaportal.settings.dev")

app = CeleryApp("kitaportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["tenants.common", "registrations", "employer_quota"])
