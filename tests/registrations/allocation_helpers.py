"""Helpers for the allocation-run tests: small controlled markets inside Bochum's schema."""

from __future__ import annotations

import uuid
from datetime import timedelta

from registrations import services
from registrations.criteria import ensure_default_catalogue
from registrations.fees import ensure_demo_fee_table
from registrations.models import Application, Facility
from registrations.models_allocation import ApplicationCircumstances, PlaceCapacity
from registrations.services import ChildInput, GuardianInput
from tests.registrations.test_pre_registration import application_input, kitas, next_august


def kita_year() -> int:
    return next_august().year


def scarce(facility_id: int, places: int, age="UE3", hours=35) -> None:
    """Give a facility exactly `places` places in one category for the coming Kita year."""
    PlaceCapacity.objects.update_or_create(
        facility_id=facility_id,
        kita_year=kita_year(),
        age_group=age,
        care_hours=hours,
        defaults={"places": places},
    )


def apply(
    first_name: str,
    facility_ids: list[int],
    *,
    years: float = 4,
    email: str | None = None,
    user=None,
    working=False,
    hardship=False,
    **overrides,
) -> Application:
    start = next_august()
    birth = start - timedelta(days=int(365.25 * years))
    overrides.setdefault("children", [ChildInput(first_name, "Test", birth)])
    data = application_input(
        guardians=[GuardianInput(first_name, "Test", email or f"{first_name.lower()}@example.org")],
        facility_ids=facility_ids,
        idempotency_key=uuid.uuid4(),
        **overrides,
    )
    application = services.submit_application(user, data)
    if working or hardship:
        ApplicationCircumstances.objects.create(
            application=application, both_working=working, hardship=hardship
        )
    return application


def setup_market():
    """Default criteria and fee table; three UE3/35 h Kitas, the first with one place."""
    ensure_default_catalogue()
    ensure_demo_fee_table(next_august().replace(month=1, day=1))
    ids = kitas("UE3", 35, 3)
    scarce(ids[0], 1)
    return [Facility.objects.get(pk=pk) for pk in ids]
