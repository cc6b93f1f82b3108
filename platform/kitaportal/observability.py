"""Structured logs and Prometheus metrics.

Logs: every line carries the request id, the tenant (slug), the tenant type, the user's role
and the Celery task id, and never a name or an email. `ContextFilter` adds the fields,
`JsonFormatter` (production, containers) or `PlainFormatter` (a terminal) writes them, and
both mask emails, phone numbers, dates and IBANs that slip into a message or a traceback
(the Sentry scrubber's rules), and drop values stored under personal keys.

`RequestContextMiddleware` (first in MIDDLEWARE) takes the request id from `X-Request-ID`
(set by the reverse proxy) or makes one, returns it in the response and writes one access line
per request: method, URL name (never the path, which may hold tokens), status, duration.
No client IP address is logged.

Metrics (prometheus_client, multi-process safe under gunicorn and Celery's prefork pool when
PROMETHEUS_MULTIPROC_DIR is set):

- request latency and responses per URL name and tenant type (django-prometheus middlewares,
  extended by a `tenant_type` label);
- Celery task durations per task, tenant type and state (task signals, in the worker);
- Celery queue depth and the outbox backlog, read when Prometheus scrapes `/metrics`.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable

from django.utils.functional import SimpleLazyObject, empty
from django_prometheus.middleware import (
    Metrics,
    PrometheusAfterMiddleware,
    PrometheusBeforeMiddleware,
)
from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

from integrations.sentry import FILTERED, PERSONAL_KEYS, scrub_text

access_logger = logging.getLogger("kitaportal.request")

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
CONTEXT_FIELDS = ("request_id", "tenant", "tenant_type", "user_role", "task_id")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_request: contextvars.ContextVar[object | None] = contextvars.ContextVar("request", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


# --- Log context --------------------------------------------------------------------------


def _tenant_fields() -> tuple[str, str]:
    """(slug, type) of the schema the current thread's connection is on."""
    try:
        from django.db import connection

        tenant = getattr(connection, "tenant", None)
    except Exception:  # settings not configured yet (early start-up)
        return "", ""
    if tenant is None:
        return "", ""
    schema = getattr(tenant, "schema_name", "") or ""
    slug = getattr(tenant, "slug", "") or ("platform" if schema == "public" else schema)
    tenant_type = getattr(tenant, "type", "") or ("public" if schema == "public" else "")
    return slug, tenant_type


def _user_role(request) -> str:
    """The role of the request's user, without loading it: "" until something has looked."""
    if request is None:
        return ""
    user = request.__dict__.get("user")
    if user is None:
        return ""
    if isinstance(user, SimpleLazyObject):
        if user._wrapped is empty:
            return ""
        user = user._wrapped
    if not getattr(user, "is_authenticated", False):
        return "anonymous"
    return getattr(user, "role", "") or "user"


def _task_id() -> str:
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover - celery is a dependency
        return ""
    task = current_task
    if not task:
        return ""
    return getattr(task.request, "id", None) or ""


class ContextFilter(logging.Filter):
    """Adds request id, tenant, tenant type, user role and task id to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get() or ""
        if not hasattr(record, "tenant") or not hasattr(record, "tenant_type"):
            record.tenant, record.tenant_type = _tenant_fields()
        if not hasattr(record, "user_role"):
            record.user_role = _user_role(_request.get())
        if not hasattr(record, "task_id"):
            record.task_id = _task_id()
        return True


# Keys whose values are technical and kept as they are.
TECHNICAL_KEYS = frozenset(
    {
        "time",
        "level",
        "logger",
        "message",
        "exc_info",
        "stack_info",
        *CONTEXT_FIELDS,
        "method",
        "view",
        "status",
        "status_code",
        "duration_ms",
        "taskName",
    }
)


# Django passes the request object as `request`; its repr holds the path (which may hold a
# token). The request id identifies the request instead.
DROPPED_KEYS = frozenset({"request"})


def scrub_value(key: str, value):
    if PERSONAL_KEYS.search(key):
        return FILTERED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, list | tuple):
        return [scrub_value("", item) for item in value]
    if isinstance(value, dict):
        return {k: scrub_value(str(k), v) for k, v in value.items()}
    return value


class JsonFormatter(BaseJsonFormatter):
    """One JSON object per line: time, level, logger, message, the context fields, extras."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "fmt",
            ["asctime", "levelname", "name", "message", *CONTEXT_FIELDS],
        )
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level"})
        kwargs.setdefault("datefmt", "%Y-%m-%dT%H:%M:%S%z")
        super().__init__(*args, **kwargs)
        self.rename_fields.setdefault("name", "logger")

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return scrub_text(super().formatException(ei))

    def process_log_record(self, log_data: dict) -> dict:
        result = {}
        for key, value in log_data.items():
            if key in DROPPED_KEYS:
                continue
            if key in ("message", "exc_info", "stack_info") and isinstance(value, str):
                result[key] = scrub_text(value)
            elif key in TECHNICAL_KEYS:
                result[key] = value
            else:
                result[key] = scrub_value(key, value)
        return result


class PlainFormatter(logging.Formatter):
    """For a terminal: one readable line with the context in brackets, scrubbed like JSON."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, **kwargs):
        super().__init__(
            fmt
            or (
                "%(asctime)s %(levelname)s %(name)s "
                "[%(tenant)s %(user_role)s req=%(request_id)s task=%(task_id)s] %(message)s"
            ),
            datefmt,
            **kwargs,
        )

    def format(self, record: logging.LogRecord) -> str:
        for name in CONTEXT_FIELDS:
            if not hasattr(record, name):
                setattr(record, name, "")
        return scrub_text(super().format(record))


# --- Request context and access log -------------------------------------------------------


class RequestContextMiddleware:
    """First middleware: request id in, request id out, one access line per request."""

    def __init__(self, get_response: Callable):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        id_token = _request_id.set(request_id)
        request_token = _request.set(request)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            match = getattr(request, "resolver_match", None)
            access_logger.info(
                "request",
                extra={
                    "method": request.method,
                    "view": (match.view_name if match else "") or "",
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            return response
        finally:
            _request.reset(request_token)
            _request_id.reset(id_token)


# --- Request metrics: django-prometheus with a tenant_type label --------------------------

TENANT_LABELLED = (
    "django_http_requests_latency_seconds_by_view_method",
    "django_http_responses_total_by_status_view_method",
)


def request_tenant_type(request) -> str:
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        return "none"  # unknown, reserved or deactivated host
    return getattr(tenant, "type", "") or "public"


class TenantMetrics(Metrics):
    def register_metric(self, metric_cls, name, documentation, labelnames=(), **kwargs):
        if name in TENANT_LABELLED:
            labelnames = [*labelnames, "tenant_type"]
        return super().register_metric(metric_cls, name, documentation, labelnames, **kwargs)


class MetricsBeforeMiddleware(PrometheusBeforeMiddleware):
    metrics_cls = TenantMetrics


class MetricsAfterMiddleware(PrometheusAfterMiddleware):
    """Last middleware: latency and status per URL name, method and tenant type."""

    metrics_cls = TenantMetrics

    def label_metric(self, metric, request, response=None, **labels):
        if metric._name in TENANT_LABELLED:
            labels["tenant_type"] = request_tenant_type(request)
        return super().label_metric(metric, request, response, **labels)


# --- Celery: task durations (in the worker) -----------------------------------------------

TASK_DURATION = Histogram(
    "kitaportal_celery_task_duration_seconds",
    "Celery task run time by task, tenant type and final state.",
    ["task", "tenant_type", "state"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, float("inf")),
)
_task_started: dict[str, tuple[float, str]] = {}

# --- Allocation runs: time per phase (building the instance, solving, storing) ---------------

ALLOCATION_RUN_DURATION = Histogram(
    "kitaportal_allocation_run_seconds",
    "Allocation run time by phase (build, solve, store, total) and kind (dry run or binding).",
    ["phase", "kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, float("inf")),
)


def observe_allocation_run(timings: dict[str, float], binding: bool) -> None:
    """Record a finished run's phase timings (seconds; keys build_s, solve_s, store_s)."""
    kind = "binding" if binding else "dry_run"
    total = 0.0
    for phase in ("build", "solve", "store"):
        seconds = timings.get(f"{phase}_s")
        if seconds is not None:
            ALLOCATION_RUN_DURATION.labels(phase=phase, kind=kind).observe(seconds)
            total += seconds
    ALLOCATION_RUN_DURATION.labels(phase="total", kind=kind).observe(total)


def _on_task_prerun(task_id=None, task=None, **kwargs) -> None:
    if task_id:
        _task_started[task_id] = (time.perf_counter(), _tenant_fields()[1] or "public")


def _on_task_postrun(task_id=None, task=None, state=None, **kwargs) -> None:
    started = _task_started.pop(task_id, None) if task_id else None
    if started is None or task is None:
        return
    began, tenant_type = started
    TASK_DURATION.labels(task.name, tenant_type, state or "UNKNOWN").observe(
        time.perf_counter() - began
    )


def _on_setup_logging(**kwargs) -> None:
    """Connected receiver: Celery keeps Django's LOGGING instead of installing its own."""


def _on_worker_init(**kwargs) -> None:
    """Serve the worker's metrics on CELERY_METRICS_PORT (all pool processes together)."""
    port = os.environ.get("CELERY_METRICS_PORT")
    if port:
        from prometheus_client import start_http_server

        start_http_server(int(port), registry=scrape_registry(include_collectors=False))


def connect_celery_signals() -> None:
    from celery import signals

    signals.task_prerun.connect(_on_task_prerun, weak=False, dispatch_uid="kp-task-prerun")
    signals.task_postrun.connect(_on_task_postrun, weak=False, dispatch_uid="kp-task-postrun")
    signals.setup_logging.connect(_on_setup_logging, weak=False, dispatch_uid="kp-logging")
    signals.worker_init.connect(_on_worker_init, weak=False, dispatch_uid="kp-worker-metrics")


# Django imports this module when it configures LOGGING, in every process (web, worker, beat,
# management commands), before Celery sets up its logging.
connect_celery_signals()


# --- Scrape-time gauges: queue depth and outbox backlog -----------------------------------


def celery_queue_names() -> list[str]:
    from kitaportal.celery import app

    names = list(app.amqp.queues.keys()) or [app.conf.task_default_queue]
    return sorted(set(names))


def broker_queue_lengths(connection_factory: Callable | None = None) -> dict[str, int]:
    """Messages waiting in each Celery queue, asked of the broker (Redis: LLEN per queue)."""
    from kombu.exceptions import ChannelError

    from kitaportal.celery import app

    factory = connection_factory or app.connection_for_read
    lengths = {}
    with factory() as conn:
        channel = conn.default_channel
        for name in celery_queue_names():
            try:
                lengths[name] = channel.queue_declare(queue=name, passive=True).message_count
            except ChannelError:  # the queue was never declared: nothing waits in it
                lengths[name] = 0
    return lengths


class QueueDepthCollector:
    def __init__(self, connection_factory: Callable | None = None):
        self.connection_factory = connection_factory

    def describe(self) -> Iterable:
        return []

    def collect(self) -> Iterable:
        gauge = GaugeMetricFamily(
            "kitaportal_celery_queue_length",
            "Messages waiting in a Celery queue.",
            labels=["queue"],
        )
        up = GaugeMetricFamily(
            "kitaportal_celery_broker_up", "1 if the broker answered the queue-length query."
        )
        try:
            lengths = broker_queue_lengths(self.connection_factory)
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        for name, length in sorted(lengths.items()):
            gauge.add_metric([name], length)
        up.add_metric([], 1)
        yield gauge
        yield up


OUTBOX_CACHE_SECONDS = 30.0
_outbox_cache: dict[str, object] = {}


def outbox_backlog() -> dict[str, tuple[int, float]]:
    """Pending outbox messages per tenant type, and the age of the oldest one (seconds),
    over every active tenant schema in ONE query."""
    from django.db import connection

    from tenants.common.models import OutboxMessage
    from tenants.models import Tenant

    connection.set_schema_to_public()
    table = OutboxMessage._meta.db_table
    rows = list(
        Tenant.objects.filter(is_active=True, is_template=False)
        .exclude(schema_name="public")
        .values_list("schema_name", "type")
    )
    result: dict[str, tuple[int, float]] = {}
    if not rows:
        return result
    union = " UNION ALL ".join(
        "SELECT %s AS type, count(*) AS pending, min(created_at) AS oldest "
        f'FROM "{schema}".{table} WHERE status = %s'
        for schema, _ in rows
    )
    params = []
    for _, tenant_type in rows:
        params += [tenant_type, "pending"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT type, sum(pending), extract(epoch FROM now() - min(oldest)) "
            f"FROM ({union}) AS backlog GROUP BY type",
            params,
        )
        for tenant_type, pending, age in cursor.fetchall():
            result[tenant_type] = (int(pending or 0), float(age or 0.0))
    return result


class OutboxBacklogCollector:
    """Outbox backlog, cached for OUTBOX_CACHE_SECONDS (one query over all schemas)."""

    def describe(self) -> Iterable:
        return []

    def collect(self) -> Iterable:
        now = time.monotonic()
        cached = _outbox_cache.get("value")
        if cached is None or now - float(_outbox_cache.get("at", 0.0)) > OUTBOX_CACHE_SECONDS:
            try:
                cached = outbox_backlog()
            except Exception:
                cached = None
            _outbox_cache.update(value=cached, at=now)
        pending = GaugeMetricFamily(
            "kitaportal_outbox_pending_messages",
            "Outbox messages not yet delivered, by tenant type.",
            labels=["tenant_type"],
        )
        oldest = GaugeMetricFamily(
            "kitaportal_outbox_oldest_pending_seconds",
            "Age of the oldest undelivered outbox message, by tenant type.",
            labels=["tenant_type"],
        )
        for tenant_type, (count, age) in sorted((cached or {}).items()):
            pending.add_metric([tenant_type], count)
            oldest.add_metric([tenant_type], age)
        yield pending
        yield oldest


def scrape_registry(include_collectors: bool = True):
    """The registry to expose: all processes' metrics (multi-process mode) or this one's,
    plus the scrape-time gauges."""
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))
    if include_collectors:
        registry.register(QueueDepthCollector())
        registry.register(OutboxBacklogCollector())
    return registry


class _Forward:
    """Exposes another registry's metrics through a fresh registry."""

    def __init__(self, registry):
        self.registry = registry

    def describe(self) -> Iterable:
        return []

    def collect(self) -> Iterable:
        return self.registry.collect()
