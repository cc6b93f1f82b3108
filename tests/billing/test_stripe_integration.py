"""integrations.stripe against the local Stripe double: the real SDK, a pinned API version."""

import json

import pytest

from integrations import stripe as stripe_api

pytestmark = pytest.mark.django_db


def test_every_request_carries_the_pinned_api_version(stripe_double):
    # the double refuses any other Stripe-Version with a 400, so a created customer proves it
    customer = stripe_api.create_customer(name="Stadt Herne", email="a@b.test", metadata={})
    assert customer["id"].startswith("cus_")
    assert stripe_api.API_VERSION == "2026-10-28.endive"


def test_a_checkout_session_offers_card_and_sepa_for_a_subscription(stripe_double):
    price = stripe_api.create_price(
        product_name="Kommune S",
        unit_amount=29000,
        currency="eur",
        interval="month",
        lookup_key="kommune-s",
    )
    customer = stripe_api.create_customer(name="Stadt Herne", email="a@b.test", metadata={})
    session = stripe_api.create_checkout_session(
        customer=customer["id"],
        price=price["id"],
        trial_days=30,
        success_url="http://localhost/ok?s={CHECKOUT_SESSION_ID}",
        cancel_url="http://localhost/",
        reference="ref-1",
        metadata={"signup": "ref-1"},
    )
    assert session["payment_method_types"] == ["card", "sepa_debit"]
    assert session["mode"] == "subscription" and session["status"] == "open"
    stripe_double.complete_checkout(session["id"], payment_method="sepa_debit")
    done = stripe_api.retrieve_checkout_session(session["id"])
    assert done["status"] == "complete"
    subscription = stripe_api.retrieve_subscription(done["subscription"])
    assert subscription["status"] == "trialing"
    invoices = stripe_api.list_invoices(customer["id"])
    assert [inv["id"] for inv in invoices] == [subscription["latest_invoice"]]


def test_an_invoiced_subscription_has_payment_terms(stripe_double):
    price = stripe_api.create_price(
        product_name="Kommune M",
        unit_amount=69000,
        currency="eur",
        interval="month",
        lookup_key="kommune-m",
    )
    customer = stripe_api.create_customer(name="Kreis X", email="a@b.test", metadata={})
    subscription = stripe_api.create_invoiced_subscription(
        customer=customer["id"], price=price["id"], trial_days=0, days_until_due=30, metadata={}
    )
    assert subscription["collection_method"] == "send_invoice"
    invoice = stripe_api.retrieve_invoice(subscription["latest_invoice"])
    assert invoice["status"] == "open" and invoice["due_date"] > invoice["created"]


def test_a_portal_session_is_opened_for_the_customer(stripe_double):
    customer = stripe_api.create_customer(name="Stadt Herne", email="a@b.test", metadata={})
    session = stripe_api.create_portal_session(customer=customer["id"], return_url="http://x/")
    assert session["object"] == "billing_portal.session" and session["url"].startswith("http")


def test_stripe_errors_surface_as_one_error_class_without_request_data(stripe_double):
    with pytest.raises(stripe_api.StripeError) as info:
        stripe_api.retrieve_subscription("sub_does_not_exist")
    assert "sub_does_not_exist" not in str(info.value)


def test_a_webhook_signed_with_the_sdk_helper_verifies_and_a_forged_one_does_not(stripe_double):
    event = stripe_double.event_for("invoice.paid", {"id": "in_1", "object": "invoice"})
    payload = json.dumps(event)
    parsed = stripe_api.verify_event(payload.encode(), stripe_double.sign(payload))
    assert parsed.id == event["id"] and parsed.type == "invoice.paid"
    with pytest.raises(stripe_api.SignatureError):
        stripe_api.verify_event(payload.encode(), stripe_double.sign(payload, "whsec_wrong"))
    with pytest.raises(stripe_api.SignatureError):
        stripe_api.verify_event(
            payload.replace("in_1", "in_2").encode(), stripe_double.sign(payload)
        )
