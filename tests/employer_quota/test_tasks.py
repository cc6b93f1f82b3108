"""The periodic tasks, run as the worker runs them: in the public schema (plain beat) they
cover every tenant; fanned out per tenant they cover that tenant only."""

from datetime import date, time, timedelta

from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from employer_quota import daycare
from employer_quota.agreements import services as agreements
from employer_quota.agreements.models import PlaceClaim, Release
from employer_quota.agreements.tasks import apply_agreement_releases
from employer_quota.models import DaycareOffer, StaffChildApplication
from employer_quota.municipal import services
from employer_quota.municipal.tasks import sync_employer_eligibilities
from employer_quota.tasks import employer_housekeeping
from registrations import services as registrations

from .helpers import HR, active_agreement, facility, parent_with_application


def running_kita_year_start() -> date:
    today = timezone.localdate()
    return date(today.year if today.month >= 8 else today.year - 1, 8, 1)


def test_releases_run_from_the_public_schema_and_per_municipality(city, other_city, employer):
    start = running_kita_year_start()
    agreement = active_agreement(
        city,
        employer,
        valid_from=start,
        valid_to=date(start.year + 1, 7, 31),
        release_month=8,
        release_day=1,  # 1 August before the Kita year: already past
    )
    with tenant_context(other_city):
        assert apply_agreement_releases() == 0, "Düren releases only its own agreements"
    with tenant_context(city):
        assert apply_agreement_releases() == 1
    connection.set_schema_to_public()
    assert apply_agreement_releases() == 0, "idempotent"
    assert Release.objects.get(agreement=agreement).places == agreement.current.places


def test_eligibility_sync_runs_from_the_public_schema_for_every_municipality(city, employer):
    kita = facility(city)
    agreement = active_agreement(city, employer, facility_obj=kita)
    user, application = parent_with_application(city, facility_ids=[kita.pk])
    [(_, plain)] = agreements.issue_codes(HR, employer, count=1, channel="print")
    with tenant_context(city):
        services.redeem_code(user, application, plain, share_status=False, address="10.4.4.4")
        registrations.withdraw_application(user, application)
    connection.set_schema_to_public()
    assert sync_employer_eligibilities()["claims_ended"] == 1
    assert agreement.claims.get().state == PlaceClaim.State.ENDED


def test_housekeeping_expires_company_daycare_offers(other_employer):
    with tenant_context(other_employer):
        kita = daycare.save_daycare(
            HR,
            name="K",
            street="S 1",
            postcode="52349",
            city="Düren",
            opens_at=time(7),
            closes_at=time(16),
        )
        group = daycare.add_group(
            HR, kita, name="G", room="", capacity=3, min_age_months=4, max_age_months=36
        )
        application = daycare.register_application(
            HR,
            kita,
            child_first_name="A",
            child_birth_date=date(2030, 1, 1),
            parent_name="P",
            parent_email="p@k.test",
            start_date=date(2031, 1, 1),
            weekly_hours=30,
        )
        offer = daycare.make_offer(HR, application, group)
        DaycareOffer.objects.filter(pk=offer.pk).update(
            expires_on=timezone.localdate() - timedelta(days=1)
        )
    connection.set_schema_to_public()
    assert employer_housekeeping() == 1
    with tenant_context(other_employer):
        assert StaffChildApplication.objects.get().status == "waiting"
        assert employer_housekeeping() == 0
