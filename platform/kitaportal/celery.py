"""The Celery app. Tasks run in the schema of the tenant that queued them.

tenant-schemas-celery's CeleryApp stores the schema in the message headers and switches to it
before the task runs.
"""

import os

from celery.signals import task_prerun
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kitaportal.settings.dev")

app = CeleryApp("kitaportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(
    [
        "tenants.common",
        "billing",
        "registrations",
        "employer_quota",
        "employer_quota.agreements",
        "employer_quota.municipal",
    ]
)


@task_prerun.connect
def tag_task_with_tenant(task=None, **kwargs) -> None:
    """Sentry tag for the tenant a task runs for (tenant-schemas-celery switched the schema)."""
    from django.db import connection

    from integrations.sentry import set_tenant_tag

    tenant = getattr(connection, "tenant", None)
    set_tenant_tag(getattr(tenant, "slug", "platform"), getattr(tenant, "type", "public"))
