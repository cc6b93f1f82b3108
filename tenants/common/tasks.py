"""Outbox tasks. They take ids, are idempotent, and run in the schema that queued them."""

from django.db import connection
from django_tenants.utils import get_tenant_model, tenant_context
from kitaportal.celery import app

from . import services


@app.task(bind=True, max_retries=5, default_retry_delay=30)
def deliver_outbox_message(self, message_id: int) -> str:
    result = services.deliver_message(message_id)
    if result == "failed":
        raise self.retry()
    return result


def _flush_current_schema() -> int:
    sent = 0
    for message_id in services.pending_message_ids():
        if services.deliver_message(message_id) == "sent":
            sent += 1
    services.purge_delivered_messages()
    return sent


@app.task
def flush_outbox() -> int:
    """Periodic: send what a down broker held back, and purge old delivered mail.

    Run in a tenant's schema (tenant-schemas-celery's TenantAwareScheduler fans the beat entry
    out once per tenant), it flushes that tenant only; run in the public schema (plain beat),
    it walks every active tenant once. Either way each outbox is read once per period.
    """
    if connection.schema_name != "public":
        return _flush_current_schema()
    sent = 0
    tenants = get_tenant_model().objects.filter(is_active=True, is_template=False)
    for tenant in tenants.exclude(schema_name="public"):
        with tenant_context(tenant):
            sent += _flush_current_schema()
    return sent
