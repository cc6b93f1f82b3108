"""`make demo` runs a real worker whose beat loads the whole schedule, tenant-aware."""

import pytest
from celery.beat import PersistentScheduler
from celery.utils.imports import symbol_by_name
from kitaportal import rundemo
from kitaportal.celery import app
from tenant_schemas_celery.scheduler import TenantAwareScheduler


def test_the_demo_worker_runs_beat_with_the_tenant_aware_scheduler():
    command = rundemo.worker_command("/venv/bin")
    assert command[:4] == ["/venv/bin/celery", "-A", "kitaportal", "worker"] and "-B" in command
    scheduler = symbol_by_name(command[command.index("--scheduler") + 1])
    assert scheduler is TenantAwareScheduler


def test_the_beat_schedule_loads_with_that_scheduler_and_not_with_celerys_stock_one(
    tenant_registry, db, tmp_path
):
    scheduler = TenantAwareScheduler(app=app, schedule_filename=str(tmp_path / "beat"))
    names = set(scheduler.schedule)
    assert "billing-housekeeping@public" in names
    assert any(name.startswith("flush-outbox@") for name in names)
    scheduler.close()
    # the platform's entries name their schema, which Celery's own scheduler refuses: the
    # reason the demo (like deploy/) must not start beat without --scheduler
    with pytest.raises(TypeError, match="tenant_schemas"):
        PersistentScheduler(app=app, schedule_filename=str(tmp_path / "stock"))
