"""From code to contract: a facility's offer, the family's acceptance and the contract (issue 4's
services) make the claimed reserved place occupied; the employer sees the consented status
move along; a contract at another Kita ends the claim."""

from datetime import date

import pytest
from django_tenants.utils import tenant_context

from employer_quota.agreements import services as agreements
from employer_quota.agreements.models import EligibilityCode, PlaceClaim
from employer_quota.municipal import services
from registrations.models import AllocationPolicy, Wish
from registrations.services_allocation import accept_offer, make_facility_offer

from .helpers import HR, YOUTH_OFFICE, active_agreement, facility, parent_with_application


@pytest.fixture
def decentral(city):
    from registrations.fees import ensure_demo_fee_table

    with tenant_context(city):
        policy = AllocationPolicy.current()
        policy.mode = AllocationPolicy.Mode.DECENTRAL
        policy.save()
        ensure_demo_fee_table(date(2000, 1, 1))


def redeem_and_contract(city, employer, kita, wished):
    user, application = parent_with_application(city, facility_ids=wished)
    [(code, plain)] = agreements.issue_codes(HR, employer, count=1, channel="print")
    with tenant_context(city):
        services.redeem_code(user, application, plain, share_status=True, address="10.2.2.2")
        services.sync_eligibilities()
    code.refresh_from_db()
    assert code.shared_status == "received"
    with tenant_context(city):
        wish = Wish.objects.get(application=application, facility_id=wished[-1])
        offer = make_facility_offer(YOUTH_OFFICE, wish, application.children.get())
        services.sync_eligibilities()
        assert EligibilityCode.objects.get(pk=code.pk).shared_status == "offer"
        accept_offer(user, offer)
        result = services.sync_eligibilities()
    code.refresh_from_db()
    assert code.shared_status == "contract"
    return result


def test_a_contract_at_the_agreements_kita_occupies_the_claimed_place(city, employer, decentral):
    kita = facility(city)
    agreement = active_agreement(city, employer, facility_obj=kita)
    result = redeem_and_contract(city, employer, kita, [kita.pk])
    assert result["claims_occupied"] == 1
    claim = agreement.claims.get()
    assert claim.state == PlaceClaim.State.OCCUPIED
    state = agreements.occupancy(agreement, claim.kita_year)
    assert (state.occupied, state.claimed, state.used) == (1, 0, 1)


def test_a_contract_at_another_kita_ends_the_claim(city, employer, decentral):
    kita, elsewhere = facility(city), facility(city, index=1)
    agreement = active_agreement(city, employer, facility_obj=kita)
    result = redeem_and_contract(city, employer, kita, [kita.pk, elsewhere.pk])
    assert result["claims_ended"] == 1
    assert agreement.claims.get().state == PlaceClaim.State.ENDED
