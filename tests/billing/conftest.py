"""Billing fixtures: the Stripe test double, signed webhook posts, sign-ups via services."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from tests.conftest import client_for
from tests.stripe_double import StripeDouble


@pytest.fixture(scope="session")
def stripe_server():
    double = StripeDouble().start()
    yield double
    double.stop()


@pytest.fixture
def stripe_double(stripe_server, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_double"
    settings.STRIPE_WEBHOOK_SECRET = stripe_server.webhook_secret
    settings.STRIPE_API_BASE = stripe_server.url
    stripe_server.events.clear()
    stripe_server.webhook_url = None
    return stripe_server


def post_event(client, event: dict, double: StripeDouble, secret: str | None = None):
    """POST an event to the webhook as Stripe does: JSON body, `Stripe-Signature` header
    made by the SDK's own signing helper (with `secret`, or the configured one)."""
    payload = json.dumps(event)
    return client.post(
        "/stripe/webhook/",
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=double.sign(payload, secret),
    )


@pytest.fixture
def webhook(stripe_double, platform_client):
    def send(event: dict, secret: str | None = None):
        return post_event(platform_client, event, stripe_double, secret)

    return send


def signup_through_services(
    stripe_double,
    *,
    slug: str,
    tenant_type: str = "municipality",
    plan: str = "kommune-s",
    route: str = "checkout",
    email: str = "admin@herne.test",
    **billing,
):
    """Start → verify → subdomain → plan → payment, through the services (as the views do)."""
    from billing import services

    connection.set_schema_to_public()
    application = services.start_signup(
        tenant_type=tenant_type,
        organisation_name=f"Stadt {slug.title()}",
        email=email,
        language="de",
        base_url="http://localhost:8000",
    )
    services.verify_signup_email(services.verification_token(application))
    application.refresh_from_db()
    services.choose_subdomain(application, slug)
    services.choose_plan(application, plan_code=plan, payment_route=route, **billing)
    url = services.start_payment(
        application,
        success_url="http://localhost:8000/ok?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://localhost:8000/cancel",
    )
    application.refresh_from_db()
    return application, url


@pytest.fixture
def client_for_tenant():
    return client_for
