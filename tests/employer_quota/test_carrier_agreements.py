"""Agreements for all facilities of a carrier: claimed at the wished Kita of that carrier,
reserved there in the allocation run; scoped to the carrier's staff in the back office."""

from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django_tenants.utils import tenant_context

from employer_quota.agreements import services as agreements
from employer_quota.agreements.models import Agreement
from employer_quota.municipal import services
from employer_quota.municipal.allocation import reserves_for_round
from registrations.models import Carrier, Facility, StaffAssignment

from .helpers import HR, YOUTH_OFFICE, login, parent_with_application, terms


def carrier_with_two_kitas(city):
    with tenant_context(city):
        for carrier in Carrier.objects.order_by("pk"):
            kitas = list(
                Facility.objects.filter(
                    carrier=carrier,
                    care_hours__contains=[35],
                    age_groups__age_group="UE3",
                    age_groups__places__gt=0,
                ).order_by("pk")[:2]
            )
            if len(kitas) == 2:
                return carrier, kitas
    raise AssertionError("demo data has a carrier with two Ü3 Kitas")


def carrier_agreement(city, employer, carrier, places=2):
    agreement = agreements.propose_agreement(
        YOUTH_OFFICE,
        municipality=city,
        employer=employer,
        carrier_id=carrier.pk,
        facility_name=f"alle Kitas von {carrier.name}",
        terms=terms(places=places),
    )
    agreements.decide_version(HR, agreement, confirm=True)
    agreement.refresh_from_db()
    return agreement


def test_an_agreement_names_either_one_kita_or_one_carrier(city, employer):
    for scope in ({}, {"facility_id": 1, "carrier_id": 1}):
        with pytest.raises(ValidationError) as exc:
            agreements.propose_agreement(
                YOUTH_OFFICE,
                municipality=city,
                employer=employer,
                facility_name="x",
                terms=terms(),
                **scope,
            )
        assert "facility" in exc.value.message_dict


def test_a_carrier_agreement_is_claimed_and_reserved_at_the_wished_kita(city, employer):
    carrier, (first, second) = carrier_with_two_kitas(city)
    agreement = carrier_agreement(city, employer, carrier, places=2)
    year = agreement.current.kita_years()[0]
    with tenant_context(city):
        assert reserves_for_round(date(year, 8, 1)) == {}, "no claim: nothing located yet"
    user, application = parent_with_application(city, facility_ids=[second.pk, first.pk])
    [(_, plain)] = agreements.issue_codes(HR, employer, count=1, channel="print")
    with tenant_context(city):
        services.redeem_code(user, application, plain, share_status=False, address="10.3.3.3")
        reserves = reserves_for_round(date(year, 8, 1))
    assert agreement.claims.get().facility_id == second.pk, "the best-ranked wish of the carrier"
    assert reserves == {(second.pk, "UE3", 35): [(employer.slug, 1)]}
    assert agreements.occupancy(agreement, year).free == 1


def test_the_youth_office_proposes_for_a_carrier_and_only_that_carriers_staff_see_it(
    city, employer
):
    carrier, _ = carrier_with_two_kitas(city)
    office = login(city, "ja-c@bochum.test", "youth_office")
    data = {
        "employer": employer.pk,
        "carrier": carrier.pk,
        "age_group": "UE3",
        "places": 3,
        "care_hours": 35,
        "valid_from": "2031-08-01",
        "valid_to": "2032-07-31",
        "monthly_fee": "300",
        "release_rule": "never",
        "release_day": 15,
        "release_month": 3,
    }
    response = office.post("/verwaltung/belegplaetze/neu/", data)
    assert response.status_code == 302
    agreement = Agreement.objects.get(employer=employer)
    assert (agreement.carrier_id, agreement.facility_id) == (carrier.pk, None)
    assert carrier.name in agreement.facility_name

    with tenant_context(city):
        kita = Facility.objects.filter(carrier=carrier).first()
    both = office.post("/verwaltung/belegplaetze/neu/", {**data, "facility": kita.pk})
    assert both.status_code == 200 and Agreement.objects.count() == 1

    own = login(city, "traeger-c@bochum.test", "carrier_staff")
    other = login(city, "traeger-o@bochum.test", "carrier_staff")
    with tenant_context(city):
        users = get_user_model().objects
        StaffAssignment.objects.create(
            user=users.get(email="traeger-c@bochum.test"), carrier=carrier
        )
        StaffAssignment.objects.create(
            user=users.get(email="traeger-o@bochum.test"),
            carrier=Carrier.objects.exclude(pk=carrier.pk).first(),
        )
    assert own.get(f"/verwaltung/belegplaetze/{agreement.pk}/").status_code == 200
    assert other.get(f"/verwaltung/belegplaetze/{agreement.pk}/").status_code == 404
