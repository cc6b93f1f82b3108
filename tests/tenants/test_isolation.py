"""Tenancy is the security boundary: hosts select tenants, logins and data never cross."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver
from django_tenants.utils import tenant_context

from registrations.models import Facility
from tests.conftest import client_for, make_user

pytestmark = pytest.mark.tenancy


def all_patterns(urlconf: str):
    """Every concrete route of a URLconf, with its converters, skipping the admin."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield route

    return list(walk(get_resolver(urlconf).url_patterns))


def fill(route: str, values: dict[str, str]) -> str:
    def replace(match):
        converter, name = match.group(1) or "str", match.group(2)
        return values.get(name, "1" if converter == "int" else "x")

    path = re.sub(r"<(?:(\w+):)?(\w+)>", replace, route)
    return "/" + path.lstrip("^").rstrip("$")


def bochum_only_names(city, other_city) -> tuple[list[str], dict[str, str]]:
    with tenant_context(other_city):
        dueren_names = set(Facility.objects.values_list("name", flat=True))
    with tenant_context(city):
        facilities = list(Facility.objects.exclude(name__in=dueren_names)[:40])
    # markers that only a Bochum object renders: its link and its name as a heading link
    markers = [f'href="/kitas/{f.slug}/"' for f in facilities] + [
        f">{f.name}</" for f in facilities
    ]
    return markers, {"slug": facilities[0].slug, "pk": str(facilities[0].pk)}


def test_a_bochum_login_sees_nothing_of_bochum_on_every_dueren_url(city, other_city):
    make_user(city, "jugendamt@bochum.test", "youth_office", password="pw-Secret-123")
    client = client_for(city)
    response = client.post(
        "/konto/anmelden/", {"username": "jugendamt@bochum.test", "password": "pw-Secret-123"}
    )
    assert response.status_code == 302, "the login on Bochum works"
    names, values = bochum_only_names(city, other_city)
    routes = all_patterns("kitaportal.urls_municipality")
    assert len(routes) >= 5
    for route in routes:
        path = fill(route, values)
        for method in ("get", "post"):
            response = getattr(client, method)(path, HTTP_HOST=other_city.hostname)
            assert response.status_code < 500, f"{method.upper()} {path} on Düren gave a 5xx"
            body = response.content.decode()
            assert "Stadt Bochum" not in body, path
            assert "jugendamt@bochum.test" not in body, path
            for name in names:
                assert name not in body, f"{path} on Düren shows Bochum's {name!r}"
            assert "Abmelden" not in body, f"{path}: the Bochum login is not valid on Düren"


def test_a_bochum_facility_page_is_a_404_on_the_dueren_host(city, other_city):
    _, values = bochum_only_names(city, other_city)
    assert client_for(city).get(f"/kitas/{values['slug']}/").status_code == 200
    assert client_for(other_city).get(f"/kitas/{values['slug']}/").status_code == 404


def test_session_and_csrf_cookies_are_host_only(city):
    make_user(city, "leitung@bochum.test", "youth_office", password="pw-Secret-123")
    client = client_for(city)
    client.get("/konto/anmelden/")
    response = client.post(
        "/konto/anmelden/", {"username": "leitung@bochum.test", "password": "pw-Secret-123"}
    )
    assert response.cookies["sessionid"]["domain"] == ""
    assert client.cookies["csrftoken"]["domain"] == ""


def test_a_bochum_account_cannot_log_in_on_another_tenant(city, other_city):
    make_user(city, "eltern@bochum.test", "parent", password="pw-Secret-123")
    response = client_for(other_city).post(
        "/konto/anmelden/", {"username": "eltern@bochum.test", "password": "pw-Secret-123"}
    )
    assert response.status_code == 200
    assert "nicht korrekt" in response.content.decode()
    with tenant_context(other_city):
        assert not get_user_model().objects.filter(email="eltern@bochum.test").exists()


def test_users_of_one_tenant_do_not_exist_in_another_schema(city, other_city, employer):
    make_user(city, "only-bochum@example.test", "parent")
    for tenant in (other_city, employer):
        with tenant_context(tenant):
            assert not get_user_model().objects.filter(email="only-bochum@example.test").exists()


@pytest.mark.parametrize(
    "host",
    [
        "unbekannt.localhost",
        "www.localhost",
        "admin.localhost",
        "api.localhost",
        "template-municipality.localhost",
        "template-employer.localhost",
        "bochum.localhost.evil.example",
    ],
)
def test_unknown_reserved_and_template_hosts_get_a_friendly_german_404(tenant_registry, db, host):
    from django.test import Client

    response = Client(HTTP_HOST=host).get("/")
    assert response.status_code in (400, 404)
    if response.status_code == 404:
        assert "Dieses Portal gibt es nicht" in response.content.decode()


def test_a_deactivated_tenant_is_not_served(tenant_registry, db):
    from tenants import services

    tenant = services.provision_tenant(
        None, tenant_type="municipality", slug="stadt-bottrop", name="Stadt Bottrop"
    )
    assert client_for(tenant).get("/").status_code == 200
    services.deactivate_tenant(None, "stadt-bottrop")
    assert client_for(tenant).get("/").status_code == 404


def test_employer_hosts_serve_the_employer_urlconf_only(employer, city):
    response = client_for(employer).get("/")
    assert response.status_code == 200
    assert "RathausKids" in response.content.decode()
    # a municipality route does not exist on an employer host
    with tenant_context(city):
        slug = Facility.objects.first().slug
    assert client_for(employer).get(f"/kitas/{slug}/").status_code == 404


def test_the_platform_admin_lists_the_four_tenants_and_no_template(tenant_registry, db):
    make_user(None, "admin@platform.test", "platform_admin", is_staff=True, is_superuser=True)
    client = client_for(None)
    client.post("/admin/login/", {"username": "admin@platform.test", "password": "pw-Secret-123"})
    body = client.get("/admin/tenants/tenant/").content.decode()
    for name in ("Stadt Bochum", "Kreis Düren", "RathausKids", "Kreismäuse"):
        assert name in body
    assert "Vorlage" not in body
    assert "template_municipality" not in body
