"""Issue 5 in real Chromium: HR creates a needs survey, six staff answer through their
invitation links (sent by a real Celery worker), the results chart is visible; HR issues a
code, a parent redeems it in the municipality's portal, and HR's dashboard shows one place
used. axe-core runs on every page."""

import re
import time
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django_tenants.utils import tenant_context
from playwright.sync_api import expect

from tests.worker import celery_worker

pytestmark = pytest.mark.browser

PASSWORD = "Browser-Test-2027!"
STAFF = [f"kollegin{n}@browser-employer.test" for n in range(1, 7)]


def next_august() -> date:
    today = date.today()
    return date(today.year + (1 if today.month >= 8 else 0), 8, 1)


@pytest.fixture(scope="session")
def browser_employer(browser_city, django_db_blocker):
    """A committed employer tenant with an HR login and an agreement with the browser city,
    and a parent there with a pre-registration for the agreement's Kita."""
    from django.contrib.auth import get_user_model

    from employer_quota.agreements import services as agreements
    from employer_quota.agreements.models import Agreement
    from registrations import services as registrations
    from registrations.models import District, Facility
    from tenants import services
    from tenants.models import Tenant

    class Office:
        pk, role = None, "youth_office"

    with django_db_blocker.unblock():
        employer = Tenant.objects.filter(
            slug="browser-employer"
        ).first() or services.provision_tenant(
            None, tenant_type="employer", slug="browser-employer", name="Beispielwerke GmbH"
        )
        with tenant_context(employer):
            if not get_user_model().objects.filter(email="hr@browser-employer.test").exists():
                get_user_model().objects.create_user(
                    email="hr@browser-employer.test", password=PASSWORD, role="hr"
                )
        with tenant_context(browser_city):
            kita = (
                Facility.objects.filter(
                    care_hours__contains=[35], age_groups__age_group="UE3", age_groups__places__gt=5
                )
                .order_by("pk")
                .first()
            )
            parent = get_user_model().objects.filter(email="beschaeftigt@example.org").first()
            if parent is None:
                parent = get_user_model().objects.create_user(
                    email="beschaeftigt@example.org", password=PASSWORD, role="parent"
                )
                start = next_august()
                registrations.submit_application(
                    parent,
                    registrations.ApplicationInput(
                        children=[
                            registrations.ChildInput("Nele", "Werk", date(start.year - 4, 3, 1))
                        ],
                        guardians=[
                            registrations.GuardianInput("Nina", "Werk", "beschaeftigt@example.org")
                        ],
                        start_date=start,
                        care_hours=35,
                        street="Am Werk 1",
                        postcode="52349",
                        district_id=District.objects.order_by("pk").first().pk,
                        facility_ids=[kita.pk],
                    ),
                )
        if not Agreement.objects.filter(employer=employer).exists():
            year = next_august().year - 1
            agreement = agreements.propose_agreement(
                Office(),
                municipality=browser_city,
                employer=employer,
                facility_id=kita.pk,
                facility_name=kita.name,
                terms=agreements.Terms(
                    age_group="UE3",
                    places=2,
                    care_hours=35,
                    valid_from=date(year, 8, 1),
                    valid_to=date(year + 3, 7, 31),
                    monthly_fee=Decimal("400.00"),
                ),
            )
            agreements.decide_version(Office(), agreement, confirm=True)
        connection.set_schema_to_public()
    return employer


def login(page, base: str, email: str) -> None:
    page.goto(base + "/konto/anmelden/")
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()


def invitation_links(employer, django_db_blocker) -> list[str]:
    from tenants.common.models import OutboxMessage

    with django_db_blocker.unblock(), tenant_context(employer):
        bodies = list(
            OutboxMessage.objects.filter(subject__contains="Bedarf Browser").values_list(
                "body_text", flat=True
            )
        )
    connection.set_schema_to_public()
    return [re.search(r"http://\S+/umfrage/[\w-]+/", body).group(0) for body in bodies]


def test_hr_surveys_staff_issues_a_code_and_sees_the_redeemed_place(
    page, steps, portal_server, browser_city, browser_employer, django_db_blocker
):
    port = portal_server.rsplit(":", 1)[1]
    employer_base = f"http://{browser_employer.slug}.localhost:{port}"
    login(page, employer_base, "hr@browser-employer.test")
    page.get_by_role("link", name="Bedarfsumfragen").first.click()
    page.get_by_label("Titel").fill("Bedarf Browser")
    steps.check("survey-new")
    page.get_by_role("button", name="Umfrage anlegen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bedarf Browser")
    page.get_by_label("Einladungen per E-Mail").fill("\n".join(STAFF))
    steps.check("survey-draft")

    with django_db_blocker.unblock():
        worker = celery_worker({"PORTAL_PORT": port})
    with worker:
        page.get_by_role("button", name="Umfrage starten").click()
        progress = page.locator("#invitation-progress")
        deadline = time.monotonic() + 60
        while "6 von 6 versendet" not in progress.inner_text():
            assert time.monotonic() < deadline, progress.inner_text()
            time.sleep(1)
            page.reload()
        steps.check("survey-running")
        links = []
        while len(links) < 6 and time.monotonic() < deadline:
            links = invitation_links(browser_employer, django_db_blocker)
            time.sleep(0.5)
    assert len(links) == 6
    assert all(link.startswith(employer_base + "/umfrage/") for link in links), links[0]

    staff = page.context.new_page()
    for number, link in enumerate(links):
        staff.goto(link)
        staff.get_by_label(re.compile("Wie viele Kinder unter 6")).fill("1")
        staff.get_by_label(re.compile("U3-Plätze .* in den nächsten 12")).fill(str(number % 2))
        staff.get_by_label(re.compile("Ü3-Plätze .* in den nächsten 12")).fill("1")
        staff.get_by_label("Schichtdienst").check()
        if number == 0:
            Steps = type(steps)
            Steps(staff, "staff-answer").check("answer-form")
        staff.get_by_role("button", name="Antworten absenden").click()
        expect(staff.locator("#thanks")).to_be_visible()
        staff.goto(link)
        expect(staff.locator("main")).to_contain_text("bereits geantwortet")
    staff.close()

    page.get_by_role("link", name="Ergebnisse ansehen").click()
    expect(page.locator("svg.survey-chart").first).to_be_visible()
    expect(page.locator("#recommendation")).to_be_visible()
    steps.check("survey-results")

    page.get_by_role("link", name="Berechtigungscodes").first.click()
    page.get_by_label("als Druckbogen").check()
    page.get_by_label("Anzahl Codes (Druckbogen)").fill("1")
    steps.check("codes")
    page.get_by_role("button", name="Codes ausgeben").click()
    code = page.locator(".code").first.inner_text().strip()
    assert re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}", code)
    steps.check("code-sheet")

    parent = page.context.browser.new_context(locale="de-DE").new_page()
    login(parent, portal_server, "beschaeftigt@example.org")
    parent.goto(portal_server + "/meine-anmeldungen/")
    parent.get_by_role("link", name="Code des Arbeitgebers eingeben").click()
    parent.get_by_label("Code Ihres Arbeitgebers").fill(code)
    parent.get_by_label(re.compile("Ich bin einverstanden")).check()
    Steps(parent, "parent-code").check("redeem")
    parent.get_by_role("button", name="Code einlösen").click()
    expect(parent.locator("main")).to_contain_text(
        "berechtigt für Belegplätze von Beispielwerke GmbH"
    )
    parent.context.close()

    page.get_by_role("link", name="Belegplätze").first.click()
    expect(page.locator("#total-used")).to_have_text("1")
    expect(page.locator("#reserved-chart")).to_be_visible()
    steps.check("dashboard")


def test_every_new_page_passes_axe(
    page, steps, portal_server, browser_city, browser_employer, django_db_blocker
):
    """HR's pages (agreement detail, daycare, survey editing, place request) and the youth
    office's agreement pages, each checked with axe-core."""
    from django.contrib.auth import get_user_model

    from employer_quota import daycare, surveys
    from employer_quota.agreements.models import Agreement

    class Hr:
        pk, role = None, "hr"

    with django_db_blocker.unblock():
        with tenant_context(browser_city):
            if not get_user_model().objects.filter(email="ja@browser-city.test").exists():
                get_user_model().objects.create_user(
                    email="ja@browser-city.test", password=PASSWORD, role="youth_office"
                )
        with tenant_context(browser_employer):
            from employer_quota.models import CompanyDaycare

            if not CompanyDaycare.objects.exists():
                from datetime import time as clock

                kita = daycare.save_daycare(
                    Hr(),
                    name="Werkskita",
                    street="Am Werk 1",
                    postcode="52349",
                    city="Düren",
                    opens_at=clock(7),
                    closes_at=clock(17),
                    monthly_fee=Decimal("150"),
                )
                group = daycare.add_group(
                    Hr(),
                    kita,
                    name="Krümel",
                    room="1",
                    capacity=5,
                    min_age_months=4,
                    max_age_months=36,
                )
                daycare.add_educator(
                    Hr(),
                    kita,
                    name="Erika Fach",
                    qualification="Erzieherin",
                    weekly_hours=Decimal("39"),
                    group=group,
                )
                daycare.register_application(
                    Hr(),
                    kita,
                    child_first_name="Pia",
                    child_birth_date=date(2025, 1, 1),
                    parent_name="Paul Werk",
                    parent_email="paul@werk.test",
                    start_date=date(2026, 2, 1),
                    weekly_hours=30,
                )
                daycare.set_listing(Hr(), kita, browser_city)
            draft = surveys.create_survey(Hr(), title="Entwurf Axe")
        agreement = Agreement.objects.filter(employer=browser_employer).first()
        connection.set_schema_to_public()

    port = portal_server.rsplit(":", 1)[1]
    employer_base = f"http://{browser_employer.slug}.localhost:{port}"
    login(page, employer_base, "hr@browser-employer.test")
    for path, label in [
        ("/", "employer-home"),
        (f"/belegplaetze/{agreement.pk}/", "hr-agreement"),
        ("/betriebskita/", "daycare"),
        ("/umfragen/", "surveys"),
        (f"/umfragen/{draft.pk}/", "survey-draft-edit"),
        ("/belegplaetze/anfrage/", "place-request"),
        ("/codes/", "codes-list"),
    ]:
        page.goto(employer_base + path)
        for details in page.locator("details").all():
            details.evaluate("element => element.open = true")
        steps.check(label)

    office = page.context.browser.new_context(locale="de-DE").new_page()
    office_steps = type(steps)(office, "youth-office-agreements")
    login(office, portal_server, "ja@browser-city.test")
    for path, label in [
        ("/", "finder-with-company-daycare"),
        ("/verwaltung/", "backoffice"),
        ("/verwaltung/belegplaetze/", "agreements"),
        ("/verwaltung/belegplaetze/neu/", "agreement-new"),
        (f"/verwaltung/belegplaetze/{agreement.pk}/", "agreement-detail"),
        ("/verwaltung/belegplaetze/berechtigte/", "eligible"),
    ]:
        office.goto(portal_server + path)
        office_steps.check(label)
    office.goto(portal_server + "/verwaltung/belegplaetze/")
    expect(office.locator("main")).to_contain_text("Beispielwerke GmbH")
    office.goto(portal_server + "/")
    expect(office.locator(".company-daycares")).to_contain_text("nur für Beschäftigte von")
    office.context.close()
