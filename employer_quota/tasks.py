"""Employer tasks: survey invitations (ids only; run in the employer's schema)."""

from django.db import connection
from kitaportal.celery import app

from . import surveys


@app.task(bind=True, max_retries=3, default_retry_delay=30)
def send_survey_invitations(self, survey_id: int) -> dict:
    tenant = getattr(connection, "tenant", None)
    base_url = tenant.portal_url if tenant is not None and hasattr(tenant, "portal_url") else "/"
    return surveys.send_invitations(survey_id, base_url)
