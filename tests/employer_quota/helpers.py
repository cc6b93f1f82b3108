"""Helpers for the employer tests: agreements, codes and parents set up through the services."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django_tenants.utils import tenant_context

from employer_quota.agreements import services as agreements
from registrations import services as registrations
from registrations.models import Facility
from tenants.accounts.models import Role
from tests.conftest import client_for, make_user
from tests.registrations.test_pre_registration import application_input, kitas, next_august

PASSWORD = "pw-Secret-123"


class Actor:
    """Stands for a staff member acting in the platform's name in service calls."""

    def __init__(self, role: str, pk: int = 1):
        self.role = role
        self.pk = pk


YOUTH_OFFICE = Actor(Role.YOUTH_OFFICE)
HR = Actor(Role.HR)


def terms(**overrides) -> agreements.Terms:
    start = next_august()
    data = dict(
        age_group="UE3",
        places=2,
        care_hours=35,
        valid_from=start,
        valid_to=date(start.year + 2, 7, 31),
        monthly_fee=Decimal("450.00"),
        release_rule="unclaimed_by_date",
        release_month=3,
        release_day=15,
    )
    data.update(overrides)
    return agreements.Terms(**data)


def facility(city, group="UE3", hours=35, index=0) -> Facility:
    with tenant_context(city):
        return Facility.objects.get(pk=kitas(group, hours, index + 1)[index])


def active_agreement(city, employer, *, facility_obj=None, **term_overrides):
    facility_obj = facility_obj or facility(city, term_overrides.get("age_group", "UE3"))
    agreement = agreements.propose_agreement(
        YOUTH_OFFICE,
        municipality=city,
        employer=employer,
        facility_id=facility_obj.pk,
        facility_name=facility_obj.name,
        terms=terms(**term_overrides),
    )
    agreements.decide_version(HR, agreement, confirm=True)
    agreement.refresh_from_db()
    return agreement


def login(tenant, email: str, role: str, **extra):
    make_user(tenant, email, role, password=PASSWORD, **extra)
    client = client_for(tenant)
    response = client.post("/konto/anmelden/", {"username": email, "password": PASSWORD})
    assert response.status_code == 302, "logged in"
    return client


def parent_with_application(city, email="eltern@example.org", facility_ids=None, **overrides):
    """A parent account in the city and one application of theirs (Ü3, 35 h by default)."""
    user = make_user(city, email, Role.PARENT, password=PASSWORD)
    with tenant_context(city):
        user = get_user_model().objects.get(pk=user.pk)
        data = application_input(**overrides)
        if facility_ids is not None:
            data.facility_ids = facility_ids
        application = registrations.submit_application(user, data)
    return user, application


def parent_client(city, email):
    client = client_for(city)
    response = client.post("/konto/anmelden/", {"username": email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def ue3_birth(start=None):
    start = start or next_august()
    return start - timedelta(days=365 * 4)
