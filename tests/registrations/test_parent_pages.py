"""The parent's way through the portal: sign up, verify, pre-register, see and change."""

import re
import uuid
from datetime import timedelta

import pytest
from django_tenants.utils import tenant_context

from registrations.models import Application, District, Facility
from tenants.common.models import OutboxMessage
from tests.conftest import client_for
from tests.registrations.test_pre_registration import kitas, next_august


def sign_up_and_verify(tenant, email="eltern@example.org"):
    client = client_for(tenant)
    response = client.post(
        "/registrieren/",
        {
            "first_name": "Maria",
            "last_name": "Muster",
            "email": email,
            "password": "Kita-Platz-2027!",
            "language": "de",
        },
    )
    assert response.status_code == 200 and "Fast geschafft" in response.content.decode()
    with tenant_context(tenant):
        mail = OutboxMessage.objects.get(recipients=[email])
    link = re.search(r"https?://\S+/konto/bestaetigen/\S+/", mail.body_text).group(0)
    path = link.split(tenant.hostname, 1)[1]
    response = client.get(path)
    assert response.status_code == 302 and response["Location"] == "/voranmeldung/"
    return client


def form_data(tenant, **overrides):
    with tenant_context(tenant):
        wishes = kitas("UE3", 35, 3)
        district = District.objects.order_by("pk").first().pk
    start = next_august()
    data = {
        "idempotency_key": str(uuid.uuid4()),
        "child_0_first_name": "Mia",
        "child_0_last_name": "Muster",
        "child_0_birth_date": (start - timedelta(days=365 * 4)).isoformat(),
        "start_date": start.isoformat(),
        "care_hours": "35",
        "street": "Lindenstraße 5",
        "postcode": "44787",
        "district": str(district),
        "guardian_first_name": "Maria",
        "guardian_last_name": "Muster",
        "guardian_email": "eltern@example.org",
        "wish_1": str(wishes[0]),
        "wish_2": str(wishes[1]),
        "wish_3": str(wishes[2]),
    }
    data.update(overrides)
    return data


def test_a_new_parent_signs_up_verifies_and_pre_registers(city):
    client = sign_up_and_verify(city)
    data = form_data(city)
    response = client.post("/voranmeldung/", data)
    assert response.status_code == 302
    confirmation = client.get(response["Location"]).content.decode()
    with tenant_context(city):
        application = Application.objects.get()
        names = [w.facility.name for w in application.wishes.order_by("rank")]
    assert application.reference in confirmation
    for name in names:
        assert name in confirmation
    page = client.get("/meine-anmeldungen/").content.decode()
    assert application.reference in page and "eingegangen" in page


def test_a_double_click_creates_one_application(city):
    client = sign_up_and_verify(city)
    data = form_data(city)
    first = client.post("/voranmeldung/", data)
    second = client.post("/voranmeldung/", data)
    assert first["Location"] == second["Location"]
    with tenant_context(city):
        assert Application.objects.count() == 1


def test_invalid_input_is_shown_next_to_the_field_and_keeps_what_was_typed(city):
    client = sign_up_and_verify(city)
    data = form_data(city, start_date="2001-01-01", street="Meine Straße 99")
    response = client.post("/voranmeldung/", data)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="error-summary"' in body
    assert "nicht in der Vergangenheit" in body
    assert 'value="Meine Straße 99"' in body
    with tenant_context(city):
        assert not Application.objects.exists()


def test_the_family_moves_a_wish_up_and_withdraws_one(city):
    client = sign_up_and_verify(city)
    client.post("/voranmeldung/", form_data(city))
    with tenant_context(city):
        application = Application.objects.get()
        ids = list(application.wishes.order_by("rank").values_list("facility_id", flat=True))
    url = f"/meine-anmeldungen/{application.reference}/aendern/"
    client.post(url, {"action": "up", "facility": ids[2]})
    client.post(url, {"action": "withdraw_wish", "facility": ids[0]})
    with tenant_context(city):
        order = list(application.wishes.order_by("rank").values_list("facility_id", "status"))
    assert order == [(ids[0], "withdrawn"), (ids[2], "received"), (ids[1], "received")]


def test_another_family_and_another_tenant_get_a_404(city, other_city):
    owner = sign_up_and_verify(city)
    owner.post("/voranmeldung/", form_data(city))
    with tenant_context(city):
        reference = Application.objects.get().reference
    stranger = sign_up_and_verify(city, email="fremd@example.org")
    assert stranger.get(f"/voranmeldung/{reference}/bestaetigung/").status_code == 404
    response = stranger.post(f"/meine-anmeldungen/{reference}/aendern/", {"action": "withdraw"})
    assert response.status_code == 404
    assert reference not in stranger.get("/meine-anmeldungen/").content.decode()
    # the owner's session is not valid on Kreis Düren, and the reference means nothing there
    response = owner.get(f"/voranmeldung/{reference}/bestaetigung/", HTTP_HOST=other_city.hostname)
    assert response.status_code == 302 and "/konto/anmelden/" in response["Location"]
    with tenant_context(city):
        assert Application.objects.get().status == "active"


def test_pages_for_families_need_a_login(city):
    client = client_for(city)
    for path in ("/voranmeldung/", "/meine-anmeldungen/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/konto/anmelden/")


def test_an_unverified_account_cannot_log_in(city):
    client = client_for(city)
    client.post(
        "/registrieren/",
        {
            "first_name": "A",
            "last_name": "B",
            "email": "neu@example.org",
            "password": "Kita-Platz-2027!",
            "language": "en",
        },
    )
    response = client.post(
        "/konto/anmelden/", {"username": "neu@example.org", "password": "Kita-Platz-2027!"}
    )
    assert response.status_code == 200
    with tenant_context(city):
        mail = OutboxMessage.objects.get(recipients=["neu@example.org"])
    assert "confirm" in mail.subject.lower() or "bestätigen" in mail.subject


def test_signing_up_twice_with_one_email_is_refused_clearly(city):
    sign_up_and_verify(city)
    response = client_for(city).post(
        "/registrieren/",
        {
            "first_name": "A",
            "last_name": "B",
            "email": "eltern@example.org",
            "password": "Kita-Platz-2027!",
            "language": "de",
        },
    )
    assert "bereits ein Konto" in response.content.decode()


def test_the_demo_mailbox_shows_sent_mail(city):
    sign_up_and_verify(city)
    body = client_for(city).get("/demo-postfach/").content.decode()
    assert "Bitte bestätigen Sie Ihre E-Mail-Adresse" in body


@pytest.mark.parametrize("path", ["/kitas/x/", "/voranmeldung/KP-2026-000001/bestaetigung/"])
def test_unknown_objects_are_404_not_500(city, path):
    client = sign_up_and_verify(city)
    assert client.get(path).status_code == 404


def test_facility_link_preselects_the_first_wish(city):
    client = sign_up_and_verify(city)
    with tenant_context(city):
        facility = Facility.objects.first()
    body = client.get(f"/voranmeldung/?kita={facility.pk}").content.decode()
    assert f'<option value="{facility.pk}" selected>' in body


def test_a_dueren_account_gets_a_404_for_a_bochum_reference(city, other_city):
    owner = sign_up_and_verify(city)
    owner.post("/voranmeldung/", form_data(city))
    with tenant_context(city):
        reference = Application.objects.get().reference
    dueren_parent = sign_up_and_verify(other_city, email="dueren@example.org")
    assert dueren_parent.get(f"/voranmeldung/{reference}/bestaetigung/").status_code == 404
    response = dueren_parent.post(
        f"/meine-anmeldungen/{reference}/aendern/", {"action": "withdraw"}
    )
    assert response.status_code == 404
    with tenant_context(city):
        assert Application.objects.get().status == "active"


def test_the_form_and_the_submission_run_a_constant_number_of_queries(city):
    """Neither the form page nor a submission asks once per facility, wish or child: one
    wish and one child cost as many queries as five wishes and twins."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = sign_up_and_verify(city)
    # the family's first application also creates the family and its guardian
    assert client.post("/voranmeldung/", form_data(city)).status_code == 302
    with tenant_context(city):
        five = kitas("UE3", 35, 5)
    with CaptureQueriesContext(connection) as form_page:
        assert client.get("/voranmeldung/").status_code == 200
    # tenant (3), session and user (2), portal settings (1), the data version (1)
    assert len(form_page) <= 7
    counts = []
    for number, extra in enumerate(
        [
            {"wish_2": "", "wish_3": ""},
            {f"wish_{rank}": str(pk) for rank, pk in enumerate(five, start=1)}
            | {
                "child_1_first_name": "Lea",
                "child_1_last_name": "Muster",
                "child_1_birth_date": form_data(city)["child_0_birth_date"],
            },
        ]
    ):
        data = form_data(city, child_0_first_name=f"Kind{'ab'[number]}", **extra)
        with CaptureQueriesContext(connection) as submission:
            assert client.post("/voranmeldung/", data).status_code == 302
        # the second child writes its own two rows (child, application-child)
        counts.append(len(submission) - 2 * (number == 1))
    assert counts[0] == counts[1] <= 25, counts
