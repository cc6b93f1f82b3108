"""Reserved-place agreements: propose, confirm, change (versioned), release, end."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import tenant_context

from employer_quota.agreements import services as agreements
from employer_quota.agreements.models import Agreement, AgreementVersion, PlaceClaim, Release
from employer_quota.municipal.allocation import reserves_for_round

from .helpers import HR, YOUTH_OFFICE, active_agreement, facility, terms


def test_the_municipality_proposes_and_hr_confirms_an_agreement(city, employer):
    kita = facility(city)
    agreement = agreements.propose_agreement(
        YOUTH_OFFICE,
        municipality=city,
        employer=employer,
        facility_id=kita.pk,
        facility_name=kita.name,
        terms=terms(places=3),
    )
    assert agreement.status == Agreement.Status.PROPOSED
    assert agreement.current is None
    assert agreement.pending.number == 1

    agreements.decide_version(HR, agreement, confirm=True)
    agreement.refresh_from_db()
    assert agreement.status == Agreement.Status.ACTIVE
    assert agreement.current.places == 3
    assert agreement.current.state == AgreementVersion.State.CONFIRMED
    assert agreement.pending is None


def test_a_declined_proposal_never_becomes_active(city, employer):
    kita = facility(city)
    agreement = agreements.propose_agreement(
        YOUTH_OFFICE,
        municipality=city,
        employer=employer,
        facility_id=kita.pk,
        facility_name=kita.name,
        terms=terms(),
    )
    agreements.decide_version(HR, agreement, confirm=False)
    agreement.refresh_from_db()
    assert agreement.status == Agreement.Status.DECLINED
    with pytest.raises(ValidationError):
        agreements.decide_version(HR, agreement, confirm=True)


def test_a_change_is_a_new_version_that_applies_only_once_confirmed(city, employer):
    agreement = active_agreement(city, employer, places=2)
    agreements.propose_change(YOUTH_OFFICE, agreement, terms(places=4))
    agreement.refresh_from_db()
    assert agreement.current.places == 2, "the confirmed version still applies"
    with pytest.raises(ValidationError):
        agreements.propose_change(YOUTH_OFFICE, agreement, terms(places=5))  # one pending only

    agreements.decide_version(HR, agreement, confirm=True)
    agreement.refresh_from_db()
    assert agreement.current.places == 4 and agreement.current.number == 2
    states = dict(agreement.versions.values_list("number", "state"))
    assert states == {1: "superseded", 2: "confirmed"}

    agreements.propose_change(YOUTH_OFFICE, agreement, terms(places=1))
    agreements.decide_version(HR, agreement, confirm=False)
    agreement.refresh_from_db()
    assert agreement.current.places == 4, "a declined change leaves the agreement as it was"
    assert list(agreement.versions.values_list("state", flat=True)) == [
        "superseded",
        "confirmed",
        "declined",
    ]


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"places": 0}, "places"),
        ({"care_hours": 30}, "care_hours"),
        ({"valid_to": date(2000, 1, 1)}, "valid_to"),
        ({"monthly_fee": "-1"}, "monthly_fee"),
        ({"monthly_fee": "1.234"}, "monthly_fee"),
        ({"release_month": 2, "release_day": 30}, "release_day"),
        ({"age_group": "X"}, "age_group"),
    ],
)
def test_invalid_terms_are_refused_with_a_message_and_nothing_is_saved(city, employer, bad, field):
    kita = facility(city)
    before = Agreement.objects.count(), AgreementVersion.objects.count()
    with pytest.raises(ValidationError) as exc:
        agreements.propose_agreement(
            YOUTH_OFFICE,
            municipality=city,
            employer=employer,
            facility_id=kita.pk,
            facility_name=kita.name,
            terms=terms(**bad),
        )
    assert field in exc.value.message_dict
    assert (Agreement.objects.count(), AgreementVersion.objects.count()) == before


def test_an_agreement_binds_a_municipality_to_an_employer_not_the_other_way(city, employer):
    with pytest.raises(ValidationError):
        agreements.propose_agreement(
            YOUTH_OFFICE,
            municipality=employer,
            employer=city,
            facility_id=1,
            facility_name="x",
            terms=terms(),
        )


def test_unclaimed_places_are_released_on_the_release_date_once(city, employer):
    agreement = active_agreement(city, employer, places=3)
    year = agreement.current.kita_years()[0]
    claim = agreements.claim_place(agreement, year)
    assert claim is not None
    deadline = agreement.current.release_date(year)
    assert deadline == date(year, 3, 15)

    assert agreements.apply_releases(deadline - timedelta(days=1)) == []
    released = agreements.apply_releases(deadline)
    assert [(r.kita_year, r.places) for r in released] == [(year, 2)]
    assert agreements.apply_releases(deadline + timedelta(days=1)) == [], "idempotent"
    state = agreements.occupancy(agreement, year)
    assert (state.reserved, state.used, state.released, state.free) == (3, 1, 2, 0)
    assert agreements.claim_place(agreement, year) is None, "released places are not claimable"
    with tenant_context(city):
        reserves = reserves_for_round(date(year, 8, 1))
    key = (agreement.facility_id, "UE3", 35)
    assert reserves[key] == [(employer.slug, 1)], "only the claimed place stays reserved"


def test_an_agreement_that_never_releases_keeps_its_places(city, employer):
    agreement = active_agreement(city, employer, places=2, release_rule="never")
    year = agreement.current.kita_years()[0]
    assert agreements.apply_releases(date(year, 7, 30)) == []
    assert not Release.objects.filter(agreement=agreement).exists()


def test_a_claim_never_takes_more_places_than_are_free(city, employer):
    agreement = active_agreement(city, employer, places=1)
    year = agreement.current.kita_years()[0]
    assert agreements.claim_place(agreement, year) is not None
    assert agreements.claim_place(agreement, year) is None


def test_ending_an_agreement_ends_its_claims_and_pending_changes(city, employer):
    agreement = active_agreement(city, employer, places=2)
    year = agreement.current.kita_years()[0]
    agreements.claim_place(agreement, year)
    agreements.propose_change(YOUTH_OFFICE, agreement, terms(places=3))
    agreements.end_agreement(HR, agreement)
    agreement.refresh_from_db()
    assert agreement.status == Agreement.Status.ENDED
    assert set(agreement.claims.values_list("state", flat=True)) == {PlaceClaim.State.ENDED}
    assert agreement.pending is None
    with tenant_context(city):
        assert (agreement.facility_id, "UE3", 35) not in reserves_for_round(date(year, 8, 1))
