"""Allocation pages: youth office runs/criteria/fees/statistics, staff offers and contracts,
families' offers; public criteria page and fee calculator; isolation (404) for every URL."""

import csv
import io
from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import tenant_context
from openpyxl import load_workbook

from registrations import services_allocation as runs
from registrations.models import Facility, Guardian, StaffAssignment
from registrations.models_allocation import AllocationRun, CareContract, Criterion, Offer
from tests.conftest import client_for, make_user
from tests.registrations.allocation_helpers import apply, kita_year, setup_market
from tests.registrations.test_backoffice import PASSWORD, staff
from tests.registrations.test_pre_registration import next_august


def parent(tenant, email):
    """A parent account with a logged-in client; returns (user, client)."""
    user = make_user(tenant, email, "parent", password=PASSWORD)
    client = client_for(tenant)
    assert (
        client.post("/konto/anmelden/", {"username": email, "password": PASSWORD}).status_code
        == 302
    )
    return user, client


@pytest.fixture
def market(city):
    """Two families compete for one place; a binding run offers it to the first."""
    user, client = parent(city, "eltern1@bochum.test")
    with tenant_context(city):
        kitas = setup_market()
        user = get_user_model().objects.get(pk=user.pk)
        first = apply("Alma", [kitas[0].pk, kitas[1].pk], working=True, user=user)
        second = apply("Bert", [kitas[0].pk])
        run = runs.start_run(None, kita_year=kita_year(), age_groups=["UE3"], binding=True, seed=3)
        runs.execute_run(run.pk)
        offer = Offer.objects.get(application=first)
    return {
        "kitas": kitas,
        "first": first,
        "second": second,
        "run": run,
        "offer": offer,
        "client": client,
    }


def test_the_youth_office_starts_a_run_and_sees_its_progress_and_result(city):
    client = staff(city, "jugendamt@bochum.test", "youth_office")
    with tenant_context(city):
        setup_market()
    page = client.get("/verwaltung/vergabe/")
    assert page.status_code == 200 and "Runde starten" in page.content.decode()
    response = client.post(
        "/verwaltung/vergabe/",
        {"kita_year": kita_year(), "age_groups": ["UE3"], "binding": "0", "seed": "5"},
    )
    assert response.status_code == 302
    with tenant_context(city):
        run = AllocationRun.objects.latest("pk")
        assert run.seed == 5 and not run.binding
        runs.execute_run(run.pk)
    status = client.get(f"/verwaltung/vergabe/{run.pk}/status/").json()
    assert status == {"status": "done", "progress": 100}
    body = client.get(f"/verwaltung/vergabe/{run.pk}/").content.decode()
    assert run.snapshot_hash in body
    assert "Prüfsumme der Eingabe" in body
    replay = client.post(f"/verwaltung/vergabe/{run.pk}/", {"action": "replay"}).content.decode()
    assert "identisches Ergebnis" in replay


def test_a_bad_run_form_shows_messages_and_starts_nothing(city):
    client = staff(city, "jugendamt@bochum.test", "youth_office")
    with tenant_context(city):
        before = AllocationRun.objects.count()
    body = client.post("/verwaltung/vergabe/", {"kita_year": "abc"}).content.decode()
    assert "mindestens eine Altersgruppe" in body
    with tenant_context(city):
        assert AllocationRun.objects.count() == before


def test_two_runs_are_compared_side_by_side(city, market):
    client = staff(city, "jugendamt@bochum.test", "youth_office")
    with tenant_context(city):
        dry = runs.execute_run(
            runs.start_run(
                None, kita_year=kita_year(), age_groups=["UE3"], binding=False, seed=3
            ).pk
        )
    body = client.get(
        f"/verwaltung/vergabe/vergleich/?a={market['run'].pk}&b={dry.pk}"
    ).content.decode()
    assert "Wer gewinnt" in body and "unbesetzte Plätze" in body


def test_the_youth_office_edits_criteria_points_and_the_offer_deadline(city):
    client = staff(city, "jugendamt@bochum.test", "youth_office")
    client.get("/verwaltung/aufnahmekriterien/")  # creates the default catalogue
    with tenant_context(city):
        criteria = list(Criterion.objects.all())
    data = {"offer_days": "10", "reminder_days": "2", "mode": "central"}
    for c in criteria:
        data |= {
            f"points_{c.pk}": str(c.points + 1),
            f"active_{c.pk}": "1",
            f"title_{c.pk}": c.title,
            f"explanation_{c.pk}": c.explanation,
        }
    assert client.post("/verwaltung/aufnahmekriterien/", data).status_code == 302
    with tenant_context(city):
        assert Criterion.objects.get(pk=criteria[0].pk).points == criteria[0].points + 1
    bad = dict(data, offer_days="0", **{f"points_{criteria[0].pk}": "x"})
    assert "ganze Zahl" in client.post("/verwaltung/aufnahmekriterien/", bad).content.decode()
    with tenant_context(city):
        assert Criterion.objects.get(pk=criteria[0].pk).points == criteria[0].points + 1


def test_the_public_criteria_page_explains_points_and_tie_breaks(city, city_client):
    with tenant_context(city):
        setup_market()
    body = city_client.get("/aufnahmekriterien/").content.decode()
    assert "Geschwisterkind in der Kita" in body and "Losentscheid" in body


def test_the_fee_table_is_edited_and_drives_the_calculator(city, city_client):
    client = staff(city, "jugendamt@bochum.test", "youth_office")
    response = client.post(
        "/verwaltung/beitragstabellen/",
        {
            "name": "Satzung 2040",
            "valid_from": "2040-08-01",
            "sibling_rule": "second_half",
            "fee_free_years": "2",
            "brackets": "U3; 35; 30000; 10\nU3; 35; ; 200",
        },
    )
    assert response.status_code == 302
    bad = client.post(
        "/verwaltung/beitragstabellen/",
        {
            "name": "x",
            "valid_from": "2041-08-01",
            "sibling_rule": "none",
            "fee_free_years": "2",
            "brackets": "U3; 99",
        },
    ).content.decode()
    assert "Zeile 1" in bad
    query = "income=50000&birth_date=2040-01-01&start_date=2040-09-01&care_hours=35"
    body = city_client.get(f"/beitragsrechner/?{query}").content.decode()
    assert "200" in body and "Satzung 2040" in body
    sibling = city_client.get(f"/beitragsrechner/?{query}&sibling=1").content.decode()
    assert "100,00" in sibling or "100.00" in sibling


def test_statistics_as_chart_csv_and_xlsx(city, market):
    client = staff(city, "jugendamt@bochum.test", "youth_office")
    body = client.get("/verwaltung/statistik/").content.decode()
    assert "<svg" in body and "Versorgungsquote" in body
    rows = list(
        csv.reader(
            io.StringIO(client.get("/verwaltung/statistik/export.csv").content.decode("utf-8-sig")),
            delimiter=";",
        )
    )
    assert rows[0][0] == "Bezirk" and len(rows) > 2
    data = rows[1 : rows.index([])]
    placed = sum(int(r[5]) for r in data if r[0] != "Gesamt")
    assert placed >= 1
    assert any(r and r[0].startswith("Versorgungsquote =") for r in rows)
    sheet = load_workbook(
        io.BytesIO(client.get("/verwaltung/statistik/export.xlsx").content)
    ).active
    values = [r for r in sheet.values if any(v is not None for v in r)]
    assert len(values) == len(rows) - 1  # the blank separator row
    assert [[str(v) for v in r[:6]] for r in values[1 : len(data) + 1]] == [r[:6] for r in data]


def test_the_family_accepts_downloads_the_contract_and_signs(city, market):
    client = market["client"]
    offer = market["offer"]
    page = client.get("/meine-anmeldungen/angebote/").content.decode()
    assert "annehmen" in page and "Platz bei Ihrem Wunsch 1" in page
    assert client.post(f"/meine-anmeldungen/angebote/{offer.pk}/annehmen/").status_code == 302
    page = client.get("/meine-anmeldungen/angebote/").content.decode()
    assert "angenommen" in page
    pdf = client.get(f"/meine-anmeldungen/angebote/{offer.pk}/vertrag.pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    client.post(f"/meine-anmeldungen/angebote/{offer.pk}/vertrag-unterschrieben/")
    with tenant_context(city):
        contract = CareContract.objects.get(offer=offer)
        assert contract.status == "signed"
        facility = offer.facility
    kita = staff(city, "leitung@bochum.test", "facility_staff", facility=facility)
    listing = kita.get("/verwaltung/angebote/").content.decode()
    assert contract.number in listing and "gegenzeichnen" in listing
    assert kita.get(f"/verwaltung/vertraege/{contract.pk}/vertrag.pdf").content.startswith(b"%PDF")
    kita.post(f"/verwaltung/vertraege/{contract.pk}/gegenzeichnen/")
    with tenant_context(city):
        assert CareContract.objects.get(pk=contract.pk).status == "countersigned"


def test_declining_online_passes_the_place_on(city, market):
    client = market["client"]
    client.post(f"/meine-anmeldungen/angebote/{market['offer'].pk}/ablehnen/")
    with tenant_context(city):
        assert Offer.objects.get(application=market["second"]).status == "open"


def test_other_families_staff_and_tenants_get_404(city, other_city, market):
    offer = market["offer"]
    _, stranger = parent(city, "fremd@bochum.test")
    family_urls = [
        f"/meine-anmeldungen/angebote/{offer.pk}/vertrag.pdf",
    ]
    for url in family_urls:
        assert stranger.get(url).status_code == 404
    for url in (
        f"/meine-anmeldungen/angebote/{offer.pk}/annehmen/",
        f"/meine-anmeldungen/angebote/{offer.pk}/ablehnen/",
        f"/meine-anmeldungen/angebote/{offer.pk}/vertrag-unterschrieben/",
    ):
        assert stranger.post(url).status_code == 404
    with tenant_context(city):
        assert Offer.objects.get(pk=offer.pk).status == "open"
    market["client"].post(f"/meine-anmeldungen/angebote/{offer.pk}/annehmen/")
    with tenant_context(city):
        contract = CareContract.objects.get(offer=offer)
        other_kita = next(k for k in market["kitas"] if k.pk != offer.facility_id)
    run = market["run"]
    youth_urls = [
        "/verwaltung/vergabe/",
        f"/verwaltung/vergabe/{run.pk}/",
        f"/verwaltung/vergabe/{run.pk}/status/",
        f"/verwaltung/vergabe/vergleich/?a={run.pk}&b={run.pk}",
        "/verwaltung/aufnahmekriterien/",
        "/verwaltung/beitragstabellen/",
        "/verwaltung/statistik/",
        "/verwaltung/statistik/export.csv",
    ]
    wrong_role = staff(city, "leitung2@bochum.test", "facility_staff", facility=other_kita)
    parent_client = market["client"]
    outsider = staff(other_city, "jugendamt@dueren.test", "youth_office")
    for url in youth_urls:
        assert wrong_role.get(url).status_code == 404, url
        assert parent_client.get(url).status_code == 404, url
    for url in youth_urls[1:4]:
        assert outsider.get(url).status_code == 404, url
    # staff of another facility, parents and other tenants cannot see the contract
    for client in (wrong_role, parent_client, outsider):
        assert client.get(f"/verwaltung/vertraege/{contract.pk}/vertrag.pdf").status_code == 404
        assert client.post(f"/verwaltung/vertraege/{contract.pk}/gegenzeichnen/").status_code == 404
    assert outsider.get(f"/meine-anmeldungen/angebote/{offer.pk}/vertrag.pdf").status_code == 404
    assert wrong_role.get("/verwaltung/angebote/").content.decode().count(contract.number) == 0


def test_facility_staff_offer_from_their_list_in_decentralised_mode(city):
    from registrations.models_allocation import AllocationPolicy
    from tests.registrations.allocation_helpers import scarce

    with tenant_context(city):
        kitas = setup_market()
        scarce(kitas[1].pk, 2)
        policy = AllocationPolicy.current()
        policy.mode = "decentral"
        policy.save()
        application = apply("Cleo", [kitas[1].pk, kitas[2].pk])
        wish_1, wish_2 = application.wishes.order_by("rank")
        child = application.children.get()
    own = staff(city, "leitung@bochum.test", "facility_staff", facility=kitas[1])
    other = staff(city, "leitung3@bochum.test", "facility_staff", facility=kitas[2])
    assert "Platz anbieten" in own.get("/verwaltung/angebote/").content.decode()
    assert (
        other.post(
            f"/verwaltung/angebote/wunsch/{wish_1.pk}/anbieten/", {"child": child.pk}
        ).status_code
        == 404
    )
    own.post(f"/verwaltung/angebote/wunsch/{wish_1.pk}/anbieten/", {"child": child.pk})
    response = other.post(
        f"/verwaltung/angebote/wunsch/{wish_2.pk}/anbieten/", {"child": child.pk}, follow=True
    )
    assert "bereits ein offenes" in response.content.decode()
    with tenant_context(city):
        assert Offer.objects.filter(child=child).count() == 1


__all__ = ["Guardian", "StaffAssignment", "next_august", "timedelta"]


def test_the_family_declares_circumstances_and_the_youth_office_checks_them(city, market):
    from registrations.models_allocation import ApplicationCircumstances

    application = market["first"]
    kita = market["kitas"][2]
    url = f"/meine-anmeldungen/{application.reference}/kriterien/"
    form = {"both_working": "1", "resident": "1", "sibling_facilities": [str(kita.pk)]}
    assert market["client"].post(url, form).status_code == 302
    with tenant_context(city):
        info = ApplicationCircumstances.objects.get(application=application)
        assert info.both_working and not info.single_parent and info.verified_at is None
        assert list(info.sibling_facilities.values_list("pk", flat=True)) == [kita.pk]
    office = staff(city, "jugendamt@bochum.test", "youth_office")
    office_url = f"/verwaltung/voranmeldungen/{application.reference}/kriterien/"
    office.post(office_url, {**form, "hardship": "1", "verified": "1"})
    with tenant_context(city):
        info.refresh_from_db()
        assert info.hardship and info.verified_at is not None
    # the family cannot set hardship; its change resets the check
    market["client"].post(url, {**form, "hardship": "1"})
    with tenant_context(city):
        info.refresh_from_db()
        assert info.hardship and info.verified_at is None
    bad = market["client"].post(url, {"sibling_facilities": ["999999"]}).content.decode()
    assert "aus der Liste" in bad


def test_circumstances_pages_are_404_for_others(city, other_city, market):
    application = market["first"]
    _, stranger = parent(city, "fremd2@bochum.test")
    assert stranger.get(f"/meine-anmeldungen/{application.reference}/kriterien/").status_code == 404
    kita = staff(city, "leitung9@bochum.test", "facility_staff", facility=market["kitas"][0])
    office_url = f"/verwaltung/voranmeldungen/{application.reference}/kriterien/"
    assert kita.get(office_url).status_code == 404
    assert market["client"].get(office_url).status_code == 404
    outsider = staff(other_city, "jugendamt@dueren.test", "youth_office")
    assert outsider.get(office_url).status_code == 404


def test_carriers_edit_their_contract_template_and_contracts_use_it(city, market):
    offer = market["offer"]
    with tenant_context(city):
        carrier = offer.facility.carrier
    client = staff(city, "traeger@bochum.test", "carrier_staff", carrier=carrier)
    page = client.get("/verwaltung/vertragsvorlage/").content.decode()
    assert "Standardvorlage" in page
    client.post(
        "/verwaltung/vertragsvorlage/",
        {"title": "Betreuungsvertrag des Trägers", "clauses": "Eigene Regel eins.\n\nRegel zwei."},
    )
    bad = client.post("/verwaltung/vertragsvorlage/", {"title": "", "clauses": ""}).content.decode()
    assert "Titel" in bad
    market["client"].post(f"/meine-anmeldungen/angebote/{offer.pk}/annehmen/")
    with tenant_context(city):
        from registrations.contracts import template_for

        assert template_for(carrier).title == "Betreuungsvertrag des Trägers"
        contract = CareContract.objects.get(offer=offer)
        assert bytes(contract.pdf).startswith(b"%PDF")
    assert (
        staff(city, "leitung5@bochum.test", "facility_staff", facility=offer.facility)
        .get("/verwaltung/vertragsvorlage/")
        .status_code
        == 404
    )
    assert market["client"].get("/verwaltung/vertragsvorlage/").status_code == 404


def test_the_youth_office_adds_a_carrier_rule_that_counts_only_at_that_carrier(city, market):
    from registrations.allocation_db import build_instance
    from registrations.models_allocation import ApplicationCircumstances

    office = staff(city, "jugendamt@bochum.test", "youth_office")
    kitas = market["kitas"]
    with tenant_context(city):
        carrier = kitas[1].carrier
    base = {"action": "add", "new_kind": "carrier_rule", "new_title": "Gemeindemitglied"}
    base |= {"new_explanation": "Sie gehören zur Gemeinde des Trägers.", "new_points": "6"}
    refused = office.post("/verwaltung/aufnahmekriterien/", base).content.decode()
    assert "braucht einen Träger" in refused
    assert (
        office.post(
            "/verwaltung/aufnahmekriterien/", base | {"new_carrier": carrier.pk}
        ).status_code
        == 302
    )
    with tenant_context(city):
        rule = Criterion.objects.get(title="Gemeindemitglied")
        application = market["second"]
        info, _ = ApplicationCircumstances.objects.get_or_create(application=application)
        info.carrier_rules.add(rule)
        Offer.objects.all().delete()
        doc = build_instance(kita_year(), ["UE3"], seed=1).document
        child = next(c for c in doc["children"] if c["id"] == f"k{application.children.get().pk}")
        without = build_instance(kita_year(), ["UE3"], seed=1, weights={rule.pk: 0}).document
        plain = next(c for c in without["children"] if c["id"] == child["id"])
        for wish, other in zip(child["wishes"], plain["wishes"], strict=True):
            fid = int(wish["facility"][1:])
            same_carrier = fid in {k.pk for k in kitas if k.carrier_id == carrier.pk}
            assert wish["priority"] - other["priority"] == (6 if same_carrier else 0)
    assert "Gemeindemitglied" in client_for(city).get("/aufnahmekriterien/").content.decode()


def test_facility_staff_set_free_places_per_category_and_runs_use_them(city):
    from registrations.allocation_db import capacities
    from registrations.models_allocation import PlaceCapacity

    with tenant_context(city):
        kitas = setup_market()
        kita = kitas[1]
        other = Facility.objects.exclude(pk=kita.pk).order_by("pk").first()
    client = staff(city, "leitung7@bochum.test", "facility_staff", facility=kita)
    url = f"/verwaltung/kitas/{kita.slug}/freie-plaetze/?jahr={kita_year()}"
    assert "in der Vergabe" in client.get(url).content.decode()
    client.post(url, {"UE3_35": "7", "U3_35": ""})
    with tenant_context(city):
        assert (
            PlaceCapacity.objects.get(
                facility=kita, kita_year=kita_year(), age_group="UE3", care_hours=35
            ).places
            == 7
        )
        assert capacities(kita_year())[kita.pk][("UE3", 35)] == 7
    bad = client.post(url, {"UE3_35": "-3"}).content.decode()
    assert "0 bis 500" in bad
    with tenant_context(city):
        assert (
            PlaceCapacity.objects.get(
                facility=kita, kita_year=kita_year(), age_group="UE3", care_hours=35
            ).places
            == 7
        )
    # other facility's page, parents and other tenants: 404
    assert client.get(f"/verwaltung/kitas/{other.slug}/freie-plaetze/").status_code == 404
    _, parent_client = parent(city, "eltern7@bochum.test")
    assert parent_client.get(url).status_code == 404
    # Düren's youth office reaches only Düren's schema: a Kita with the same slug there is
    # Düren's own (demo names repeat), and Bochum's figure does not appear
    outsider = staff(other_city_tenant(), "jugendamt@dueren.test", "youth_office")
    response = outsider.get(url)
    assert response.status_code == 404 or 'value="7"' not in response.content.decode()


def other_city_tenant():
    from tenants.models import Tenant

    return Tenant.objects.get(slug="kreis-dueren")


def test_the_registration_page_carries_the_fee_calculator_backed_by_the_table(city):
    from registrations.fees import ensure_demo_fee_table

    _, client = parent(city, "rechner@bochum.test")
    with tenant_context(city):
        table = ensure_demo_fee_table(date(2040, 1, 1))
    page = client.get("/voranmeldung/").content.decode()
    assert 'id="fee-calculator"' in page and "/beitragsrechner/" in page
    query = "income=200000&birth_date=2039-10-01&start_date=2040-09-01&care_hours=45&format=json"
    data = client.get(f"/beitragsrechner/?{query}").json()
    with tenant_context(city):
        top = table.brackets.get(age_group="U3", care_hours=45, income_up_to__isnull=True)
    assert data["amount"] == str(top.monthly_fee) and data["table"] == table.name
    assert client.get("/beitragsrechner/?income=&format=json").status_code == 400
