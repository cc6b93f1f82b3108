"""A pre-registration made while the broker is down is saved, and its confirmation goes out
exactly once when the periodic flush runs after the broker is back."""

from django_tenants.utils import tenant_context

from registrations import services
from registrations.models import Application
from tenants.common import tasks
from tenants.common.models import OutboxMessage
from tests.registrations.test_pre_registration import application_input


def test_an_application_submitted_with_the_broker_down_is_saved_and_confirmed_once_later(
    city, monkeypatch, mailoutbox, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.deliver_outbox_message, "apply_async", broker_down)
    with tenant_context(city):
        with django_capture_on_commit_callbacks(execute=True):
            application = services.submit_application(None, application_input())
        assert Application.objects.filter(pk=application.pk).exists()
        message = OutboxMessage.objects.get(subject__contains=application.reference)
        assert message.status == "pending"
    assert mailoutbox == []
    monkeypatch.undo()
    tasks.flush_outbox()
    tasks.flush_outbox()
    confirmations = [m for m in mailoutbox if application.reference in m.subject]
    assert len(confirmations) == 1
    assert confirmations[0].alternatives, "HTML and text"
    with tenant_context(city):
        assert OutboxMessage.objects.get(pk=message.pk).status == "sent"
