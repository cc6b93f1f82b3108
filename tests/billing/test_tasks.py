"""Periodic billing tasks run once, in the public schema, and are safe to repeat."""

from __future__ import annotations

from datetime import timedelta

import pytest
from billing import services, tasks
from billing.models import SignupApplication
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context
from tenant_schemas_celery.scheduler import TenantAwareScheduler

from .conftest import signup_through_services

pytestmark = pytest.mark.django_db


def test_the_billing_beat_entries_run_in_the_public_schema_only():
    expanded = TenantAwareScheduler._tenant_aware_beat_schedule_to_dict(
        None, settings.CELERY_BEAT_SCHEDULE
    )
    billing = {name for name in expanded if name.startswith("billing-")}
    assert billing == {"billing-retry-signups@public", "billing-housekeeping@public"}


def test_a_stuck_confirmed_sign_up_is_queued_again_and_tenants_do_nothing(
    stripe_double, tenant_registry, city, monkeypatch
):
    application, _ = signup_through_services(stripe_double, slug="herne")
    session = stripe_double.complete_checkout(application.stripe_checkout_session_id)
    services.confirm_checkout_session(session, "test")
    SignupApplication.objects.filter(pk=application.pk).update(
        updated_at=timezone.now() - timedelta(minutes=10)
    )
    queued = []
    monkeypatch.setattr(services, "_queue_provisioning", queued.append)
    with tenant_context(city):
        assert tasks.retry_stuck_signups() == 0
    connection.set_schema_to_public()
    assert tasks.retry_stuck_signups() == 1 and queued == [application.pk]


def test_housekeeping_deletes_unfinished_sign_ups_after_30_days(stripe_double, tenant_registry):
    application, _ = signup_through_services(stripe_double, slug="herne")
    SignupApplication.objects.filter(pk=application.pk).update(
        created_at=timezone.now() - timedelta(days=31)
    )
    connection.set_schema_to_public()
    assert tasks.housekeeping() == {"stale_applications": 1, "purged_tenants": 0}
    assert not SignupApplication.objects.filter(pk=application.pk).exists()
