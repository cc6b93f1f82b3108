"""Per-tenant infrastructure: the audit log and the transactional outbox.

Retention: audit entries carry ids and action names only (no personal data) and are kept
for 3 years; outbox messages carry addresses and texts and are purged 30 days after
delivery (see services.purge_delivered_messages).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEntry(models.Model):
    created_at = models.DateTimeField(_("Zeitpunkt"), auto_now_add=True, db_index=True)
    actor_id = models.BigIntegerField(_("Benutzer-ID"), null=True, blank=True)
    actor_role = models.CharField(_("Rolle"), max_length=30, blank=True)
    action = models.CharField(_("Aktion"), max_length=80)
    object_type = models.CharField(_("Objekttyp"), max_length=80, blank=True)
    object_id = models.CharField(_("Objekt-ID"), max_length=64, blank=True)
    data = models.JSONField(_("Daten (ohne Personendaten)"), default=dict, blank=True)

    class Meta:
        verbose_name = _("Protokolleintrag")
        verbose_name_plural = _("Protokoll")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action}"


class OutboxMessage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("wartet")
        SENT = "sent", _("versendet")
        FAILED = "failed", _("fehlgeschlagen")

    created_at = models.DateTimeField(_("angelegt"), auto_now_add=True, db_index=True)
    kind = models.CharField(_("Art"), max_length=20, default="email")
    recipients = models.JSONField(_("Empfänger"), default=list)
    subject = models.CharField(_("Betreff"), max_length=250)
    body_text = models.TextField(_("Text"))
    body_html = models.TextField(_("HTML"), blank=True)
    status = models.CharField(
        _("Status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("Versuche"), default=0)
    last_error = models.CharField(_("letzter Fehler"), max_length=200, blank=True)
    sent_at = models.DateTimeField(_("versendet am"), null=True, blank=True)

    class Meta:
        verbose_name = _("ausgehende Nachricht")
        verbose_name_plural = _("Postausgang")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="outbox_pending_idx")]

    def __str__(self) -> str:
        return f"{self.subject} ({self.get_status_display()})"
