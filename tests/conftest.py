"""Shared fixtures, named for roles: city, other_city, employer, parent, outsider.

The tenants are provisioned once per session through the real services (clone from the
template), with Bochum's and Kreis Düren's demo data loaded; each test then runs inside a
transaction that is rolled back.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from tenants import services
from tenants.models import Tenant

ROLE_TENANTS = {
    "city": ("bochum", "Stadt Bochum", "municipality"),
    "other_city": ("kreis-dueren", "Kreis Düren", "municipality"),
    "employer": ("rathauskids", "Stadt Bochum – RathausKids", "employer"),
    "other_employer": ("kreismaeuse", "Kreisverwaltung Düren – Kreismäuse", "employer"),
}


@pytest.fixture(scope="session")
def django_db_setup(
    request, django_test_environment, django_db_blocker, django_db_keepdb, django_db_createdb
):
    """Always create the test database, also for runs whose tests use no `db` fixture (worker,
    browser): pytest-django would otherwise leave them on the configured (dev) database."""
    from django.test.utils import setup_databases, teardown_databases

    keepdb = django_db_keepdb and not django_db_createdb
    with django_db_blocker.unblock():
        config = setup_databases(
            verbosity=request.config.option.verbose,
            interactive=False,
            aliases={"default"},
            keepdb=keepdb,
        )
    yield
    if not keepdb:
        with django_db_blocker.unblock():
            # server and worker processes started by tests may still hold a session
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            teardown_databases(config, verbosity=request.config.option.verbose)


@pytest.fixture(scope="session", autouse=True)
def _empty_test_broker():
    """Tasks left in the file broker by an earlier run must not reach this run's workers."""
    from django.conf import settings

    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in")
    if folder:
        for path in Path(folder).glob("*"):
            if path.is_file():
                path.unlink()
    yield


@pytest.fixture(scope="session")
def tenant_registry(django_db_setup, django_db_blocker) -> dict[str, Tenant]:
    from employer_quota.demo import load_employer_demo
    from registrations.demo import load_municipality_demo

    with django_db_blocker.unblock():
        assert connection.settings_dict["NAME"].startswith("test"), "tests never touch a real DB"
        connection.set_schema_to_public()
        services.ensure_public_tenant()
        services.ensure_templates()
        registry = {}
        for role, (slug, name, tenant_type) in ROLE_TENANTS.items():
            tenant = Tenant.objects.filter(slug=slug).first() or services.provision_tenant(
                None, tenant_type=tenant_type, slug=slug, name=name
            )
            with tenant_context(tenant):
                if tenant_type == "municipality":
                    load_municipality_demo(slug)
                else:
                    load_employer_demo(slug)
            registry[role] = tenant
        connection.set_schema_to_public()
    return registry


@pytest.fixture(autouse=True)
def _public_schema_after_each_test():
    yield
    connection.set_schema_to_public()


@pytest.fixture
def city(tenant_registry, db) -> Tenant:
    return tenant_registry["city"]


@pytest.fixture
def other_city(tenant_registry, db) -> Tenant:
    return tenant_registry["other_city"]


@pytest.fixture
def employer(tenant_registry, db) -> Tenant:
    return tenant_registry["employer"]


@pytest.fixture
def other_employer(tenant_registry, db) -> Tenant:
    return tenant_registry["other_employer"]


def client_for(tenant: Tenant | None) -> Client:
    host = tenant.hostname if tenant is not None else "localhost"
    return Client(HTTP_HOST=host)


@pytest.fixture
def city_client(city) -> Client:
    return client_for(city)


@pytest.fixture
def other_city_client(other_city) -> Client:
    return client_for(other_city)


@pytest.fixture
def platform_client(tenant_registry, db) -> Client:
    return client_for(None)


def make_user(
    tenant: Tenant | None, email: str, role: str, password: str = "pw-Secret-123", **extra
):
    from django.contrib.auth import get_user_model

    schema = tenant.schema_name if tenant else "public"
    connection.set_schema(schema)
    try:
        return get_user_model().objects.create_user(
            email=email, password=password, role=role, **extra
        )
    finally:
        connection.set_schema_to_public()


@pytest.fixture
def youth_office(city):
    return make_user(city, "jugendamt@bochum.test", "youth_office")


@pytest.fixture
def outsider(other_city):
    """Staff of another municipality."""
    return make_user(other_city, "jugendamt@dueren.test", "youth_office")
