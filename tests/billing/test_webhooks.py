"""Stripe webhooks: signature, once-only processing, order, and each state with its effect."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from billing import services
from billing.leitweg import make_leitweg_id
from billing.models import BillingEvent, Invoice, Subscription, WebhookEvent
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_exists, tenant_context

from registrations.models import Application
from tests.conftest import client_for, make_user
from tests.registrations.test_parent_pages import form_data, sign_up_and_verify

from .conftest import signup_through_services

pytestmark = pytest.mark.django_db
PASSWORD = "pw-Secret-123"


@pytest.fixture
def herne(stripe_double, tenant_registry):
    """A municipality signed up by Checkout, paid in the double and provisioned (trial)."""
    application, _ = signup_through_services(stripe_double, slug="herne")
    session = stripe_double.complete_checkout(application.stripe_checkout_session_id)
    services.confirm_checkout_session(session, "test")
    services.provision_signup(application.pk)
    return Subscription.objects.select_related("tenant").get(tenant__slug="herne")


def _status(stripe_double, subscription, status, created_offset=0):
    event = stripe_double.set_subscription_status(subscription.stripe_subscription_id, status)
    event["created"] += created_offset
    return event


def _state(subscription) -> str:
    subscription.refresh_from_db()
    return subscription.state


def logged_in(tenant, email, role):
    make_user(tenant, email, role, password=PASSWORD)
    client = client_for(tenant)
    assert (
        client.post("/konto/anmelden/", {"username": email, "password": PASSWORD}).status_code
        == 302
    )
    return client


def test_a_bad_signature_gets_400_a_log_entry_and_stores_nothing(
    webhook, herne, stripe_double, caplog
):
    event = _status(stripe_double, herne, "past_due")
    with caplog.at_level(logging.WARNING, logger="billing"):
        response = webhook(event, secret="whsec_forged")
    assert response.status_code == 400
    assert any("stripe webhook rejected" in record.getMessage() for record in caplog.records)
    assert not WebhookEvent.objects.filter(event_id=event["id"]).exists()
    assert _state(herne) == "trial"


def test_a_request_without_signature_is_refused(platform_client, stripe_double, tenant_registry):
    response = platform_client.post("/stripe/webhook/", data="{}", content_type="application/json")
    assert response.status_code == 400


def test_a_duplicate_event_is_processed_once(webhook, herne, stripe_double):
    event = _status(stripe_double, herne, "past_due")
    first = webhook(event)
    second = webhook(event)
    assert first.content == b"applied" and second.content == b"duplicate"
    assert WebhookEvent.objects.filter(event_id=event["id"]).count() == 1
    assert BillingEvent.objects.filter(tenant=herne.tenant, kind="state.changed").count() == 1


def test_an_older_event_arriving_late_does_not_undo_a_newer_one(webhook, herne, stripe_double):
    older = _status(stripe_double, herne, "past_due", created_offset=-60)
    newer = _status(stripe_double, herne, "active")
    assert webhook(newer).content == b"applied"
    assert webhook(older).content == b"stale_or_same"
    assert _state(herne) == "active"


def test_events_before_the_tenant_exists_are_applied_when_it_is_provisioned(
    webhook, stripe_double, tenant_registry
):
    application, _ = signup_through_services(stripe_double, slug="herne")
    session = stripe_double.complete_checkout(application.stripe_checkout_session_id)
    assert webhook(stripe_double.events[-1]).content == b"signup_confirmed"
    application.refresh_from_db()
    assert application.status == "confirmed"
    early = stripe_double.set_subscription_status(session["subscription"], "active")
    assert webhook(early).content == b"deferred"
    services.provision_signup(application.pk)
    subscription = Subscription.objects.get(tenant__slug="herne")
    assert subscription.state == "active"


def test_trial_becomes_active(webhook, herne, stripe_double):
    assert webhook(_status(stripe_double, herne, "active")).status_code == 200
    assert _state(herne) == "active"
    event = BillingEvent.objects.get(tenant=herne.tenant, kind="state.changed")
    assert (event.state_from, event.state_to) == ("trial", "active")


def test_past_due_shows_a_banner_to_staff_but_not_to_parents(webhook, herne, stripe_double):
    webhook(_status(stripe_double, herne, "past_due"))
    assert _state(herne) == "past_due"
    staff = logged_in(herne.tenant, "jugendamt@herne.test", "youth_office")
    assert "Zahlung überfällig" in staff.get("/verwaltung/").content.decode()
    parent = logged_in(herne.tenant, "eltern@herne.test", "parent")
    assert "Zahlung überfällig" not in parent.get("/meine-anmeldungen/").content.decode()


@pytest.fixture
def city_subscription(city):
    from billing.models import Plan

    return Subscription.objects.create(
        tenant=city,
        plan=Plan.objects.get(code="kommune-l"),
        state="active",
        payment_route="checkout",
        stripe_customer_id="cus_test_city",
        stripe_subscription_id="sub_test_city",
    )


def _suspend(subscription, stripe_double, webhook):
    event = stripe_double.event_for(
        "customer.subscription.updated",
        {"id": subscription.stripe_subscription_id, "object": "subscription", "status": "unpaid"},
    )
    assert webhook(event).content == b"applied"


def test_a_suspended_tenant_refuses_staff_writes_and_keeps_parents_data_readable(
    webhook, city_subscription, city, stripe_double
):
    parent = sign_up_and_verify(city)
    assert parent.post("/voranmeldung/", form_data(city)).status_code == 302
    with tenant_context(city):
        application = Application.objects.get()
        count = Application.objects.count()
    _suspend(city_subscription, stripe_double, webhook)
    assert _state(city_subscription) == "suspended"

    admin = logged_in(city, "admin@bochum.test", "tenant_admin")
    response = admin.post(
        "/verwaltung/mitarbeitende/",
        {"email": "neu@bochum.test", "first_name": "N", "last_name": "N", "role": "youth_office"},
    )
    assert response.status_code == 403
    assert "schreibgeschützt" in response.content.decode()
    youth = logged_in(city, "jugendamt@bochum.test", "youth_office")
    assert youth.get("/verwaltung/voranmeldungen/").status_code == 200, "staff still read"
    assert "nur lesen" in youth.get("/verwaltung/").content.decode()
    with tenant_context(city):
        from django.contrib.auth import get_user_model

        assert not get_user_model().objects.filter(email="neu@bochum.test").exists()

    page = parent.get("/meine-anmeldungen/")
    assert page.status_code == 200 and application.reference in page.content.decode()
    with tenant_context(city):
        assert Application.objects.count() == count, "nothing deleted"
    # logging out and the billing page stay open to staff
    assert admin.get("/verwaltung/abrechnung/").status_code == 200


def test_paying_the_open_invoice_lifts_the_suspension(webhook, city_subscription, stripe_double):
    _suspend(city_subscription, stripe_double, webhook)
    paid = stripe_double.event_for(
        "invoice.paid",
        {
            "id": "in_test_paid",
            "object": "invoice",
            "number": "KP-9001",
            "status": "paid",
            "created": int(timezone.now().timestamp()),
            "subtotal": 129000,
            "total": 153510,
            "currency": "eur",
            "collection_method": "charge_automatically",
            "parent": {"subscription_details": {"subscription": "sub_test_city"}},
            "lines": {"data": []},
        },
    )
    paid["created"] += 1
    assert webhook(paid).content == b"invoice_recorded"
    assert _state(city_subscription) == "active"
    assert Invoice.objects.get(stripe_invoice_id="in_test_paid").total_cents == 153510


def test_a_cancelled_tenant_keeps_its_data_offers_an_export_and_is_deleted_only_after_retention(
    webhook, herne, stripe_double
):
    event = _status(stripe_double, herne, "canceled")
    assert event["type"] == "customer.subscription.deleted"
    assert webhook(event).content == b"applied"
    herne.refresh_from_db()
    assert herne.state == "cancelled"
    assert herne.retention_until > timezone.now() + timedelta(days=80)
    tenant = herne.tenant
    with tenant_context(tenant):
        from django.contrib.auth import get_user_model

        admin_email = get_user_model().objects.get(role="tenant_admin").email
    with tenant_context(tenant):
        get_user_model().objects.filter(email=admin_email).update(
            password=get_user_model()(email=admin_email).password
        )
        admin = get_user_model().objects.get(email=admin_email)
        admin.set_password(PASSWORD)
        admin.save()
    client = client_for(tenant)
    client.post("/konto/anmelden/", {"username": admin_email, "password": PASSWORD})
    page = client.get("/verwaltung/abrechnung/").content.decode()
    assert "Daten exportieren" in page and "Abonnement gekündigt" in page
    export = client.post("/verwaltung/abrechnung/datenexport/")
    assert export.status_code == 200
    assert export["Content-Disposition"].startswith('attachment; filename="herne-export.tar.gz"')
    assert b"".join(export.streaming_content)[:2] == b"\x1f\x8b", "a gzip archive"
    connection.set_schema_to_public()

    with pytest.raises(services.ValidationError):
        services.purge_expired_tenant(None, tenant)
    assert schema_exists("herne")
    services.purge_expired_tenant(None, tenant, now=herne.retention_until + timedelta(days=1))
    assert not schema_exists("herne")
    assert BillingEvent.objects.filter(tenant=tenant, kind="tenant.data_deleted").exists()


def test_an_invoice_for_an_invoice_paying_tenant_is_recorded_for_its_xrechnung(
    webhook, stripe_double, tenant_registry
):
    application, _ = signup_through_services(
        stripe_double,
        slug="mettmann",
        route="invoice",
        plan="kommune-m",
        leitweg_id=make_leitweg_id("05158000", "KITA"),
        billing_street="Düsseldorfer Str. 26",
        billing_postcode="40822",
        billing_city="Mettmann",
    )
    services.provision_signup(application.pk)
    subscription = Subscription.objects.get(tenant__slug="mettmann")
    event = stripe_double.finalize_invoice(subscription.stripe_subscription_id)
    assert webhook(event).content == b"invoice_recorded"
    invoice = Invoice.objects.get(tenant=subscription.tenant)
    assert invoice.net_cents == 69000 and invoice.tax_cents == 13110
    assert invoice.due_date is not None and invoice.collection_method == "send_invoice"
    # every invoice of an invoice-paying tenant is produced as a valid XRechnung right away
    from pathlib import Path

    import drafthorse
    from lxml import etree

    xsd = Path(drafthorse.__file__).parent / "schema" / "Factur-X_1.0.07_EN16931.xsd"
    document = etree.fromstring(invoice.xrechnung.encode())
    etree.XMLSchema(etree.parse(str(xsd))).assertValid(document)
    assert subscription.leitweg_id.encode() in invoice.xrechnung.encode()


def test_an_event_in_another_api_version_is_refused_so_stripe_retries(
    webhook, herne, stripe_double
):
    event = _status(stripe_double, herne, "past_due")
    event["api_version"] = "2024-06-20"
    response = webhook(event)
    assert response.status_code == 400
    assert not WebhookEvent.objects.filter(event_id=event["id"]).exists()
    assert _state(herne) == "trial"


def test_the_webhook_endpoint_is_registered_with_the_pinned_api_version(stripe_double):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("stripe_webhook", "https://kitaportal.example/stripe/webhook/", stdout=out)
    endpoint = next(o for o in stripe_double.objects.values() if o["object"] == "webhook_endpoint")
    assert endpoint["api_version"] == "2026-10-28.endive"
    assert "checkout.session.completed" in endpoint["enabled_events"]
    assert f"STRIPE_WEBHOOK_SECRET={stripe_double.webhook_secret}" in out.getvalue()


def test_paying_an_earlier_checkout_of_the_same_sign_up_still_confirms_it(
    webhook, stripe_double, tenant_registry
):
    from billing.models import SignupApplication

    application, _ = signup_through_services(stripe_double, slug="herne")
    first_session = application.stripe_checkout_session_id
    services.start_payment(
        application, success_url="http://localhost/ok", cancel_url="http://localhost/"
    )  # the browser went back: a second session replaces the first
    application.refresh_from_db()
    assert application.stripe_checkout_session_id != first_session
    stripe_double.complete_checkout(first_session)
    assert webhook(stripe_double.events[-1]).content == b"signup_confirmed"
    assert SignupApplication.objects.get(pk=application.pk).status == "confirmed"
