"""Support access: platform support enters a tenant only with its admin's time-limited
approval, and every step is logged in the tenant's own audit log, which its admin sees."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context

from tenants.accounts.models import Role
from tenants.common.services import record_audit

from .models import SupportAccessGrant

ENTRY_SALT = "billing.support.enter"
ENTRY_MAX_AGE = 300
MAX_HOURS = 72
SUPPORT_DOMAIN = "support.kitaportal.invalid"


def grant_support_access(actor, tenant, *, hours: int) -> SupportAccessGrant:
    """Called in the tenant's schema by its admin."""
    if getattr(actor, "role", None) != Role.TENANT_ADMIN:
        raise ValidationError(_("Nur die Administration des Portals kann Support freigeben."))
    if not 1 <= int(hours) <= MAX_HOURS:
        raise ValidationError(
            _("Bitte wählen Sie zwischen 1 und %(max)d Stunden.") % {"max": MAX_HOURS}
        )
    with transaction.atomic():
        grant = SupportAccessGrant.objects.create(
            tenant_id=tenant.pk,
            approved_by_id=actor.pk,
            expires_at=timezone.now() + timedelta(hours=int(hours)),
        )
        record_audit(actor, "support.approved", None, grant=grant.pk, hours=int(hours))
    return grant


def revoke_support_access(actor, tenant, grant_id: int) -> None:
    if getattr(actor, "role", None) != Role.TENANT_ADMIN:
        raise ValidationError(_("Nur die Administration des Portals kann Support freigeben."))
    with transaction.atomic():
        grant = SupportAccessGrant.objects.filter(
            pk=grant_id, tenant_id=tenant.pk, revoked_at__isnull=True
        ).first()
        if grant is None:
            raise ValidationError(_("Diese Freigabe gibt es nicht (mehr)."))
        grant.revoked_at = timezone.now()
        grant.save(update_fields=["revoked_at"])
        get_user_model().objects.filter(email__endswith="@" + SUPPORT_DOMAIN).update(
            is_active=False
        )
        record_audit(actor, "support.revoked", None, grant=grant.pk)


def valid_grant(tenant) -> SupportAccessGrant | None:
    return (
        SupportAccessGrant.objects.filter(
            tenant_id=tenant.pk, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        .order_by("-expires_at")
        .first()
    )


def start_support_session(operator, tenant) -> str:
    """The platform operator asks to enter: returns a one-time entry link (5 minutes)."""
    if not getattr(operator, "is_staff", False):
        raise ValidationError(_("Nur die Plattform-Administration kann Support leisten."))
    grant = valid_grant(tenant)
    if grant is None:
        raise ValidationError(
            _("Für %(tenant)s liegt keine gültige Support-Freigabe vor.") % {"tenant": tenant}
        )
    token = signing.dumps(
        {"tenant": tenant.pk, "grant": grant.pk, "operator": operator.pk}, salt=ENTRY_SALT
    )
    with tenant_context(tenant):
        record_audit(None, "support.session_requested", None, grant=grant.pk, operator=operator.pk)
    return f"{tenant.portal_url.rstrip('/')}/support/eintritt/{token}/"


def enter_support_session(tenant, token: str):
    """In the tenant's schema: checks the link and the grant, returns the support user."""
    try:
        data = signing.loads(token, salt=ENTRY_SALT, max_age=ENTRY_MAX_AGE)
    except signing.BadSignature as exc:
        raise ValidationError(_("Der Support-Link ist ungültig oder abgelaufen.")) from exc
    grant = valid_grant(tenant)
    if data.get("tenant") != tenant.pk or grant is None or grant.pk != data.get("grant"):
        raise ValidationError(_("Für dieses Portal liegt keine gültige Support-Freigabe vor."))
    User = get_user_model()
    email = f"support-{int(data['operator'])}@{SUPPORT_DOMAIN}"
    with transaction.atomic():
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, role=Role.TENANT_ADMIN)
            user.set_unusable_password()
        user.is_active = True
        user.first_name = "Plattform-Support"
        user.save()
        record_audit(
            None, "support.session_started", None, grant=grant.pk, operator=data["operator"]
        )
    return user, grant
