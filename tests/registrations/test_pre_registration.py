"""Pre-registration: clear validation, nothing saved on error, one application per child."""

import uuid
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django_tenants.utils import tenant_context

from registrations import services
from registrations.models import (
    Application,
    ApplicationEvent,
    Child,
    DaycareRequest,
    District,
    Facility,
    PortalSettings,
    Wish,
)
from registrations.services import ApplicationInput, ChildInput, GuardianInput
from tenants.common.models import OutboxMessage

TODAY = timezone.localdate()


def next_august(years_ahead: int = 0) -> date:
    year = TODAY.year + (1 if TODAY.month >= 8 else 0) + years_ahead
    return date(year, 8, 1)


def kitas(group: str, hours: int, count: int, exclude=()):
    return list(
        Facility.objects.filter(
            care_hours__contains=[hours], age_groups__age_group=group, age_groups__places__gt=0
        )
        .exclude(pk__in=exclude)
        .order_by("pk")
        .values_list("pk", flat=True)[:count]
    )


def application_input(**overrides) -> ApplicationInput:
    start = next_august()
    birth = start - timedelta(days=365 * 4)  # Ü3 at the start date
    data = dict(
        children=[ChildInput("Mia", "Muster", birth)],
        guardians=[GuardianInput("Maria", "Muster", "maria.muster@example.org")],
        start_date=start,
        care_hours=35,
        street="Lindenstraße 5",
        postcode="44787",
        district_id=District.objects.get(slug="mitte").pk,
        facility_ids=kitas("UE3", 35, 3),
        idempotency_key=uuid.uuid4(),
    )
    data.update(overrides)
    return ApplicationInput(**data)


def nothing_saved():
    return Application.objects.count(), Child.objects.count(), Wish.objects.count()


@pytest.fixture
def in_city(city):
    with tenant_context(city):
        yield city


def test_a_valid_application_is_saved_with_ranked_wishes_history_and_a_confirmation(in_city):
    data = application_input()
    application = services.submit_application(None, data)
    assert application.reference.startswith("KP-")
    assert [w.facility_id for w in application.wishes.order_by("rank")] == data.facility_ids
    assert {w.status for w in application.wishes.all()} == {"received"}
    assert ApplicationEvent.objects.filter(application=application, kind="submitted").exists()
    mail = OutboxMessage.objects.get(subject__contains=application.reference)
    assert mail.recipients == ["maria.muster@example.org"]
    assert application.reference in mail.body_text and "<strong>" in mail.body_html
    for facility in Facility.objects.filter(pk__in=data.facility_ids):
        assert facility.name in mail.body_text


def test_submitting_twice_with_the_same_key_creates_one_application(in_city):
    data = application_input()
    first = services.submit_application(None, data)
    second = services.submit_application(None, data)
    assert first.pk == second.pk
    assert Application.objects.count() == 1


def test_the_same_child_cannot_be_registered_twice_even_from_another_account(in_city):
    services.submit_application(None, application_input())
    before = nothing_saved()
    again = application_input(
        children=[ChildInput(" MIA ", "muster", application_input().children[0].birth_date)],
        guardians=[GuardianInput("Max", "Muster", "max@example.org")],
    )
    with pytest.raises(ValidationError) as error:
        services.submit_application(None, again)
    assert "bereits eine Voranmeldung" in str(error.value)
    assert nothing_saved() == before


def test_twins_are_registered_together_in_one_application(in_city):
    base = application_input()
    birth = base.children[0].birth_date
    data = application_input(
        children=[ChildInput("Ben", "Zwilling", birth), ChildInput("Lea", "Zwilling", birth)],
        place_together=True,
    )
    application = services.submit_application(None, data)
    assert application.children.count() == 2
    assert application.place_together


def test_a_family_daycare_request_is_forwarded_to_the_districts_fachberatung(in_city):
    sued = District.objects.get(slug="sud")
    data = application_input(wants_family_daycare=True, family_daycare_district_id=sued.pk)
    application = services.submit_application(None, data)
    confirmation = OutboxMessage.objects.get(subject__contains=application.reference)
    assert "Fachberatung Kindertagespflege im Bezirk Süd" in confirmation.body_text
    assert services.forward_daycare_request(application.pk) is True
    assert services.forward_daycare_request(application.pk) is False, "forwarded once"
    request = DaycareRequest.objects.get(application=application)
    assert request.district == sued and request.forwarded_at is not None
    note = OutboxMessage.objects.get(recipients=[sued.fachberatung_email])
    assert application.reference in note.subject
    assert "Muster" not in note.body_text, "the notice carries no family data"


def invalid_cases():
    start = next_august()
    u3_birth = start - timedelta(days=365)
    return (
        [
            (
                "start date in the past",
                dict(start_date=TODAY - timedelta(days=1)),
                "start_date",
                "Vergangenheit",
            ),
            (
                "birth date in the future",
                dict(children=[ChildInput("A", "B", TODAY + timedelta(days=30))]),
                "child_0_birth_date",
                "Zukunft",
            ),
            (
                "implausibly old child",
                dict(children=[ChildInput("A", "B", date(2001, 1, 1))]),
                "child_0_birth_date",
                "nicht plausibel",
            ),
            ("no guardian", dict(guardians=[]), "guardian", "sorgeberechtigte"),
            (
                "guardian without email",
                dict(guardians=[GuardianInput("A", "B", "")]),
                "guardian",
                "sorgeberechtigte",
            ),
            ("more wishes than allowed", "six_wishes", "wishes", "höchstens 5"),
            ("duplicate wishes", "duplicate_wishes", "wishes", "nur einmal"),
            ("wrong age group", "u3_child_at_ue3_only_kita", "wish_1", "Altersgruppe"),
            ("care hours not offered", "hours_not_offered", "wish_1", "Stunden pro Woche"),
            ("no wish at all", dict(facility_ids=[]), "wishes", "mindestens eine Kita"),
            (
                "daycare without district",
                dict(wants_family_daycare=True),
                "family_daycare_district",
                "Bezirk",
            ),
        ]
        + [
            (
                "unborn child too far ahead",
                dict(children=[ChildInput("A", "B", TODAY + timedelta(days=400), True)]),
                "child_0_birth_date",
                "10 Monaten",
            )
        ]
        + [
            ("bad postcode", dict(postcode="4478"), "address", "PLZ"),
            ("u3 child", dict(children=[ChildInput("A", "B", u3_birth)]), None, None),
        ]
    )


@pytest.mark.parametrize(("case", "change", "field", "message"), invalid_cases())
def test_each_invalid_input_gets_its_message_at_its_field_and_saves_nothing(
    in_city, case, change, field, message
):
    if change == "six_wishes":
        change = dict(facility_ids=kitas("UE3", 35, 6))
    elif change == "duplicate_wishes":
        ids = kitas("UE3", 35, 2)
        change = dict(facility_ids=[ids[0], ids[1], ids[0]])
    elif change == "u3_child_at_ue3_only_kita":
        only_ue3 = Facility.objects.exclude(
            Q(age_groups__age_group="U3") & Q(age_groups__places__gt=0)
        ).filter(care_hours__contains=[35])
        birth = next_august() - timedelta(days=365)
        change = dict(children=[ChildInput("A", "B", birth)], facility_ids=[only_ue3.first().pk])
    elif change == "hours_not_offered":
        no45 = Facility.objects.exclude(care_hours__contains=[45]).filter(
            age_groups__age_group="UE3", age_groups__places__gt=0
        )
        change = dict(care_hours=45, facility_ids=[no45.first().pk])
    data = application_input(**change)
    if field is None:  # a control case: a valid variant is accepted
        data.facility_ids = kitas("U3", 35, 2)
        services.submit_application(None, data)
        return
    before = nothing_saved()
    with pytest.raises(ValidationError) as error:
        services.submit_application(None, data)
    assert field in error.value.message_dict, error.value.message_dict
    assert message in " ".join(error.value.message_dict[field])
    assert nothing_saved() == before
    assert not OutboxMessage.objects.exists()


def test_the_wish_limit_is_the_municipalitys_setting(in_city):
    policy = PortalSettings.current()
    policy.max_wishes = 2
    policy.save()
    with pytest.raises(ValidationError, match="höchstens 2"):
        services.submit_application(None, application_input(facility_ids=kitas("UE3", 35, 3)))


def test_the_family_reorders_withdraws_one_wish_and_then_everything(in_city):
    application = services.submit_application(None, application_input())
    ids = [w.facility_id for w in application.wishes.order_by("rank")]
    services.set_wish_order(None, application, list(reversed(ids)))
    assert [w.facility_id for w in application.wishes.order_by("rank")] == list(reversed(ids))
    services.withdraw_wish(None, application, ids[0])
    assert application.wishes.get(facility_id=ids[0]).status == "withdrawn"
    services.withdraw_application(None, application)
    application.refresh_from_db()
    assert application.status == "withdrawn"
    kinds = list(application.events.values_list("kind", flat=True))
    assert kinds == ["submitted", "wishes_changed", "wish_withdrawn", "withdrawn"]
    assert OutboxMessage.objects.filter(subject__contains=application.reference).count() == 4
    # after withdrawal the child may be registered again
    services.submit_application(None, application_input())


def test_edits_are_locked_with_an_explanation_while_a_round_runs(in_city):
    application = services.submit_application(None, application_input())
    PortalSettings.objects.update(edits_locked=True, lock_reason="Vergaberunde bis 15. März")
    with pytest.raises(ValidationError, match="Vergaberunde bis 15. März"):
        services.withdraw_application(None, application)
    application.refresh_from_db()
    assert application.status == "active"
