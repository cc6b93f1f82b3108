"""A parent filters the finder, sees list and map, and opens a facility profile (Chromium)."""

import re

import pytest
from django_tenants.utils import tenant_context
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_parent_filters_by_district_and_care_hours_and_opens_a_profile(
    page, steps, portal_server, browser_city, django_db_blocker
):
    from registrations.models import Facility

    with django_db_blocker.unblock(), tenant_context(browser_city):
        want = Facility.objects.filter(district__slug="duren", care_hours__contains=[45]).count()
    page.goto(portal_server + "/")
    page.get_by_label("Bezirk", exact=True).select_option(label="Düren")
    page.get_by_label("Betreuungsumfang", exact=True).select_option("45")
    page.get_by_role("button", name="Filtern").click()
    expect(page.locator(".result-count")).to_contain_text(f"{want} Einrichtung")
    expect(page.get_by_role("heading", name="Liste", exact=True)).to_be_visible()
    expect(page.get_by_role("region", name="Karte der gefundenen Kitas")).to_be_visible()
    expect(page.locator("#finder-map.leaflet-container")).to_be_visible()
    markers = page.locator("#finder-map .leaflet-marker-icon")
    expect(markers).to_have_count(want)
    names = [markers.nth(i).get_attribute("alt") for i in range(want)]
    assert all(names), "every marker has an accessible name"
    steps.check("finder-filtered")

    # the map never traps the keyboard: Tab leaves it after its controls and markers
    page.locator("#finder-map").focus()
    for _ in range(want + 10):
        page.keyboard.press("Tab")
        inside = page.evaluate(
            "document.getElementById('finder-map').contains(document.activeElement)"
        )
        if not inside:
            break
    assert not inside, "Tab moves on past the map"

    first = page.locator(".facility-list h3 a").first
    name = first.inner_text()
    first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_role("heading", name="Pädagogisches Konzept")).to_be_visible()
    apply = page.get_by_role("link", name="Für diese Kita voranmelden")
    expect(apply).to_have_attribute("href", re.compile(r"^/voranmeldung/\?kita=\d+$"))
    steps.check("facility-profile")


def test_the_finder_list_works_and_says_so_when_the_map_tiles_cannot_load(
    page, steps, portal_server
):
    page.route(re.compile(r"https://tile\.openstreetmap\.org/.*"), lambda route: route.abort())
    page.goto(portal_server + "/?near=52428")
    expect(page.locator("#map-note")).to_contain_text("Kartenkacheln konnten nicht geladen werden")
    expect(page.locator(".facility-list .distance").first).to_contain_text("km")
    steps.check("finder-without-tiles")
