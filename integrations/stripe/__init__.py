"""Stripe: the only module that imports the `stripe` SDK.

Every call goes through one `StripeClient` with a pinned API version (`API_VERSION`), so a
Stripe-side default change never alters the shapes our code reads. `STRIPE_API_BASE` points
the SDK at another server (the local test double in tests/, never in production).

The functions return plain dicts (the parts of Stripe's objects the platform uses) so no
`stripe` type leaks into the rest of the code base. Nothing personal is sent beyond what
billing needs: the organisation's name, its billing email and our ids as metadata.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import stripe
from django.conf import settings

logger = logging.getLogger(__name__)

# The API version every request and every webhook endpoint uses. Change it only together
# with the webhook endpoint's version in the Stripe dashboard and a test run.
API_VERSION = "2026-10-28.endive"


class StripeError(Exception):
    """Stripe refused a request or could not be reached. The message is safe to log."""


class SignatureError(StripeError):
    """A webhook's signature (or payload) did not verify."""


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    created: int
    data_object: dict
    api_version: str | None


@lru_cache(maxsize=4)
def _client(api_key: str, api_base: str | None) -> stripe.StripeClient:
    base = {"api": api_base} if api_base else None
    return stripe.StripeClient(
        api_key,
        stripe_version=API_VERSION,
        base_addresses=base,
        max_network_retries=2 if not api_base else 0,
    )


def client() -> stripe.StripeClient:
    key = settings.STRIPE_SECRET_KEY
    if not key:
        raise StripeError("STRIPE_SECRET_KEY is not set")
    return _client(key, settings.STRIPE_API_BASE or None)


def _plain(obj) -> dict:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _call(fn, *args, **kwargs) -> dict:
    try:
        return _plain(fn(*args, **kwargs))
    except stripe.StripeError as exc:  # no request data in the message: only the error class
        logger.warning("stripe request failed: %s", type(exc).__name__)
        raise StripeError(type(exc).__name__) from exc


# --- Catalogue -----------------------------------------------------------------------------


def create_price(
    *, product_name: str, unit_amount: int, currency: str, interval: str, lookup_key: str
) -> dict:
    """A product with one recurring price (net amount in cents)."""
    c = client()
    product = _call(c.v1.products.create, params={"name": product_name})
    return _call(
        c.v1.prices.create,
        params={
            "product": product["id"],
            "unit_amount": unit_amount,
            "currency": currency,
            "recurring": {"interval": interval},
            "lookup_key": lookup_key,
            "tax_behavior": "exclusive",
        },
    )


# --- Customers, Checkout, subscriptions ----------------------------------------------------


def create_customer(*, name: str, email: str, metadata: dict[str, str]) -> dict:
    return _call(
        client().v1.customers.create,
        params={"name": name, "email": email, "metadata": metadata, "preferred_locales": ["de"]},
    )


def create_checkout_session(
    *,
    customer: str,
    price: str,
    trial_days: int,
    success_url: str,
    cancel_url: str,
    reference: str,
    metadata: dict[str, str],
    locale: str = "de",
) -> dict:
    """A hosted Checkout page for a subscription, paid by card or SEPA Direct Debit.

    `success_url` may contain `{CHECKOUT_SESSION_ID}`, which Stripe fills in."""
    params = {
        "mode": "subscription",
        "customer": customer,
        "client_reference_id": reference,
        "line_items": [{"price": price, "quantity": 1}],
        "payment_method_types": ["card", "sepa_debit"],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "locale": locale,
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
    }
    if trial_days:
        params["subscription_data"]["trial_period_days"] = trial_days
    return _call(client().v1.checkout.sessions.create, params=params)


def retrieve_checkout_session(session_id: str) -> dict:
    return _call(client().v1.checkout.sessions.retrieve, session_id)


def create_invoiced_subscription(
    *, customer: str, price: str, trial_days: int, days_until_due: int, metadata: dict[str, str]
) -> dict:
    """A subscription collected by invoice with payment terms (public bodies)."""
    params = {
        "customer": customer,
        "items": [{"price": price, "quantity": 1}],
        "collection_method": "send_invoice",
        "days_until_due": days_until_due,
        "metadata": metadata,
    }
    if trial_days:
        params["trial_period_days"] = trial_days
    return _call(client().v1.subscriptions.create, params=params)


def retrieve_subscription(subscription_id: str) -> dict:
    return _call(client().v1.subscriptions.retrieve, subscription_id)


def create_portal_session(*, customer: str, return_url: str, locale: str = "de") -> dict:
    """Stripe's customer portal: payment method, plan change, invoices."""
    return _call(
        client().v1.billing_portal.sessions.create,
        params={"customer": customer, "return_url": return_url, "locale": locale},
    )


def list_invoices(customer: str, limit: int = 24) -> list[dict]:
    result = _call(client().v1.invoices.list, params={"customer": customer, "limit": limit})
    return list(result.get("data", []))


def retrieve_invoice(invoice_id: str) -> dict:
    return _call(client().v1.invoices.retrieve, invoice_id)


# --- Webhooks ------------------------------------------------------------------------------

WEBHOOK_EVENTS = [
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_failed",
]


class ApiVersionMismatch(StripeError):
    """An event rendered in another API version than the one the code reads."""


def create_webhook_endpoint(url: str) -> dict:
    """Register the platform's webhook endpoint with the pinned API version (one-off setup;
    the response holds the signing secret for STRIPE_WEBHOOK_SECRET)."""
    return _call(
        client().v1.webhook_endpoints.create,
        params={"url": url, "enabled_events": WEBHOOK_EVENTS, "api_version": API_VERSION},
    )


def verify_event(payload: bytes, signature_header: str, secret: str | None = None) -> Event:
    """Verify a webhook's signature (Stripe's scheme, 5-minute tolerance) and parse it."""
    secret = secret or settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise SignatureError("STRIPE_WEBHOOK_SECRET is not set")
    try:
        event = stripe.Webhook.construct_event(payload, signature_header or "", secret)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise SignatureError(type(exc).__name__) from exc
    data = event.to_dict()
    if data.get("api_version") and data["api_version"] != API_VERSION:
        raise ApiVersionMismatch(f"event rendered in {data['api_version']}")
    return Event(
        id=data["id"],
        type=data["type"],
        created=int(data["created"]),
        data_object=data.get("data", {}).get("object", {}),
        api_version=data.get("api_version"),
    )


def sign_payload(payload: str, secret: str) -> str:
    """The `Stripe-Signature` header Stripe would send for `payload` (for the test double and
    for replaying events locally)."""
    return stripe.WebhookSignature.generate_signature_header(payload, secret)
