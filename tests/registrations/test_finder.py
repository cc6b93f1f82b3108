"""The municipality home page lists its own facilities, with working filters."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from registrations.models import AgeGroupOffer, Facility


def result_count(response) -> int:
    match = re.search(r"(\d+) Einrichtung(?:en)? gefunden", response.content.decode())
    assert match, "the page states how many facilities were found"
    return int(match.group(1))


def test_bochum_lists_its_190_facilities_and_duren_only_its_own(city_client, other_city_client):
    assert result_count(city_client.get("/")) == 190
    assert result_count(other_city_client.get("/")) == 41


def test_the_demo_has_bochums_real_scale(city):
    from registrations.demo import summary

    with tenant_context(city):
        figures = summary()
    assert figures == {
        "districts": 6,
        "carriers": 60,
        "facilities": 190,
        "places": 11435,
        "daycare_persons": 610,
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"district": "nord"}, lambda qs: qs.filter(district__slug="nord")),
        (
            {"age_group": "U3"},
            lambda qs: qs.filter(age_groups__age_group="U3", age_groups__places__gt=0),
        ),
        ({"care_hours": "45"}, lambda qs: qs.filter(care_hours__contains=[45])),
        (
            {"district": "sud", "care_hours": "45", "age_group": "U3"},
            lambda qs: qs.filter(
                district__slug="sud",
                care_hours__contains=[45],
                age_groups__age_group="U3",
                age_groups__places__gt=0,
            ),
        ),
    ],
)
def test_filters_narrow_the_list_to_exactly_the_matching_facilities(
    city, city_client, query, expected
):
    with tenant_context(city):
        want = expected(Facility.objects.all()).distinct().count()
        total = Facility.objects.count()
    assert 0 < want < total, "the demo data makes every filter meaningful"
    assert result_count(city_client.get("/", query)) == want


def test_an_invalid_filter_value_gets_a_message_not_an_error(city_client):
    response = city_client.get("/", {"care_hours": "99", "district": "atlantis"})
    assert response.status_code == 200
    assert "keine gültige Auswahl" in response.content.decode()


def test_the_list_runs_a_constant_number_of_queries(city, city_client):
    with CaptureQueriesContext(connection) as before:
        city_client.get("/", {"seite": 1})
    with tenant_context(city):
        facility = Facility.objects.first()
        AgeGroupOffer.objects.filter(facility=facility).update(places=99)
    with CaptureQueriesContext(connection) as after:
        city_client.get("/", {"seite": 2})
    assert len(before) == len(after) <= 7


def test_a_facility_page_shows_address_places_and_hours(city, city_client):
    with tenant_context(city):
        facility = Facility.objects.prefetch_related("age_groups").first()
    body = city_client.get(f"/kitas/{facility.slug}/").content.decode()
    assert facility.street in body
    for offer in facility.age_groups.all():
        assert f"<td>{offer.places}</td>" in body


def test_the_employer_home_page_shows_its_profile(employer):
    from tests.conftest import client_for

    body = client_for(employer).get("/").content.decode()
    assert "RathausKids" in body
    assert "fünf U3- und zehn Ü3-Plätze" in body


def test_the_portal_speaks_english_when_asked(city_client):
    city_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    body = city_client.get("/").content.decode()
    assert '<html lang="en">' in body
