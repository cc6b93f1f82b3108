"""The tenant side of billing: own billing only, customer portal, XRechnung, support access."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import drafthorse
import pytest
from billing import services, support
from billing.leitweg import is_valid_leitweg_id, make_leitweg_id
from billing.models import Invoice, Plan, Subscription, SupportAccessGrant
from billing.xrechnung import XRECHNUNG_GUIDELINE, build_xrechnung
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context
from lxml import etree

from tenants.common.models import AuditEntry
from tests.conftest import client_for, make_user

pytestmark = pytest.mark.django_db
PASSWORD = "pw-Secret-123"
XSD = Path(drafthorse.__file__).parent / "schema" / "Factur-X_1.0.07_EN16931.xsd"
LEITWEG = make_leitweg_id("05911000", "JUGENDAMT")


def logged_in(tenant, email, role):
    make_user(tenant, email, role, password=PASSWORD)
    client = client_for(tenant)
    response = client.post("/konto/anmelden/", {"username": email, "password": PASSWORD})
    assert response.status_code == 302
    return client


@pytest.fixture
def city_billing(city):
    subscription = Subscription.objects.create(
        tenant=city,
        plan=Plan.objects.get(code="kommune-l"),
        state="active",
        payment_route="invoice",
        stripe_customer_id="cus_test_bochum",
        stripe_subscription_id="sub_test_bochum",
        leitweg_id=LEITWEG,
        billing_street="Willy-Brandt-Platz 2–6",
        billing_postcode="44777",
        billing_city="Bochum",
    )
    invoice = Invoice.objects.create(
        tenant=city,
        stripe_invoice_id="in_test_bochum_1",
        number="KP-2026-0042",
        issued_at=timezone.now(),
        due_date=timezone.now().date() + timedelta(days=30),
        period_start=timezone.now().date(),
        period_end=timezone.now().date() + timedelta(days=30),
        net_cents=129000,
        tax_cents=24510,
        total_cents=153510,
        status="open",
        collection_method="send_invoice",
        lines=[{"description": "Kitaportal bis 250 Kitas", "quantity": 1, "amount_cents": 129000}],
    )
    return subscription, invoice


def test_the_leitweg_id_check_digits_are_verified():
    assert is_valid_leitweg_id("04011000-1234512345-06")
    assert not is_valid_leitweg_id("04011000-1234512345-07")
    assert not is_valid_leitweg_id("0401-")
    assert is_valid_leitweg_id(LEITWEG)


def test_the_xrechnung_validates_against_the_official_schema_and_carries_the_leitweg_id(
    city_billing,
):
    subscription, invoice = city_billing
    xml = build_xrechnung(invoice, subscription)
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    document = etree.fromstring(xml)
    schema.assertValid(document)
    ns = {
        "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
        "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    }
    assert document.findtext(".//ram:BuyerReference", namespaces=ns) == LEITWEG
    assert (
        document.findtext(".//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID", namespaces=ns)
        == XRECHNUNG_GUIDELINE
    )
    assert document.findtext(".//ram:GrandTotalAmount", namespaces=ns) == "1535.10"
    assert document.findtext(".//ram:DuePayableAmount", namespaces=ns) == "1535.10"


def test_an_invalid_xrechnung_would_be_refused_by_the_schema(city_billing):
    subscription, invoice = city_billing
    xml = build_xrechnung(invoice, subscription)
    broken = xml.replace(b"<ram:TypeCode>380</ram:TypeCode>", b"<ram:Typo>380</ram:Typo>")
    assert broken != xml
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    with pytest.raises(etree.DocumentInvalid):
        schema.assertValid(etree.fromstring(broken))


def test_the_tenant_admin_sees_plan_state_invoices_and_downloads_the_xrechnung(city_billing, city):
    subscription, invoice = city_billing
    admin = logged_in(city, "admin@bochum.test", "tenant_admin")
    page = admin.get("/verwaltung/abrechnung/").content.decode()
    assert "bis 250 Kitas" in page and "KP-2026-0042" in page and LEITWEG in page
    response = admin.get(f"/verwaltung/abrechnung/rechnungen/{invoice.pk}/xrechnung.xml")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/xml")
    assert LEITWEG.encode() in response.content


def test_a_tenant_admin_sees_only_their_own_billing(city_billing, other_city, employer):
    subscription, invoice = city_billing
    for tenant, email in ((other_city, "admin@dueren.test"), (employer, "admin@rk.test")):
        admin = logged_in(tenant, email, "tenant_admin")
        page = admin.get("/verwaltung/abrechnung/")
        assert page.status_code == 200
        assert "KP-2026-0042" not in page.content.decode() and LEITWEG not in page.content.decode()
        assert (
            admin.get(f"/verwaltung/abrechnung/rechnungen/{invoice.pk}/xrechnung.xml").status_code
            == 404
        )
        assert admin.post("/verwaltung/abrechnung/datenexport/").status_code == 404


@pytest.mark.parametrize("role", ["youth_office", "carrier_staff", "parent"])
def test_other_roles_get_404_on_every_billing_url(city_billing, city, role):
    subscription, invoice = city_billing
    client = logged_in(city, f"{role}@bochum.test", role)
    assert client.get("/verwaltung/abrechnung/").status_code == 404
    assert client.post("/verwaltung/abrechnung/kundenportal/").status_code == 404
    assert (
        client.get(f"/verwaltung/abrechnung/rechnungen/{invoice.pk}/xrechnung.xml").status_code
        == 404
    )
    assert client.post("/verwaltung/abrechnung/datenexport/").status_code == 404
    assert client.post("/verwaltung/abrechnung/support/", {"hours": 2}).status_code == 404


def test_anonymous_visitors_are_sent_to_the_login(city_billing, city):
    response = client_for(city).get("/verwaltung/abrechnung/")
    assert response.status_code == 302 and "/konto/anmelden/" in response["Location"]


def test_the_platform_host_has_no_tenant_billing_pages(platform_client):
    assert platform_client.get("/verwaltung/abrechnung/").status_code == 404


def test_the_tenant_admin_opens_stripes_customer_portal(stripe_double, city, city_billing):
    from integrations import stripe as stripe_api

    customer = stripe_api.create_customer(name="Stadt Bochum", email="a@b.test", metadata={})
    Subscription.objects.filter(tenant=city).update(stripe_customer_id=customer["id"])
    admin = logged_in(city, "admin@bochum.test", "tenant_admin")
    response = admin.post("/verwaltung/abrechnung/kundenportal/")
    assert response.status_code == 302
    assert response["Location"].startswith(stripe_double.url + "/p/session/")


def test_support_enters_only_with_a_valid_approval_and_the_tenant_sees_the_log(city, city_billing):
    operator = make_user(None, "ops@kitaportal.test", "platform_admin", is_staff=True)
    connection.set_schema_to_public()
    with pytest.raises(services.ValidationError):
        support.start_support_session(operator, city)

    admin = logged_in(city, "admin@bochum.test", "tenant_admin")
    assert admin.post("/verwaltung/abrechnung/support/", {"hours": 500}).status_code == 400
    assert admin.post("/verwaltung/abrechnung/support/", {"hours": 2}).status_code == 302
    grant = SupportAccessGrant.objects.get(tenant=city)
    assert timedelta(hours=1, minutes=59) < grant.expires_at - timezone.now() <= timedelta(hours=2)

    connection.set_schema_to_public()
    link = support.start_support_session(operator, city)
    assert link.startswith(city.portal_url)
    path = link.removeprefix(city.portal_url.rstrip("/"))
    supporter = client_for(city)
    assert supporter.get(path).status_code == 302
    assert supporter.get("/verwaltung/abrechnung/").status_code == 200, "support is in"
    with tenant_context(city):
        actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"support.approved", "support.session_requested", "support.session_started"} <= actions
    page = admin.get("/verwaltung/abrechnung/").content.decode()
    assert "support.session_started" in page

    assert admin.post(f"/verwaltung/abrechnung/support/{grant.pk}/widerrufen/").status_code == 302
    assert supporter.get("/verwaltung/abrechnung/").status_code == 302, "revoked: logged out"
    assert client_for(city).get(path).status_code == 403, "the link dies with the approval"


def test_a_support_link_for_one_tenant_does_not_open_another(city, other_city, city_billing):
    operator = make_user(None, "ops@kitaportal.test", "platform_admin", is_staff=True)
    admin = logged_in(city, "admin@bochum.test", "tenant_admin")
    admin.post("/verwaltung/abrechnung/support/", {"hours": 1})
    connection.set_schema_to_public()
    link = support.start_support_session(operator, city)
    path = link.removeprefix(city.portal_url.rstrip("/"))
    assert client_for(other_city).get(path).status_code == 403
    with tenant_context(other_city):
        assert not get_user_model().objects.filter(email__startswith="support-").exists()


@pytest.mark.parametrize("tenant_role", ["city", "employer"])
def test_platform_urls_do_not_exist_on_tenant_hosts(request, tenant_role, stripe_double):
    tenant = request.getfixturevalue(tenant_role)
    client = client_for(tenant)
    assert client.get("/anmelden/").status_code == 404
    assert client.get("/anmelden/subdomain-pruefen/", {"slug": "x"}).status_code == 404
    assert (
        client.post("/stripe/webhook/", data="{}", content_type="application/json").status_code
        == 404
    )
    assert client.get("/admin/billing/tenantaccount/").status_code == 404


def test_tenant_urls_do_not_exist_on_the_platform_host(platform_client):
    for path in ("/verwaltung/abrechnung/", "/verwaltung/einrichtung/", "/support/eintritt/x/"):
        assert platform_client.get(path).status_code == 404


def test_the_employer_admin_has_the_billing_page_too(employer):
    subscription = Subscription.objects.create(
        tenant=employer, plan=Plan.objects.get(code="belegplaetze-10"), state="trial",
        payment_route="checkout",
    )  # fmt: skip
    admin = logged_in(employer, "admin@rk.test", "tenant_admin")
    page = admin.get("/verwaltung/abrechnung/").content.decode()
    assert "bis 10 Belegplätze" in page and subscription.get_state_display() in page
