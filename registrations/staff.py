"""Staff accounts of a municipality, created by its tenant admin. Each gets an invitation to
set a password (through the outbox) and a scope: carrier, facility or district."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from tenants.accounts.models import Role
from tenants.common.services import queue_email, record_audit

from .models import StaffAssignment

STAFF_ROLES = (
    Role.TENANT_ADMIN,
    Role.YOUTH_OFFICE,
    Role.CARRIER_STAFF,
    Role.FACILITY_STAFF,
    Role.FACHBERATUNG,
)
SCOPE_OF_ROLE = {
    Role.CARRIER_STAFF: "carrier",
    Role.FACILITY_STAFF: "facility",
    Role.FACHBERATUNG: "district",
}


def _require_admin(actor) -> None:
    if getattr(actor, "role", None) != Role.TENANT_ADMIN:
        raise ValidationError(_("Nur die Administration des Portals kann Konten verwalten."))


def create_staff_account(
    actor,
    *,
    email: str,
    first_name: str,
    last_name: str,
    role: str,
    carrier=None,
    facility=None,
    district=None,
    base_url: str,
    language: str = "de",
):
    """Create an active staff account with an unusable password and send the invitation."""
    _require_admin(actor)
    User = get_user_model()
    email = (email or "").strip().lower()
    errors: dict[str, list[str]] = {}
    if role not in STAFF_ROLES:
        errors["role"] = [_("Bitte wählen Sie eine Rolle.")]
    if not email:
        errors["email"] = [_("Bitte geben Sie eine E-Mail-Adresse an.")]
    elif User.objects.filter(email=email).exists():
        errors["email"] = [_("Zu dieser E-Mail-Adresse gibt es bereits ein Konto.")]
    scope = {"carrier": carrier, "facility": facility, "district": district}
    needed = SCOPE_OF_ROLE.get(role)
    if needed and scope[needed] is None:
        errors[needed] = [_("Für diese Rolle ist diese Zuständigkeit nötig.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        user = User.objects.create_user(
            email=email,
            first_name=first_name.strip(),
            last_name=last_name.strip(),
            role=role,
            language=language if language in ("de", "en") else "de",
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
        if needed:
            StaffAssignment.objects.create(user=user, **{needed: scope[needed]})
        record_audit(actor, "staff.created", user, role=role)
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        path = reverse("accounts:password_reset_confirm", args=[uid, token])
        with translation.override(user.language):
            queue_email(
                to=[user.email],
                subject=translation.gettext(gettext_noop("Ihr Zugang zum Kita-Portal")),
                text=render_to_string(
                    "registrations/email/staff_invitation.txt",
                    {"user": user, "link": base_url.rstrip("/") + path},
                ),
            )
    return user


def deactivate_staff_account(actor, user):
    _require_admin(actor)
    if user.pk == actor.pk:
        raise ValidationError(_("Sie können Ihr eigenes Konto nicht deaktivieren."))
    if user.role not in STAFF_ROLES:
        raise ValidationError(_("Dies ist kein Konto von Mitarbeitenden."))
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])
        record_audit(actor, "staff.deactivated", user)
    return user
