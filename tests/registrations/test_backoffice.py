"""The back office: each staff role sees its scope; exports; daycare queue; duplicates."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import tenant_context
from openpyxl import load_workbook

from registrations import services
from registrations.models import (
    Application,
    Carrier,
    DaycareRequest,
    District,
    Facility,
    StaffAssignment,
)
from registrations.services import ChildInput, GuardianInput
from tests.conftest import client_for, make_user
from tests.registrations.test_pre_registration import application_input, kitas

PASSWORD = "pw-Secret-123"


def staff(tenant, email, role, **scope):
    user = make_user(tenant, email, role, password=PASSWORD)
    if scope:
        with tenant_context(tenant):
            StaffAssignment.objects.create(user=get_user_model().objects.get(pk=user.pk), **scope)
    client = client_for(tenant)
    response = client.post("/konto/anmelden/", {"username": email, "password": PASSWORD})
    assert response.status_code == 302, "logged in"
    return client


@pytest.fixture
def applications(city):
    """Three applications in Bochum: two for facilities of one carrier, one elsewhere."""
    with tenant_context(city):
        ue3 = kitas("UE3", 35, 200)
        facilities = Facility.objects.filter(pk__in=ue3).select_related("carrier")
        per_carrier = {}
        for facility in facilities:
            per_carrier.setdefault(facility.carrier_id, []).append(facility.pk)
        carrier = Carrier.objects.get(pk=max(per_carrier, key=lambda c: len(per_carrier[c])))
        own = [f.pk for f in facilities if f.carrier_id == carrier.pk][:2]
        other = [f.pk for f in facilities if f.carrier_id != carrier.pk][:1]
        first = services.submit_application(None, application_input(facility_ids=own))
        birth = first.children.first().birth_date
        second = services.submit_application(
            None,
            application_input(
                children=[ChildInput("Paul", "Beispiel", birth)], facility_ids=own[:1]
            ),
        )
        third = services.submit_application(
            None,
            application_input(
                children=[ChildInput("Ida", "Anders", birth)],
                facility_ids=other,
                wants_family_daycare=True,
                family_daycare_district_id=District.objects.get(slug="nord").pk,
            ),
        )
    return {"carrier": carrier, "own": own, "other": other, "apps": [first, second, third]}


def test_the_youth_office_sees_every_incoming_pre_registration(city, applications):
    client = staff(city, "jugendamt@bochum.test", "youth_office")
    body = client.get("/verwaltung/voranmeldungen/").content.decode()
    for application in applications["apps"]:
        assert application.reference in body


def test_carrier_staff_see_only_their_facilities(city, applications):
    client = staff(city, "traeger@bochum.test", "carrier_staff", carrier=applications["carrier"])
    body = client.get("/verwaltung/voranmeldungen/").content.decode()
    first, second, third = applications["apps"]
    assert first.reference in body and second.reference in body
    assert third.reference not in body


def test_facility_staff_see_only_their_facility(city, applications):
    with tenant_context(city):
        facility = Facility.objects.get(pk=applications["own"][1])
    client = staff(city, "leitung@bochum.test", "facility_staff", facility=facility)
    body = client.get("/verwaltung/voranmeldungen/").content.decode()
    assert applications["apps"][0].reference in body
    assert applications["apps"][1].reference not in body


def test_parents_and_other_tenants_get_404_in_the_back_office(city, other_city, applications):
    parent = staff(city, "eltern@bochum.test", "parent")
    for path in (
        "/verwaltung/",
        "/verwaltung/voranmeldungen/",
        "/verwaltung/voranmeldungen/export.csv",
        "/verwaltung/tagespflege/",
        "/verwaltung/dubletten/",
    ):
        assert parent.get(path).status_code == 404
    outsider = staff(other_city, "jugendamt@dueren.test", "youth_office")
    body = outsider.get("/verwaltung/voranmeldungen/").content.decode()
    for application in applications["apps"]:
        assert application.reference not in body


def test_the_list_exports_as_csv_and_xlsx_with_the_same_rows(city, applications):
    client = staff(city, "traeger2@bochum.test", "carrier_staff", carrier=applications["carrier"])
    response = client.get("/verwaltung/voranmeldungen/export.csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Kita", "Vorgangsnummer", "Rang"]
    assert len(rows) == 1 + 3  # two wishes of the first, one of the second application
    workbook = load_workbook(
        io.BytesIO(client.get("/verwaltung/voranmeldungen/export.xlsx").content)
    )
    sheet_rows = list(workbook.active.values)
    assert [list(map(str, r)) for r in sheet_rows[1:]] == [r for r in rows[1:]]
    assert client.get("/verwaltung/voranmeldungen/export.pdf").status_code == 404


def test_the_list_filters_by_facility_and_runs_constant_queries(city, applications):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = staff(city, "jugendamt2@bochum.test", "youth_office")
    with CaptureQueriesContext(connection) as few:
        client.get("/verwaltung/voranmeldungen/", {"facility": applications["other"][0]})
    with CaptureQueriesContext(connection) as many:
        body = client.get("/verwaltung/voranmeldungen/").content.decode()
    assert len(few) == len(many)
    assert applications["apps"][2].reference in body


def test_the_fachberatung_works_its_districts_daycare_queue(city, applications):
    with tenant_context(city):
        nord = District.objects.get(slug="nord")
        sued = District.objects.get(slug="sud")
    own = staff(city, "tagespflege.nord@bochum.test", "fachberatung", district=nord)
    other = staff(city, "tagespflege.sued@bochum.test", "fachberatung", district=sued)
    third = applications["apps"][2]
    assert third.reference in own.get("/verwaltung/tagespflege/").content.decode()
    assert third.reference not in other.get("/verwaltung/tagespflege/").content.decode()
    with tenant_context(city):
        pk = DaycareRequest.objects.get(application=third).pk
    assert (
        other.post(f"/verwaltung/tagespflege/{pk}/status/", {"status": "placed"}).status_code == 404
    )
    own.post(f"/verwaltung/tagespflege/{pk}/status/", {"status": "in_contact"})
    own.post(f"/verwaltung/tagespflege/{pk}/status/", {"status": "placed"})
    with tenant_context(city):
        request = DaycareRequest.objects.get(pk=pk)
        kinds = list(third.events.values_list("kind", flat=True))
    assert request.status == "placed"
    assert kinds[-2:] == ["daycare_in_contact", "daycare_placed"]
    response = own.post(f"/verwaltung/tagespflege/{pk}/status/", {"status": "forwarded"})
    assert response.status_code == 302
    with tenant_context(city):
        assert DaycareRequest.objects.get(pk=pk).status == "placed", "invalid status refused"


def test_the_youth_office_merges_a_suspected_duplicate(city):
    with tenant_context(city):
        first = services.submit_application(None, application_input())
        birth = first.children.first().birth_date
        # a second account typed the first name differently: not caught at submission
        second = services.submit_application(
            None,
            application_input(
                children=[ChildInput("Miia", "Muster", birth)],
                guardians=[GuardianInput("Max", "Muster", "max@example.org")],
                facility_ids=kitas("UE3", 35, 5)[3:5],
            ),
        )
    client = staff(city, "jugendamt3@bochum.test", "youth_office")
    body = client.get("/verwaltung/dubletten/").content.decode()
    assert first.reference in body and second.reference in body
    client.post("/verwaltung/dubletten/zusammenfuehren/", {"keep": first.pk, "drop": second.pk})
    with tenant_context(city):
        second.refresh_from_db()
        assert second.status == Application.Status.MERGED
        assert first.wishes.count() == 5
    listing = client.get("/verwaltung/dubletten/").content.decode().split('class="duplicates"')[1]
    assert second.reference not in listing
