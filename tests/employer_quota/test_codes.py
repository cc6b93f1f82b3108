"""Eligibility codes: hashed, single use, expiry, revocation, rate limit; redemption, claims,
consent; the allocation hook."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from employer_quota.agreements import services as agreements
from employer_quota.agreements.models import CodeAttempt, EligibilityCode, PlaceClaim
from employer_quota.municipal import services
from employer_quota.municipal.allocation import eligible_employers
from employer_quota.municipal.models import EmployerEligibility
from registrations import services as registrations
from registrations.models import District
from tests.conftest import make_user
from tests.registrations.test_pre_registration import kitas, next_august

from .helpers import HR, active_agreement, facility, parent_with_application, ue3_birth


@pytest.fixture
def setup(city, employer):
    kita = facility(city)
    agreement = active_agreement(city, employer, facility_obj=kita, places=2)
    user, application = parent_with_application(city, facility_ids=[kita.pk])
    return agreement, user, application


def redeem(city, user, application, text, share=False, address="10.0.0.1"):
    with tenant_context(city):
        return services.redeem_code(user, application, text, share_status=share, address=address)


def one_code(employer, **kwargs):
    [(code, plain)] = agreements.issue_codes(HR, employer, count=1, channel="print", **kwargs)
    return code, plain


def test_codes_are_stored_only_as_keyed_hashes(employer):
    issued = agreements.issue_codes(HR, employer, count=3, channel="print")
    for code, plain in issued:
        raw = plain.replace("-", "")
        assert len(raw) == 12
        assert code.code_hash == agreements.hash_code(plain) != raw
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM public.employer_agreements_eligibilitycode "
                "WHERE code_hash = %s OR code_hash = %s OR CAST(number AS text) = %s",
                [raw, plain, raw],
            )
            assert cursor.fetchone()[0] == 0
    assert [c.number for c, _ in issued] == [1, 2, 3] or len({c.number for c, _ in issued}) == 3


def test_a_code_makes_the_application_eligible_and_claims_a_reserved_place(city, employer, setup):
    agreement, user, application = setup
    code, plain = one_code(employer)
    eligibility = redeem(city, user, application, plain.lower().replace("-", " "))
    assert eligibility.employer_slug == employer.slug
    assert len(eligibility.claim_tokens) == 1
    code.refresh_from_db()
    assert code.redeemed_at is not None and code.municipality_id == city.pk
    assert not code.status_shared and code.shared_status == ""
    year = agreement.current.kita_years()[0]
    assert agreements.occupancy(agreement, year).used == 1
    with tenant_context(city):
        assert eligible_employers() == {application.pk: [employer.slug]}


def test_a_code_works_only_once(city, employer, setup):
    _, user, application = setup
    _, plain = one_code(employer)
    redeem(city, user, application, plain)
    other_user, other_application = parent_with_application(
        city,
        email="zweite@example.org",
        facility_ids=[setup[0].facility_id],
        children=[
            registrations.ChildInput("Ole", "Anders", application.start_date - timedelta(days=1500))
        ],
    )
    with pytest.raises(ValidationError) as exc:
        redeem(city, other_user, other_application, plain)
    assert "code" in exc.value.message_dict
    with tenant_context(city):
        assert not EmployerEligibility.objects.filter(application=other_application).exists()


def test_an_expired_code_is_refused(city, employer, setup):
    _, user, application = setup
    code, plain = one_code(employer, valid_days=1)
    EligibilityCode.objects.filter(pk=code.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(ValidationError):
        redeem(city, user, application, plain)
    code.refresh_from_db()
    assert code.redeemed_at is None


def test_a_revoked_code_is_refused_and_revoking_after_use_ends_the_eligibility(
    city, employer, setup
):
    agreement, user, application = setup
    code, plain = one_code(employer)
    agreements.revoke_code(HR, employer, code.number)
    with pytest.raises(ValidationError):
        redeem(city, user, application, plain)

    code2, plain2 = one_code(employer)
    redeem(city, user, application, plain2)
    agreements.revoke_code(HR, employer, code2.number)
    with tenant_context(city):
        assert eligible_employers() == {}
        services.sync_eligibilities()
    assert set(agreement.claims.values_list("state", flat=True)) == {PlaceClaim.State.ENDED}


def test_a_code_is_refused_where_the_employer_has_no_reserved_places(other_city, employer):
    _, plain = one_code(employer)
    user = make_user(other_city, "dueren@example.org", "parent")
    with tenant_context(other_city):
        user = get_user_model().objects.get(pk=user.pk)
        data = registrations.ApplicationInput(
            children=[registrations.ChildInput("Lea", "Rur", ue3_birth())],
            guardians=[registrations.GuardianInput("Lena", "Rur", "dueren@example.org")],
            start_date=next_august(),
            care_hours=35,
            street="Markt 1",
            postcode="52349",
            district_id=District.objects.first().pk,
            facility_ids=kitas("UE3", 35, 1),
            idempotency_key=uuid.uuid4(),
        )
        application = registrations.submit_application(user, data)
    with pytest.raises(ValidationError) as exc:
        redeem(other_city, user, application, plain)
    assert "keine Belegplätze" in str(exc.value)


def test_guessing_is_rate_limited_per_account_even_for_a_correct_code(city, employer, setup):
    _, user, application = setup
    _, plain = one_code(employer)
    for attempt in range(agreements.MAX_FAILURES_PER_ACCOUNT):
        with pytest.raises(ValidationError):
            redeem(
                city,
                user,
                application,
                f"AAAA-BBBB-CC{attempt:02d}".replace("0", "2").replace("1", "3"),
            )
    assert CodeAttempt.objects.count() == agreements.MAX_FAILURES_PER_ACCOUNT, "failures are kept"
    with pytest.raises(ValidationError) as exc:
        redeem(city, user, application, plain)
    assert "Zu viele" in str(exc.value)
    CodeAttempt.objects.update(created_at=timezone.now() - agreements.ATTEMPT_WINDOW)
    assert redeem(city, user, application, plain).employer_slug == employer.slug


def test_guessing_is_rate_limited_per_address_across_accounts(city, employer, setup):
    _, user, application = setup
    keys = [
        agreements.attempt_keys(city, 10_000 + n, "10.9.9.9")
        for n in range(agreements.MAX_FAILURES_PER_ADDRESS)
    ]
    for account_key, address_key in keys:
        agreements.record_failed_attempt(account_key, address_key)
    _, plain = one_code(employer)
    with pytest.raises(ValidationError):
        redeem(city, user, application, plain, address="10.9.9.9")
    assert redeem(city, user, application, plain, address="10.9.9.8")


def test_only_the_parent_who_owns_the_application_can_redeem(city, employer, setup):
    _, _, application = setup
    stranger, _ = parent_with_application(
        city,
        email="fremd@example.org",
        children=[
            registrations.ChildInput("Tim", "Fremd", application.start_date - timedelta(days=1600))
        ],
    )
    _, plain = one_code(employer)
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        redeem(city, stranger, application, plain)


def test_the_employer_sees_the_status_only_with_the_parents_consent(city, employer, setup):
    _, user, application = setup
    code, plain = one_code(employer)
    eligibility = redeem(city, user, application, plain, share=False)
    code.refresh_from_db()
    assert (code.status_shared, code.shared_status) == (False, "")
    with tenant_context(city):
        services.set_status_sharing(user, eligibility, True)
    code.refresh_from_db()
    assert (code.status_shared, code.shared_status) == (True, "received")
    with tenant_context(city):
        registrations.withdraw_application(user, application)
        services.sync_eligibilities()
    code.refresh_from_db()
    assert code.shared_status == "withdrawn"
    with tenant_context(city):
        services.set_status_sharing(user, eligibility, False)
    code.refresh_from_db()
    assert (code.status_shared, code.shared_status, code.shared_status_at) == (False, "", None)


def test_claims_of_a_withdrawn_application_end(city, employer, setup):
    agreement, user, application = setup
    _, plain = one_code(employer)
    redeem(city, user, application, plain)
    with tenant_context(city):
        registrations.withdraw_application(user, application)
        assert services.sync_eligibilities()["claims_ended"] == 1
    assert agreements.occupancy(agreement, agreement.current.kita_years()[0]).used == 0
