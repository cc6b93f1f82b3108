"""Browser tests: Debian's Chromium driven by Playwright, against a real server process.

The server (Django's, in a subprocess) uses the test database; data is committed, in a tenant
of its own (`browser-city`), so the rolled-back tests elsewhere never see it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from tests.worker import database_url

# Playwright's sync API keeps an event loop in the test thread; our DB calls stay synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def browser_city(tenant_registry, django_db_blocker):
    from registrations.demo import load_municipality_demo
    from tenants import services
    from tenants.models import Tenant

    with django_db_blocker.unblock():
        tenant = Tenant.objects.filter(slug="browser-city").first() or services.provision_tenant(
            None, tenant_type="municipality", slug="browser-city", name="Stadt Beispielhausen"
        )
        with tenant_context(tenant):
            load_municipality_demo("kreis-dueren")
        connection.set_schema_to_public()
    return tenant


@pytest.fixture(scope="session")
def portal_server(browser_city, django_db_blocker):
    port = free_port()
    with django_db_blocker.unblock():
        url = database_url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kitaportal.settings.test",
        "DATABASE_URL": url,
        "PORTAL_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "kitaportal.cli", "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    yield f"http://{browser_city.slug}.localhost:{port}"
    process.terminate()
    process.wait(timeout=15)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


class Steps:
    """Screenshots each step and runs axe-core on every page it visits."""

    def __init__(self, page, name: str):
        self.page = page
        self.folder = ARTIFACTS / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def check(self, label: str) -> None:
        self.count += 1
        self.page.screenshot(
            path=str(self.folder / f"{self.count:02d}-{label}.png"), full_page=True
        )
        self.page.add_script_tag(path=str(AXE))
        result = self.page.evaluate(
            "async () => await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', "
            "'wcag21aa', 'best-practice']})"
        )
        serious = [
            f"{v['id']}: {v['help']} ({len(v['nodes'])}×, e.g. {v['nodes'][0]['target']})"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not serious, f"axe on {label} ({self.page.url}): " + "; ".join(serious)


@pytest.fixture
def steps(page, request):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make test` (it installs it)")
    if not AXE.exists():
        pytest.fail("axe-core missing: run `make test` (npm ci in tests/browser)")
    return Steps(page, request.node.name)


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """A German browser, as most of the portal's parents have (the portal follows
    Accept-Language; English browsers get the English portal)."""
    return {**browser_context_args, "locale": "de-DE"}
