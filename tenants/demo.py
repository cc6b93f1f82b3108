"""The demo platform: four tenants with realistic data and one login per role. Idempotent."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django_tenants.utils import schema_context, tenant_context

from employer_quota.demo import load_employer_demo
from registrations.demo import load_demo_people, load_municipality_demo
from tenants.accounts.models import Role

from . import services
from .models import Tenant

DEMO_PASSWORD = "demo-kitaportal"


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    name: str
    tenant_type: str
    logins: tuple[tuple[str, str], ...]


DEMO_TENANTS = (
    DemoTenant(
        "bochum", "Stadt Bochum", "municipality", (("jugendamt@bochum.demo", Role.YOUTH_OFFICE),)
    ),
    DemoTenant(
        "kreis-dueren",
        "Kreis Düren",
        "municipality",
        (("jugendamt@kreis-dueren.demo", Role.YOUTH_OFFICE),),
    ),
    DemoTenant(
        "rathauskids",
        "Stadt Bochum – RathausKids",
        "employer",
        (("personal@rathauskids.demo", Role.HR),),
    ),
    DemoTenant(
        "kreismaeuse",
        "Kreisverwaltung Düren – Kreismäuse",
        "employer",
        (("personal@kreismaeuse.demo", Role.HR),),
    ),
)
PLATFORM_ADMIN = "admin@kitaportal.demo"


def _ensure_user(email: str, role: str, **extra):
    User = get_user_model()
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=DEMO_PASSWORD, role=role, **extra)
    return user


def load_demo() -> list[dict]:
    """Provision (or reuse) the demo tenants, fill them, and create the demo logins."""
    rows = []
    with schema_context("public"):
        _ensure_user(PLATFORM_ADMIN, Role.PLATFORM_ADMIN, is_staff=True, is_superuser=True)
    rows.append(
        {
            "url": None,
            "name": "Plattform-Administration",
            "logins": [(PLATFORM_ADMIN, Role.PLATFORM_ADMIN)],
        }
    )
    for demo in DEMO_TENANTS:
        tenant = Tenant.objects.filter(slug=demo.slug).first()
        if tenant is None:
            tenant = services.provision_tenant(
                None, tenant_type=demo.tenant_type, slug=demo.slug, name=demo.name
            )
        with tenant_context(tenant), transaction.atomic():
            logins = list(demo.logins)
            for email, role in demo.logins:
                _ensure_user(email, role, is_staff=False)
            if demo.tenant_type == "municipality":
                figures = load_municipality_demo(demo.slug)
                logins += load_demo_people(DEMO_PASSWORD)
            else:
                figures = load_employer_demo(demo.slug)
        rows.append(
            {"url": tenant.portal_url, "name": tenant.name, "figures": figures, "logins": logins}
        )
    # Issue 5: what binds employers to municipalities (agreements, codes), company daycare,
    # survey; needs all four demo tenants.
    from employer_quota.demo import load_reserved_places_demo

    with transaction.atomic():
        load_reserved_places_demo()
    return rows
