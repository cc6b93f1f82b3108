"""Onboarding checklists: a new municipality is ready to open when every step is done; an
employer's checklist; only the tenant's admin sees them."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.db import connection
from django_tenants.utils import tenant_context
from PIL import Image

from registrations import criteria, fees
from tenants import services as tenant_services
from tests.conftest import client_for

from .test_facility_import import ROWS, admin_client, as_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def neustadt(tenant_registry):
    connection.set_schema_to_public()
    return tenant_services.provision_tenant(
        None, tenant_type="municipality", slug="neustadt", name="Stadt Neustadt"
    )


def done_items(client) -> dict[str, bool]:
    import re

    html = client.get("/verwaltung/einrichtung/").content.decode()
    return {
        key: state == "yes"
        for key, state in re.findall(r'data-item="(\w+)" data-done="(\w+)"', html)
    }


def png() -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), "navy").save(out, "PNG")
    out.seek(0)
    out.name = "logo.png"
    return out


def test_a_new_municipality_works_through_its_checklist_until_the_portal_can_open(neustadt):
    admin = admin_client(neustadt)
    assert done_items(admin) == dict.fromkeys(
        ["districts", "facilities", "fees", "criteria", "rules", "staff", "texts"], False
    )
    for name in ("Nord", "Süd"):
        assert admin.post("/verwaltung/einrichtung/bezirke/", {"name": name}).status_code == 302
    assert (
        "Diesen Bezirk gibt es schon"
        in admin.post("/verwaltung/einrichtung/bezirke/", {"name": "nord"}).content.decode()
    )
    upload = io.BytesIO(as_csv(ROWS))
    upload.name = "kitas.csv"
    assert admin.post("/verwaltung/einrichtung/kitas/", {"file": upload}).status_code == 200
    response = admin.post(
        "/verwaltung/einrichtung/regeln/",
        {"max_wishes": "4", "application_deadline": "2027-01-15", "offers_from": "2026-12-01"},
    )
    assert "nach dem Anmeldeschluss" in response.content.decode(), "offers before the deadline"
    admin.post(
        "/verwaltung/einrichtung/regeln/",
        {"max_wishes": "4", "application_deadline": "2027-01-15", "offers_from": "2027-02-15"},
    )
    admin.post(
        "/verwaltung/einrichtung/texte/",
        {"welcome_text": "Willkommen im Kita-Portal Neustadt!", "welcome_text_en": "Welcome!",
         "logo": png(), "logo_alt": "Wappen der Stadt Neustadt"},
    )  # fmt: skip
    admin.post(
        "/verwaltung/mitarbeitende/",
        {"email": "jugendamt@neustadt.test", "first_name": "J", "last_name": "A",
         "role": "youth_office", "language": "de"},
    )  # fmt: skip
    home = client_for(neustadt).get("/").content.decode()
    assert "Willkommen im Kita-Portal Neustadt!" in home
    assert 'alt="Wappen der Stadt Neustadt"' in home
    english = client_for(neustadt).get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Welcome!" in english
    state = done_items(admin)
    assert state == {**dict.fromkeys(state, True), "fees": False, "criteria": False}
    with tenant_context(neustadt):
        criteria.ensure_default_catalogue()
        fees.ensure_demo_fee_table(date(2026, 8, 1))
        from registrations.models import PortalSettings

        assert PortalSettings.current().max_wishes == 4
    html = admin.get("/verwaltung/einrichtung/").content.decode()
    assert "Alles erledigt – Ihr Portal kann öffnen." in html and 'value="100"' in html


def test_an_employer_sees_its_own_checklist(employer):
    admin = admin_client(employer, "admin@rathauskids.test")
    html = admin.get("/verwaltung/einrichtung/").content.decode()
    for label in ("Profil des Arbeitgebers", "Personalabteilung", "Bedarfsumfrage", "Belegplätze"):
        assert label in html
    assert admin.get("/verwaltung/einrichtung/kitas/").status_code == 404, "municipalities only"


@pytest.mark.parametrize(
    "path",
    [
        "/verwaltung/einrichtung/",
        "/verwaltung/einrichtung/bezirke/",
        "/verwaltung/einrichtung/kitas/",
        "/verwaltung/einrichtung/regeln/",
        "/verwaltung/einrichtung/texte/",
    ],
)
def test_onboarding_pages_are_the_tenant_admins_only(neustadt, city, path):
    staff = admin_client(neustadt, "jugendamt@neustadt.test", "youth_office")
    assert staff.get(path).status_code == 404
    other_admin = admin_client(city, "admin@bochum.test")
    if path != "/verwaltung/einrichtung/":
        # another tenant's admin only ever reaches their own tenant's data
        response = other_admin.get(path)
        assert "Neustadt" not in response.content.decode()
    assert client_for(None).get(path).status_code == 404, "not on the platform host"
