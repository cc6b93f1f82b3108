"""The youth office runs a binding round (real worker); one family accepts its offer and
downloads the contract (status "angenommen"); another declines and the follow-up offer
reaches the next child. Real Chromium, axe on every page."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django_tenants.utils import tenant_context
from playwright.sync_api import expect

from tests.worker import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.worker]

PASSWORD = "Kita-Platz-2027!"


def login(page, base: str, email: str) -> None:
    page.goto(base + "/konto/anmelden/")
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()


def logout(page) -> None:
    page.context.clear_cookies()


@pytest.fixture
def allocation_market(browser_city, django_db_blocker):
    """Two Kitas with one Ü3/35 h place each (the last ones by name, untouched by other
    browser tests): Amira wishes Kita A; Bela (hardship) and Cora wish Kita B."""
    from registrations import services
    from registrations.criteria import ensure_default_catalogue
    from registrations.fees import ensure_demo_fee_table
    from registrations.models import Facility
    from registrations.models_allocation import ApplicationCircumstances, PlaceCapacity
    from tests.registrations.test_pre_registration import next_august

    start = next_august()
    with django_db_blocker.unblock():
        with tenant_context(browser_city), transaction.atomic():
            ensure_default_catalogue()
            ensure_demo_fee_table(start.replace(month=1, day=1))
            kitas = list(
                Facility.objects.filter(
                    care_hours__contains=[35], age_groups__age_group="UE3", age_groups__places__gt=0
                ).order_by("-name")[:2]
            )
            for kita in kitas:
                PlaceCapacity.objects.update_or_create(
                    facility=kita,
                    kita_year=start.year,
                    age_group="UE3",
                    care_hours=35,
                    defaults={"places": 1},
                )
            district = kitas[0].district
            users = {}
            for name, kita, hardship in (
                ("Amira", kitas[0], False),
                ("Bela", kitas[1], True),
                ("Cora", kitas[1], False),
            ):
                email = f"{name.lower()}@example.org"
                user = get_user_model().objects.create_user(
                    email=email, password=PASSWORD, role="parent"
                )
                application = services.submit_application(
                    user,
                    services.ApplicationInput(
                        children=[
                            services.ChildInput(name, "Platz", start - timedelta(days=4 * 366))
                        ],
                        guardians=[services.GuardianInput(name, "Platz", email)],
                        start_date=start,
                        care_hours=35,
                        street="Am Markt 1",
                        postcode=kita.postcode,
                        district_id=district.pk,
                        facility_ids=[kita.pk],
                    ),
                )
                ApplicationCircumstances.objects.create(
                    application=application, hardship=hardship, both_working=True
                )
                users[name] = application
            get_user_model().objects.create_user(
                email="jugendamt@example.org", password=PASSWORD, role="youth_office"
            )
        connection.set_schema_to_public()
    return {"kitas": kitas, "applications": users}


def test_run_offer_accept_contract_and_a_decline_passes_the_place_on(
    page, steps, portal_server, browser_city, allocation_market, django_db_blocker
):
    from registrations.models_allocation import Offer

    with django_db_blocker.unblock():
        worker_context = celery_worker()
        worker_context.__enter__()
    try:
        login(page, portal_server, "jugendamt@example.org")
        page.goto(portal_server + "/verwaltung/vergabe/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Platzvergabe")
        page.get_by_label("3 Jahre bis Schuleintritt").check()
        page.get_by_label("unter 3 Jahren").uncheck()
        page.get_by_label("verbindlich (Angebote").check()
        page.get_by_label("Startwert für das Los").fill("2027")
        steps.check("start-run")
        page.get_by_role("button", name="Runde starten").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Vergaberunde")
        steps.check("run-progress")
        expect(page.locator("#run-status")).to_have_text("fertig", timeout=90_000)
        expect(page.get_by_role("heading", name="Ergebnis")).to_be_visible()
        steps.check("run-done")
        logout(page)

        # Bela (hardship) got Kita B's only place and declines it.
        login(page, portal_server, "bela@example.org")
        page.goto(portal_server + "/meine-anmeldungen/angebote/")
        steps.check("bela-offer")
        page.get_by_role("button", name="ablehnen").click()
        expect(page.locator(".offer-status").first).to_have_text("abgelehnt")
        logout(page)

        # The follow-up round offered it to Cora at once.
        login(page, portal_server, "cora@example.org")
        page.goto(portal_server + "/meine-anmeldungen/angebote/")
        expect(page.locator(".offer-status").first).to_have_text("offen")
        expect(page.get_by_role("button", name="annehmen")).to_be_visible()
        steps.check("cora-follow-up-offer")
        logout(page)

        # Amira declares her income bracket (not her income) from the offer, then accepts
        # Kita A's place and downloads the contract.
        login(page, portal_server, "amira@example.org")
        page.goto(portal_server + "/meine-anmeldungen/angebote/")
        expect(page.locator("main")).to_contain_text("Platz bei Ihrem Wunsch 1")
        page.get_by_role("link", name="Einkommensstufe für Amira angeben").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Angabe zum Elternbeitrag")
        steps.check("amira-fee-declaration")
        page.get_by_label("25.001 € bis 37.000 € im Jahr").check()
        page.get_by_role("button", name="Angabe speichern").click()
        expect(page.locator(".fee-declaration").first).to_contain_text(
            "Einkommen bis 37.000 € im Jahr (Angabe der Familie)"
        )
        page.get_by_role("button", name="annehmen").click()
        expect(page.locator(".offer-status").first).to_have_text("angenommen")
        steps.check("amira-accepted")
        link = page.get_by_role("link", name="Vertrag als PDF herunterladen")
        # fetched by the page itself (Node's resolver does not know *.localhost)
        content_type, head = page.evaluate(
            """async (url) => {
                const response = await fetch(url, {credentials: "same-origin"});
                const bytes = new Uint8Array(await response.arrayBuffer());
                return [response.headers.get("content-type"),
                        String.fromCharCode(...bytes.slice(0, 5))];
            }""",
            link.get_attribute("href"),
        )
        assert content_type == "application/pdf" and head == "%PDF-"
        page.goto(portal_server + "/meine-anmeldungen/")
        expect(page.locator("main")).to_contain_text("angenommen")
        steps.check("my-applications")
    finally:
        with django_db_blocker.unblock():
            worker_context.__exit__(None, None, None)
    applications = allocation_market["applications"]
    with django_db_blocker.unblock():
        with tenant_context(browser_city):
            status = dict(
                Offer.objects.filter(
                    application__in=[a.pk for a in applications.values()]
                ).values_list("application__children__first_name", "status")
            )
        connection.set_schema_to_public()
    assert status == {"Amira": "accepted", "Bela": "declined", "Cora": "open"}


def test_the_planning_and_fee_declaration_pages_pass_axe(
    page, steps, portal_server, browser_city, django_db_blocker
):
    """The youth office's children-per-district and family-daycare pages, the statistics
    with and without population figures, their error states, and a family's fee
    declaration page (also with its error), each checked with axe-core."""
    from registrations import services
    from registrations.fees import ensure_demo_fee_table
    from registrations.models import District, Facility
    from registrations.models_family_data import DistrictPopulation, FeeDeclaration
    from tests.registrations.test_pre_registration import next_august

    start = next_august()
    with django_db_blocker.unblock():
        with tenant_context(browser_city), transaction.atomic():
            ensure_demo_fee_table(start.replace(month=1, day=1))
            district = District.objects.order_by("name").first()
            DistrictPopulation.objects.update_or_create(
                district=district,
                kita_year=start.year,
                defaults={"children_u3": 900, "children_ue3": 1000},
            )
            User = get_user_model()
            if not User.objects.filter(email="planung@example.org").exists():
                User.objects.create_user(
                    email="planung@example.org", password=PASSWORD, role="youth_office"
                )
            if not User.objects.filter(email="dora@example.org").exists():
                user = User.objects.create_user(
                    email="dora@example.org", password=PASSWORD, role="parent"
                )
                kita = Facility.objects.filter(district=district).order_by("name").first()
                services.submit_application(
                    user,
                    services.ApplicationInput(
                        children=[services.ChildInput("Dora", "Axe", start - timedelta(days=800))],
                        guardians=[services.GuardianInput("Dora", "Axe", "dora@example.org")],
                        start_date=start,
                        care_hours=35,
                        street="Am Markt 2",
                        postcode=kita.postcode,
                        district_id=district.pk,
                        facility_ids=[kita.pk],
                    ),
                )
            # a reused test database keeps Dora's earlier declaration: start without one
            FeeDeclaration.objects.filter(
                application__family__guardians__user__email="dora@example.org"
            ).delete()
            slug = district.slug
        connection.set_schema_to_public()

    login(page, portal_server, "planung@example.org")
    for path, label in [
        (f"/verwaltung/statistik/?year={start.year}", "statistics-with-population"),
        ("/verwaltung/statistik/?year=2060", "statistics-without-population"),
        (f"/verwaltung/kinder-je-bezirk/?jahr={start.year}", "population"),
        (f"/verwaltung/tagespflege/plaetze/?jahr={start.year}", "daycare-places"),
        (f"/verwaltung/tagespflege/plaetze/{slug}/?jahr={start.year}", "daycare-places-edit"),
    ]:
        page.goto(portal_server + path)
        steps.check(label)
    page.get_by_label("Plätze U3, 35 Stunden").fill("-2")
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator("#ktp-U3_35-error")).to_have_text("Die Zahl darf nicht negativ sein.")
    steps.check("daycare-places-error")
    page.goto(portal_server + f"/verwaltung/kinder-je-bezirk/?jahr={start.year}")
    page.locator(f"#u3_{district.pk}").fill("viele")
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator(f"#u3_{district.pk}-error")).to_be_visible()
    steps.check("population-error")
    page.get_by_role("button", name="Datei übernehmen").click()
    expect(page.locator("#csv-error")).to_be_visible()
    steps.check("population-import-error")
    logout(page)

    login(page, portal_server, "dora@example.org")
    page.goto(portal_server + "/meine-anmeldungen/")
    page.get_by_role("link", name="Einkommensstufe für den Elternbeitrag angeben").click()
    steps.check("fee-declaration")
    page.get_by_role("button", name="Angabe speichern").click()
    expect(page.locator("#bracket-error")).to_be_visible()
    steps.check("fee-declaration-error")
    page.get_by_label("keine Angabe").check()
    page.get_by_role("button", name="Angabe speichern").click()
    expect(page.locator("#current-declaration")).to_contain_text("„keine Angabe“ gewählt")
    steps.check("fee-declaration-saved")
