"""Account services for a tenant's users: sign-up with email verification."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _

from tenants.common.services import queue_email, record_audit

from .models import Role


def register_parent(
    *, email: str, password: str, first_name: str, last_name: str, language: str, base_url: str
):
    """Create an inactive parent account and send the verification link (through the outbox)."""
    User = get_user_model()
    email = email.strip().lower()
    if User.objects.filter(email=email).exists():
        raise ValidationError(
            {
                "email": [
                    _(
                        "Zu dieser E-Mail-Adresse gibt es bereits ein Konto. Bitte melden Sie "
                        "sich an oder setzen Sie Ihr Passwort zurück."
                    )
                ]
            }
        )
    with transaction.atomic():
        user = User.objects.create_user(
            email=email,
            password=password,
            first_name=first_name.strip(),
            last_name=last_name.strip(),
            role=Role.PARENT,
            language=language if language in ("de", "en") else "de",
            is_active=False,
        )
        record_audit(user, "account.registered", user)
        send_verification(user, base_url)
    return user


def verification_link(user, base_url: str) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return f"{base_url.rstrip('/')}/konto/bestaetigen/{uid}/{token}/"


def send_verification(user, base_url: str) -> None:
    with translation.override(user.language):
        context = {"user": user, "link": verification_link(user, base_url)}
        queue_email(
            to=[user.email],
            subject=_("Bitte bestätigen Sie Ihre E-Mail-Adresse"),
            text=render_to_string("accounts/email/verify.txt", context),
        )


def verify_email(uidb64: str, token: str):
    """Activate the account behind a verification link; None if the link is invalid."""
    User = get_user_model()
    try:
        user = User.objects.get(pk=force_str(urlsafe_base64_decode(uidb64)))
    except (User.DoesNotExist, ValueError, TypeError, OverflowError):
        return None
    if user.is_active:
        return user
    if not default_token_generator.check_token(user, token):
        return None
    with transaction.atomic():
        user.is_active = True
        user.save(update_fields=["is_active"])
        record_audit(user, "account.verified", user)
    return user
