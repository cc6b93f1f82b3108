"""Company daycare: groups with age ranges, educators, waiting list, offers, contract (PDF),
listing in the municipality's finder; isolation of its pages."""

from datetime import date, time, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import tenant_context

from employer_quota import daycare as services
from employer_quota.agreements.models import CompanyDaycareListing
from employer_quota.models import DaycareContract, StaffChildApplication
from tenants.common.models import OutboxMessage
from tests.conftest import client_for

from .helpers import HR, login

START = date(2031, 8, 1)


@pytest.fixture
def kita(other_employer):
    with tenant_context(other_employer):
        daycare = services.save_daycare(
            HR,
            name="Kreismäuse",
            street="Bismarckstraße 16",
            postcode="52348",
            city="Düren",
            opens_at=time(7, 0),
            closes_at=time(16, 30),
            monthly_fee=Decimal("180.00"),
        )
        services.add_group(
            HR,
            daycare,
            name="Krabbelmäuse",
            room="Raum 1",
            capacity=1,
            min_age_months=4,
            max_age_months=18,
        )
        services.add_group(
            HR,
            daycare,
            name="Laufmäuse",
            room="Raum 2",
            capacity=10,
            min_age_months=18,
            max_age_months=36,
        )
        yield daycare


def apply(daycare, months_old=10, name="Lina"):
    return services.register_application(
        HR,
        daycare,
        child_first_name=name,
        child_birth_date=START - timedelta(days=int(months_old * 30.5)),
        parent_name="Eva Beispiel",
        parent_email="eva@kreis.test",
        start_date=START,
        weekly_hours=30,
    )


def test_waiting_list_offer_acceptance_and_contract(other_employer, kita):
    with tenant_context(other_employer):
        first, second = apply(kita), apply(kita, name="Ben")
        waiting = services.waiting_list(kita)
        assert [w.application.pk for w in waiting] == [first.pk, second.pk], (
            "first come, first served"
        )
        assert [(g.name, free) for g, free in waiting[0].groups] == [("Krabbelmäuse", 1)]
        offer = services.make_offer(HR, first, waiting[0].groups[0][0])
        assert OutboxMessage.objects.filter(
            recipients=["eva@kreis.test"], subject__contains="Platzangebot"
        ).exists()
        with pytest.raises(ValidationError):
            services.make_offer(HR, second, offer.group)  # the only place is offered
        services.answer_offer(HR, offer, accept=True)
        contract = services.make_contract(HR, offer)
        assert contract.monthly_fee == Decimal("180.00") and contract.weekly_hours == 30
        first.refresh_from_db()
        assert first.status == StaffChildApplication.Status.CONTRACTED
        with pytest.raises(ValidationError):
            services.make_contract(HR, offer)
        assert [w.application.pk for w in services.waiting_list(kita)] == [second.pk]


def test_invalid_groups_and_applications_are_refused(other_employer, kita):
    with tenant_context(other_employer):
        with pytest.raises(ValidationError):
            services.add_group(
                HR, kita, name="x", room="", capacity=5, min_age_months=36, max_age_months=12
            )
        with pytest.raises(ValidationError) as exc:
            apply(kita, months_old=50)  # no group for a 4-year-old
        assert "start_date" in exc.value.message_dict
        assert not StaffChildApplication.objects.exists()


def test_an_expired_offer_returns_the_child_to_the_waiting_list(other_employer, kita):
    with tenant_context(other_employer):
        application = apply(kita)
        offer = services.make_offer(HR, application, kita.groups.get(name="Krabbelmäuse"))
        assert services.expire_offers(offer.expires_on + timedelta(days=1)) == 1
        application.refresh_from_db()
        assert application.status == StaffChildApplication.Status.WAITING


def test_the_finder_lists_the_daycare_only_for_staff(city, other_city, other_employer, kita):
    # the finder keeps its rendered page; listing the daycare must show on the next request
    assert "nur für Beschäftigte von" not in client_for(other_city).get("/").content.decode()
    with tenant_context(other_employer):
        services.set_listing(HR, kita, other_city)
    listing = CompanyDaycareListing.objects.get()
    assert (listing.places, listing.min_age_months, listing.max_age_months) == (11, 4, 36)
    page = client_for(other_city).get("/").content.decode()
    assert "Kreismäuse" in page and "nur für Beschäftigte von" in page
    assert "nur für Beschäftigte von" not in client_for(city).get("/").content.decode()
    with tenant_context(other_employer):
        services.set_listing(HR, kita, None)
    assert not CompanyDaycareListing.objects.exists()
    assert "nur für Beschäftigte von" not in client_for(other_city).get("/").content.decode()


def test_the_pages_work_for_hr_and_are_404_for_others(city, employer, other_employer, kita):
    hr = login(other_employer, "hr-d@kreismaeuse.test", "hr")
    assert "Krabbelmäuse" in hr.get("/betriebskita/").content.decode()
    response = hr.post(
        "/betriebskita/",
        {
            "action": "application",
            "child_first_name": "Mo",
            "child_birth_date": "2030-12-01",
            "parent_name": "Ali",
            "parent_email": "ali@kreis.test",
            "start_date": START.isoformat(),
            "weekly_hours": 35,
        },
    )
    assert response.status_code == 302
    with tenant_context(other_employer):
        application = StaffChildApplication.objects.get()
        group = kita.groups.get(name="Krabbelmäuse")
    hr.post("/betriebskita/", {"action": "offer", "application": application.pk, "group": group.pk})
    with tenant_context(other_employer):
        offer = application.offers.get()
    hr.post("/betriebskita/", {"action": "accept", "offer": offer.pk})
    hr.post("/betriebskita/", {"action": "contract", "offer": offer.pk})
    with tenant_context(other_employer):
        contract = DaycareContract.objects.get()
    pdf = hr.get(f"/betriebskita/vertrag/{contract.pk}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    other_hr = login(employer, "hr-x@rathauskids.test", "hr")
    assert other_hr.get(f"/betriebskita/vertrag/{contract.pk}.pdf").status_code == 404
    assert "Krabbelmäuse" not in other_hr.get("/betriebskita/").content.decode()
    assert (
        other_hr.post(f"/betriebskita/anmeldungen/{application.pk}/zurueckziehen/").status_code
        == 404
    )
    parent = login(other_employer, "p-d@kreismaeuse.test", "parent")
    for url in ["/betriebskita/", f"/betriebskita/vertrag/{contract.pk}.pdf"]:
        assert parent.get(url).status_code == 404
    office = login(city, "ja-d@bochum.test", "youth_office")
    for url in ["/betriebskita/", f"/betriebskita/vertrag/{contract.pk}.pdf"]:
        assert office.get(url).status_code == 404
