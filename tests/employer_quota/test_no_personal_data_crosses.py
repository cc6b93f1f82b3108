"""After the full flow (agreement, codes by email, redemption with consent, a survey with
invitations, a place request), every table of the municipality's schema is free of the
employer's employee data, every table of the employer's schema is free of the family's data,
and the public schema holds neither."""

import re

from django.db import connection
from django_tenants.utils import tenant_context

from employer_quota import surveys
from employer_quota.models import HRContact
from employer_quota.municipal import services
from registrations.models import Application
from tenants.common.models import OutboxMessage

from .helpers import HR, active_agreement, facility, login, parent_client, parent_with_application

STAFF_EMAILS = ["mitarbeiterin.eins@rathaus.test", "mitarbeiter.zwei@rathaus.test"]


def table_texts(schema: str) -> dict[str, str]:
    """Every row of every table of `schema`, as text (one string per table)."""
    texts = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            [schema],
        )
        for (table,) in cursor.fetchall():
            cursor.execute(
                f"SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM \"{schema}\".\"{table}\" t"
            )
            texts[table] = cursor.fetchone()[0].lower()
    return texts


def leaks(texts: dict[str, str], needles: list[str]) -> list[tuple[str, str]]:
    return [(table, n) for table, text in texts.items() for n in needles if n.lower() in text]


def test_no_table_of_either_side_holds_the_other_sides_personal_data(city, employer):
    hr = login(employer, "personal.test@rathauskids.test", "hr")
    kita = facility(city)
    agreement = active_agreement(city, employer, facility_obj=kita)

    # HR invites two staff members with codes by email; one redeems in Bochum with consent.
    assert (
        hr.post(
            "/codes/", {"channel": "email", "emails": "\n".join(STAFF_EMAILS), "valid_days": 30}
        ).status_code
        == 302
    )
    with tenant_context(employer):
        body = OutboxMessage.objects.filter(recipients=[STAFF_EMAILS[0]]).get().body_text
        contacts = list(HRContact.objects.values_list("name", "email"))
        survey = surveys.create_survey(HR, title="Bedarf")
        surveys.open_survey(HR, survey, emails=STAFF_EMAILS, with_link=True)
        surveys.send_invitations(survey.pk, "http://rathauskids.localhost/")
        for _ in range(5):
            surveys.submit_response(
                survey, {"children": "1", "need_now_u3": "1", "need_now_ue3": "0"}
            )
    plain = re.search(r"[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}", body).group(0)
    user, application = parent_with_application(
        city, email="familie.geheim@example.org", facility_ids=[kita.pk]
    )
    parent = parent_client(city, user.email)
    url = f"/meine-anmeldungen/{application.reference}/arbeitgeber-code/"
    assert parent.post(url, {"code": plain, "share_status": "on"}).status_code == 302
    with tenant_context(city):
        services.sync_eligibilities()
        application = Application.objects.get(pk=application.pk)
        child = application.children.get()
        guardian = application.family.guardians.get()
    assert (
        hr.post(
            "/belegplaetze/anfrage/",
            {
                "municipality": city.pk,
                "u3_places": 2,
                "ue3_places": 1,
                "care_hours": 35,
                "wanted_from": "2031-08-01",
            },
        ).status_code
        == 302
    )
    assert 'data-shared-status="received"' in hr.get("/codes/").content.decode(), (
        "the flow really ran (consented status)"
    )
    assert agreement.claims.count() == 1

    employee_data = [
        *STAFF_EMAILS,
        "personal.test@rathauskids.test",
        *[name for name, _ in contacts],
        *[email for _, email in contacts],
        plain,
        plain.replace("-", ""),
    ]
    child_data = [
        child.first_name + " ",
        child.last_name,
        child.birth_date.isoformat(),
        guardian.first_name + " " + guardian.last_name,
        guardian.email,
        application.reference,
        application.street,
        "familie.geheim",
    ]
    municipality = table_texts(city.schema_name)
    employer_tables = table_texts(employer.schema_name)
    public = table_texts("public")
    assert "employer_municipal_employereligibility" in municipality
    assert "employer_quota_response" in employer_tables
    assert "employer_agreements_eligibilitycode" in public
    assert any(child.last_name.lower() in t for t in municipality.values()), "the scan sees data"
    assert any(STAFF_EMAILS[0] in t for t in employer_tables.values()), "the scan sees data"

    assert leaks(municipality, employee_data) == []
    assert leaks(employer_tables, child_data) == []
    assert leaks(public, employee_data + child_data) == []
