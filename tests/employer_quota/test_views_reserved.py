"""The pages of both sides, end to end through HTTP, and their isolation: another employer's
HR, a parent, another tenant and a role outside the scope all get 404."""

import csv
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import tenant_context
from openpyxl import load_workbook

from employer_quota.agreements.models import Agreement, EligibilityCode, PlaceRequest
from registrations.models import Facility, StaffAssignment
from tenants.common.models import OutboxMessage
from tests.conftest import client_for
from tests.registrations.test_pre_registration import next_august

from .helpers import active_agreement, facility, login, parent_client, parent_with_application


@pytest.fixture
def hr(employer):
    return login(employer, "hr@rathauskids.test", "hr")


@pytest.fixture
def other_hr(other_employer):
    return login(other_employer, "hr@kreismaeuse.test", "hr")


@pytest.fixture
def office(city):
    return login(city, "ja@bochum.test", "youth_office")


def test_the_youth_office_proposes_and_hr_confirms_through_the_pages(city, employer, office, hr):
    kita = facility(city)
    response = office.get("/verwaltung/belegplaetze/neu/")
    assert response.status_code == 200
    start = next_august().isoformat()
    response = office.post(
        "/verwaltung/belegplaetze/neu/",
        {
            "employer": employer.pk,
            "facility": kita.pk,
            "age_group": "UE3",
            "places": 2,
            "care_hours": 35,
            "valid_from": start,
            "valid_to": f"{next_august().year + 2}-07-31",
            "monthly_fee": "400.00",
            "release_rule": "unclaimed_by_date",
            "release_day": 15,
            "release_month": 3,
        },
    )
    assert response.status_code == 302
    agreement = Agreement.objects.get(employer=employer)
    assert agreement.facility_name == kita.name

    page = hr.get("/belegplaetze/")
    assert f"/belegplaetze/{agreement.pk}/" in page.content.decode()
    assert hr.post(f"/belegplaetze/{agreement.pk}/", {"action": "confirm"}).status_code == 302
    agreement.refresh_from_db()
    assert agreement.status == "active"
    page = hr.get("/belegplaetze/").content.decode()
    assert kita.name in page and "800,00 €" in page


def test_invalid_input_on_the_proposal_form_shows_messages_and_saves_nothing(
    city, employer, office
):
    kita = facility(city)
    response = office.post(
        "/verwaltung/belegplaetze/neu/",
        {
            "employer": employer.pk,
            "facility": kita.pk,
            "age_group": "UE3",
            "places": 0,
            "care_hours": 35,
            "valid_from": "2031-08-01",
            "valid_to": "2030-07-31",
            "monthly_fee": "x",
            "release_rule": "never",
            "release_day": 1,
            "release_month": 1,
        },
    )
    assert response.status_code == 200
    assert 'class="error-summary"' in response.content.decode()
    assert not Agreement.objects.exists()


def test_hr_issues_codes_by_email_and_a_parent_redeems_one_in_the_portal(city, employer, hr):
    agreement = active_agreement(city, employer)
    response = hr.post(
        "/codes/",
        {"channel": "email", "emails": "a@rathaus.test\nb@rathaus.test", "valid_days": 30},
    )
    assert response.status_code == 302
    with tenant_context(employer):
        mails = list(OutboxMessage.objects.order_by("pk"))
    assert [m.recipients for m in mails] == [["a@rathaus.test"], ["b@rathaus.test"]]
    plain = re.search(r"[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}", mails[0].body_text).group(0)
    assert EligibilityCode.objects.filter(employer=employer).count() == 2

    user, application = parent_with_application(city, facility_ids=[agreement.facility_id])
    parent = parent_client(city, user.email)
    url = f"/meine-anmeldungen/{application.reference}/arbeitgeber-code/"
    assert parent.get(url).status_code == 200
    response = parent.post(url, {"code": "WRNG-WRNG-WRNG"})
    assert response.status_code == 200 and "ungültig" in response.content.decode()
    response = parent.post(url, {"code": plain, "share_status": "on"}, follow=True)
    assert employer.name in response.content.decode()

    dashboard = hr.get("/belegplaetze/").content.decode()
    assert re.search(r'id="total-used">1<', dashboard)
    codes_page = hr.get("/codes/").content.decode()
    assert 'id="codes-redeemed">1<' in codes_page
    assert 'data-shared-status="received">eingegangen<' in codes_page, "shared with consent"


def test_a_printed_sheet_shows_the_codes_once(employer, hr):
    response = hr.post("/codes/", {"channel": "print", "count": 3, "valid_days": 10})
    page = response.content.decode()
    assert response.status_code == 200
    assert len(re.findall(r'class="code">[2-9A-Z]{4}-', page)) == 3
    assert not re.search(r"[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}", hr.get("/codes/").content.decode())


def test_the_dashboard_exports_csv_and_xlsx_and_statements_are_pdfs(city, employer, hr):
    agreement = active_agreement(city, employer, places=3)
    rows = list(
        csv.reader(
            io.StringIO(hr.get("/belegplaetze/export.csv").content.decode("utf-8-sig")),
            delimiter=";",
        )
    )
    assert rows[0][0] == "Kommune" and rows[1][1] == agreement.facility_name and rows[1][4] == "3"
    book = load_workbook(io.BytesIO(hr.get("/belegplaetze/export.xlsx").content))
    assert book.active["E2"].value == 3
    start = agreement.current.valid_from
    pdf = hr.get(f"/belegplaetze/{agreement.pk}/abrechnung/{start.year}-{start.month}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    outside = hr.get(f"/belegplaetze/{agreement.pk}/abrechnung/{start.year - 5}-1.pdf")
    assert outside.status_code == 404


def test_a_place_request_reaches_the_municipalitys_back_office(city, employer, hr, office):
    response = hr.post(
        "/belegplaetze/anfrage/",
        {
            "municipality": city.pk,
            "u3_places": 3,
            "ue3_places": 4,
            "care_hours": 35,
            "wanted_from": "2031-08-01",
        },
    )
    assert response.status_code == 302
    request = PlaceRequest.objects.get(employer=employer)
    page = office.get("/verwaltung/belegplaetze/").content.decode()
    assert employer.name in page and f"?anfrage={request.pk}" in page
    assert (
        office.post(f"/verwaltung/belegplaetze/anfragen/{request.pk}/ablehnen/").status_code == 302
    )
    request.refresh_from_db()
    assert request.status == "declined"


# --- isolation ------------------------------------------------------------------------------

EMPLOYER_GETS = [
    "/belegplaetze/",
    "/belegplaetze/export.csv",
    "/belegplaetze/{pk}/",
    "/belegplaetze/{pk}/abrechnung/{y}-8.pdf",
    "/belegplaetze/anfrage/",
    "/codes/",
]
MUNICIPAL_GETS = [
    "/verwaltung/belegplaetze/",
    "/verwaltung/belegplaetze/neu/",
    "/verwaltung/belegplaetze/{pk}/",
    "/verwaltung/belegplaetze/berechtigte/",
]


def _urls(templates, agreement):
    return [t.format(pk=agreement.pk, y=agreement.current.valid_from.year) for t in templates]


def test_another_employers_hr_gets_404_for_this_employers_agreement_and_codes(
    city, employer, other_hr
):
    agreement = active_agreement(city, employer)
    for url in _urls(["/belegplaetze/{pk}/", "/belegplaetze/{pk}/abrechnung/{y}-8.pdf"], agreement):
        assert other_hr.get(url).status_code == 404, url
    assert other_hr.post(f"/belegplaetze/{agreement.pk}/", {"action": "end"}).status_code == 404
    from employer_quota.agreements import services as agreements

    [(code, _)] = agreements.issue_codes(None, employer, count=1, channel="print")
    assert other_hr.post(f"/codes/{code.number}/widerrufen/").status_code == 404
    code.refresh_from_db()
    assert code.revoked_at is None
    assert agreement.facility_name not in other_hr.get("/belegplaetze/").content.decode()


def test_a_parent_and_non_hr_accounts_get_404_on_the_employers_pages(city, employer):
    agreement = active_agreement(city, employer)
    someone = login(employer, "parent@rathauskids.test", "parent")
    for url in _urls(EMPLOYER_GETS, agreement):
        assert someone.get(url).status_code == 404, url
    user, _ = parent_with_application(city)
    parent = parent_client(city, user.email)
    for url in _urls(EMPLOYER_GETS + MUNICIPAL_GETS, agreement):
        assert parent.get(url).status_code == 404, url


def test_another_tenant_gets_404(city, other_city, employer, other_employer):
    agreement = active_agreement(city, employer)
    dueren = login(other_city, "ja@dueren.test", "youth_office")
    assert dueren.get(f"/verwaltung/belegplaetze/{agreement.pk}/").status_code == 404
    assert agreement.facility_name not in dueren.get("/verwaltung/belegplaetze/").content.decode()
    bochum = login(city, "ja2@bochum.test", "youth_office")
    for url in _urls(EMPLOYER_GETS, agreement):
        assert bochum.get(url).status_code == 404, url
    hr = login(employer, "hr2@rathauskids.test", "hr")
    for url in _urls(MUNICIPAL_GETS, agreement):
        assert hr.get(url).status_code == 404, url
    anonymous = client_for(other_employer)
    assert anonymous.get(f"/belegplaetze/{agreement.pk}/").status_code in (302, 404)


def test_place_request_answers_and_consent_changes_are_404_outside_their_tenant_and_owner(
    city, other_city, employer
):
    from employer_quota.agreements import services as agreements
    from employer_quota.municipal import services as municipal

    request = agreements.request_places(
        None,
        employer=employer,
        municipality=city,
        u3_places=1,
        ue3_places=0,
        care_hours=35,
        wanted_from=next_august(),
    )
    dueren = login(other_city, "ja-r@dueren.test", "youth_office")
    assert (
        dueren.post(f"/verwaltung/belegplaetze/anfragen/{request.pk}/ablehnen/").status_code == 404
    )
    user, application = parent_with_application(city, email="p-r@example.org")
    parent = parent_client(city, user.email)
    assert (
        parent.post(f"/verwaltung/belegplaetze/anfragen/{request.pk}/ablehnen/").status_code == 404
    )
    request.refresh_from_db()
    assert request.status == "open"

    agreement = active_agreement(city, employer)
    [(_, plain)] = agreements.issue_codes(None, employer, count=1, channel="print")
    with tenant_context(city):
        eligibility = municipal.redeem_code(
            get_user_model().objects.get(pk=user.pk),
            application,
            plain,
            share_status=False,
            address="x",
        )
    other, _ = parent_with_application(
        city,
        email="p-s@example.org",
        children=[
            __import__("registrations.services").services.ChildInput(
                "Uli",
                "Anders",
                application.start_date.replace(year=application.start_date.year - 4),
            )
        ],
    )
    url = (
        f"/meine-anmeldungen/{application.reference}/arbeitgeber-code/"
        f"{eligibility.pk}/einwilligung/"
    )
    assert parent_client(city, other.email).post(url, {"share": "1"}).status_code == 404
    assert dueren.post(url, {"share": "1"}).status_code == 404
    assert parent.post(url, {"share": "1"}).status_code == 302
    assert agreement.pk


def test_back_office_scopes_carrier_staff_and_exclude_facility_staff(city, employer):
    agreement = active_agreement(city, employer)
    with tenant_context(city):
        kita = Facility.objects.get(pk=agreement.facility_id)
        other_carrier_kita = Facility.objects.exclude(carrier=kita.carrier).first()
    carrier = login(city, "traeger@bochum.test", "carrier_staff")
    with tenant_context(city):
        StaffAssignment.objects.create(
            user=get_user_model().objects.get(email="traeger@bochum.test"),
            carrier=other_carrier_kita.carrier,
        )
    assert carrier.get(f"/verwaltung/belegplaetze/{agreement.pk}/").status_code == 404
    assert carrier.get("/verwaltung/belegplaetze/").status_code == 200
    kita_staff = login(city, "kita@bochum.test", "facility_staff")
    for url in _urls(MUNICIPAL_GETS, agreement):
        assert kita_staff.get(url).status_code == 404, url


def test_a_parent_gets_404_for_another_familys_code_page(city, employer):
    active_agreement(city, employer)
    _, application = parent_with_application(city, email="eins@example.org")
    other, _ = parent_with_application(
        city,
        email="zwei@example.org",
        children=[
            __import__("registrations.services").services.ChildInput(
                "Kai", "Zwei", application.start_date.replace(year=application.start_date.year - 4)
            )
        ],
    )
    client = parent_client(city, other.email)
    url = f"/meine-anmeldungen/{application.reference}/arbeitgeber-code/"
    assert client.get(url).status_code == 404
    assert client.post(url, {"code": "AAAA-BBBB-CCCC"}).status_code == 404
    with tenant_context(city):
        from employer_quota.municipal.models import EmployerEligibility

        assert not EmployerEligibility.objects.exists()
    office = login(city, "ja3@bochum.test", "youth_office")
    assert office.get(url).status_code == 404


def test_the_confirmation_page_leads_to_the_code_page(city):
    user, application = parent_with_application(city, email="bestaetigt@example.org")
    page = parent_client(city, user.email).get(
        f"/voranmeldung/{application.reference}/bestaetigung/"
    )
    assert f"/meine-anmeldungen/{application.reference}/arbeitgeber-code/" in page.content.decode()


def test_the_employer_pages_speak_english(city, employer, hr):
    active_agreement(city, employer)
    hr.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = hr.get("/belegplaetze/").content.decode()
    assert "Reserved places in Kita year" in page and "Monthly cost" in page
    assert "Eligibility codes for staff" in hr.get("/codes/").content.decode()
    assert "Needs surveys" in hr.get("/umfragen/").content.decode()


def test_the_code_list_does_not_tell_which_code_was_redeemed_without_consent(city, employer, hr):
    from datetime import timedelta

    from django.utils import timezone

    from employer_quota.agreements import services as agreements
    from employer_quota.municipal import services as municipal

    agreement = active_agreement(city, employer)
    issued = agreements.issue_codes(None, employer, count=2, channel="print")
    user, application = parent_with_application(city, facility_ids=[agreement.facility_id])
    with tenant_context(city):
        municipal.redeem_code(
            get_user_model().objects.get(pk=user.pk),
            application,
            issued[0][1],
            share_status=False,
            address="10.5.5.5",
        )
    page = hr.get("/codes/").content.decode()
    states = re.findall(r"<td>(ausgegeben|eingelöst|abgelaufen|widerrufen)", page)
    assert states == ["ausgegeben", "ausgegeben"], "redeemed and open look alike"
    EligibilityCode.objects.filter(employer=employer).update(
        expires_at=timezone.now() - timedelta(days=1)
    )
    page = hr.get("/codes/").content.decode()
    assert re.findall(r"<td>(ausgegeben|eingelöst|abgelaufen|widerrufen)", page) == [
        "abgelaufen",
        "abgelaufen",
    ]
    assert 'id="codes-redeemed">1<' in page, "the count is what the employer learns"
