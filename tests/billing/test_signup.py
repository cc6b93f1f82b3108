"""Self-service sign-up: public site, email verification, subdomain, plan, payment, provisioning."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from billing import services
from billing.leitweg import make_leitweg_id
from billing.models import SignupApplication, Subscription
from django.db import connection
from django_tenants.utils import schema_exists, tenant_context

from tenants.common.models import OutboxMessage
from tenants.models import Tenant
from tests.conftest import client_for

from .conftest import signup_through_services

Status = SignupApplication.Status
pytestmark = pytest.mark.django_db
LEITWEG = make_leitweg_id("05913000", "KITA")


def _verification_link() -> str:
    connection.set_schema_to_public()
    message = OutboxMessage.objects.order_by("-pk").first()
    return re.search(r"http://\S+", message.body_text).group(0)


def test_the_platform_site_shows_the_service_prices_and_the_bochum_demo_in_german(
    platform_client, city
):
    response = platform_client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Tarife und Preise" in html and "bis 25 Kitas" in html and "290,00 €" in html
    assert "bis 250 Beschäftigte" in html and "bis 10 Belegplätze" in html
    assert "30 Tage" in html
    assert f'href="{city.portal_url}"' in html


def test_the_platform_site_is_complete_in_english(platform_client, city):
    html = platform_client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Plans and prices" in html and "up to 25 facilities" in html
    assert "Tarife" not in html


def test_signing_up_sends_a_verification_link_and_the_link_leads_to_the_subdomain_step(
    platform_client, tenant_registry
):
    response = platform_client.post(
        "/anmelden/",
        {
            "tenant_type": "municipality",
            "organisation_name": "Stadt Herne",
            "email": "It@Herne.test",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/anmelden/gesendet/"
    application = SignupApplication.objects.get()
    assert application.email == "it@herne.test" and application.status == Status.STARTED
    link = _verification_link()
    response = platform_client.get(urlsplit(link).path)
    assert response.status_code == 302
    assert response["Location"] == f"/anmelden/{application.pk}/subdomain/"
    application.refresh_from_db()
    assert application.status == Status.VERIFIED


def test_bad_sign_up_input_gets_messages_and_creates_nothing(platform_client, tenant_registry):
    response = platform_client.post(
        "/anmelden/", {"tenant_type": "bakery", "organisation_name": "", "email": "nope"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Bitte prüfen Sie Ihre Angaben" in html
    assert not SignupApplication.objects.exists() and not OutboxMessage.objects.exists()


def test_a_forged_or_foreign_verification_link_is_refused(platform_client, tenant_registry):
    response = platform_client.get("/anmelden/bestaetigen/abc:def/")
    assert response.status_code == 400
    assert "ungültig oder abgelaufen" in response.content.decode()


@pytest.mark.parametrize(
    ("slug", "available", "reason"),
    [
        ("herne", True, "herne.localhost ist frei"),
        ("bochum", False, "bereits vergeben"),
        ("admin", False, "reserviert"),
        ("template-municipality", False, "reserviert"),
        ("Her ne!", False, "Ungültiger Kurzname"),
        ("-herne", False, "Ungültiger Kurzname"),
    ],
)
def test_the_live_subdomain_check_applies_the_foundation_slug_rules(
    platform_client, tenant_registry, slug, available, reason
):
    data = platform_client.get("/anmelden/subdomain-pruefen/", {"slug": slug}).json()
    assert data["available"] is available
    assert reason in data["message"]


def test_a_subdomain_another_open_sign_up_holds_is_not_offered(stripe_double, tenant_registry):
    signup_through_services(stripe_double, slug="herne")
    assert "bereits vergeben" in services.check_subdomain("herne")


def test_paying_by_invoice_needs_a_valid_leitweg_id_and_an_address(tenant_registry):
    application = services.start_signup(
        tenant_type="municipality",
        organisation_name="Kreis Mettmann",
        email="a@kreis.test",
        language="de",
        base_url="http://localhost:8000",
    )
    services.verify_signup_email(services.verification_token(application))
    application.refresh_from_db()
    with pytest.raises(services.SignupError) as info:
        services.choose_plan(
            application,
            plan_code="kommune-m",
            payment_route="invoice",
            leitweg_id="05158000-KITA-99",
            billing_street="",
            billing_postcode="4082",
            billing_city="Mettmann",
        )
    errors = info.value.message_dict
    assert "Leitweg-ID" in errors["leitweg_id"][0]
    assert set(errors) == {"leitweg_id", "billing_street", "billing_postcode"}
    application.refresh_from_db()
    assert application.plan is None


def test_checkout_leads_to_the_double_and_its_confirmation_provisions_a_whole_tenant(
    stripe_double, platform_client, tenant_registry
):
    application, url = signup_through_services(stripe_double, slug="herne")
    assert url.startswith(stripe_double.url + "/c/pay/cs_test_")
    assert application.status == Status.AWAITING_PAYMENT
    # the browser comes back from Checkout; the view asks Stripe whether it was completed
    stripe_double.complete_checkout(application.stripe_checkout_session_id)
    session = platform_client.session
    session["signup_id"] = str(application.pk)
    session.save()
    response = platform_client.get(
        f"/anmelden/{application.pk}/fortschritt/",
        {"session_id": application.stripe_checkout_session_id},
    )
    assert response.status_code == 200
    application.refresh_from_db()
    assert application.status == Status.CONFIRMED and application.stripe_subscription_id

    services.provision_signup(application.pk)

    application.refresh_from_db()
    tenant = Tenant.objects.get(slug="herne")
    assert application.status == Status.READY and application.tenant == tenant
    assert application.email == ""  # the address now lives only in the tenant's user table
    assert tenant.type == "municipality" and schema_exists("herne")
    subscription = Subscription.objects.get(tenant=tenant)
    assert subscription.state == "trial" and subscription.plan.code == "kommune-s"
    assert subscription.stripe_subscription_id == application.stripe_subscription_id
    with tenant_context(tenant):
        from django.contrib.auth import get_user_model

        admin = get_user_model().objects.get()
        assert admin.email == "admin@herne.test" and admin.role == "tenant_admin"
        assert not admin.has_usable_password()
        invitation = OutboxMessage.objects.get()
        assert invitation.recipients == ["admin@herne.test"]
        assert "http://herne.localhost:8000/konto/passwort/neu/" in invitation.body_text
    progress = platform_client.get(
        f"/anmelden/{application.pk}/fortschritt/", {"format": "json"}
    ).json()
    assert progress["ready"] and progress["portal_url"] == tenant.portal_url
    assert [step["done"] for step in progress["steps"]] == [True, True, True]


def test_an_invoice_sign_up_is_confirmed_without_checkout_and_keeps_the_leitweg_id(
    stripe_double, tenant_registry
):
    application, url = signup_through_services(
        stripe_double,
        slug="mettmann",
        route="invoice",
        plan="kommune-m",
        leitweg_id=LEITWEG,
        billing_street="Düsseldorfer Str. 26",
        billing_postcode="40822",
        billing_city="Mettmann",
    )
    assert url is None and application.status == Status.CONFIRMED
    services.provision_signup(application.pk)
    subscription = Subscription.objects.get(tenant__slug="mettmann")
    assert subscription.payment_route == "invoice" and subscription.leitweg_id == LEITWEG
    assert stripe_double.objects[subscription.stripe_subscription_id]["collection_method"] == (
        "send_invoice"
    )


def test_provisioning_twice_creates_one_tenant(stripe_double, tenant_registry):
    application, _ = signup_through_services(
        stripe_double,
        slug="herne",
        route="invoice",
        leitweg_id=LEITWEG,
        billing_street="Str. 1",
        billing_postcode="44623",
        billing_city="Herne",
    )
    services.provision_signup(application.pk)
    services.provision_signup(application.pk)
    assert Tenant.objects.filter(slug="herne").count() == 1
    assert Subscription.objects.filter(tenant__slug="herne").count() == 1


def test_a_failed_step_leaves_no_half_tenant_and_the_retry_completes_it(
    stripe_double, tenant_registry, monkeypatch
):
    application, _ = signup_through_services(
        stripe_double,
        slug="herne",
        route="invoice",
        leitweg_id=LEITWEG,
        billing_street="Str. 1",
        billing_postcode="44623",
        billing_city="Herne",
    )

    def broken(*args, **kwargs):
        raise ConnectionError("mail template store down")

    monkeypatch.setattr(services, "_create_first_admin", broken)
    with pytest.raises(ConnectionError):
        services.provision_signup(application.pk)
    application.refresh_from_db()
    assert application.status == Status.FAILED and application.last_error == "ConnectionError"
    assert not Tenant.objects.filter(slug="herne").exists()
    assert not schema_exists("herne")
    assert not Subscription.objects.exists()

    monkeypatch.undo()
    services.provision_signup(application.pk)
    application.refresh_from_db()
    assert application.status == Status.READY and application.attempts == 2
    assert schema_exists("herne")


def test_another_browser_cannot_see_or_continue_a_sign_up(stripe_double, tenant_registry):
    application, _ = signup_through_services(stripe_double, slug="herne")
    stranger = client_for(None)
    for step in ("subdomain", "tarif", "bezahlen", "fortschritt"):
        assert stranger.get(f"/anmelden/{application.pk}/{step}/").status_code == 404


def test_the_sign_up_form_sends_at_most_three_links_an_hour_to_one_address(tenant_registry):
    for _ in range(3):
        services.start_signup(
            tenant_type="employer", organisation_name="Firma X", email="hr@x.test",
            language="de", base_url="http://localhost:8000",
        )  # fmt: skip
    with pytest.raises(services.SignupError) as info:
        services.start_signup(
            tenant_type="employer", organisation_name="Firma X", email="HR@x.test",
            language="de", base_url="http://localhost:8000",
        )  # fmt: skip
    assert "gerade schon Links verschickt" in info.value.message_dict["email"][0]
    assert OutboxMessage.objects.count() == 3


def test_an_employer_signs_up_by_reserved_places_and_gets_an_employer_tenant(
    stripe_double, tenant_registry
):
    with pytest.raises(services.SignupError):
        signup_through_services(stripe_double, slug="firma", tenant_type="employer")  # a city plan
    SignupApplication.objects.all().delete()
    application, url = signup_through_services(
        stripe_double, slug="firma", tenant_type="employer", plan="belegplaetze-10",
        email="hr@firma.test",
    )  # fmt: skip
    stripe_double.complete_checkout(application.stripe_checkout_session_id, payment_method="card")
    services.confirm_checkout_session(
        stripe_double.objects[application.stripe_checkout_session_id], "test"
    )
    services.provision_signup(application.pk)
    tenant = Tenant.objects.get(slug="firma")
    assert tenant.type == "employer"
    assert Subscription.objects.get(tenant=tenant).plan.label == "bis 10 Belegplätze"
    with tenant_context(tenant):
        from django.contrib.auth import get_user_model

        assert get_user_model().objects.get().role == "tenant_admin"
