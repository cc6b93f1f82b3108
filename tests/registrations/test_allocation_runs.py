"""Allocation runs inside a tenant: criteria → priorities, snapshot/replay, offers, follow-up
rounds, decentralised lock, contracts, fees."""

import hashlib
import zlib
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_tenants.utils import tenant_context

from registrations import services_allocation as runs
from registrations.allocation_db import build_instance, canonical_hash, split_places
from registrations.criteria import ensure_default_catalogue
from registrations.explanations import explain
from registrations.fees import (
    BracketInput,
    NoFeeTable,
    calculate_fee,
    is_fee_free,
    save_fee_table,
)
from registrations.models import Wish, WishStatus
from registrations.models_allocation import (
    AllocationPolicy,
    AllocationRun,
    ApplicationCircumstances,
    CareContract,
    Criterion,
    CriterionKind,
    FeeTable,
    Offer,
    RunOutcome,
)
from tenants.common.models import OutboxMessage
from tests.registrations.allocation_helpers import apply, kita_year, scarce, setup_market


@pytest.fixture
def in_city(city):
    with tenant_context(city):
        yield city


def run_now(binding=False, seed=7, weights=None, **kw):
    run = runs.start_run(
        None,
        kita_year=kita_year(),
        age_groups=["UE3"],
        binding=binding,
        seed=seed,
        weights=weights,
        **kw,
    )
    return runs.execute_run(run.pk)


def outcome(run, application):
    return RunOutcome.objects.get(run=run, application=application)


def test_priority_scores_sum_the_points_of_the_criteria_that_apply(in_city):
    kitas = setup_market()
    sibling = Criterion.objects.get(kind=CriterionKind.SIBLING)
    working = apply("Anna", [k.pk for k in kitas], working=True)
    ApplicationCircumstances.objects.get(application=working).sibling_facilities.add(kitas[1])
    plain = apply("Ben", [k.pk for k in kitas])
    instance = build_instance(kita_year(), ["UE3"], seed=1)
    docs = {c["id"]: c for c in instance.document["children"]}
    anna = docs[f"k{working.children.get().pk}"]
    ben = docs[f"k{plain.children.get().pk}"]
    points = {c.kind: c.points for c in Criterion.objects.all()}
    district = working.district_id
    for wish_a, wish_b, kita in zip(anna["wishes"], ben["wishes"], kitas, strict=True):
        base = points["age"] * 4 + points["resident"]  # 4 full years at the start
        base += points["district"] if kita.district_id == district else 0
        assert wish_b["priority"] == base
        extra = points["working"] + (sibling.points if kita == kitas[1] else 0)
        assert wish_a["priority"] == base + extra, "the sibling counts only at its facility"


def test_the_snapshot_is_pseudonymous(in_city):
    kitas = setup_market()
    apply("Zoraida", [k.pk for k in kitas])
    document = build_instance(kita_year(), ["UE3"], seed=1).document
    text = str(document)
    assert "Zoraida" not in text and "Test" not in text and "example.org" not in text


def test_a_dry_run_stores_snapshot_hash_seed_and_outcomes_and_sends_nothing(in_city):
    kitas = setup_market()
    first = apply("Ada", [kitas[0].pk, kitas[1].pk], working=True)
    second = apply("Bo", [kitas[0].pk, kitas[1].pk])
    mails = OutboxMessage.objects.count()
    run = run_now()
    assert run.status == "done" and run.progress == 100
    assert run.snapshot_hash == canonical_hash(run.snapshot) and run.seed == 7
    assert outcome(run, first).facility_id == kitas[0].pk and outcome(run, first).wish_number == 1
    lost = outcome(run, second)
    assert lost.facility_id == kitas[1].pk and lost.wish_number == 2
    assert lost.explanation[0]["reason"] == "outranked"
    assert not Offer.objects.filter(run=run).exists()
    assert OutboxMessage.objects.count() == mails


def test_replaying_a_stored_run_gives_the_identical_result(in_city):
    kitas = setup_market()
    for name in ("Cem", "Dana", "Emil", "Fee"):
        apply(name, [k.pk for k in kitas])
    run = run_now(seed=99)
    stored = AllocationRun.objects.get(pk=run.pk)  # back from the compressed bytes
    assert hashlib.sha256(zlib.decompress(stored.snapshot_gz)).hexdigest() == run.snapshot_hash
    identical, new_hash = runs.replay_run(stored)
    assert identical and new_hash == stored.result_hash
    stored.snapshot["seed"] = 100  # a tampered snapshot is detected
    assert runs.replay_run(stored) == (False, "")
    stored = AllocationRun.objects.get(pk=run.pk)  # and tampered stored bytes
    text = stored.snapshot_text
    assert b'"seed":99' in text
    stored.snapshot_gz = zlib.compress(text.replace(b'"seed":99', b'"seed":98'))
    stored.save(update_fields=["snapshot_gz"])
    assert runs.replay_run(AllocationRun.objects.get(pk=run.pk)) == (False, "")


def test_two_dry_runs_with_other_weights_are_compared(in_city):
    kitas = setup_market()
    hardship = apply("Gil", [kitas[0].pk, kitas[1].pk], hardship=True)
    working = apply("Hana", [kitas[0].pk, kitas[1].pk], working=True, years=4.5)
    first = run_now()
    assert outcome(first, hardship).wish_number == 1
    crit = Criterion.objects.get(kind=CriterionKind.HARDSHIP)
    second = run_now(weights={crit.pk: 0})
    assert second.parameters["weights"] == {str(crit.pk): 0}
    comparison = runs.compare_runs(first, second)
    gain_ids = {c for c, _, _ in comparison["gains"]}
    loss_ids = {c for c, _, _ in comparison["losses"]}
    assert working.children.get().pk in gain_ids
    assert hardship.children.get().pk in loss_ids


def test_bad_run_parameters_are_refused_and_nothing_is_stored(in_city):
    before = AllocationRun.objects.count()
    with pytest.raises(ValidationError) as error:
        runs.start_run(None, kita_year=1999, age_groups=["X"], binding=False, weights={"a": "b"})
    assert {"kita_year", "age_groups", "weights"} <= set(error.value.message_dict)
    assert AllocationRun.objects.count() == before


def test_explanations_in_german_and_english(in_city):
    from django.utils import translation

    kitas = setup_market()
    apply("Ivo", [kitas[0].pk, kitas[1].pk], working=True)
    loser = apply("Jule", [kitas[0].pk, kitas[1].pk])
    run = run_now()
    item = outcome(run, loser)
    with translation.override("de"):
        german = explain(item)
    with translation.override("en"):
        english = explain(item)
    assert "Platz bei Ihrem Wunsch 2" in german[0]
    assert "gingen an Kinder mit höherer Priorität" in german[1] and "Punkte" in german[1]
    assert "wish 2" in english[0] and "higher priority" in english[1]


def test_an_unplaced_child_gets_a_waiting_position_per_wish(in_city):
    kitas = setup_market()
    apply("Kai", [kitas[0].pk], working=True)
    waiting = apply("Lou", [kitas[0].pk])
    run = run_now()
    entry = outcome(run, waiting).explanation[0]
    assert outcome(run, waiting).facility_id is None
    assert entry["waiting_position"] >= 1
    assert "Wartelistenplatz" in " ".join(explain(outcome(run, waiting)))


def test_a_binding_run_offers_places_and_mails_every_family(in_city, mailoutbox):
    kitas = setup_market()
    placed = apply("Mo", [kitas[0].pk, kitas[1].pk], working=True)
    second = apply("Nia", [kitas[0].pk])
    run = run_now(binding=True)
    offer = Offer.objects.get(application=placed)
    assert offer.facility_id == kitas[0].pk and offer.status == "open"
    deadline = timezone.now() + timedelta(days=AllocationPolicy.current().offer_days)
    assert abs((offer.deadline - deadline).total_seconds()) < 60
    assert Wish.objects.get(pk=offer.wish_id).status == WishStatus.OFFER
    runs.send_run_results_now(run.pk, [placed.pk, second.pk])
    subjects = [
        m.subject for m in OutboxMessage.objects.filter(subject__startswith="Ergebnis der Platz")
    ]
    assert any(placed.reference in s for s in subjects)
    rejected = OutboxMessage.objects.get(
        subject__startswith="Ergebnis", subject__contains=second.reference
    )
    assert "Wartelistenplatz" in rejected.body_text


def test_accepting_withdraws_the_other_wishes_and_creates_the_contract(in_city):
    kitas = setup_market()
    application = apply("Olga", [k.pk for k in kitas], working=True)
    run_now(binding=True)
    offer = Offer.objects.get(application=application)
    runs.accept_offer(None, offer)
    offer.refresh_from_db()
    assert offer.status == "accepted"
    statuses = dict(application.wishes.values_list("facility_id", "status"))
    assert statuses[kitas[0].pk] == WishStatus.ACCEPTED
    assert statuses[kitas[1].pk] == statuses[kitas[2].pk] == WishStatus.WITHDRAWN
    contract = CareContract.objects.get(offer=offer)
    assert bytes(contract.pdf).startswith(b"%PDF") and contract.status == "sent"
    with pytest.raises(ValidationError):
        runs.accept_offer(None, offer)  # only once


def test_a_decline_offers_the_place_to_the_next_child(in_city):
    kitas = setup_market()
    first = apply("Pia", [kitas[0].pk], working=True, hardship=True)
    second = apply("Quinn", [kitas[0].pk], working=True)
    third = apply("Rosa", [kitas[0].pk])
    run_now(binding=True)
    offer = Offer.objects.get(application=first)
    runs.decline_offer(None, offer)
    follow = Offer.objects.get(application=second)
    assert follow.source == "follow_up" and follow.status == "open"
    assert not Offer.objects.filter(application=third).exists()
    assert Wish.objects.get(pk=offer.wish_id).status == WishStatus.DECLINED


def test_an_expired_offer_frees_the_place_and_reminders_go_out_once(in_city):
    kitas = setup_market()
    first = apply("Sami", [kitas[0].pk], working=True)
    second = apply("Tom", [kitas[0].pk])
    run_now(binding=True)
    offer = Offer.objects.get(application=first)
    soon = offer.deadline - timedelta(days=1)
    assert runs.send_offer_reminders(now=soon) >= 1
    assert runs.send_offer_reminders(now=soon) == 0
    assert runs.expire_offers(now=offer.deadline + timedelta(minutes=1)) >= 1
    offer.refresh_from_db()
    assert offer.status == "expired"
    assert Offer.objects.get(application=second).status == "open"


def test_the_follow_up_ends_when_the_list_is_exhausted(in_city):
    kitas = setup_market()
    only = apply("Uma", [kitas[0].pk])
    run_now(binding=True)
    runs.decline_offer(None, Offer.objects.get(application=only))
    assert Offer.objects.filter(status="open", facility=kitas[0]).count() == 0


def test_decentralised_offers_lock_a_child_to_one_open_offer(in_city):
    kitas = setup_market()
    scarce(kitas[1].pk, 3)
    policy = AllocationPolicy.current()
    policy.mode = AllocationPolicy.Mode.DECENTRAL
    policy.save()
    application = apply("Vera", [kitas[1].pk, kitas[2].pk])
    child = application.children.get()
    wish_1, wish_2 = application.wishes.order_by("rank")[:2]
    runs.make_facility_offer(None, wish_1, child)
    with pytest.raises(ValidationError, match="bereits ein offenes"):
        runs.make_facility_offer(None, wish_2, child)
    assert Offer.objects.filter(child=child).count() == 1
    with pytest.raises(ValidationError):
        runs.start_run(None, kita_year=kita_year(), age_groups=["UE3"], binding=True)


def test_central_mode_refuses_facility_offers(in_city):
    kitas = setup_market()
    application = apply("Wim", [kitas[1].pk])
    with pytest.raises(ValidationError):
        runs.make_facility_offer(None, application.wishes.first(), application.children.get())


# --- fees --------------------------------------------------------------------------------------


def test_fees_follow_bracket_age_group_hours_and_the_dated_table(in_city):
    rows = [
        BracketInput(Decimal(30000), "U3", 35, Decimal("0")),
        BracketInput(Decimal(60000), "U3", 35, Decimal("120")),
        BracketInput(None, "U3", 35, Decimal("300")),
    ]
    save_fee_table(
        None,
        name="2030",
        valid_from=date(2030, 8, 1),
        sibling_rule="second_half",
        fee_free_years=2,
        brackets=rows,
    )
    newer = [BracketInput(None, "U3", 35, Decimal("400"))]
    save_fee_table(
        None,
        name="2031",
        valid_from=date(2031, 8, 1),
        sibling_rule="none",
        fee_free_years=2,
        brackets=newer,
    )
    baby = date(2030, 3, 1)
    day = date(2030, 9, 1)
    assert (
        calculate_fee(day=day, income=20000, age_group="U3", care_hours=35, birth_date=baby).amount
        == 0
    )
    assert (
        calculate_fee(day=day, income=45000, age_group="U3", care_hours=35, birth_date=baby).amount
        == 120
    )
    assert (
        calculate_fee(day=day, income=90000, age_group="U3", care_hours=35, birth_date=baby).amount
        == 300
    )
    sibling = calculate_fee(
        day=day, income=45000, age_group="U3", care_hours=35, birth_date=baby, sibling_position=2
    )
    assert sibling.amount == 60 and sibling.sibling_reduction
    later = calculate_fee(
        day=date(2031, 9, 1), income=45000, age_group="U3", care_hours=35, birth_date=baby
    )
    assert later.amount == 400 and later.table.name == "2031"


def test_the_last_two_kita_years_before_school_are_free(in_city):
    born = date(2021, 5, 1)  # school entry August 2027
    assert not is_fee_free(born, date(2025, 7, 31), 2)
    assert is_fee_free(born, date(2025, 8, 1), 2)
    late = date(2021, 10, 2)  # after 30 September: school entry 2028
    assert not is_fee_free(late, date(2025, 8, 1), 2) and is_fee_free(late, date(2026, 8, 1), 2)


def test_a_bad_fee_table_is_refused_and_nothing_changes(in_city):
    count = FeeTable.objects.count()
    rows = [BracketInput(None, "U3", 35, Decimal("-1")), BracketInput(None, "U3", 35, Decimal("1"))]
    with pytest.raises(ValidationError) as error:
        save_fee_table(
            None,
            name="",
            valid_from=date(2040, 1, 1),
            sibling_rule="x",
            fee_free_years=9,
            brackets=rows,
        )
    assert {"name", "sibling_rule", "fee_free_years", "brackets"} <= set(error.value.message_dict)
    assert FeeTable.objects.count() == count
    with pytest.raises(NoFeeTable):
        calculate_fee(
            day=date(1990, 1, 1),
            income=1,
            age_group="U3",
            care_hours=35,
            birth_date=date(1989, 1, 1),
        )


def test_care_hours_split_when_no_explicit_capacities(in_city):
    assert (
        split_places(10, [25, 35, 45]) == {25: 2, 35: 6, 45: 2}
        or sum(split_places(10, [25, 35, 45]).values()) == 10
    )
    assert split_places(7, [35]) == {35: 7}
    assert split_places(0, [35]) == {}


def test_the_default_catalogue_is_created_once(in_city):
    Criterion.objects.all().delete()
    assert ensure_default_catalogue() > 0
    assert ensure_default_catalogue() == 0


def test_a_withdrawn_application_releases_its_open_offer_to_the_next_child(in_city):
    from registrations import services

    kitas = setup_market()
    first = apply("Xena", [kitas[0].pk], working=True)
    second = apply("Yuri", [kitas[0].pk])
    run_now(binding=True)
    services.withdraw_application(None, first)
    assert runs.release_withdrawn_offers() == 1
    assert Offer.objects.get(application=first).status == "withdrawn"
    assert Offer.objects.get(application=second).status == "open"
    assert runs.release_withdrawn_offers() == 0


def test_dry_runs_are_purged_after_90_days_binding_runs_stay(in_city):
    setup_market()
    dry = run_now()
    binding = run_now(binding=True)
    later = timezone.now() + timedelta(days=91)
    assert runs.purge_dry_runs(now=later) == 1
    assert not AllocationRun.objects.filter(pk=dry.pk).exists()
    assert AllocationRun.objects.filter(pk=binding.pk).exists()


def test_twins_placed_together_are_offered_and_declined_together(in_city):
    from registrations.services import ChildInput
    from tests.registrations.test_pre_registration import next_august

    kitas = setup_market()
    scarce(kitas[1].pk, 2)
    birth = next_august() - timedelta(days=4 * 366)
    twins = apply(
        "Zoe",
        [kitas[1].pk],
        children=[ChildInput("Zoe", "Test", birth), ChildInput("Zack", "Test", birth)],
        place_together=True,
        working=True,
    )
    run = run_now(binding=True)
    offers = list(Offer.objects.filter(application=twins).order_by("pk"))
    assert len(offers) == 2 and {o.facility_id for o in offers} == {kitas[1].pk}
    assert {o.placed for o in RunOutcome.objects.filter(run=run, application=twins)} == {True}
    runs.decline_offer(None, offers[0])
    assert set(Offer.objects.filter(application=twins).values_list("status", flat=True)) == {
        "declined"
    }


def test_accepting_for_one_twin_accepts_both_with_a_contract_each(in_city):
    from registrations.services import ChildInput
    from tests.registrations.test_pre_registration import next_august

    kitas = setup_market()
    scarce(kitas[1].pk, 2)
    birth = next_august() - timedelta(days=4 * 366)
    twins = apply(
        "Ada",
        [kitas[1].pk, kitas[2].pk],
        children=[ChildInput("Ada", "Test", birth), ChildInput("Alan", "Test", birth)],
        place_together=True,
        working=True,
    )
    run_now(binding=True)
    first = Offer.objects.filter(application=twins).order_by("pk").first()
    runs.accept_offer(None, first)
    offers = Offer.objects.filter(application=twins)
    assert set(offers.values_list("status", flat=True)) == {"accepted"}
    assert CareContract.objects.filter(offer__in=offers).count() == 2
    assert twins.wishes.get(facility=kitas[2]).status == WishStatus.WITHDRAWN


def test_the_instance_built_from_the_database_satisfies_the_json_schema(in_city):
    from registrations.allocation import validator
    from registrations.services import ChildInput
    from tests.registrations.test_pre_registration import next_august

    kitas = setup_market()
    birth = next_august() - timedelta(days=4 * 366)
    apply("Ola", [k.pk for k in kitas], working=True)
    apply(
        "Pit",
        [kitas[0].pk, kitas[1].pk],
        children=[ChildInput("Pit", "Test", birth), ChildInput("Pat", "Test", birth)],
        place_together=True,
    )
    document = build_instance(kita_year(), ["U3", "UE3"], seed=5).document
    validator("market").validate(document)  # raises SchemaViolation otherwise
    assert document["groups"] and len(document["facilities"]) > 100


def test_a_second_binding_run_does_not_give_away_places_held_by_open_offers(in_city):
    kitas = setup_market()
    first = apply("Hugo", [kitas[0].pk], working=True)
    run_now(binding=True)
    late = apply("Ines", [kitas[0].pk], working=True, hardship=True)
    second = run_now(binding=True, seed=8)
    assert Offer.objects.get(application=first).status == "open"
    assert not Offer.objects.filter(application=late).exists()
    assert outcome(second, late).facility_id is None


def test_outcomes_go_with_their_rows_and_orphans_are_purged(in_city):
    """ADR 0009: outcomes have no database foreign keys; the ORM cascades, and the periodic
    task removes outcomes whose run, application, child or Kita vanished otherwise."""
    from django.db import connection

    from registrations.tasks import expire_offers

    kitas = setup_market()
    first = apply("Ada", [kitas[0].pk, kitas[1].pk])
    second = apply("Bo", [kitas[0].pk, kitas[1].pk])
    run = run_now()
    assert RunOutcome.objects.filter(run=run).count() == 2
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = %s::regclass",
            [RunOutcome._meta.db_table],
        )
        assert cursor.fetchone()[0] == 0, "outcomes have no database foreign keys"
    first.family.delete()  # the ORM's cascade
    assert list(RunOutcome.objects.values_list("application_id", flat=True)) == [second.pk]
    kept = RunOutcome.objects.get()
    # The database does not refuse outcomes without their rows (as left behind by an
    # application deleted while a run was storing, or rows deleted outside the ORM).
    child = second.children.get()
    other = run_now()
    RunOutcome.objects.filter(run=other).update(facility_id=kitas[2].pk + 1000)
    for orphan in (
        {"run_id": run.pk, "application_id": second.pk + 1000, "child_id": child.pk + 1000},
        {"run_id": other.pk + 1000, "application_id": second.pk, "child_id": child.pk},
        {"run_id": run.pk, "application_id": second.pk, "child_id": child.pk + 2000},
    ):
        RunOutcome.objects.create(age_group="UE3", care_hours=35, **orphan)
    assert RunOutcome.objects.count() == 5
    expire_offers()  # the periodic task
    assert list(RunOutcome.objects.all()) == [kept]
    assert runs.purge_orphan_outcomes() == 0
    run.delete()  # the ORM's cascade from the run
    assert not RunOutcome.objects.exists()
