"""The platform operator's admin: tenants with type, plan, state and usage; billing timeline;
support access only with the tenant's approval."""

from __future__ import annotations

from datetime import timedelta

import pytest
from billing.models import BillingEvent, Plan, Subscription, SupportAccessGrant
from django.utils import timezone
from django_tenants.utils import tenant_context

from tenants.common.models import AuditEntry
from tests.conftest import client_for, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(tenant_registry):
    make_user(None, "ops@platform.test", "platform_admin", is_staff=True, is_superuser=True)
    client = client_for(None)
    client.post("/admin/login/", {"username": "ops@platform.test", "password": "pw-Secret-123"})
    return client


@pytest.fixture
def bochum_subscription(city):
    subscription = Subscription.objects.create(
        tenant=city, plan=Plan.objects.get(code="kommune-l"), state="past_due",
        payment_route="checkout",
    )  # fmt: skip
    BillingEvent.objects.create(
        tenant=city, kind="state.changed", state_from="active", state_to="past_due",
        reference="evt_test_1",
    )  # fmt: skip
    return subscription


def test_the_operator_lists_tenants_with_type_plan_state_and_usage(operator, bochum_subscription):
    body = operator.get("/admin/billing/tenantaccount/").content.decode()
    assert "Stadt Bochum" in body and "bis 250 Kitas" in body and "Zahlung überfällig" in body
    assert "Kitas: 190" in body, "Bochum's facilities, counted in its schema"
    assert "Voranmeldungen dieses Jahr:" in body
    assert "Belegplätze:" in body and "Umfrage-Antworten:" in body, "employers' usage"
    assert "ohne Abonnement" in body, "demo tenants without a subscription"
    assert "template_municipality" not in body


def test_the_operator_sees_a_tenants_billing_timeline(operator, bochum_subscription, city):
    body = operator.get(f"/admin/billing/tenantaccount/{city.pk}/change/").content.decode()
    assert "Verlauf der Abrechnung" in body and "evt_test_1" in body and "past_due" in body


def test_support_needs_the_tenant_admins_approval_and_is_logged_for_the_tenant(
    operator, bochum_subscription, city
):
    action = {"action": "start_support", "_selected_action": [city.pk]}
    response = operator.post("/admin/billing/tenantaccount/", action, follow=True)
    assert "keine gültige Support-Freigabe" in response.content.decode()
    SupportAccessGrant.objects.create(
        tenant=city, approved_by_id=1, expires_at=timezone.now() + timedelta(hours=1)
    )
    response = operator.post("/admin/billing/tenantaccount/", action)
    assert response.status_code == 302
    assert response["Location"].startswith(city.portal_url + "support/eintritt/")
    with tenant_context(city):
        assert AuditEntry.objects.filter(action="support.session_requested").exists()


def test_tenant_staff_cannot_reach_the_operator_admin(city):
    make_user(city, "admin@bochum.test", "tenant_admin", is_staff=True, is_superuser=True)
    client = client_for(city)
    assert client.get("/admin/billing/tenantaccount/").status_code == 404
