"""Health, readiness and metrics endpoints: on every host, failing when a dependency is down."""

import re
import socket

import pytest
from django.db import connection, connections
from django.test import Client, override_settings
from django_tenants.utils import tenant_context
from kitaportal import health, observability
from kombu import Connection

from tenants import services
from tenants.common.services import queue_email
from tests.conftest import client_for


@pytest.fixture(autouse=True)
def _fresh_health_caches():
    health._migrations_ok_at.clear()
    observability._outbox_cache.clear()
    yield
    health._migrations_ok_at.clear()
    observability._outbox_cache.clear()


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def metric_value(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.parametrize("host", ["localhost", "bochum.localhost", "unknown.localhost", "10.1.2.3"])
def test_healthz_answers_on_every_host(tenant_registry, db, host):
    response = Client(HTTP_HOST=f"{host}:8000").get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_readyz_is_ok_when_database_broker_and_migrations_are(tenant_registry, db):
    response = Client(HTTP_HOST="10.1.2.3:8000").get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "broker": "ok", "migrations": "ok"}
    # the public schema, two templates and the four role tenants at least
    assert body["schemas"] >= 7
    assert body["schemas_behind"] == 0


def test_readyz_answers_on_a_tenant_host_too(city):
    assert client_for(city).get("/readyz").status_code == 200


def test_readyz_fails_while_the_database_is_down(tenant_registry, db):
    config = connections["default"].settings_dict
    original = config["PORT"]
    config["PORT"] = closed_port()
    try:
        response = Client(HTTP_HOST="localhost").get("/readyz")
    finally:
        config["PORT"] = original
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["database"] == "fail: OperationalError"
    assert body["checks"]["migrations"].startswith("unknown")


def test_readyz_fails_while_the_broker_is_down(tenant_registry, db):
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{closed_port()}/0"):
        response = Client(HTTP_HOST="localhost").get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("fail: ")
    assert response.json()["checks"]["database"] == "ok"


def test_readyz_fails_while_a_tenant_schema_misses_a_migration(city):
    with connection.cursor() as cursor:
        cursor.execute(
            f'DELETE FROM "{city.schema_name}".django_migrations '
            "WHERE app = 'tenant_common' AND name = '0001_initial'"
        )
    response = Client(HTTP_HOST="localhost").get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["migrations"].startswith("fail: schemas behind")
    assert body["schemas_behind"] == 1
    assert "bochum" not in response.content.decode(), "no tenant names in the answer"


def test_healthz_does_not_accept_posts(tenant_registry, db):
    assert Client(HTTP_HOST="localhost").post("/healthz").status_code == 405


def test_metrics_show_request_latency_per_url_name_and_tenant_type(city, employer):
    client_for(city).get("/kitas/does-not-exist/")
    client_for(city).get("/")
    client_for(employer).get("/")
    Client(HTTP_HOST="localhost").get("/")
    text = Client(HTTP_HOST="localhost").get("/metrics").content.decode()
    latency = "django_http_requests_latency_seconds_by_view_method_count"
    assert metric_value(text, latency, view="home", tenant_type="municipality", method="GET")
    assert metric_value(text, latency, view="home", tenant_type="employer", method="GET")
    assert metric_value(text, latency, view="landing", tenant_type="public", method="GET")
    assert metric_value(
        text,
        "django_http_responses_total_by_status_view_method_total",
        status="404",
        view="facility-detail",
        tenant_type="municipality",
        method="GET",
    )


def test_metrics_show_the_outbox_backlog_per_tenant_type(city):
    with tenant_context(city):
        for number in range(3):
            queue_email(to=["eltern@example.org"], subject=f"Nachricht {number}", text="…")
    text = Client(HTTP_HOST="localhost").get("/metrics").content.decode()
    assert metric_value(text, "kitaportal_outbox_pending_messages", tenant_type="municipality") >= 3
    assert metric_value(
        text, "kitaportal_outbox_oldest_pending_seconds", tenant_type="municipality"
    )
    assert "eltern@example.org" not in text


def test_metrics_show_the_broker_queue_length(tenant_registry, db):
    text = Client(HTTP_HOST="localhost").get("/metrics").content.decode()
    assert metric_value(text, "kitaportal_celery_broker_up") == 1
    assert metric_value(text, "kitaportal_celery_queue_length", queue="celery") is not None


def test_queue_length_counts_the_messages_waiting_in_the_broker(tmp_path):
    folders = {name: tmp_path / name for name in ("data", "processed", "control")}
    for folder in folders.values():
        folder.mkdir()
    options = {
        "data_folder_in": str(folders["data"]),
        "data_folder_out": str(folders["data"]),
        "processed_folder": str(folders["processed"]),
        "control_folder": str(folders["control"]),
    }

    def broker():
        return Connection("filesystem://", transport_options=options)

    assert observability.broker_queue_lengths(broker) == {"celery": 0}
    with broker() as conn:
        producer = conn.Producer()
        for number in range(3):
            # the default exchange routes by queue name (as Celery's queues are bound)
            producer.publish({"number": number}, exchange="", routing_key="celery")
    assert observability.broker_queue_lengths(broker) == {"celery": 3}


def test_task_durations_are_measured_per_task_and_tenant_type(city):
    from tenants.common.tasks import deliver_outbox_message

    before = _histogram_count(deliver_outbox_message.name)
    with tenant_context(city):
        assert deliver_outbox_message.apply(args=[999_999]).get() == "skipped"
    assert _histogram_count(deliver_outbox_message.name) == before + 1


def _histogram_count(task_name: str) -> float:
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value(
        "kitaportal_celery_task_duration_seconds_count",
        {"task": task_name, "tenant_type": "municipality", "state": "SUCCESS"},
    )
    return value or 0.0


def test_metrics_need_the_token_when_one_is_configured(tenant_registry, db, monkeypatch):
    monkeypatch.setenv("METRICS_TOKEN", "scrape-secret-123")
    client = Client(HTTP_HOST="localhost")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    answer = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret-123")
    assert answer.status_code == 200
    assert "kitaportal_celery_queue_length" in answer.content.decode()


def test_tls_certificates_are_allowed_for_the_platform_and_active_tenants_only(city):
    def ask(domain):
        return Client(HTTP_HOST="web:8000").get("/_tls/permission", {"domain": domain})

    assert ask("localhost").status_code == 200
    assert ask(city.hostname).status_code == 200
    assert ask("template-municipality.localhost").status_code == 404
    assert ask("evil.example.org").status_code == 404
    assert ask("").status_code == 404
    services.deactivate_tenant(None, city.slug)
    assert ask(city.hostname).status_code == 404


@pytest.mark.worker
def test_a_worker_serves_its_task_durations_on_its_metrics_port(city):
    import urllib.request

    from tenants.common.tasks import deliver_outbox_message
    from tests.worker import celery_worker, wait_for

    port = closed_port()

    def scrape() -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
                return answer.read().decode()
        except OSError:
            return ""

    with celery_worker({"CELERY_METRICS_PORT": str(port)}) as worker:
        assert wait_for(lambda: "kitaportal_celery_task_duration_seconds" in scrape()), (
            worker.stdout.read() if worker.poll() is not None else "no metrics port"
        )
        with tenant_context(city):
            deliver_outbox_message.apply_async(args=[999_999])
        labels = {
            "task": "tenants.common.tasks.deliver_outbox_message",
            "tenant_type": "municipality",
            "state": "SUCCESS",
        }
        count = "kitaportal_celery_task_duration_seconds_count"
        assert wait_for(lambda: metric_value(scrape(), count, **labels) == 1.0)


def test_allocation_runs_are_measured_per_phase_and_kind(city, django_capture_on_commit_callbacks):
    from prometheus_client import REGISTRY

    from registrations import services_allocation as runs
    from tests.registrations.allocation_helpers import kita_year

    def count(phase: str) -> float:
        sample = REGISTRY.get_sample_value(
            "kitaportal_allocation_run_seconds_count", {"phase": phase, "kind": "dry_run"}
        )
        return sample or 0.0

    before = {phase: count(phase) for phase in ("build", "solve", "store", "total")}
    with tenant_context(city), django_capture_on_commit_callbacks(execute=True):
        run = runs.start_run(None, kita_year=kita_year(), age_groups=["UE3"], binding=False, seed=3)
        runs.execute_run(run.pk)
    for phase, value in before.items():
        assert count(phase) == value + 1, phase
