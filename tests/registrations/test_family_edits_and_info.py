"""Password reset, the accessibility statement, start/hours edits, and a constant status page."""

import re
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from registrations.models import AccessibilityFeedback, Application
from tenants.common.models import OutboxMessage
from tests.conftest import client_for
from tests.registrations.test_parent_pages import form_data, sign_up_and_verify


def test_a_parent_resets_a_forgotten_password_through_the_emailed_link(city):
    sign_up_and_verify(city)
    client = client_for(city)
    response = client.post("/konto/passwort/", {"email": "eltern@example.org"})
    assert response.status_code == 302
    with tenant_context(city):
        mail = OutboxMessage.objects.get(subject__contains="neues Passwort")
    path = re.search(r"https?://[^/\s]+(/konto/passwort/neu/\S+/)", mail.body_text).group(1)
    form_page = client.get(path, follow=True)
    set_url = form_page.redirect_chain[-1][0] if form_page.redirect_chain else path
    response = client.post(
        set_url, {"new_password1": "Neues-Kita-Pw-2027", "new_password2": "Neues-Kita-Pw-2027"}
    )
    assert response.status_code == 302
    login = client_for(city).post(
        "/konto/anmelden/", {"username": "eltern@example.org", "password": "Neues-Kita-Pw-2027"}
    )
    assert login.status_code == 302


def test_a_reset_for_an_unknown_address_reveals_nothing_and_sends_nothing(city):
    response = client_for(city).post("/konto/passwort/", {"email": "niemand@example.org"})
    assert response.status_code == 302
    with tenant_context(city):
        assert not OutboxMessage.objects.filter(recipients=["niemand@example.org"]).exists()


def test_the_accessibility_statement_takes_feedback(city_client, city):
    page = city_client.get("/barrierefreiheit/").content.decode()
    assert "Erklärung zur Barrierefreiheit" in page and "BITV 2.0" in page
    response = city_client.post(
        "/barrierefreiheit/", {"page": "/voranmeldung/", "message": "Kontrast der Knöpfe zu gering"}
    )
    assert response.status_code == 302
    with tenant_context(city):
        assert AccessibilityFeedback.objects.get().page == "/voranmeldung/"


def test_empty_accessibility_feedback_gets_a_message_and_saves_nothing(city_client, city):
    response = city_client.post("/barrierefreiheit/", {"message": " "})
    assert response.status_code == 200
    assert "error-summary" in response.content.decode()
    with tenant_context(city):
        assert not AccessibilityFeedback.objects.exists()


def test_the_family_changes_start_date_and_care_hours(city):
    client = sign_up_and_verify(city)
    data = form_data(city)
    client.post("/voranmeldung/", data)
    with tenant_context(city):
        application = Application.objects.get()
    new_start = application.start_date + timedelta(days=31)
    url = f"/meine-anmeldungen/{application.reference}/aendern/"
    client.post(
        url, {"action": "change_start", "start_date": new_start.isoformat(), "care_hours": "25"}
    )
    with tenant_context(city):
        application.refresh_from_db()
        assert (application.start_date, application.care_hours) == (new_start, 25)
        assert application.events.filter(kind="start_changed").exists()
    response = client.post(
        url, {"action": "change_start", "start_date": "gestern", "care_hours": "x"}
    )
    assert response.status_code == 302
    with tenant_context(city):
        application.refresh_from_db()
        assert application.care_hours == 25, "a broken date changes nothing"
    client.post(url, {"action": "change_start", "start_date": "2001-01-01", "care_hours": "35"})
    with tenant_context(city):
        application.refresh_from_db()
        assert application.start_date == new_start, "a past date is refused"


def test_the_status_page_runs_a_constant_number_of_queries(city):
    client = sign_up_and_verify(city)
    client.post("/voranmeldung/", form_data(city))
    with CaptureQueriesContext(connection) as one:
        client.get("/meine-anmeldungen/")
    for index in range(3):
        client.post(
            "/voranmeldung/",
            form_data(
                city,
                child_0_first_name=f"Kind{index}",
                child_0_last_name=f"Nummer{index}",
            ),
        )
    with CaptureQueriesContext(connection) as four:
        body = client.get("/meine-anmeldungen/").content.decode()
    assert body.count("KP-") >= 4
    assert len(one) == len(four)
