"""A real worker runs each task in the schema of the tenant that queued it."""

from email import message_from_bytes
from pathlib import Path

import pytest
from django.db import connection, transaction
from django_tenants.utils import tenant_context

from tenants.common import services as outbox
from tenants.common.models import OutboxMessage
from tests.worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.tenancy]


@pytest.fixture
def committed(tenant_registry, django_db_blocker):
    """Data that is really committed, so another process (the worker) can see it."""
    with django_db_blocker.unblock():
        created = []
        yield created
        for tenant, pk in created:
            with tenant_context(tenant):
                OutboxMessage.objects.filter(pk=pk).delete()
        connection.set_schema_to_public()


def statuses(tenant, pks):
    with tenant_context(tenant):
        return set(OutboxMessage.objects.filter(pk__in=pks).values_list("status", flat=True))


def test_tasks_queued_from_bochum_and_dueren_each_write_into_their_own_schema(
    tenant_registry, committed, tmp_path
):
    city, other_city = tenant_registry["city"], tenant_registry["other_city"]
    queued = {}
    for tenant in (city, other_city, other_city):
        with tenant_context(tenant), transaction.atomic():
            message = outbox.queue_email(
                to=["familie@example.org"], subject=f"Eingang {tenant.slug}", text="Hallo"
            )
        queued.setdefault(tenant.slug, []).append(message.pk)
        committed.append((tenant, message.pk))
    mail_dir = tmp_path / "mail"
    with celery_worker(
        {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(mail_dir),
        }
    ) as worker:
        done = wait_for(
            lambda: (
                statuses(city, queued["bochum"]) == {"sent"}
                and statuses(other_city, queued["kreis-dueren"]) == {"sent"}
            )
        )
        assert done, worker.stdout.read() if worker.poll() is not None else "worker timed out"
    subjects = sorted(
        subject
        for path in Path(mail_dir).iterdir()
        if (subject := message_from_bytes(path.read_bytes())["Subject"]).startswith("Eingang ")
    )
    # Each task read the row of its own schema: Düren's two tasks sent Düren's subject.
    assert subjects == ["Eingang bochum", "Eingang kreis-dueren", "Eingang kreis-dueren"]
    with tenant_context(city):
        assert OutboxMessage.objects.get(pk=queued["bochum"][0]).attempts == 1


def test_with_the_broker_down_the_message_is_kept_and_sent_exactly_once_later(
    tenant_registry, committed, monkeypatch, mailoutbox
):
    city = tenant_registry["city"]
    from tenants.common import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.deliver_outbox_message, "apply_async", broker_down)
    with tenant_context(city), transaction.atomic():
        message = outbox.queue_email(to=["a@example.org"], subject="Später", text="Hallo")
    committed.append((city, message.pk))
    assert statuses(city, [message.pk]) == {"pending"}, "saved although the broker is down"
    monkeypatch.undo()
    # the periodic flush (beat) sends it once the broker is back; running it twice sends once
    tasks.flush_outbox()
    tasks.flush_outbox()
    assert [m.subject for m in mailoutbox].count("Später") == 1
    assert statuses(city, [message.pk]) == {"sent"}
    with tenant_context(city):
        assert outbox.deliver_message(message.pk) == "skipped"


def test_flushing_inside_one_tenant_touches_only_that_tenants_outbox(
    tenant_registry, db, mailoutbox
):
    from tenants.common import tasks

    city, other_city = tenant_registry["city"], tenant_registry["other_city"]
    for tenant in (city, other_city):
        with tenant_context(tenant):
            OutboxMessage.objects.create(
                recipients=["a@example.org"], subject=tenant.slug, body_text="x"
            )
    with tenant_context(city):
        assert tasks.flush_outbox() == 1  # as TenantAwareScheduler runs it, once per tenant
    assert [m.subject for m in mailoutbox] == ["bochum"]
    with tenant_context(other_city):
        assert OutboxMessage.objects.get(subject="kreis-dueren").status == "pending"
