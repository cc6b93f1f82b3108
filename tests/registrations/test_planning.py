"""Planning figures: children per district (form and CSV import) and the coverage rate in
the statistics; family-daycare places per district (youth office and the district's
Fachberatung), which runs use for ``KTP:<district>``. Messages per field, nothing saved on
error, 404 outside a scope, constant queries on the lists."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from registrations import services_allocation as runs
from registrations import services_planning
from registrations.allocation_db import build_instance
from registrations.models import District
from registrations.models_family_data import DaycareCapacity, DistrictPopulation
from tests.conftest import client_for
from tests.registrations.allocation_helpers import apply, kita_year, setup_market
from tests.registrations.test_allocation_views import parent
from tests.registrations.test_backoffice import staff

YEAR = 2041  # no demo figures in this Kita year
POPULATION_URL = "/verwaltung/kinder-je-bezirk/"
DAYCARE_URL = "/verwaltung/tagespflege/plaetze/"


def german(number: float) -> str:
    return f"{number:.1f}".replace(".", ",")


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.fixture
def mitte(city):
    with tenant_context(city):
        return District.objects.get(slug="mitte"), District.objects.get(slug="nord")


# --- children per district and the coverage rate -----------------------------------------------


def test_the_youth_office_enters_children_per_district_and_sees_the_coverage_rate(city, mitte):
    district, other = mitte
    office = staff(city, "jugendamt@bochum.test", "youth_office")
    url = f"{POPULATION_URL}?jahr={YEAR}"
    assert "Kinder unter 3 Jahren" in office.get(url).content.decode()
    response = office.post(url, {f"u3_{district.pk}": "2.000", f"ue3_{district.pk}": "2500"})
    assert response.status_code == 302
    with tenant_context(city):
        row = DistrictPopulation.objects.get(district=district, kita_year=YEAR)
        assert (row.children_u3, row.children_ue3) == (2000, 2500)
        stats = runs.statistics(YEAR)
        daycare = services_planning.daycare_capacities(YEAR)[district.pk]
    u3 = next(r for r in stats if r["district_id"] == district.pk and r["age_group"] == "U3")
    assert u3["daycare_places"] == sum(p for (a, _h), p in daycare.items() if a == "U3") > 0
    assert u3["places"] == u3["kita_places"] + u3["daycare_places"]
    assert u3["population"] == 2000 and u3["coverage"] == round(100 * u3["places"] / 2000, 1)
    missing = next(r for r in stats if r["district_id"] == other.pk and r["age_group"] == "U3")
    assert missing["population"] is None and missing["coverage"] is None
    total = next(r for r in stats if r.get("total") and r["age_group"] == "U3")
    assert total["coverage"] is None  # not every district has a figure: no made-up total
    page = office.get(f"/verwaltung/statistik/?year={YEAR}").content.decode()
    assert german(u3["coverage"]) in page
    assert "keine Quote: Bevölkerungszahl fehlt" in page and "—" in page
    assert "Versorgungsquote = Plätze der Altersgruppe" in page
    export = office.get(f"/verwaltung/statistik/export.csv?year={YEAR}")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    header = rows[0]
    mitte_u3 = next(r for r in rows if r[:2] == [district.name, "U3"])
    assert mitte_u3[header.index("Versorgungsquote (%)")] == str(u3["coverage"])
    nord_u3 = next(r for r in rows if r[:2] == [other.name, "U3"])
    assert nord_u3[header.index("Versorgungsquote (%)")] == ""
    assert any(r and "keine Bevölkerungszahl" in r[0] for r in rows)


def test_the_demo_gives_bochum_a_plausible_u3_coverage_and_dueren_none(city, other_city):
    """Bochum's demo figures: U3 coverage 40–60 % per district (goal agreement: 40 %);
    Kreis Düren has no figures and shows no rate."""
    with tenant_context(city):
        stats = runs.statistics(services_planning.upcoming_kita_year())
    u3 = [r for r in stats if r["age_group"] == "U3"]
    assert all(40 <= r["coverage"] <= 60 for r in u3), [(r["district"], r["coverage"]) for r in u3]
    assert sum(r["population"] for r in u3 if not r.get("total")) > 9000
    with tenant_context(other_city):
        stats = runs.statistics(services_planning.upcoming_kita_year())
    assert all(r["coverage"] is None for r in stats)


@pytest.mark.parametrize(
    ("u3", "ue3", "field", "message"),
    [
        ("-5", "100", "u3", "Die Zahl darf nicht negativ sein."),
        ("viele", "100", "u3", "Bitte eine ganze Zahl angeben."),
        ("1,5", "100", "u3", "Bitte eine ganze Zahl angeben."),
        ("100", "", "ue3", "Bitte beide Zahlen angeben oder beide Felder leer lassen."),
        ("2000001", "100", "u3", "Bitte eine Zahl bis 1.000.000 angeben."),
    ],
)
def test_invalid_population_figures_are_refused_at_their_field_and_nothing_is_saved(
    city, mitte, u3, ue3, field, message
):
    district, other = mitte
    with tenant_context(city):
        DistrictPopulation.objects.create(
            district=district, kita_year=YEAR, children_u3=10, children_ue3=20
        )
    office = staff(city, "jugendamt@bochum.test", "youth_office")
    body = office.post(
        f"{POPULATION_URL}?jahr={YEAR}",
        {
            f"u3_{district.pk}": u3,
            f"ue3_{district.pk}": ue3,
            f"u3_{other.pk}": "900",
            f"ue3_{other.pk}": "950",
        },
    ).content.decode()
    assert message in body
    assert f'id="{field}_{district.pk}-error"' in body  # next to its field
    with tenant_context(city):
        row = DistrictPopulation.objects.get(district=district, kita_year=YEAR)
        assert (row.children_u3, row.children_ue3) == (10, 20)
        assert not DistrictPopulation.objects.filter(district=other, kita_year=YEAR).exists()


def test_population_figures_are_imported_from_csv(city, mitte):
    district, other = mitte
    office = staff(city, "jugendamt@bochum.test", "youth_office")
    text = (
        "\ufeffBezirk;Kita-Jahr;Kinder unter 3;Kinder 3 bis Schuleintritt\n"
        f"{district.name};{YEAR};2.880;3170\n"
        f"{other.slug};{YEAR};1290;1420\n"
        f"{district.name};{YEAR + 1};2850;3150\n"
    )
    upload = SimpleUploadedFile("kinder.csv", text.encode("utf-8"), content_type="text/csv")
    response = office.post(
        f"{POPULATION_URL}?jahr={YEAR}", {"action": "import", "csv": upload}, follow=True
    )
    assert "3 Zeilen wurden übernommen." in response.content.decode()
    with tenant_context(city):
        figures = {
            (r.district_id, r.kita_year): (r.children_u3, r.children_ue3)
            for r in DistrictPopulation.objects.filter(kita_year__in=(YEAR, YEAR + 1))
        }
    assert figures == {
        (district.pk, YEAR): (2880, 3170),
        (other.pk, YEAR): (1290, 1420),
        (district.pk, YEAR + 1): (2850, 3150),
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Atlantis;2041;10;10", "Zeile 3: Den Bezirk „Atlantis“ gibt es nicht."),
        ("Nord;1999;10;10", "Zeile 3: Bitte ein Kita-Jahr wie 2027 angeben."),
        ("Nord;2041;-10;10", "Zeile 3: Die Zahl darf nicht negativ sein."),
        ("Nord;2041;zehn;10", "Zeile 3: Bitte eine ganze Zahl angeben."),
        ("Nord;2041;10", "Zeile 3: erwartet „Bezirk; Kita-Jahr; Kinder unter 3;"),
        ("Mitte;2041;11;11", "Zeile 3: Bezirk und Kita-Jahr stehen doppelt in der Datei."),
    ],
)
def test_a_bad_csv_line_is_named_and_nothing_is_imported(city, line, message):
    office = staff(city, "jugendamt@bochum.test", "youth_office")
    text = f"Bezirk;Kita-Jahr;U3;Ü3\nMitte;{YEAR};100;100\n{line}\n"
    upload = SimpleUploadedFile("kinder.csv", text.encode("utf-8"), content_type="text/csv")
    body = office.post(POPULATION_URL, {"action": "import", "csv": upload}).content.decode()
    assert message in body and 'id="csv-error"' in body
    with tenant_context(city):
        assert not DistrictPopulation.objects.filter(kita_year=YEAR).exists()


def test_an_empty_or_missing_csv_file_is_refused(city):
    office = staff(city, "jugendamt@bochum.test", "youth_office")
    body = office.post(POPULATION_URL, {"action": "import"}).content.decode()
    assert "Bitte wählen Sie eine CSV-Datei" in body
    upload = SimpleUploadedFile("leer.csv", b"Bezirk;Kita-Jahr;U3;\xc3\x9c3\n")
    body = office.post(POPULATION_URL, {"action": "import", "csv": upload}).content.decode()
    assert "keine Zeilen mit Zahlen" in body


def test_the_population_page_is_for_the_youth_office_only(city, other_city, mitte):
    district, _other = mitte
    with tenant_context(city):
        kita = setup_market()[0]
    _, family = parent(city, "eltern-planung@bochum.test")
    for client in (
        staff(city, "fb-planung@bochum.test", "fachberatung", district=district),
        staff(city, "kita-planung@bochum.test", "facility_staff", facility=kita),
        staff(city, "traeger-planung@bochum.test", "carrier_staff", carrier=kita.carrier),
        family,
    ):
        assert client.get(POPULATION_URL).status_code == 404
        assert client.post(POPULATION_URL, {f"u3_{district.pk}": "1"}).status_code == 404
    with tenant_context(city):
        assert not DistrictPopulation.objects.filter(
            kita_year=services_planning.upcoming_kita_year(), children_u3=1
        ).exists()
    # Bochum's session means nothing on Kreis Düren; Düren's youth office sees Düren only
    office = staff(city, "jugendamt@bochum.test", "youth_office")
    response = office.get(POPULATION_URL, HTTP_HOST=other_city.hostname)
    assert response.status_code == 302 and "/konto/anmelden/" in response["Location"]
    dueren = staff(other_city, "jugendamt@dueren.test", "youth_office")
    page = dueren.get(POPULATION_URL).content.decode()
    assert "Jülich" in page and "Wattenscheid" not in page


def test_the_population_page_and_statistics_keep_a_constant_number_of_queries(city, other_city):
    """Bochum (6 districts, figures) and Düren (15 districts, none): the same queries."""
    bochum = staff(city, "jugendamt@bochum.test", "youth_office")
    dueren = staff(other_city, "jugendamt@dueren.test", "youth_office")
    year = services_planning.upcoming_kita_year()
    for url in (f"{POPULATION_URL}?jahr={year}", f"/verwaltung/statistik/?year={year}"):
        assert queries(bochum, url) == queries(dueren, url), url


# --- family-daycare places ---------------------------------------------------------------------


def test_the_fachberatung_sets_family_daycare_places_and_runs_use_them(city, mitte):
    district, _other = mitte
    advisor = staff(city, "fb-mitte@bochum.test", "fachberatung", district=district)
    url = f"{DAYCARE_URL}{district.slug}/?jahr={kita_year()}"
    assert "in der Vergabe" in advisor.get(url).content.decode()
    response = advisor.post(url, {"U3_35": "12", "U3_45": "4", "UE3_35": "3", "UE3_25": ""})
    assert response.status_code == 302
    with tenant_context(city):
        saved = {
            (r.age_group, r.care_hours): r.places
            for r in DaycareCapacity.objects.filter(district=district, kita_year=kita_year())
        }
        assert saved == {("U3", 35): 12, ("U3", 45): 4, ("UE3", 35): 3}
        document = build_instance(kita_year(), ["U3", "UE3"], seed=1).document
        ktp = next(f for f in document["facilities"] if f["id"] == f"KTP:{district.slug}")
        categories = {(c["age_group"], c["care_hours"]): c["capacity"] for c in ktp["categories"]}
        assert categories == {("U3", 35): 12, ("U3", 45): 4, ("UE3", 35): 3}
        only_u3 = build_instance(kita_year(), ["U3"], seed=1).document
        ktp = next(f for f in only_u3["facilities"] if f["id"] == f"KTP:{district.slug}")
        assert {c["age_group"] for c in ktp["categories"]} == {"U3"}
        # a Ü3 child who asked only for family daycare in Mitte gets a place there
        setup_market()
        application = apply(
            "Tami",
            [],
            years=3.5,
            district_id=district.pk,
            wants_family_daycare=True,
            family_daycare_district_id=district.pk,
        )
        run = runs.execute_run(
            runs.start_run(
                None, kita_year=kita_year(), age_groups=["UE3"], binding=False, seed=1
            ).pk
        )
        outcome = run.outcomes.get(application=application)
        assert outcome.daycare_district_id == district.pk
        stats = runs.statistics(kita_year())
        ue3 = next(r for r in stats if r["district_id"] == district.pk and r["age_group"] == "UE3")
        assert ue3["daycare_places"] == 3
    assert "eigene Angabe" in advisor.get(f"{DAYCARE_URL}?jahr={kita_year()}").content.decode()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "Die Zahl darf nicht negativ sein."),
        ("drei", "Bitte eine ganze Zahl angeben."),
        ("2,5", "Bitte eine ganze Zahl angeben."),
        ("2001", "Bitte eine Zahl bis 2.000 angeben."),
    ],
)
def test_invalid_daycare_places_are_refused_at_their_field_and_nothing_is_saved(
    city, mitte, value, message
):
    district, _other = mitte
    with tenant_context(city):
        DaycareCapacity.objects.create(
            district=district, kita_year=YEAR, age_group="U3", care_hours=35, places=12
        )
    office = staff(city, "jugendamt@bochum.test", "youth_office")
    url = f"{DAYCARE_URL}{district.slug}/?jahr={YEAR}"
    body = office.post(url, {"U3_35": value, "UE3_35": "5"}).content.decode()
    assert message in body
    assert 'id="ktp-U3_35-error"' in body and 'aria-invalid="true"' in body
    with tenant_context(city):
        saved = list(
            DaycareCapacity.objects.filter(district=district, kita_year=YEAR).values_list(
                "age_group", "care_hours", "places"
            )
        )
    assert saved == [("U3", 35, 12)]


def test_daycare_places_are_404_outside_the_scope(city, other_city, mitte):
    district, other = mitte
    url = f"{DAYCARE_URL}{district.slug}/"
    with tenant_context(city):
        kita = setup_market()[0]
    advisor_nord = staff(city, "fb-nord@bochum.test", "fachberatung", district=other)
    assert advisor_nord.get(url).status_code == 404
    assert advisor_nord.post(url, {"U3_35": "99"}).status_code == 404
    listing = advisor_nord.get(DAYCARE_URL).content.decode()
    assert other.name in listing and f"{DAYCARE_URL}{district.slug}/" not in listing
    _, family = parent(city, "eltern-ktp@bochum.test")
    facility_staff = staff(city, "kita-ktp@bochum.test", "facility_staff", facility=kita)
    unassigned = staff(city, "fb-ohne@bochum.test", "fachberatung")
    for client in (family, facility_staff, unassigned):
        assert client.get(DAYCARE_URL).status_code == 404
        assert client.get(url).status_code == 404
        assert client.post(url, {"U3_35": "99"}).status_code == 404
    with tenant_context(city):
        assert not DaycareCapacity.objects.filter(places=99).exists()
    # Kreis Düren: Bochum's session is not valid there, and Düren's youth office has no Mitte
    advisor = staff(city, "fb-mitte2@bochum.test", "fachberatung", district=district)
    response = advisor.get(url, HTTP_HOST=other_city.hostname)
    assert response.status_code == 302 and "/konto/anmelden/" in response["Location"]
    dueren = staff(other_city, "jugendamt@dueren.test", "youth_office")
    assert dueren.get(url).status_code == 404
    assert dueren.post(url, {"U3_35": "99"}).status_code == 404
    assert client_for(city).get(url).status_code == 302  # anonymous: to the login


def test_the_daycare_list_keeps_a_constant_number_of_queries(city, mitte):
    office = staff(city, "jugendamt@bochum.test", "youth_office")
    url = f"{DAYCARE_URL}?jahr={YEAR}"
    before = queries(office, url)
    with tenant_context(city):
        for district in District.objects.all()[:3]:
            DaycareCapacity.objects.create(
                district=district, kita_year=YEAR, age_group="U3", care_hours=35, places=7
            )
    assert queries(office, url) == before
