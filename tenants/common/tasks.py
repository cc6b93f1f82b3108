"""Outbox tasks. They take ids, are idempotent, and run in the schema that queued them."""

from django_tenants.utils import get_tenant_model, tenant_context
from kitaportal.celery import app

from . import services


@app.task(bind=True, max_retries=5, default_retry_delay=30)
def deliver_outbox_message(self, message_id: int) -> str:
    result = services.deliver_message(message_id)
    if result == "failed":
        raise self.retry()
    return result


@app.task
def flush_outbox() -> int:
    """Periodic: send what a down broker held back, and purge old delivered mail, per tenant."""
    sent = 0
    tenants = get_tenant_model().objects.filter(is_active=True, is_template=False)
    for tenant in tenants.exclude(schema_name="public"):
        with tenant_context(tenant):
            for message_id in services.pending_message_ids():
                if services.deliver_message(message_id) == "sent":
                    sent += 1
            services.purge_delivered_messages()
    return sent
