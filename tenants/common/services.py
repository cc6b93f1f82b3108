"""Audit log and transactional outbox. Every business service uses these two."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from .models import AuditEntry, OutboxMessage

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
DELIVERED_RETENTION = timedelta(days=30)


def record_audit(actor, action: str, obj=None, **data) -> AuditEntry:
    """Write an audit entry. `data` must hold ids and counts, never personal data."""
    return AuditEntry.objects.create(
        actor_id=getattr(actor, "pk", None),
        actor_role=getattr(actor, "role", "") or ("system" if actor is None else ""),
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        data=data,
    )


def queue_email(*, to: list[str], subject: str, text: str, html: str = "") -> OutboxMessage:
    """Store an email in the outbox; it is dispatched to the worker once the transaction commits.

    If the broker is down the message stays pending and `flush_outbox` sends it later.
    """
    message = OutboxMessage.objects.create(
        recipients=list(to), subject=subject[:250], body_text=text, body_html=html
    )
    transaction.on_commit(lambda: dispatch_outbox_message(message.pk))
    return message


def dispatch_outbox_message(message_id: int) -> bool:
    """Hand one message to Celery. Returns False (and keeps it pending) if the broker is down."""
    from .tasks import deliver_outbox_message

    try:
        deliver_outbox_message.apply_async(args=[message_id], retry=False)
    except Exception as exc:  # the broker is unreachable: the outbox keeps the message
        logger.warning("outbox dispatch deferred (%s)", type(exc).__name__)
        return False
    return True


def deliver_message(message_id: int) -> str:
    """Send one pending message exactly once; safe to call repeatedly and concurrently."""
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, status=OutboxMessage.Status.PENDING)
            .first()
        )
        if message is None:
            return "skipped"
        message.attempts += 1
        try:
            email = EmailMultiAlternatives(
                subject=message.subject,
                body=message.body_text,
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=message.recipients,
            )
            if message.body_html:
                email.attach_alternative(message.body_html, "text/html")
            email.send()
        except Exception as exc:  # record the failure class only (no addresses in logs)
            message.last_error = type(exc).__name__
            if message.attempts >= MAX_ATTEMPTS:
                message.status = OutboxMessage.Status.FAILED
            message.save(update_fields=["attempts", "last_error", "status"])
            logger.warning("outbox delivery failed: %s", type(exc).__name__)
            return "failed"
        message.status = OutboxMessage.Status.SENT
        message.sent_at = timezone.now()
        message.save(update_fields=["attempts", "status", "sent_at"])
        return "sent"


def pending_message_ids(older_than: timedelta = timedelta(seconds=0)) -> list[int]:
    cutoff = timezone.now() - older_than
    return list(
        OutboxMessage.objects.filter(
            status=OutboxMessage.Status.PENDING, created_at__lte=cutoff
        ).values_list("pk", flat=True)[:500]
    )


def purge_delivered_messages() -> int:
    cutoff = timezone.now() - DELIVERED_RETENTION
    deleted, _ = OutboxMessage.objects.filter(
        status=OutboxMessage.Status.SENT, sent_at__lt=cutoff
    ).delete()
    return deleted
