"""A parent, keyboard and mouse, in real Chromium: sign up, verify, pre-register twins, change."""

import re
from datetime import date, timedelta

import pytest
from django_tenants.utils import tenant_context
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def next_august() -> date:
    today = date.today()
    return date(today.year + (1 if today.month >= 8 else 0), 8, 1)


def wishable_facilities(tenant, count: int) -> list[str]:
    from registrations.models import Facility

    with tenant_context(tenant):
        return [
            str(pk)
            for pk in Facility.objects.filter(
                care_hours__contains=[35], age_groups__age_group="UE3", age_groups__places__gt=0
            )
            .order_by("name")
            .values_list("pk", flat=True)[:count]
        ]


def test_a_parent_signs_up_pre_registers_twins_and_changes_the_wishes(
    page, steps, portal_server, browser_city, django_db_blocker
):
    email = "zwillinge@example.org"
    page.goto(portal_server + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Kitas in Stadt Beispielhausen")
    steps.check("finder")

    page.get_by_role("link", name="Registrieren").click()
    page.get_by_label("Vorname").fill("Maria")
    page.get_by_label("Nachname").fill("Muster")
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Passwort").fill("Kita-Platz-2027!")
    steps.check("signup")
    page.get_by_role("button", name="Konto anlegen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fast geschafft")
    steps.check("signup-done")

    page.get_by_role("link", name="Zum Demo-Postfach").click()
    steps.check("mailbox")
    link = re.search(r"http://\S+/konto/bestaetigen/\S+/", page.content()).group(0)
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Voranmeldung")

    birth = (next_august() - timedelta(days=4 * 365)).isoformat()
    page.fill("#id_child_0_first_name", "Ben")
    page.fill("#id_child_0_last_name", "Muster")
    page.fill("#id_child_0_birth_date", birth)
    page.fill("#id_child_1_first_name", "Lea")
    page.fill("#id_child_1_last_name", "Muster")
    page.fill("#id_child_1_birth_date", birth)
    page.get_by_label("Geschwister oder Mehrlinge nur gemeinsam").check()
    page.fill("#id_start_date", next_august().isoformat())
    page.get_by_label("35 Stunden/Woche").check()
    with django_db_blocker.unblock():
        wishes = wishable_facilities(browser_city, 3)
    for rank, facility in enumerate(wishes, start=1):
        page.select_option(f"#id_wish_{rank}", facility)
    page.get_by_label("Auch Kindertagespflege").check()
    page.select_option("#id_family_daycare_district", index=1)
    page.fill("#id_street", "Lindenstraße 5")
    page.fill("#id_postcode", "52349")
    page.select_option("#id_district", index=1)
    steps.check("application-form")
    # keyboard only from here: focus the submit button and press Enter
    page.get_by_role("button", name="Voranmeldung absenden").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ihre Voranmeldung ist eingegangen")
    expect(page.locator("main")).to_contain_text("Fachberatung Kindertagespflege")
    steps.check("confirmation")
    reference = re.search(r"KP-\d{4}-\d{6}", page.content()).group(0)

    page.goto(portal_server + "/demo-postfach/")
    expect(page.locator("main")).to_contain_text(
        f"Eingangsbestätigung Ihrer Voranmeldung {reference}"
    )
    steps.check("confirmation-mail")

    page.get_by_role("link", name="Meine Anmeldungen").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)
    third = rows.nth(2).locator("td").nth(1).inner_text()
    rows.nth(2).get_by_role("button", name=re.compile("nach oben")).click()
    expect(page.locator(".messages")).to_contain_text("gespeichert")
    expect(page.locator("tbody tr").nth(1).locator("td").nth(1)).to_have_text(third)
    steps.check("reordered")

    page.locator("tbody tr").nth(0).get_by_role("button", name=re.compile("zurückziehen")).click()
    expect(page.locator("tbody tr").nth(0).locator("td").nth(2)).to_contain_text("zurückgezogen")
    steps.check("wish-withdrawn")


def test_the_portal_is_keyboard_usable_with_visible_focus(page, steps, portal_server):
    page.goto(portal_server + "/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Zum Inhalt springen", "the first Tab reaches the skip link"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    steps.check("skip-link")
