"""Upkeep of what binds employers and municipalities: releases under the release rule, purge
of old codes and attempts. Run in the public schema (plain beat) it covers every municipality;
fanned out per tenant (TenantAwareScheduler) each municipality covers its own agreements."""

from django.db import connection
from kitaportal.celery import app

from . import services


@app.task
def apply_agreement_releases() -> int:
    tenant = getattr(connection, "tenant", None)
    if connection.schema_name == "public":
        released = services.apply_releases()
    elif getattr(tenant, "type", "") == "municipality":
        released = services.apply_releases(municipality=tenant)
    else:
        return 0
    services.purge_expired()
    return len(released)
