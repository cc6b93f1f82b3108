"""Carriers and facilities from the onboarding template: row-level report, all or nothing,
idempotent re-import."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django_tenants.utils import tenant_context
from openpyxl import Workbook, load_workbook

from registrations import imports
from registrations.models import AgeGroupOffer, Carrier, District, Facility
from tenants import services as tenant_services
from tests.conftest import client_for, make_user

pytestmark = pytest.mark.django_db
PASSWORD = "pw-Secret-123"

ROWS = [
    ["Stadt Neustadt", "kommunal", "Kita Sonnenblume", "", "Nord", "Bahnhofstraße 1", "44623",
     "Neustadt", "51.5380", "7.2190", "07:00", "16:30", "25;35;45", "10", "45", "", ""],
    ["Ev. Kirchengemeinde", "evangelisch", "Ev. Kita Arche", "arche", "Süd", "Kirchweg 3",
     "44625", "Neustadt", "51,5101", "7,2302", "7:30", "17:00", "35;45", "0", "60",
     "02323 1234", "arche@example.org"],
    ["Stadt Neustadt", "kommunal", "Kita Regenbogen", "", "süd", "Ringstraße 9", "44627",
     "Neustadt", "51.5200", "7.2400", "07:00", "14:00", "25", "12", "30", "", ""],
]  # fmt: skip


@pytest.fixture
def neustadt(tenant_registry):
    connection.set_schema_to_public()
    tenant = tenant_services.provision_tenant(
        None, tenant_type="municipality", slug="neustadt", name="Stadt Neustadt"
    )
    with tenant_context(tenant):
        District.objects.create(name="Nord", slug="nord")
        District.objects.create(name="Süd", slug="sued")
    return tenant


def as_csv(rows, headers=imports.HEADERS, delimiter=";") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode()


def as_xlsx(rows) -> bytes:
    workbook = Workbook()
    workbook.active.append(imports.HEADERS)
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def snapshot():
    return (
        sorted(Carrier.objects.values_list("name", "kind")),
        sorted(Facility.objects.values_list("slug", "name", "district__name", "opens_at")),
        sorted(AgeGroupOffer.objects.values_list("facility__slug", "age_group", "places")),
    )


def test_the_templates_carry_the_columns_and_an_example_row():
    rows = list(csv.reader(io.StringIO(imports.template_csv().decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == imports.HEADERS and len(rows[1]) == len(imports.HEADERS)
    sheet = load_workbook(io.BytesIO(imports.template_xlsx())).worksheets[0]
    assert [cell.value for cell in sheet[1]] == imports.HEADERS


def test_a_good_file_is_applied_and_a_second_import_changes_nothing(neustadt):
    with tenant_context(neustadt):
        report = imports.import_facilities(None, as_csv(ROWS), "kitas.csv")
        assert report.applied and (report.created, report.carriers_created) == (3, 2)
        facility = Facility.objects.get(slug="arche")
        assert facility.district.name == "Süd" and facility.care_hours == [35, 45]
        assert str(facility.latitude) == "51.51010" and facility.phone == "02323 1234"
        assert facility.total_places == 60
        assert Facility.objects.get(name="Kita Regenbogen").district.name == "Süd"
        before = snapshot()
        again = imports.import_facilities(None, as_csv(ROWS), "kitas.csv")
        assert again.applied and (again.created, again.updated, again.unchanged) == (0, 0, 3)
        assert snapshot() == before


def test_a_changed_row_updates_its_facility_instead_of_adding_one(neustadt):
    with tenant_context(neustadt):
        imports.import_facilities(None, as_csv(ROWS), "kitas.csv")
        changed = [row[:] for row in ROWS]
        changed[1][14] = "75"
        report = imports.import_facilities(None, as_xlsx(changed), "kitas.xlsx")
        assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
        assert Facility.objects.count() == 3
        assert Facility.objects.get(slug="arche").total_places == 75


def _refused(neustadt, content: bytes, filename: str):
    with tenant_context(neustadt):
        before = snapshot()
        report = imports.import_facilities(None, content, filename)
        assert not report.applied
        assert snapshot() == before, "nothing applied"
    return [(p.row, p.column, p.message) for p in report.problems]


def test_a_wrong_column_is_reported_at_the_header_and_nothing_is_applied(neustadt):
    headers = [*imports.HEADERS]
    headers[4] = "Stadtteil"
    problems = _refused(neustadt, as_csv(ROWS, headers=headers), "kitas.csv")
    assert len(problems) == 1
    row, column, message = problems[0]
    assert row == 1 and "fehlt: Bezirk" in message and "unbekannt: Stadtteil" in message


def test_a_duplicate_facility_is_reported_at_its_row_and_nothing_is_applied(neustadt):
    problems = _refused(neustadt, as_csv([*ROWS, ROWS[1]]), "kitas.csv")
    assert problems == [(5, "Kita", "Doppelte Kita: dieselbe Kita steht schon in Zeile 3.")]


def test_an_unknown_district_is_reported_at_its_row_and_nothing_is_applied(neustadt):
    rows = [row[:] for row in ROWS]
    rows[2][4] = "Ost"
    problems = _refused(neustadt, as_xlsx(rows), "kitas.xlsx")
    assert len(problems) == 1 and problems[0][:2] == (4, "Bezirk")
    assert "Unbekannter Bezirk „Ost“" in problems[0][2]


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (b"PK\x03\x04 this is not a workbook", "kitas.xlsx"),
        (bytes(range(256)) * 4, "kitas.csv"),
        (b"", "kitas.csv"),
    ],
)
def test_a_broken_file_gets_a_clear_message_and_changes_nothing(neustadt, content, filename):
    problems = _refused(neustadt, content, filename)
    assert len(problems) == 1 and problems[0][0] == 0
    assert "nicht lesen" in problems[0][2] or "leer" in problems[0][2]


def test_every_bad_row_is_reported_with_its_column_and_good_rows_are_not_applied(neustadt):
    rows = [row[:] for row in ROWS]
    rows[0][1] = "privat"
    rows[0][6] = "4462"
    rows[1][10] = "25:00"
    rows[2][12] = "30"
    problems = _refused(neustadt, as_csv(rows, delimiter=","), "kitas.csv")
    assert {(row, column) for row, column, _ in problems} == {
        (2, "Trägerart"), (2, "PLZ"), (3, "öffnet"), (4, "Betreuungsumfänge"),
    }  # fmt: skip


def admin_client(tenant, email="admin@neustadt.test", role="tenant_admin"):
    make_user(tenant, email, role, password=PASSWORD)
    client = client_for(tenant)
    assert (
        client.post("/konto/anmelden/", {"username": email, "password": PASSWORD}).status_code
        == 302
    )
    return client


def test_the_admin_uploads_a_file_and_sees_the_row_report(neustadt):
    client = admin_client(neustadt)
    assert client.get("/verwaltung/einrichtung/kitas/vorlage.xlsx").status_code == 200
    rows = [row[:] for row in ROWS]
    rows[2][4] = "Ost"
    bad = io.BytesIO(as_csv(rows))
    bad.name = "kitas.csv"
    response = client.post("/verwaltung/einrichtung/kitas/", {"file": bad})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Nichts übernommen" in html and 'data-row="4"' in html and "Unbekannter Bezirk" in html
    good = io.BytesIO(as_csv(ROWS))
    good.name = "kitas.csv"
    response = client.post("/verwaltung/einrichtung/kitas/", {"file": good})
    assert response.status_code == 200 and "Import übernommen" in response.content.decode()
    with tenant_context(neustadt):
        assert Facility.objects.count() == 3


@pytest.mark.parametrize("role", ["youth_office", "parent"])
def test_only_the_tenant_admin_may_import(neustadt, role):
    client = admin_client(neustadt, f"{role}@neustadt.test", role)
    assert client.get("/verwaltung/einrichtung/kitas/").status_code == 404
    assert client.get("/verwaltung/einrichtung/kitas/vorlage.csv").status_code == 404
    upload = io.BytesIO(as_csv(ROWS))
    upload.name = "kitas.csv"
    assert client.post("/verwaltung/einrichtung/kitas/", {"file": upload}).status_code == 404
