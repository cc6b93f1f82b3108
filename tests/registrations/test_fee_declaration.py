"""The family's income-bracket declaration for the parent fee: the contract charges the
declared bracket, the public calculator agrees with the contract, changes renew the contract
until it is countersigned, staff see the declaration, and nobody else reaches the page."""

import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from registrations import services
from registrations import services_allocation as runs
from registrations.models import Application
from registrations.models_allocation import CareContract, FeeTable, Offer
from registrations.models_family_data import FeeDeclaration
from registrations.services import ChildInput
from tenants.common.models import AuditEntry
from tests.registrations.allocation_helpers import apply, kita_year, scarce, setup_market
from tests.registrations.test_allocation_views import parent
from tests.registrations.test_backoffice import staff
from tests.registrations.test_pre_registration import application_input


def calculator_amount(client, offer, income) -> Decimal:
    """The public calculator's monthly fee (JSON, as the registration page asks for it) for
    the offer's child, start and hours; checks the calculator page shows the same."""
    query = (
        f"income={income}&birth_date={offer.child.birth_date.isoformat()}"
        f"&start_date={offer.start_date.isoformat()}&care_hours={offer.care_hours}"
    )
    amount = Decimal(client.get(f"/beitragsrechner/?{query}&format=json").json()["amount"])
    page = client.get(f"/beitragsrechner/?{query}").content.decode()
    assert f"{amount:.2f}".replace(".", ",") in page
    return amount


@pytest.fixture
def offered(city):
    """Lina (three years old at the start, Ü3/35 h, not yet fee-free) holds an offer from a
    binding run; her family is logged in."""
    user, client = parent(city, "beitrag@bochum.test")
    with tenant_context(city):
        kitas = setup_market()
        user = get_user_model().objects.get(pk=user.pk)
        application = apply("Lina", [kitas[0].pk], years=3.2, user=user)
        run = runs.start_run(None, kita_year=kita_year(), age_groups=["UE3"], binding=True, seed=1)
        runs.execute_run(run.pk)
        offer = Offer.objects.select_related("child").get(application=application)
        table = FeeTable.objects.get(valid_from=offer.start_date.replace(month=1, day=1))
    return {
        "client": client,
        "application": application,
        "offer": offer,
        "table": table,
        "url": f"/meine-anmeldungen/{application.reference}/elternbeitrag/",
    }


def fee_of(table, income_up_to) -> Decimal:
    return table.brackets.get(age_group="UE3", care_hours=35, income_up_to=income_up_to).monthly_fee


def test_the_family_declares_a_bracket_and_the_contract_charges_it(city, offered):
    client, application, offer = offered["client"], offered["application"], offered["offer"]
    page = client.get(offered["url"]).content.decode()
    assert "25.001 € bis 37.000 € im Jahr" in page and "keine Angabe" in page
    assert "nicht Ihr genaues Einkommen" in page
    assert client.post(offered["url"], {"bracket": "37000"}).status_code == 302
    with tenant_context(city):
        declaration = FeeDeclaration.objects.get(application=application)
        assert declaration.income_up_to == 37000 and not declaration.no_answer
        assert declaration.table == offered["table"]
        assert application.events.filter(kind="fee_declared").exists()
        assert AuditEntry.objects.filter(
            action="application.fee_declared", object_id=str(application.pk)
        ).exists()
    client.post(f"/meine-anmeldungen/angebote/{offer.pk}/annehmen/")
    with tenant_context(city):
        contract = CareContract.objects.get(offer=offer)
        assert contract.monthly_fee == fee_of(offered["table"], 37000) > 0
        assert "Einkommen bis 37.000 €" in contract.fee_note
        assert "Angabe der Familie" in contract.fee_note
    offers_page = client.get("/meine-anmeldungen/angebote/").content.decode()
    assert "Einkommen bis 37.000 € im Jahr (Angabe der Familie)" in offers_page
    history = client.get("/meine-anmeldungen/").content.decode()
    assert "Einkommensstufe für den Elternbeitrag angegeben" in history


def test_the_calculator_and_the_contract_agree_for_the_same_inputs(city, offered):
    """Income 30,000 € lies in the bracket up to 37,000 €: the calculator (page and JSON, as
    on the registration page) and the contract of a family declaring that bracket agree."""
    client, offer = offered["client"], offered["offer"]
    client.post(offered["url"], {"bracket": "37000"})
    client.post(f"/meine-anmeldungen/angebote/{offer.pk}/annehmen/")
    with tenant_context(city):
        contract = CareContract.objects.get(offer=offer)
    assert calculator_amount(client, offer, 30000) == contract.monthly_fee


def test_keine_angabe_charges_the_top_bracket_as_the_calculator_does_for_a_high_income(
    city, offered
):
    client, offer = offered["client"], offered["offer"]
    page = client.get(offered["url"]).content.decode()
    assert "es gilt der Beitrag der höchsten Einkommensstufe" in page
    client.post(offered["url"], {"bracket": "keine-angabe"})
    client.post(f"/meine-anmeldungen/angebote/{offer.pk}/annehmen/")
    with tenant_context(city):
        assert FeeDeclaration.objects.get(application=offered["application"]).no_answer
        contract = CareContract.objects.get(offer=offer)
        assert contract.monthly_fee == fee_of(offered["table"], None)
        assert "„keine Angabe“ gewählt (höchste Einkommensstufe)" in contract.fee_note
    assert calculator_amount(client, offer, 500000) == contract.monthly_fee


def test_siblings_get_the_same_fee_from_contract_and_calculator(city):
    """Twins placed together: the second child's contract applies the sibling rule exactly
    as the calculator does with "Geschwisterkind bereits in Betreuung"."""
    from datetime import timedelta

    from registrations.services import ChildInput
    from tests.registrations.test_pre_registration import next_august

    user, client = parent(city, "zwillinge@bochum.test")
    with tenant_context(city):
        kitas = setup_market()
        scarce(kitas[1].pk, 2)
        birth = next_august() - timedelta(days=int(365.25 * 3.2))
        application = apply(
            "Ida",
            [kitas[1].pk],
            user=get_user_model().objects.get(pk=user.pk),
            children=[ChildInput("Ida", "Test", birth), ChildInput("Ole", "Test", birth)],
            place_together=True,
        )
        run = runs.start_run(None, kita_year=kita_year(), age_groups=["UE3"], binding=True, seed=1)
        runs.execute_run(run.pk)
        offers = list(Offer.objects.filter(application=application).order_by("pk"))
        assert len(offers) == 2
    client.post(f"/meine-anmeldungen/{application.reference}/elternbeitrag/", {"bracket": "49000"})
    client.post(f"/meine-anmeldungen/angebote/{offers[0].pk}/annehmen/")
    with tenant_context(city):
        first, second = (CareContract.objects.get(offer=o) for o in offers)
        offers = list(Offer.objects.select_related("child").filter(pk__in=[o.pk for o in offers]))
    assert calculator_amount(client, offers[0], 45000) == first.monthly_fee > 0
    query = (
        f"income=45000&birth_date={birth.isoformat()}&start_date={offers[1].start_date}"
        "&care_hours=35&sibling=1&format=json"
    )
    assert Decimal(client.get(f"/beitragsrechner/?{query}").json()["amount"]) == (
        second.monthly_fee
    )


def test_a_changed_declaration_renews_the_contract_until_it_is_countersigned(city, offered):
    client, offer = offered["client"], offered["offer"]
    client.post(f"/meine-anmeldungen/angebote/{offer.pk}/annehmen/")
    with tenant_context(city):
        contract = CareContract.objects.get(offer=offer)
        assert contract.monthly_fee == fee_of(offered["table"], None)  # no declaration yet
        assert "noch keine Angabe" in contract.fee_note
        old_pdf = contract.pdf_sha256
    client.post(f"/meine-anmeldungen/angebote/{offer.pk}/vertrag-unterschrieben/")
    client.post(offered["url"], {"bracket": "25000"})
    with tenant_context(city):
        contract.refresh_from_db()
        assert contract.monthly_fee == fee_of(offered["table"], 25000)
        assert contract.pdf_sha256 != old_pdf and bytes(contract.pdf).startswith(b"%PDF")
        assert contract.status == "sent"  # the family signs the new version
        assert offered["application"].events.filter(kind="contract_renewed").exists()
        facility = offer.facility
    client.post(f"/meine-anmeldungen/angebote/{offer.pk}/vertrag-unterschrieben/")
    kita = staff(city, "leitung-beitrag@bochum.test", "facility_staff", facility=facility)
    kita.post(f"/verwaltung/vertraege/{contract.pk}/gegenzeichnen/")
    refused = client.post(offered["url"], {"bracket": "100000"}).content.decode()
    assert "bereits gegengezeichnet" in refused
    with tenant_context(city):
        contract.refresh_from_db()
        assert contract.status == "countersigned"
        assert contract.monthly_fee == fee_of(offered["table"], 25000)
        assert FeeDeclaration.objects.get(application=offered["application"]).income_up_to == (
            25000
        )


@pytest.mark.parametrize("choice", ["", "12345", "über alles", "-1"])
def test_an_unknown_bracket_is_refused_with_a_message_and_nothing_is_saved(city, offered, choice):
    body = offered["client"].post(offered["url"], {"bracket": choice}).content.decode()
    assert "Bitte wählen Sie eine Einkommensstufe oder „keine Angabe“." in body
    assert 'id="bracket-error"' in body
    with tenant_context(city):
        assert not FeeDeclaration.objects.filter(application=offered["application"]).exists()
        assert not offered["application"].events.filter(kind="fee_declared").exists()


def test_without_a_fee_table_the_page_says_so_and_saves_nothing(city, offered):
    with tenant_context(city):
        FeeTable.objects.all().delete()
    client = offered["client"]
    assert "noch keine Beitragstabelle" in client.get(offered["url"]).content.decode()
    body = client.post(offered["url"], {"bracket": "keine-angabe"}).content.decode()
    assert "noch keine Beitragstabelle" in body
    with tenant_context(city):
        assert not FeeDeclaration.objects.exists()


def test_staff_see_the_declared_bracket(city, offered):
    offered["client"].post(offered["url"], {"bracket": "61000"})
    offer = offered["offer"]
    kita = staff(city, "leitung-sieht@bochum.test", "facility_staff", facility=offer.facility)
    listing = kita.get("/verwaltung/angebote/").content.decode()
    assert "Einkommen bis 61.000 € im Jahr (Angabe der Familie)" in listing
    office = staff(city, "jugendamt@bochum.test", "youth_office")
    reference = offered["application"].reference
    page = office.get(f"/verwaltung/voranmeldungen/{reference}/kriterien/").content.decode()
    assert "Einkommen bis 61.000 € im Jahr (Angabe der Familie)" in page


def test_the_declaration_is_deleted_with_the_application(city, offered):
    offered["client"].post(offered["url"], {"bracket": "37000"})
    with tenant_context(city):
        assert FeeDeclaration.objects.count() == 1
        Offer.objects.filter(application=offered["application"]).delete()
        Application.objects.filter(pk=offered["application"].pk).delete()
        assert FeeDeclaration.objects.count() == 0


def test_other_families_staff_and_tenants_get_404(city, other_city, offered):
    url = offered["url"]
    _, stranger = parent(city, "fremd-beitrag@bochum.test")
    assert stranger.get(url).status_code == 404
    assert stranger.post(url, {"bracket": "25000"}).status_code == 404
    office = staff(city, "jugendamt@bochum.test", "youth_office")
    assert office.get(url).status_code == 404  # staff have no family: not their page
    _, dueren_parent = parent(other_city, "familie@dueren.test")
    assert dueren_parent.get(url).status_code == 404
    assert dueren_parent.post(url, {"bracket": "25000"}).status_code == 404
    with tenant_context(city):
        assert not FeeDeclaration.objects.exists()


def test_the_offer_lists_keep_a_constant_number_of_queries(city, offered):
    """Staff and family offer lists with declarations: one more offer, no more queries."""
    offered["client"].post(offered["url"], {"bracket": "37000"})
    facility = offered["offer"].facility
    kita = staff(city, "leitung-zaehlt@bochum.test", "facility_staff", facility=facility)

    def queries(client, url) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    before = (
        queries(kita, "/verwaltung/angebote/"),
        queries(offered["client"], "/meine-anmeldungen/angebote/"),
    )
    with tenant_context(city):
        scarce(facility.pk, 3)
        user = get_user_model().objects.get(email="beitrag@bochum.test")
        for name in ("Mia", "Noah"):  # siblings in the same family
            application = services.submit_application(
                user,
                application_input(
                    children=[ChildInput(name, "Test", offered["offer"].child.birth_date)],
                    facility_ids=[facility.pk],
                    idempotency_key=uuid.uuid4(),
                ),
                family=offered["application"].family,
            )
            FeeDeclaration.objects.create(application=application, no_answer=True)
        runs.execute_run(
            runs.start_run(None, kita_year=kita_year(), age_groups=["UE3"], binding=True, seed=2).pk
        )
        assert Offer.objects.filter(facility=facility).count() == 3
    after = (
        queries(kita, "/verwaltung/angebote/"),
        queries(offered["client"], "/meine-anmeldungen/angebote/"),
    )
    assert after == before


def test_the_declaration_page_and_the_offer_speak_english(city, offered):
    client = offered["client"]
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = client.get(offered["url"]).content.decode()
    assert "Declaration for the parent fee" in page and "€25,001 to €37,000 a year" in page
    assert "not stated – the fee of the highest income bracket applies" in page
    assert "Angabe speichern" not in page and "Save declaration" in page
    client.post(offered["url"], {"bracket": "37000"})
    offers = client.get("/meine-anmeldungen/angebote/").content.decode()
    assert "income up to €37,000 a year (declared by the family)" in offers
