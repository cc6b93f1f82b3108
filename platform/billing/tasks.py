"""Billing tasks. They take ids, are idempotent and run in the public schema."""

from django.db import connection
from kitaportal.celery import app

from . import services


@app.task(bind=True, max_retries=5, default_retry_delay=5)
def provision_signup(self, application_id: str) -> str:
    """Provision a confirmed sign-up; a failed attempt left nothing and is retried."""
    connection.set_schema_to_public()
    try:
        application = services.provision_signup(application_id)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=5 * (self.request.retries + 1)) from exc
    return application.status


@app.task
def retry_stuck_signups() -> int:
    if connection.schema_name != "public":  # fanned out per tenant: only the platform acts
        return 0
    return services.retry_stuck_signups()


@app.task
def housekeeping() -> dict:
    if connection.schema_name != "public":
        return {}
    return {
        "stale_applications": services.purge_stale_applications(),
        "purged_tenants": services.purge_expired_tenants(),
    }
