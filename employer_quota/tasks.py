"""Employer tasks: survey invitations (ids only; run in the employer's schema)."""

from django.db import connection
from kitaportal.celery import app

from . import surveys


@app.task(bind=True, max_retries=3, default_retry_delay=30)
def send_survey_invitations(self, survey_id: int) -> dict:
    tenant = getattr(connection, "tenant", None)
    base_url = tenant.portal_url if tenant is not None and hasattr(tenant, "portal_url") else "/"
    return surveys.send_invitations(survey_id, base_url)


@app.task
def employer_housekeeping() -> int:
    """Company daycare: expire unanswered offers, purge closed applications. In an employer's
    schema for that employer; in the public schema (plain beat) for every active employer."""
    from django_tenants.utils import get_tenant_model, tenant_context

    from . import daycare

    def run() -> int:
        return daycare.expire_offers() + daycare.purge_expired()

    if getattr(connection.tenant, "type", "") == "employer":
        return run()
    if connection.schema_name != "public":
        return 0
    done = 0
    employers = get_tenant_model().objects.filter(
        type="employer", is_active=True, is_template=False
    )
    for tenant in employers:
        with tenant_context(tenant):
            done += run()
    return done
