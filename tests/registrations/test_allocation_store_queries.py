"""A run's database work does not grow with the number of children: the instance is read
with a fixed number of queries, outcomes are written with one COPY, offers and history
entries with one INSERT from arrays each (plus one UPDATE for the wishes), however many
children take part."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from registrations import services_allocation as runs
from registrations.models import Wish, WishStatus
from registrations.models_allocation import Offer, RunOutcome
from registrations.services import ChildInput
from tests.registrations.allocation_helpers import apply, kita_year, setup_market
from tests.registrations.test_pre_registration import next_august

REAL_COPY = runs._copy


@pytest.fixture
def in_city(city):
    with tenant_context(city):
        yield city


def binding_run(monkeypatch) -> tuple[int, list[str], object]:
    """Execute a binding run; (Django queries, COPY statements by table, the run)."""
    copies: list[str] = []

    def counting_copy(model, columns, chunks):
        copies.append(model._meta.db_table)
        REAL_COPY(model, columns, chunks)

    monkeypatch.setattr(runs, "_copy", counting_copy)
    run = runs.start_run(None, kita_year=kita_year(), age_groups=["UE3"], binding=True, seed=3)
    with CaptureQueriesContext(connection) as queries:
        run = runs.execute_run(run.pk)
    return len(queries), copies, run


def reset_offers() -> None:
    Offer.objects.all().delete()
    Wish.objects.update(status=WishStatus.RECEIVED)


def test_the_number_of_queries_of_a_run_does_not_depend_on_the_number_of_children(
    in_city, monkeypatch
):
    kitas = setup_market()
    ids = [k.pk for k in kitas]
    apply("Ada", ids)
    apply("Bo", ids, working=True)
    binding_run(monkeypatch)  # warms the caches (content types, criteria)
    reset_offers()
    few, few_copies, small = binding_run(monkeypatch)
    assert RunOutcome.objects.filter(run=small).count() == 2
    assert Offer.objects.filter(run=small).count() == 2
    reset_offers()
    for index, name in enumerate(("Cem", "Dana", "Emil", "Fee", "Gil", "Hana", "Ida")):
        apply(name, ids[index % 3 :] + ids[: index % 3], working=index % 2 == 0)
    birth = next_august().replace(year=next_august().year - 4)
    twins = [ChildInput("Jan", "Zwilling", birth), ChildInput("Jo", "Zwilling", birth)]
    apply("Jan", ids, children=twins)
    many, many_copies, large = binding_run(monkeypatch)
    assert RunOutcome.objects.filter(run=large).count() == 11
    assert Offer.objects.filter(run=large).count() > 2
    assert many == few, "the queries of a run grow with the number of children"
    assert many_copies == few_copies == ["registrations_runoutcome"]
