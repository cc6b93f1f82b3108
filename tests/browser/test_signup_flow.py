"""An organisation signs up in real Chromium: platform site → sign-up → email verification →
subdomain with live check → plan → Stripe Checkout (the local test double, SEPA) → provisioning
progress (a real Celery worker) → the new tenant's home page → the first admin's invitation,
password, districts and facility import from the template."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid

import pytest
from django.db import connection
from playwright.sync_api import expect

from tests.browser.conftest import free_port
from tests.onboarding.test_facility_import import ROWS, as_csv
from tests.stripe_double import StripeDouble
from tests.worker import celery_worker, database_url

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def signup_stack(tenant_registry, django_db_blocker, tmp_path_factory):
    """Stripe double + web server + Celery worker, all on the test database and a private
    broker folder (no other run's worker takes these tasks)."""
    double = StripeDouble().start()
    port = free_port()
    with django_db_blocker.unblock():
        url = database_url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kitaportal.settings.test",
        "DATABASE_URL": url,
        "PORTAL_PORT": str(port),
        "STRIPE_SECRET_KEY": "sk_test_double",
        "STRIPE_WEBHOOK_SECRET": double.webhook_secret,
        "STRIPE_API_BASE": double.url,
        "KITAPORTAL_TEST_BROKER_DIR": str(tmp_path_factory.mktemp("broker")),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "kitaportal.cli", "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    double.webhook_url = f"http://127.0.0.1:{port}/stripe/webhook/"
    double.webhook_host = "localhost"
    worker_env = {k: v for k, v in env.items() if k != "DATABASE_URL"}
    with celery_worker(worker_env):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                import socket

                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        yield {"base": f"http://localhost:{port}", "double": double, "port": port}
    server.terminate()
    server.wait(timeout=15)
    double.stop()


def verification_link(django_db_blocker) -> str:
    from tenants.common.models import OutboxMessage

    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        message = OutboxMessage.objects.filter(subject__icontains="E-Mail").order_by("-pk").first()
        return re.search(r"http://\S+", message.body_text).group(0)


def invitation_link(django_db_blocker, tenant) -> str:
    from django_tenants.utils import tenant_context

    from tenants.common.models import OutboxMessage

    with django_db_blocker.unblock():
        with tenant_context(tenant):
            message = OutboxMessage.objects.get()
        connection.set_schema_to_public()
    return re.search(r"http://\S+/konto/passwort/neu/\S+/", message.body_text).group(0)


def test_an_organisation_signs_up_pays_by_sepa_and_lands_on_its_new_portal(
    page, steps, signup_stack, django_db_blocker
):
    base = signup_stack["base"]
    slug = f"bs-{uuid.uuid4().hex[:6]}"
    page.goto(base + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kitaportal")
    expect(
        page.get_by_role("link", name=re.compile("Live-Demo ansehen: Stadt Bochum"))
    ).to_be_visible()
    steps.check("platform-site")

    page.get_by_role("link", name="Als Kommune anmelden").click()
    expect(page.get_by_label("eine Kommune (Kita-Portal für Familien)")).to_be_checked()
    page.get_by_label("Name der Organisation").fill("Stadt Browserhausen")
    page.get_by_label("Ihre dienstliche E-Mail-Adresse").fill(f"it@{slug}.example.org")
    steps.check("signup-start")
    page.get_by_role("button", name="Weiter").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Bitte bestätigen Sie Ihre E-Mail-Adresse"
    )
    steps.check("signup-sent")

    page.goto(verification_link(django_db_blocker))
    expect(page.get_by_role("heading", level=1)).to_have_text("Subdomain wählen")
    field = page.get_by_label("Subdomain")
    field.fill("bochum")
    expect(page.locator("#slug-status")).to_contain_text("bereits vergeben")
    field.fill(slug)
    expect(page.locator("#slug-status")).to_contain_text(f"{slug}.localhost ist frei")
    steps.check("subdomain")
    page.get_by_role("button", name="Weiter").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Tarif und Zahlungsweg")
    page.get_by_label(re.compile("bis 25 Kitas")).check()
    page.get_by_label("Karte oder SEPA-Lastschrift").check()
    steps.check("plan")
    page.get_by_role("button", name="Weiter").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Anmeldung abschließen")
    steps.check("pay")
    page.get_by_role("button", name="Weiter zur Zahlung").click()

    # Stripe Checkout (the local test double): pay by SEPA Direct Debit
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/c/pay/cs_test_"))
    page.get_by_label("SEPA-Lastschrift").check()
    page.get_by_role("button", name="Bezahlen").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Portal wird eingerichtet")
    steps.check("progress")
    portal_link = page.get_by_role("link", name="Zum neuen Portal")
    expect(portal_link).to_be_visible(timeout=60_000)
    expect(page.locator("[data-step=ready]")).to_contain_text("✔")
    steps.check("progress-ready")
    portal_link.click()
    expect(page).to_have_url(f"http://{slug}.localhost:{signup_stack['port']}/")
    expect(page.locator(".brand")).to_have_text("Stadt Browserhausen")
    steps.check("new-portal")

    from billing.models import SignupApplication, Subscription

    with django_db_blocker.unblock():
        application = SignupApplication.objects.get(slug=slug)
        subscription = Subscription.objects.select_related("tenant").get(tenant__slug=slug)
    assert application.status == "ready" and subscription.state == "trial"
    seconds = application.provisioning_seconds
    print(f"payment confirmation → ready tenant: {seconds:.2f} s (worker, file broker)")
    assert seconds is not None and seconds > 0

    # the first admin follows the invitation, sets a password and imports the facilities
    page.goto(invitation_link(django_db_blocker, subscription.tenant))
    expect(page.get_by_role("heading", level=1)).to_have_text("Neues Passwort festlegen")
    page.fill("#id_new_password1", "Kita-Portal-Start-2027!")
    page.fill("#id_new_password2", "Kita-Portal-Start-2027!")
    page.get_by_role("button", name="Passwort speichern").click()
    page.goto(f"http://{slug}.localhost:{signup_stack['port']}/konto/anmelden/")
    page.fill("#id_username", f"it@{slug}.example.org")
    page.fill("#id_password", "Kita-Portal-Start-2027!")
    page.get_by_role("button", name="Anmelden").last.click()
    page.goto(f"http://{slug}.localhost:{signup_stack['port']}/verwaltung/einrichtung/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Portal einrichten")
    steps.check("checklist")
    page.get_by_role("link", name="Bezirke anlegen").click()
    for district in ("Nord", "Süd"):
        page.get_by_label("Name des Bezirks").fill(district)
        page.get_by_role("button", name="Anlegen").click()
    page.get_by_role("link", name="Zurück zur Checkliste").click()
    page.get_by_role("link", name="Träger und Kitas importieren").click()
    page.get_by_label("Datei (CSV oder XLSX nach Vorlage)").set_input_files(
        files=[{"name": "kitas.csv", "mimeType": "text/csv", "buffer": as_csv(ROWS)}]
    )
    page.get_by_role("button", name="Prüfen und importieren").click()
    expect(page.locator("#import-report")).to_contain_text("3 Zeilen: 3 Kitas neu")
    steps.check("facility-import")
    page.get_by_role("link", name="Zurück zur Checkliste").click()
    expect(page.locator("[data-item=facilities]")).to_have_attribute("data-done", "yes")
    expect(page.locator("[data-item=districts]")).to_have_attribute("data-done", "yes")
    page.goto(f"http://{slug}.localhost:{signup_stack['port']}/")
    expect(page.get_by_text("Kita Sonnenblume")).to_be_visible()
