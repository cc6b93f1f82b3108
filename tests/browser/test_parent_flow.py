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


def test_the_information_and_account_pages_pass_axe(page, steps, portal_server):
    for path, label in (
        ("/barrierefreiheit/", "accessibility-statement"),
        ("/konto/anmelden/", "login"),
        ("/konto/passwort/", "password-reset"),
        ("/registrieren/", "signup-empty"),
    ):
        page.goto(portal_server + path)
        steps.check(label)
    # the error state of a form: summary, messages at the fields
    page.goto(portal_server + "/registrieren/")
    page.get_by_role("button", name="Konto anlegen").click()
    expect(page.locator("#error-summary")).to_be_visible()
    steps.check("signup-errors")


def test_the_application_form_can_be_completed_with_the_keyboard_alone(
    page, steps, portal_server, browser_city, django_db_blocker
):
    """Tab through the form in DOM order, typing, ticking (Space) and choosing (arrow keys)."""
    email = "tastatur@example.org"
    page.goto(portal_server + "/registrieren/")
    page.get_by_label("Vorname").fill("Kim")
    page.get_by_label("Nachname").fill("Tastatur")
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Passwort").fill("Kita-Platz-2027!")
    page.get_by_role("button", name="Konto anlegen").click()
    page.goto(portal_server + "/demo-postfach/")
    links = re.findall(r"http://\S+/konto/bestaetigen/\S+/", page.content())
    page.goto(links[0])  # newest mail first

    start = next_august()
    birth = start - timedelta(days=4 * 365)
    page.locator("#id_child_0_first_name").focus()
    typed = {
        "id_child_0_first_name": "Noa",
        "id_child_0_last_name": "Tastatur",
        "id_child_0_birth_date": birth.strftime("%d%m%Y"),
        "id_start_date": start.strftime("%d%m%Y"),
        "id_street": "Am Park 3",
        "id_postcode": "52349",
    }
    arrows = {"id_wish_1": 1, "id_wish_2": 2, "id_district": 1}
    for _ in range(80):
        current = page.evaluate("document.activeElement.id")
        if current in typed:
            page.keyboard.type(typed.pop(current))
        elif current in arrows:
            for _step in range(arrows.pop(current)):
                page.keyboard.press("ArrowDown")
        elif current == "id_care_hours_0":
            page.keyboard.press("ArrowDown")  # arrow keys move within a radio group: 35 h
        if current == "id_notes":
            break
        page.keyboard.press("Tab")
    assert not typed and not arrows, f"not reached by Tab: {typed} {arrows}"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Voranmeldung absenden"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ihre Voranmeldung ist eingegangen")
    steps.check("keyboard-confirmation")
