"""Sign-up, provisioning, subscription states and Stripe webhooks.

Every function validates first and writes in one transaction. Stripe is reached only through
`integrations.stripe`. Provisioning runs in a Celery task (`billing.tasks.provision_signup`),
is idempotent and all-or-nothing: the tenant, its schema, its subscription and its first
admin are created in ONE transaction, so a failed attempt leaves nothing and is retried.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_tenants.utils import tenant_context

from integrations import stripe as stripe_api
from tenants.accounts.models import Role
from tenants.common.models import OutboxMessage
from tenants.common.services import dispatch_outbox_message, queue_email, record_audit
from tenants.models import NEW_TENANT_TYPES, Tenant
from tenants.services import ProvisioningError, provision_tenant, validate_new_tenant

from .leitweg import is_valid_leitweg_id
from .models import (
    BillingEvent,
    Invoice,
    PaymentRoute,
    Plan,
    SignupApplication,
    Subscription,
    SubscriptionState,
    WebhookEvent,
    retention_after,
)

logger = logging.getLogger(__name__)

PUBLIC_URLCONF = "kitaportal.urls_public"
VERIFY_SALT = "billing.signup.verify"
VERIFY_MAX_AGE = 3 * 24 * 3600
STALE_APPLICATION_AGE = timedelta(days=30)
SIGNUPS_PER_HOUR = 3  # per email address: no mail bombing through the sign-up form
Status = SignupApplication.Status

# Stripe's subscription statuses → the tenant's state.
STRIPE_STATES = {
    "trialing": SubscriptionState.TRIAL,
    "active": SubscriptionState.ACTIVE,
    "past_due": SubscriptionState.PAST_DUE,
    "unpaid": SubscriptionState.SUSPENDED,
    "paused": SubscriptionState.SUSPENDED,
    "canceled": SubscriptionState.CANCELLED,
    "incomplete_expired": SubscriptionState.CANCELLED,
}


class SignupError(ValidationError):
    """Bad input in a sign-up step; messages per field, meant for the person who typed it."""


# --- Plans ---------------------------------------------------------------------------------


def plans_for(tenant_type: str):
    return Plan.objects.filter(tenant_type=tenant_type, is_active=True).order_by("position")


def ensure_stripe_price(plan: Plan) -> str:
    """The plan's Stripe price id, creating product and price on first use."""
    if not plan.stripe_price_id:
        price = stripe_api.create_price(
            product_name=f"Kitaportal – {plan}",
            unit_amount=plan.monthly_price_cents,
            currency="eur",
            interval="month",
            lookup_key=plan.code,
        )
        Plan.objects.filter(pk=plan.pk, stripe_price_id="").update(stripe_price_id=price["id"])
        plan.refresh_from_db(fields=["stripe_price_id"])
    return plan.stripe_price_id


# --- Sign-up steps -------------------------------------------------------------------------


def verification_token(application: SignupApplication) -> str:
    return signing.dumps(str(application.pk), salt=VERIFY_SALT)


def start_signup(
    *, tenant_type: str, organisation_name: str, email: str, language: str, base_url: str
) -> SignupApplication:
    """Step 1: type, organisation and contact email; sends the verification link."""
    errors: dict[str, list[str]] = {}
    if tenant_type not in NEW_TENANT_TYPES:
        errors["tenant_type"] = [_("Bitte wählen Sie Kommune oder Arbeitgeber.")]
    organisation_name = (organisation_name or "").strip()
    if not organisation_name:
        errors["organisation_name"] = [_("Bitte geben Sie den Namen Ihrer Organisation an.")]
    elif len(organisation_name) > 200:
        errors["organisation_name"] = [_("Der Name ist zu lang (höchstens 200 Zeichen).")]
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = [_("Bitte geben Sie eine gültige E-Mail-Adresse an.")]
    else:
        recent = SignupApplication.objects.filter(
            email=email, created_at__gte=timezone.now() - timedelta(hours=1)
        )
        if recent.count() >= SIGNUPS_PER_HOUR:
            errors["email"] = [
                _(
                    "Für diese Adresse wurden gerade schon Links verschickt. Bitte prüfen Sie "
                    "Ihr Postfach."
                )
            ]
    if errors:
        raise SignupError(errors)
    language = language if language in ("de", "en") else "de"
    with transaction.atomic():
        application = SignupApplication.objects.create(
            tenant_type=tenant_type,
            organisation_name=organisation_name,
            email=email,
            language=language,
        )
        link = base_url.rstrip("/") + reverse(
            "billing:signup-verify",
            args=[verification_token(application)],
            urlconf=PUBLIC_URLCONF,
        )
        with translation.override(language):
            queue_email(
                to=[email],
                subject=translation.gettext(
                    gettext_noop("Bitte bestätigen Sie Ihre E-Mail-Adresse")
                ),
                text=render_to_string(
                    "billing/email/verify.txt",
                    {"application": application, "link": link},
                ),
            )
    return application


def verify_signup_email(token: str) -> SignupApplication:
    try:
        application_id = signing.loads(token, salt=VERIFY_SALT, max_age=VERIFY_MAX_AGE)
    except signing.BadSignature as exc:
        raise SignupError(_("Der Bestätigungslink ist ungültig oder abgelaufen.")) from exc
    with transaction.atomic():
        application = (
            SignupApplication.objects.select_for_update().filter(pk=application_id).first()
        )
        if application is None:
            raise SignupError(_("Der Bestätigungslink ist ungültig oder abgelaufen."))
        if application.email_verified_at is None:
            application.email_verified_at = timezone.now()
            application.status = Status.VERIFIED
            application.save(update_fields=["email_verified_at", "status", "updated_at"])
    return application


def check_subdomain(slug: str, *, exclude: SignupApplication | None = None) -> str | None:
    """None if `slug` may be taken, else the reason (the foundation's slug rules)."""
    slug = (slug or "").strip().lower()
    try:
        validate_new_tenant(NEW_TENANT_TYPES[0], slug, "-")
    except ProvisioningError as exc:
        return str(exc)
    others = SignupApplication.objects.filter(slug=slug).exclude(status__in=[Status.READY])
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    if others.filter(created_at__gte=timezone.now() - STALE_APPLICATION_AGE).exists():
        return _("Der Kurzname „%(slug)s“ ist bereits vergeben.") % {"slug": slug}
    return None


def _require_open(application: SignupApplication) -> None:
    if application.email_verified_at is None:
        raise SignupError(_("Bitte bestätigen Sie zuerst Ihre E-Mail-Adresse."))
    if application.status not in (Status.VERIFIED, Status.AWAITING_PAYMENT):
        raise SignupError(_("Diese Anmeldung ist bereits abgeschlossen."))


def choose_subdomain(application: SignupApplication, slug: str) -> SignupApplication:
    _require_open(application)
    slug = (slug or "").strip().lower()
    problem = check_subdomain(slug, exclude=application)
    if problem:
        raise SignupError({"slug": [problem]})
    try:
        with transaction.atomic():
            SignupApplication.objects.filter(pk=application.pk).update(
                slug=slug, updated_at=timezone.now()
            )
    except IntegrityError as exc:
        raise SignupError(
            {"slug": [_("Der Kurzname „%(slug)s“ ist bereits vergeben.") % {"slug": slug}]}
        ) from exc
    application.slug = slug
    return application


def choose_plan(
    application: SignupApplication,
    *,
    plan_code: str,
    payment_route: str,
    leitweg_id: str = "",
    billing_street: str = "",
    billing_postcode: str = "",
    billing_city: str = "",
) -> SignupApplication:
    _require_open(application)
    errors: dict[str, list[str]] = {}
    plan = plans_for(application.tenant_type).filter(code=plan_code).first()
    if plan is None:
        errors["plan"] = [_("Bitte wählen Sie einen Tarif.")]
    if payment_route not in PaymentRoute.values:
        errors["payment_route"] = [_("Bitte wählen Sie einen Zahlungsweg.")]
    leitweg_id = (leitweg_id or "").strip()
    address = {
        "billing_street": (billing_street or "").strip(),
        "billing_postcode": (billing_postcode or "").strip(),
        "billing_city": (billing_city or "").strip(),
    }
    if payment_route == PaymentRoute.INVOICE:
        if not is_valid_leitweg_id(leitweg_id):
            errors["leitweg_id"] = [
                _(
                    "Bitte geben Sie eine gültige Leitweg-ID an (z. B. 04011000-1234512345-06; "
                    "die Prüfziffer am Ende wird geprüft)."
                )
            ]
        for field, value in address.items():
            if not value:
                errors[field] = [_("Für die Rechnung nötig.")]
        if address["billing_postcode"] and not (
            address["billing_postcode"].isdigit() and len(address["billing_postcode"]) == 5
        ):
            errors["billing_postcode"] = [_("Bitte geben Sie eine fünfstellige PLZ an.")]
    else:
        leitweg_id = ""
    if errors:
        raise SignupError(errors)
    with transaction.atomic():
        application.plan = plan
        application.payment_route = payment_route
        application.leitweg_id = leitweg_id
        for field, value in address.items():
            setattr(application, field, value)
        application.save()
    return application


def start_payment(
    application: SignupApplication, *, success_url: str, cancel_url: str
) -> str | None:
    """Checkout: returns Stripe's hosted page to send the browser to. Invoice: creates the
    subscription collected by invoice, confirms the sign-up and returns None."""
    _require_open(application)
    if not application.slug or application.plan is None:
        raise SignupError(_("Bitte wählen Sie zuerst Subdomain und Tarif."))
    problem = check_subdomain(application.slug, exclude=application)
    if problem:
        raise SignupError({"slug": [problem]})
    plan = application.plan
    price = ensure_stripe_price(plan)
    metadata = {"signup": str(application.pk), "slug": application.slug}
    if not application.stripe_customer_id:
        customer = stripe_api.create_customer(
            name=application.organisation_name, email=application.email, metadata=metadata
        )
        SignupApplication.objects.filter(pk=application.pk).update(
            stripe_customer_id=customer["id"]
        )
        application.stripe_customer_id = customer["id"]
    if application.payment_route == PaymentRoute.CHECKOUT:
        session = stripe_api.create_checkout_session(
            customer=application.stripe_customer_id,
            price=price,
            trial_days=plan.trial_days,
            success_url=success_url,
            cancel_url=cancel_url,
            reference=str(application.pk),
            metadata=metadata,
            locale=application.language,
        )
        SignupApplication.objects.filter(pk=application.pk).update(
            stripe_checkout_session_id=session["id"],
            status=Status.AWAITING_PAYMENT,
            updated_at=timezone.now(),
        )
        return session["url"]
    subscription = stripe_api.create_invoiced_subscription(
        customer=application.stripe_customer_id,
        price=price,
        trial_days=plan.trial_days,
        days_until_due=settings.BILLING_INVOICE_DAYS_UNTIL_DUE,
        metadata=metadata,
    )
    confirm_signup(application.pk, subscription_id=subscription["id"], source="invoice")
    return None


def confirm_signup(application_id, *, subscription_id: str, source: str) -> SignupApplication:
    """Payment (or the invoice agreement) is confirmed: queue provisioning. Idempotent."""
    with transaction.atomic():
        application = SignupApplication.objects.select_for_update().get(pk=application_id)
        if application.status in (Status.VERIFIED, Status.AWAITING_PAYMENT):
            application.status = Status.CONFIRMED
            application.confirmed_at = timezone.now()
            application.stripe_subscription_id = subscription_id or ""
            application.save()
            transaction.on_commit(lambda: _queue_provisioning(application.pk))
            logger.info("signup confirmed via %s", source)
    return application


def _queue_provisioning(application_id) -> None:
    from .tasks import provision_signup

    try:
        provision_signup.apply_async(args=[str(application_id)], retry=False)
    except Exception as exc:  # broker down: the periodic sweep picks the application up
        logger.warning("provisioning dispatch deferred (%s)", type(exc).__name__)


def confirm_checkout_session(session: dict, source: str) -> SignupApplication | None:
    """A completed Checkout Session (from the success redirect or the webhook)."""
    application = SignupApplication.objects.filter(
        stripe_checkout_session_id=session.get("id", "")
    ).first()
    if application is None and session.get("client_reference_id"):
        # an earlier Checkout Session of the same sign-up (the browser went back and paid
        # in another tab): client_reference_id is the application's id
        try:
            application = SignupApplication.objects.filter(
                pk=uuid.UUID(session["client_reference_id"])
            ).first()
        except ValueError:
            application = None
    if application is None or session.get("status") != "complete":
        return application
    return confirm_signup(
        application.pk, subscription_id=session.get("subscription") or "", source=source
    )


def confirm_from_success_redirect(application: SignupApplication, session_id: str):
    """The browser came back from Checkout; ask Stripe (the redirect itself proves nothing)."""
    if not session_id or session_id != application.stripe_checkout_session_id:
        return application
    if application.status != Status.AWAITING_PAYMENT:
        return application
    session = stripe_api.retrieve_checkout_session(session_id)
    return confirm_checkout_session(session, "redirect") or application


# --- Provisioning --------------------------------------------------------------------------


class ProvisioningStepFailed(Exception):
    pass


def provision_signup(application_id) -> SignupApplication:
    """Create the tenant for a confirmed sign-up, all or nothing; safe to run again."""
    connection.set_schema_to_public()
    with transaction.atomic():
        application = SignupApplication.objects.select_for_update().get(pk=application_id)
        if application.status == Status.READY or application.status not in (
            Status.CONFIRMED,
            Status.PROVISIONING,
            Status.FAILED,
        ):
            return application
        application.status = Status.PROVISIONING
        application.attempts += 1
        application.save(update_fields=["status", "attempts", "updated_at"])
    invitation_id = None
    try:
        with transaction.atomic():
            application = SignupApplication.objects.select_for_update().get(pk=application_id)
            if application.status == Status.READY:  # a concurrent run finished first
                return application
            tenant = provision_tenant(
                None,
                tenant_type=application.tenant_type,
                slug=application.slug,
                name=application.organisation_name,
            )
            subscription = Subscription.objects.create(
                tenant=tenant,
                plan=application.plan,
                state=SubscriptionState.TRIAL
                if application.plan.trial_days
                else SubscriptionState.ACTIVE,
                payment_route=application.payment_route,
                stripe_customer_id=application.stripe_customer_id,
                stripe_subscription_id=application.stripe_subscription_id,
                leitweg_id=application.leitweg_id,
                billing_street=application.billing_street,
                billing_postcode=application.billing_postcode,
                billing_city=application.billing_city,
                trial_ends_at=timezone.now() + timedelta(days=application.plan.trial_days)
                if application.plan.trial_days
                else None,
            )
            BillingEvent.objects.create(
                tenant=tenant,
                kind="signup.completed",
                state_to=subscription.state,
                reference=application.plan.code,
                source="signup",
            )
            _apply_deferred_events(subscription)
            with tenant_context(tenant):
                invitation_id = _create_first_admin(application, tenant)
            application.tenant = tenant
            application.status = Status.READY
            application.ready_at = timezone.now()
            application.email = ""  # the address now lives in the tenant's own user table
            application.last_error = ""
            application.save()
    except Exception as exc:
        SignupApplication.objects.filter(pk=application_id, status=Status.PROVISIONING).update(
            status=Status.FAILED, last_error=type(exc).__name__[:200], updated_at=timezone.now()
        )
        logger.warning("provisioning failed: %s", type(exc).__name__)
        raise
    with tenant_context(tenant):
        dispatch_outbox_message(invitation_id)
    return application


def _create_first_admin(application: SignupApplication, tenant: Tenant) -> int:
    """The tenant's first admin with an invitation to set a password (outbox of the tenant).

    The message is created here and handed to the broker by the caller in the tenant's
    context after commit (an on_commit hook would fire in the public schema)."""
    User = get_user_model()
    user = User.objects.filter(email=application.email).first() or User.objects.create_user(
        email=application.email, role=Role.TENANT_ADMIN, language=application.language
    )
    user.set_unusable_password()
    user.save(update_fields=["password"])
    record_audit(None, "signup.admin_invited", user)
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    link = tenant.portal_url.rstrip("/") + reverse(
        "accounts:password_reset_confirm",
        args=[uid, token],
        urlconf=settings.TENANT_TYPES[tenant.type]["URLCONF"],
    )
    with translation.override(application.language):
        message = OutboxMessage.objects.create(
            recipients=[user.email],
            subject=translation.gettext(gettext_noop("Ihr Kitaportal ist bereit")),
            body_text=render_to_string(
                "billing/email/admin_invitation.txt",
                {"tenant": tenant, "link": link, "portal_url": tenant.portal_url},
            ),
        )
    return message.pk


def retry_stuck_signups(older_than: timedelta = timedelta(minutes=2)) -> int:
    """Periodic: re-queue confirmed/failed sign-ups whose task was lost or failed."""
    cutoff = timezone.now() - older_than
    ids = list(
        SignupApplication.objects.filter(
            status__in=[Status.CONFIRMED, Status.FAILED, Status.PROVISIONING],
            updated_at__lt=cutoff,
            attempts__lt=10,
        ).values_list("pk", flat=True)
    )
    for application_id in ids:
        _queue_provisioning(application_id)
    return len(ids)


def purge_stale_applications() -> int:
    """Unfinished sign-ups (and their email address) go after 30 days."""
    cutoff = timezone.now() - STALE_APPLICATION_AGE
    deleted, _ = SignupApplication.objects.filter(
        status__in=[Status.STARTED, Status.VERIFIED, Status.AWAITING_PAYMENT],
        created_at__lt=cutoff,
    ).delete()
    return deleted


# --- Subscription states -------------------------------------------------------------------


def _set_state(subscription: Subscription, state: str, *, created: int, reference: str) -> bool:
    """Apply a state unless a newer event already set one. Returns True if it changed."""
    if created < subscription.state_event_created:
        return False
    subscription.state_event_created = created
    previous = subscription.state
    if state == previous:
        subscription.save(update_fields=["state_event_created"])
        return False
    subscription.state = state
    subscription.state_changed_at = timezone.now()
    if state == SubscriptionState.CANCELLED:
        subscription.cancelled_at = timezone.now()
        subscription.retention_until = retention_after(subscription.cancelled_at)
    elif previous == SubscriptionState.CANCELLED:
        subscription.cancelled_at = subscription.retention_until = None
    subscription.save()
    BillingEvent.objects.create(
        tenant_id=subscription.tenant_id,
        kind="state.changed",
        state_from=previous,
        state_to=state,
        reference=reference,
    )
    return True


def _apply_deferred_events(subscription: Subscription) -> None:
    """Events about this subscription that arrived before its tenant existed."""
    if not subscription.stripe_subscription_id:
        return
    deferred = (
        WebhookEvent.objects.filter(
            stripe_subscription_id=subscription.stripe_subscription_id, outcome="deferred"
        )
        .exclude(stripe_status="")
        .order_by("created", "id")
    )
    for event in deferred:
        state = STRIPE_STATES.get(event.stripe_status)
        if state:
            _set_state(subscription, state, created=event.created, reference=event.event_id)
        event.outcome = "applied_later"
        event.tenant_id = subscription.tenant_id
        event.save(update_fields=["outcome", "tenant"])


def _subscription_id_of(obj: dict) -> str:
    if obj.get("object") == "subscription":
        return obj.get("id", "")
    parent = obj.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return details.get("subscription") or obj.get("subscription") or ""


def _record_invoice(subscription: Subscription, invoice: dict) -> Invoice:
    def day(ts):
        return datetime.fromtimestamp(ts, tz=UTC).date() if ts else None

    lines = [
        {
            "description": line.get("description") or "Kitaportal",
            "quantity": line.get("quantity") or 1,
            "amount_cents": line.get("amount", 0),
            "period_start": str(day((line.get("period") or {}).get("start"))),
            "period_end": str(day((line.get("period") or {}).get("end"))),
        }
        for line in (invoice.get("lines") or {}).get("data", [])
    ]
    tax = sum(t.get("amount", 0) for t in invoice.get("total_taxes") or [])
    first = (invoice.get("lines") or {}).get("data", [{}])
    period = (first[0] if first else {}).get("period") or {}
    record, _ = Invoice.objects.update_or_create(
        stripe_invoice_id=invoice["id"],
        defaults={
            "tenant_id": subscription.tenant_id,
            "number": invoice.get("number") or invoice["id"],
            "issued_at": datetime.fromtimestamp(
                invoice.get("effective_at") or invoice.get("created"), tz=UTC
            ),
            "due_date": day(invoice.get("due_date")),
            "period_start": day(period.get("start")),
            "period_end": day(period.get("end")),
            "currency": (invoice.get("currency") or "eur").upper(),
            "net_cents": invoice.get("subtotal", 0),
            "tax_cents": tax,
            "total_cents": invoice.get("total", 0),
            "status": invoice.get("status") or "",
            "collection_method": invoice.get("collection_method") or "",
            "lines": lines,
        },
    )
    if subscription.payment_route == PaymentRoute.INVOICE and not record.xrechnung:
        from .xrechnung import build_xrechnung

        try:
            record.xrechnung = build_xrechnung(record, subscription).decode("utf-8")
        except Exception as exc:  # produced again on download; the state change must not wait
            logger.error("xrechnung not produced: %s", type(exc).__name__)
        else:
            record.save(update_fields=["xrechnung"])
    return record


def _handle(event: stripe_api.Event, record: WebhookEvent) -> str:
    obj = event.data_object
    if event.type == "checkout.session.completed":
        application = confirm_checkout_session(obj, "webhook")
        return "signup_confirmed" if application else "unknown_session"
    subscription_id = _subscription_id_of(obj)
    record.stripe_subscription_id = subscription_id
    if event.type.startswith("customer.subscription."):
        record.stripe_status = obj.get("status", "")
    if subscription_id:
        # A provisioning run holds its application's lock until the tenant and subscription
        # are committed: waiting for it here means the event is never deferred too late.
        list(
            SignupApplication.objects.select_for_update()
            .filter(stripe_subscription_id=subscription_id)
            .values_list("pk", flat=True)
        )
    subscription = (
        Subscription.objects.select_for_update()
        .filter(stripe_subscription_id=subscription_id)
        .first()
        if subscription_id
        else None
    )
    if subscription is None:
        known = subscription_id and SignupApplication.objects.filter(
            stripe_subscription_id=subscription_id
        ).exclude(status=Status.READY)
        return "deferred" if known and known.exists() else "unknown_subscription"
    record.tenant_id = subscription.tenant_id
    if event.type.startswith("customer.subscription."):
        state = STRIPE_STATES.get(obj.get("status", ""))
        if state is None:
            return "ignored_status"
        changed = _set_state(subscription, state, created=event.created, reference=event.id)
        return "applied" if changed else "stale_or_same"
    if event.type in ("invoice.finalized", "invoice.paid", "invoice.payment_failed"):
        invoice = _record_invoice(subscription, obj)
        BillingEvent.objects.create(
            tenant_id=subscription.tenant_id,
            kind=event.type,
            amount_cents=invoice.total_cents,
            reference=invoice.number,
        )
        if event.type == "invoice.payment_failed" and subscription.state in (
            SubscriptionState.TRIAL,
            SubscriptionState.ACTIVE,
        ):
            _set_state(
                subscription, SubscriptionState.PAST_DUE, created=event.created, reference=event.id
            )
        elif event.type == "invoice.paid" and subscription.state in (
            SubscriptionState.PAST_DUE,
            SubscriptionState.SUSPENDED,
        ):
            _set_state(
                subscription, SubscriptionState.ACTIVE, created=event.created, reference=event.id
            )
        return "invoice_recorded"
    return "ignored_type"


def process_webhook(payload: bytes, signature: str) -> tuple[str, WebhookEvent | None]:
    """Verify, store the event id, process it once. Raises stripe_api.SignatureError."""
    event = stripe_api.verify_event(payload, signature)
    connection.set_schema_to_public()
    with transaction.atomic():
        record, created = WebhookEvent.objects.get_or_create(
            event_id=event.id, defaults={"type": event.type, "created": event.created}
        )
        if not created:
            return "duplicate", record
        # lock the row so a concurrent redelivery waits and then sees it as a duplicate
        record = WebhookEvent.objects.select_for_update().get(pk=record.pk)
        record.outcome = _handle(event, record)
        record.save()
    return record.outcome, record


# --- Tenant side: state, portal, cancellation ----------------------------------------------


def subscription_of(tenant) -> Subscription | None:
    if tenant is None or getattr(tenant, "pk", None) is None:
        return None
    return Subscription.objects.filter(tenant_id=tenant.pk).select_related("plan").first()


def _require_tenant_admin(actor) -> None:
    if getattr(actor, "role", None) != Role.TENANT_ADMIN:
        raise ValidationError(_("Nur die Administration des Portals kann die Abrechnung öffnen."))


def open_customer_portal(actor, tenant, *, return_url: str) -> str:
    """Stripe's customer portal for the tenant (payment method, plan, invoices)."""
    _require_tenant_admin(actor)
    subscription = subscription_of(tenant)
    if subscription is None or not subscription.stripe_customer_id:
        raise ValidationError(_("Für dieses Portal gibt es kein Abonnement."))
    session = stripe_api.create_portal_session(
        customer=subscription.stripe_customer_id,
        return_url=return_url,
        locale=translation.get_language() or "de",
    )
    record_audit(actor, "billing.portal_opened", None)
    return session["url"]


def purge_expired_tenant(actor, tenant, *, now=None) -> None:
    """Delete a cancelled tenant's schema, but only after its retention period.

    Billing records (invoices, events) stay in the public schema for the legal period."""
    now = now or timezone.now()
    subscription = subscription_of(tenant)
    if (
        subscription is None
        or subscription.state != SubscriptionState.CANCELLED
        or subscription.retention_until is None
        or subscription.retention_until > now
    ):
        raise ValidationError(_("Die Daten dieses Mandanten dürfen noch nicht gelöscht werden."))
    with transaction.atomic():
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{tenant.schema_name}" CASCADE')
        Tenant.objects.filter(pk=tenant.pk).update(is_active=False, deactivated_at=now)
        BillingEvent.objects.create(tenant=tenant, kind="tenant.data_deleted", source="platform")
        record_audit(actor, "tenant.data_deleted", tenant)


def purge_expired_tenants() -> int:
    count = 0
    due = Subscription.objects.filter(
        state=SubscriptionState.CANCELLED, retention_until__lt=timezone.now()
    ).select_related("tenant")
    for subscription in due:
        if subscription.tenant.deactivated_at is None:
            purge_expired_tenant(None, subscription.tenant)
            count += 1
    return count
