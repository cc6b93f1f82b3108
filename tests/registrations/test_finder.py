"""The municipality home page lists its own facilities, with working filters."""

import re
from datetime import date

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from registrations import finder
from registrations.models import AgeGroupOffer, Carrier, Facility


def result_count(response) -> int:
    return result_count_of(response.content.decode())


def result_count_of(page: str) -> int:
    match = re.search(r"(\d+) Einrichtung(?:en)? gefunden", page)
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
    finder.clear()
    with CaptureQueriesContext(connection) as before:
        city_client.get("/", {"seite": 1})
    with tenant_context(city):
        facility = Facility.objects.first()
        AgeGroupOffer.objects.filter(facility=facility).update(places=99)
    finder.clear()
    with CaptureQueriesContext(connection) as after:
        city_client.get("/", {"seite": 2})
    # tenant lookup (3), the data version (1), the matches (1), the district and carrier
    # choices (2), the portal's welcome text (1) and employers' company daycares listed here
    # (1, issue 5); with nothing cached also every marker (1) and the page (1) with its
    # places (1)
    assert len(before) == len(after) <= 12
    with CaptureQueriesContext(connection) as warm:
        city_client.get("/", {"seite": 2})
    # the same query again: its rendered body is kept, so only the tenant and the data
    # version are asked for
    assert len(warm) == 4
    with CaptureQueriesContext(connection) as other_page:
        city_client.get("/", {"seite": 3})
    # another query of the same version: the choices, the markers, the welcome text and the
    # company daycares are kept
    assert len(other_page) == len(after) - 5


def test_a_cached_finder_body_depends_on_the_query_and_the_language(city, city_client):
    finder.clear()
    mitte = city_client.get("/", {"district": "mitte"}).content.decode()
    nord = city_client.get("/", {"district": "nord"}).content.decode()
    assert result_count(city_client.get("/", {"district": "mitte"})) == result_count_of(mitte)
    assert result_count_of(mitte) != result_count_of(nord)
    city_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    english = city_client.get("/", {"district": "mitte"}).content.decode()
    assert "daycare centres found" in english


def test_a_new_welcome_text_shows_on_the_next_request_although_the_finder_is_cached(
    city, city_client
):
    from onboarding import services as onboarding

    from tests.conftest import make_user

    city_client.get("/")  # the body of this query is now kept
    admin = make_user(city, "admin@bochum.test", "tenant_admin")
    with tenant_context(city):
        onboarding.save_texts(
            admin, welcome_text="Willkommen in Bochum!", welcome_text_en="Welcome to Bochum!"
        )
    assert "Willkommen in Bochum!" in city_client.get("/").content.decode()
    english = city_client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Welcome to Bochum!" in english


def test_a_changed_facility_shows_on_the_next_request_in_every_language(city, city_client):
    city_client.get("/")  # cards and markers are now cached
    with tenant_context(city):
        facility = Facility.objects.order_by("name").first()
        Facility.objects.filter(pk=facility.pk).update(name="Aaa Kita Umbenannt")
        AgeGroupOffer.objects.filter(facility=facility).update(places=77)
    page = city_client.get("/").content.decode()
    assert "Aaa Kita Umbenannt" in page and "77 Plätze" in page
    city_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "77 places" in city_client.get("/").content.decode()


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


# --- Filters, age group at the start date, distance, map, profile (issue 3, item 1) ---------


def facility_names(response) -> list[str]:
    return re.findall(r'<h3><a href="/kitas/[^"]+/">([^<]+)</a>', response.content.decode())


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"opens_early": "on"}, lambda qs: qs.filter(opens_at__lte="07:00")),
        ({"closes_late": "on"}, lambda qs: qs.filter(closes_at__gte="17:00")),
        ({"tags": ["inklusion"]}, lambda qs: qs.filter(tags__contains=["inklusion"])),
        (
            {"tags": ["inklusion", "familienzentrum"]},
            lambda qs: qs.filter(tags__contains=["inklusion", "familienzentrum"]),
        ),
        (
            {"q": "Sonnen"},
            lambda qs: qs.filter(
                Q(name__icontains="Sonnen")
                | Q(street__icontains="Sonnen")
                | Q(carrier__name__icontains="Sonnen")
            ),
        ),
        (
            {"opens_early": "on", "closes_late": "on", "district": "mitte"},
            lambda qs: qs.filter(
                opens_at__lte="07:00", closes_at__gte="17:00", district__slug="mitte"
            ),
        ),
    ],
)
def test_opening_tag_and_text_filters_narrow_the_list_exactly(city, city_client, query, expected):
    with tenant_context(city):
        want = expected(Facility.objects.all()).count()
        total = Facility.objects.count()
    assert 0 < want < total
    assert result_count(city_client.get("/", query)) == want


def test_the_carrier_filter_lists_only_that_carriers_facilities(city, city_client):
    with tenant_context(city):
        carrier = Carrier.objects.get(name="Jugendamt Bochum – Städtische Kitas")
        names = sorted(carrier.facilities.values_list("name", flat=True))
    assert 1 < len(names) < 190
    response = city_client.get("/", {"carrier": carrier.pk, "seite": 1})
    assert result_count(response) == len(names)
    assert facility_names(response) == [n.replace("&", "&amp;") for n in names[:25]]


@pytest.mark.parametrize(
    ("birth", "start", "group", "label"),
    [
        (date(2024, 9, 1), date(2026, 8, 1), "U3", "unter 3 Jahren (U3)"),
        (date(2023, 8, 2), date(2026, 8, 1), "U3", "unter 3 Jahren (U3)"),
        (date(2023, 8, 1), date(2026, 8, 1), "UE3", "3 Jahre bis Schuleintritt (Ü3)"),
        (date(2022, 1, 15), date(2026, 8, 1), "UE3", "3 Jahre bis Schuleintritt (Ü3)"),
    ],
)
def test_the_age_group_is_computed_from_birth_date_and_start_date(
    city, city_client, birth, start, group, label
):
    with tenant_context(city):
        want = Facility.objects.filter(age_groups__age_group=group, age_groups__places__gt=0)
        want = want.count()
    # the computed group wins over an explicitly chosen one
    other = "UE3" if group == "U3" else "U3"
    response = city_client.get(
        "/", {"birth_date": birth.isoformat(), "start_date": start.isoformat(), "age_group": other}
    )
    assert result_count(response) == want
    assert f"Altersgruppe zum gewünschten Beginn: {label}" in response.content.decode()


def test_the_explicit_age_group_applies_without_dates(city, city_client):
    with tenant_context(city):
        want = Facility.objects.filter(age_groups__age_group="UE3", age_groups__places__gt=0)
        want = want.count()
    assert result_count(city_client.get("/", {"age_group": "UE3"})) == want


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"birth_date": "2024-01-01"}, "Bitte auch den gewünschten Betreuungsbeginn angeben."),
        ({"start_date": "2026-08-01"}, "Bitte auch das Geburtsdatum angeben."),
        (
            {"birth_date": "2026-08-01", "start_date": "2025-08-01"},
            "Der Betreuungsbeginn liegt vor dem Geburtsdatum.",
        ),
        ({"birth_date": "31.02.2024", "start_date": "2026-08-01"}, "Bitte ein gültiges Datum"),
        ({"birth_date": "1950-01-01", "start_date": "2026-08-01"}, "der letzten Jahre"),
        ({"near": "99999"}, "Diesen Ort kennen wir nicht."),
        ({"near": "Atlantis"}, "Diesen Ort kennen wir nicht."),
        ({"tags": ["gibtsnicht"], "carrier": "abc"}, "keine gültige Auswahl"),
    ],
)
def test_invalid_finder_input_gets_a_message_and_the_list_still_works(city_client, query, message):
    response = city_client.get("/", query)
    assert response.status_code == 200
    body = response.content.decode()
    assert message in body
    assert 'class="error-summary"' in body
    assert 'aria-invalid="true"' in body
    assert result_count(response) == 190


def kilometres(response) -> list[float]:
    body = response.content.decode()
    return [float(km.replace(",", ".")) for km in re.findall(r"ca\. ([\d.,]+) km", body)]


def test_the_distance_sort_from_a_postcode_starts_with_the_nearest_facilities(city, city_client):
    from integrations.geocoder import CentroidGeocoder, Point, great_circle_km

    with tenant_context(city):
        origin = CentroidGeocoder().locate("44805")
        expected = sorted(
            (great_circle_km(origin, Point(float(f.latitude), float(f.longitude))), f.name)
            for f in Facility.objects.all()
        )
    response = city_client.get("/", {"near": "44805"})
    assert result_count(response) == 190
    distances = kilometres(response)
    assert len(distances) == 25
    assert distances == sorted(distances)
    assert facility_names(response)[:10] == [name for _, name in expected[:10]]
    for shown, (want, _) in zip(distances, expected, strict=False):
        assert abs(shown - want) <= 0.051
    assert "nach Entfernung sortiert" in response.content.decode()


def test_the_distance_sort_from_a_district_and_with_other_filters(city, city_client):
    with tenant_context(city):
        wattenscheid = set(
            Facility.objects.filter(district__slug="wattenscheid").values_list("name", flat=True)
        )
        want = Facility.objects.filter(care_hours__contains=[45]).count()
    response = city_client.get("/", {"near": "Wattenscheid", "care_hours": "45"})
    assert result_count(response) == want
    assert kilometres(response) == sorted(kilometres(response))
    assert set(facility_names(response)[:5]) <= wattenscheid


def test_without_a_place_the_list_is_alphabetical_and_shows_no_distances(city_client):
    response = city_client.get("/", {"district": "nord"})
    assert kilometres(response) == []
    names = facility_names(response)
    assert names == sorted(names)


def test_the_centroid_geocoder_uses_postcode_means_and_district_coordinates(city, settings):
    from decimal import Decimal

    from django.db.models import Avg

    from integrations.geocoder import CentroidGeocoder, NominatimGeocoder, get_geocoder
    from registrations.models import District

    assert isinstance(get_geocoder(), CentroidGeocoder)
    with tenant_context(city):
        mean = Facility.objects.filter(postcode="44879").aggregate(
            lat=Avg("latitude"), lon=Avg("longitude")
        )
        point = get_geocoder().locate(" 44879 ")
        assert (point.latitude, point.longitude) == (float(mean["lat"]), float(mean["lon"]))
        sued = District.objects.get(slug="sud")
        point = get_geocoder().locate("süd")
        assert (point.latitude, point.longitude) == (float(sued.latitude), float(sued.longitude))
        # a district without coordinates is located at its facilities' mean
        District.objects.filter(pk=sued.pk).update(latitude=None, longitude=None)
        mean = sued.facilities.aggregate(lat=Avg("latitude"), lon=Avg("longitude"))
        point = get_geocoder().locate("Süd")
        assert Decimal(str(point.latitude)).quantize(Decimal("0.00001")) == mean["lat"].quantize(
            Decimal("0.00001")
        )
        assert get_geocoder().locate("12345") is None
    settings.GEOCODER = "nominatim"
    assert isinstance(get_geocoder(), NominatimGeocoder)  # chosen, not called: no network
    settings.GEOCODER = "carrier-pigeon"
    with pytest.raises(ValueError, match="unknown GEOCODER"):
        get_geocoder()


def test_great_circle_distance_is_about_right():
    from integrations.geocoder import Point, great_circle_km

    bochum, dueren = Point(51.4818, 7.2162), Point(50.8003, 6.4826)
    assert 90 < great_circle_km(bochum, dueren) < 93
    assert great_circle_km(bochum, bochum) == 0


FULL_QUERY = {
    "care_hours": "35",
    "birth_date": "2024-03-01",
    "start_date": "2026-08-01",
    "closes_late": "",
    "tags": ["inklusion"],
    "near": "44787",
}


def test_the_finder_query_count_does_not_grow_with_the_facilities(city, city_client, monkeypatch):
    from registrations import views

    counts = []
    for district, page_size in (("mitte", 5), ("nord", 50), ("ost", 25)):
        monkeypatch.setattr(views, "PAGE_SIZE", page_size)
        finder.clear()  # nothing cached: the most queries the finder runs
        with CaptureQueriesContext(connection) as queries:
            response = city_client.get("/", {**FULL_QUERY, "district": district})
        assert response.status_code == 200 and result_count(response) > 0
        counts.append(len(queries))
    with tenant_context(city):
        facility = Facility.objects.filter(district__slug="mitte").first()
        for number in range(20):
            clone = Facility.objects.get(pk=facility.pk)
            clone.pk, clone.slug, clone.name = None, f"klon-{number}", f"Kita Klon {number}"
            clone.save()
            AgeGroupOffer.objects.create(facility=clone, age_group="U3", places=10)
    finder.clear()
    with CaptureQueriesContext(connection) as queries:
        city_client.get("/", {**FULL_QUERY, "district": "mitte"})
    counts.append(len(queries))
    assert len(set(counts)) == 1, counts
    assert counts[0] <= 15  # 14 + employers' company daycares listed here (issue 5)


def test_the_map_gets_every_match_as_json_and_leaflet_from_the_app(city, city_client):
    import json

    with tenant_context(city):
        want = Facility.objects.filter(district__slug="sudwest").count()
    response = city_client.get("/", {"district": "sudwest"})
    body = response.content.decode()
    data = re.search(
        r'<script id="finder-markers" type="application/json">(.*?)</script>', body, re.S
    )
    markers = json.loads(data.group(1))
    assert len(markers) == want > 25 / 2
    assert {"name", "address", "url", "lat", "lon"} <= set(markers[0])
    assert all(m["url"].startswith("/kitas/") for m in markers)
    assert 'id="finder-map"' in body and 'id="liste"' in body
    assert body.index('id="liste"') < body.index('id="karte"'), "the list comes first"
    assert "/static/vendor/leaflet/leaflet.js" in body
    assert "unpkg" not in body and "cdn" not in body.lower()
    assert "Die Karte konnte nicht geladen werden" in body, "a note until the map starts"


def test_leaflet_is_shipped_with_its_licence():
    from pathlib import Path

    import kitaportal

    vendor = Path(kitaportal.__file__).parent / "static" / "vendor" / "leaflet"
    for name in ("leaflet.js", "leaflet.css", "LICENSE", "images/marker-icon.png"):
        assert (vendor / name).is_file(), name
    assert 'version="1.9.4"' in (vendor / "leaflet.js").read_text()


def test_a_facility_profile_shows_concept_closing_days_contact_and_the_apply_button(
    city, city_client
):
    with tenant_context(city):
        facility = Facility.objects.select_related("carrier").order_by("name")[3]
    assert facility.concept and facility.closing_days, "the demo fills both"
    body = city_client.get(f"/kitas/{facility.slug}/").content.decode()
    assert facility.concept[:60] in body
    assert facility.closing_days[:40] in body
    assert facility.phone in body and f"mailto:{facility.email}" in body
    assert f'href="/voranmeldung/?kita={facility.pk}"' in body
    assert "Für diese Kita voranmelden" in body
    assert "<h2" in body and "Pädagogisches Konzept" in body


def test_the_demo_profile_texts_are_deterministic(city):
    from registrations import demo

    with tenant_context(city):
        facilities = list(Facility.objects.order_by("pk")[:10])
    copies = [Facility(name=f.name) for f in facilities]
    demo._profile_texts(demo.BOCHUM.seed, copies)
    assert [c.concept for c in copies] == [f.concept for f in facilities]
    assert [c.closing_days for c in copies] == [f.closing_days for f in facilities]


def test_a_facility_page_shows_a_change_at_once_and_an_unknown_slug_gets_404(city, city_client):
    with tenant_context(city):
        facility = Facility.objects.order_by("name").first()
    page = city_client.get(f"/kitas/{facility.slug}/")
    assert page.status_code == 200 and facility.name in page.content.decode()
    with tenant_context(city):
        Facility.objects.filter(pk=facility.pk).update(concept="Neu: Waldtage jeden Freitag")
    assert "Waldtage jeden Freitag" in city_client.get(f"/kitas/{facility.slug}/").content.decode()
    assert city_client.get("/kitas/gibt-es-nicht/").status_code == 404
    assert city_client.get("/kitas/gibt-es-nicht/").status_code == 404
