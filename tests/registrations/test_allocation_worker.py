"""A run started from the back-office service executes in a real Celery worker, in the schema of
the tenant that started it, and a binding run's result emails reach the outbox."""

import pytest
from django.db import connection, transaction
from django_tenants.utils import tenant_context

from registrations import services_allocation as runs
from registrations.models import Application, Child, Family
from registrations.models_allocation import (
    AllocationRun,
    CareContract,
    Criterion,
    FeeTable,
    Offer,
    PlaceCapacity,
)
from tenants.common.models import OutboxMessage
from tests.registrations.allocation_helpers import apply, kita_year, setup_market
from tests.worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.tenancy]


@pytest.fixture
def committed_market(tenant_registry, django_db_blocker):
    """Committed data in Bochum (the worker is another process); removed afterwards."""
    city = tenant_registry["city"]
    with django_db_blocker.unblock():
        with tenant_context(city), transaction.atomic():
            kitas = setup_market()
            first = apply("Wanda", [kitas[0].pk, kitas[1].pk], working=True)
            second = apply("Xaver", [kitas[0].pk])
        connection.set_schema_to_public()
        yield city, first, second
        with tenant_context(city):
            ids = [first.pk, second.pk]
            CareContract.objects.filter(offer__application_id__in=ids).delete()
            Offer.objects.all().delete()
            AllocationRun.objects.all().delete()
            families = list(Application.objects.filter(pk__in=ids).values_list("family", flat=True))
            Child.objects.filter(family__in=families).delete()
            Family.objects.filter(pk__in=families).delete()
            PlaceCapacity.objects.all().delete()
            Criterion.objects.all().delete()
            FeeTable.objects.all().delete()
            OutboxMessage.objects.filter(subject__contains="KP-").delete()
        connection.set_schema_to_public()


def test_a_binding_run_executes_in_the_worker_and_mails_every_family(
    committed_market, django_db_blocker
):
    city, first, second = committed_market
    with django_db_blocker.unblock():
        with tenant_context(city), transaction.atomic():
            run = runs.start_run(
                None, kita_year=kita_year(), age_groups=["UE3"], binding=True, seed=11
            )
        connection.set_schema_to_public()

        def state():
            with tenant_context(city):
                return AllocationRun.objects.get(pk=run.pk).status

        def result_mails():
            with tenant_context(city):
                return (
                    OutboxMessage.objects.filter(subject__startswith="Ergebnis")
                    .filter(subject__contains="KP-")
                    .count()
                )

        with celery_worker() as worker:
            done = wait_for(lambda: state() == "done" and result_mails() >= 2, timeout=90)
        assert done, f"run is {state()}: {worker.stdout.read()[-3000:]}"
        with tenant_context(city):
            stored = AllocationRun.objects.get(pk=run.pk)
            assert stored.progress == 100 and stored.snapshot_hash and stored.result_hash
            assert Offer.objects.get(application_id=first.pk).status == "open"
            assert not Offer.objects.filter(application_id=second.pk).exists()
            assert runs.replay_run(stored)[0]
        connection.set_schema_to_public()
