"""Registration tasks: take ids, idempotent, run in the tenant's schema."""

from kitaportal.celery import app

from . import services


@app.task(bind=True, max_retries=5, default_retry_delay=30)
def forward_daycare_request(self, application_id: int) -> bool:
    return services.forward_daycare_request(application_id)


@app.task(bind=True, max_retries=3, default_retry_delay=10)
def execute_allocation_run(self, run_id: int) -> int:
    """Run an allocation round (idempotent: a finished run is not run again)."""
    from . import services_allocation

    return services_allocation.execute_run(run_id).pk


@app.task
def send_run_results(run_id: int, application_ids: list[int]) -> int:
    from . import services_allocation

    return services_allocation.send_run_results_now(run_id, application_ids)


@app.task
def expire_offers() -> int:
    """Periodic (per tenant): close offers past their deadline or withdrawn by the family,
    offer the places to the next children; delete dry runs older than 90 days and run
    outcomes left without their rows (ADR 0009)."""
    from . import services_allocation

    if not _in_municipality():
        return 0
    closed = services_allocation.expire_offers()
    closed += services_allocation.release_withdrawn_offers()
    services_allocation.purge_dry_runs()
    services_allocation.purge_orphan_outcomes()
    return closed


@app.task
def send_offer_reminders() -> int:
    """Periodic (per tenant): remind families of open offers near their deadline."""
    from . import services_allocation

    return services_allocation.send_offer_reminders() if _in_municipality() else 0


def _in_municipality() -> bool:
    """Beat fans periodic tasks out to every tenant; only municipalities have offers."""
    from django.db import connection

    return getattr(getattr(connection, "tenant", None), "type", None) == "municipality"
