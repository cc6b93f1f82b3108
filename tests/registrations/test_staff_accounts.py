"""The tenant admin creates staff accounts; invitees set their password; nobody else can."""

import re

from django.contrib.auth import get_user_model
from django_tenants.utils import tenant_context

from registrations.models import Carrier, StaffAssignment
from tenants.common.models import OutboxMessage
from tests.conftest import client_for
from tests.registrations.test_backoffice import staff


def test_the_tenant_admin_invites_carrier_staff_who_then_sets_a_password(city):
    admin = staff(city, "admin@bochum.test", "tenant_admin")
    with tenant_context(city):
        carrier = Carrier.objects.order_by("pk").first()
    response = admin.post(
        "/verwaltung/mitarbeitende/",
        {
            "first_name": "Tanja",
            "last_name": "Träger",
            "email": "Tanja@Traeger.example",
            "role": "carrier_staff",
            "carrier": carrier.pk,
            "language": "de",
        },
    )
    assert response.status_code == 302
    with tenant_context(city):
        user = get_user_model().objects.get(email="tanja@traeger.example")
        assert not user.has_usable_password()
        assert StaffAssignment.objects.get(user=user).carrier == carrier
        mail = OutboxMessage.objects.get(recipients=["tanja@traeger.example"])
    path = re.search(r"https?://[^/\s]+(/konto/passwort/neu/\S+/)", mail.body_text).group(1)
    invitee = client_for(city)
    page = invitee.get(path, follow=True)
    set_url = page.redirect_chain[-1][0]
    invitee.post(
        set_url, {"new_password1": "Traeger-Pw-2027!", "new_password2": "Traeger-Pw-2027!"}
    )
    login = client_for(city).post(
        "/konto/anmelden/", {"username": "tanja@traeger.example", "password": "Traeger-Pw-2027!"}
    )
    assert login.status_code == 302


def test_a_role_without_its_scope_is_refused_and_nothing_is_created(city):
    admin = staff(city, "admin2@bochum.test", "tenant_admin")
    response = admin.post(
        "/verwaltung/mitarbeitende/",
        {
            "first_name": "F",
            "last_name": "B",
            "email": "fb@example.org",
            "role": "fachberatung",
            "language": "de",
        },
    )
    assert response.status_code == 200
    assert "Zuständigkeit nötig" in response.content.decode()
    with tenant_context(city):
        assert not get_user_model().objects.filter(email="fb@example.org").exists()


def test_only_the_tenant_admin_manages_staff(city, other_city):
    youth_office = staff(city, "jugendamt9@bochum.test", "youth_office")
    assert youth_office.get("/verwaltung/mitarbeitende/").status_code == 404
    foreign_admin = staff(other_city, "admin@dueren.test", "tenant_admin")
    body = foreign_admin.get("/verwaltung/mitarbeitende/").content.decode()
    assert "jugendamt9@bochum.test" not in body


def test_the_tenant_admin_deactivates_a_staff_account(city):
    admin = staff(city, "admin3@bochum.test", "tenant_admin")
    staff(city, "weg@bochum.test", "youth_office")
    with tenant_context(city):
        pk = get_user_model().objects.get(email="weg@bochum.test").pk
    admin.post(f"/verwaltung/mitarbeitende/{pk}/deaktivieren/")
    with tenant_context(city):
        assert not get_user_model().objects.get(pk=pk).is_active
