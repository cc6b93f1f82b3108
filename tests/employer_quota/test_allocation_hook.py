"""The allocation run's instance (issue 4) gets the employer reserves and eligibility: a child
whose parent redeemed a code competes first for the employer's reserved places."""

import pytest
from django_tenants.utils import tenant_context

from employer_quota.agreements import services as agreements
from employer_quota.municipal import services

from .helpers import HR, active_agreement, facility, parent_with_application


def test_the_instance_builder_puts_reserves_and_eligibility_into_the_market(city, employer):
    allocation_db = pytest.importorskip("registrations.allocation_db")
    from registrations.allocation import load_instance, solve

    kita = facility(city)
    agreement = active_agreement(city, employer, facility_obj=kita, places=2)
    user, application = parent_with_application(city, facility_ids=[kita.pk])
    [(_, plain)] = agreements.issue_codes(HR, employer, count=1, channel="print")
    with tenant_context(city):
        services.redeem_code(user, application, plain, share_status=False, address="10.1.1.1")
        year = agreement.current.kita_years()[0]
        instance = allocation_db.build_instance(year, ["UE3"], seed=7)
    document = instance.document
    [facility_doc] = [
        f for f in document["facilities"] if f["id"] == allocation_db.facility_key(kita.pk)
    ]
    [category] = [
        c for c in facility_doc["categories"] if (c["age_group"], c["care_hours"]) == ("UE3", 35)
    ]
    assert category["reserved"] == [{"employer": employer.slug, "places": 2}]
    keys = [k for k, app_id in instance.child_application.items() if app_id == application.pk]
    [child] = [c for c in document["children"] if c["id"] in keys]
    assert child["employers"] == [employer.slug]

    market = load_instance(document)
    allocation = solve(market)
    placed = {market.child_ids[c]: seat for c, seat in allocation.seats.items()}
    assert placed.get(child["id"], (None,))[0] == "reserved", (
        "the eligible child takes a reserved seat"
    )
