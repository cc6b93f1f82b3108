"""Periodic upkeep of eligibilities: in a municipality's schema for that municipality; in the
public schema (plain beat) for every active municipality."""

from django.db import connection
from django_tenants.utils import get_tenant_model, tenant_context
from kitaportal.celery import app

from . import services


@app.task
def sync_employer_eligibilities() -> dict:
    if getattr(connection.tenant, "type", "") == "municipality":
        return services.sync_eligibilities()
    if connection.schema_name != "public":
        return {}
    totals: dict[str, int] = {}
    municipalities = get_tenant_model().objects.filter(
        type="municipality", is_active=True, is_template=False
    )
    for tenant in municipalities:
        with tenant_context(tenant):
            for key, value in services.sync_eligibilities().items():
                totals[key] = totals.get(key, 0) + value
    return totals
