"""Operational endpoints, answered before the tenant is resolved, on every host name
(the platform's, a tenant's, or a pod's IP address as Kubernetes probes send it):

- ``/healthz``: liveness. The process answers; no I/O.
- ``/readyz``: readiness. PostgreSQL answers on a fresh connection, the broker answers, and
  every schema (public, templates, tenants) has every migration this code knows (one query
  over all schemas' ``django_migrations``, see ``tenants.rollout``). 503 otherwise, so a new
  release takes no traffic before ``kitaportal migrate`` has run.
- ``/metrics``: Prometheus text format. With ``METRICS_TOKEN`` (or ``METRICS_TOKEN_FILE``)
  set, only for ``Authorization: Bearer <token>``.
- ``/_tls/permission?domain=…``: the reverse proxy's question before it obtains a certificate
  on demand: 200 for BASE_DOMAIN and the domains of active tenants, 404 otherwise.

The responses hold states and counts, never tenant names or error messages.
"""

from __future__ import annotations

import hmac
import json
import logging
import time

from django.conf import settings
from django.http import HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

DB_CONNECT_TIMEOUT = 3
BROKER_TIMEOUT = 3
# A complete migration state only changes with a new release (a new process), so a positive
# answer is kept this long; a negative one is never kept.
MIGRATIONS_OK_SECONDS = 60.0

_loader_cache: dict[str, object] = {}
_migrations_ok_at: dict[str, float] = {}


# --- Checks -------------------------------------------------------------------------------


def check_database() -> None:
    """Open a NEW connection with the configured parameters and run a query.

    A fresh connection, not the request's: it tells whether the database can be reached now.
    """
    import psycopg
    from django.db import connections

    config = connections["default"].settings_dict
    options = {
        key: value
        for key, value in (config.get("OPTIONS") or {}).items()
        if key not in {"isolation_level", "pool", "server_side_binding", "assume_role"}
    }
    params = {
        "dbname": config.get("NAME"),
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "host": config.get("HOST") or None,
        "port": str(config["PORT"]) if config.get("PORT") else None,
        "connect_timeout": DB_CONNECT_TIMEOUT,
        **options,
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as conn:
        conn.execute("SELECT 1").fetchone()


def check_broker() -> None:
    """Connect to the Celery broker and ask it for the queue lengths."""
    from kitaportal.celery import app
    from kitaportal.observability import broker_queue_lengths

    def connect():
        conn = app.connection_for_read(
            url=settings.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT
        )
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=3)
        return conn

    broker_queue_lengths(connect)


def migration_loader():
    """The migration graph from disk (no query), loaded once per process."""
    if "loader" not in _loader_cache:
        from django.db.migrations.loader import MigrationLoader

        _loader_cache["loader"] = MigrationLoader(None, ignore_no_migrations=True)
    return _loader_cache["loader"]


def schemas_behind() -> tuple[int, list[str]]:
    """(schemas checked, schemas missing a migration this code knows). One query for all."""
    from django.db import connection

    from tenants.models import Tenant
    from tenants.rollout import applied_by_schema, needed_migrations

    loader = migration_loader()
    needed = needed_migrations(loader)
    connection.set_schema_to_public()
    schemas = [
        "public",
        *Tenant.objects.exclude(schema_name="public").values_list("schema_name", flat=True),
    ]
    behind = []
    for schema, applied in applied_by_schema(schemas).items():
        effective = set(applied)
        for key, migration in loader.replacements.items():
            if all(replaced in applied for replaced in migration.replaces):
                effective.add(key)
        if not needed <= effective:
            behind.append(schema)
    return len(schemas), sorted(behind)


def readiness() -> tuple[bool, dict]:
    checks: dict[str, str] = {}
    body: dict = {"checks": checks}
    for name, check in (("database", check_database), ("broker", check_broker)):
        started = time.perf_counter()
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"fail: {type(exc).__name__}"
        body[f"{name}_ms"] = round((time.perf_counter() - started) * 1000, 1)

    if checks["database"] != "ok":
        checks["migrations"] = "unknown: database unreachable"
    elif time.monotonic() - _migrations_ok_at.get("at", -1e9) < MIGRATIONS_OK_SECONDS:
        checks["migrations"] = "ok"
    else:
        try:
            schemas, behind = schemas_behind()
            body["schemas"] = schemas
            body["schemas_behind"] = len(behind)
            if behind:
                checks["migrations"] = "fail: schemas behind, run `kitaportal migrate`"
            else:
                checks["migrations"] = "ok"
                _migrations_ok_at["at"] = time.monotonic()
        except Exception as exc:
            checks["migrations"] = f"fail: {type(exc).__name__}"
    ready = all(state == "ok" for state in checks.values())
    body["status"] = "ok" if ready else "fail"
    if not ready:
        logger.warning("not ready: %s", json.dumps(checks, sort_keys=True))
    return ready, body


# --- Views --------------------------------------------------------------------------------


def healthz(request) -> HttpResponse:
    return JsonResponse({"status": "ok"})


def readyz(request) -> HttpResponse:
    ready, body = readiness()
    return JsonResponse(body, status=200 if ready else 503)


def metrics_token() -> str | None:
    from kitaportal.settings.base import env

    return env("METRICS_TOKEN") or None


def metrics(request) -> HttpResponse:
    token = metrics_token()
    if token:
        supplied = request.META.get("HTTP_AUTHORIZATION", "")
        if not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
            return HttpResponse("unauthorized\n", status=401, content_type="text/plain")
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from kitaportal.observability import scrape_registry

    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)


def tls_permission(request) -> HttpResponse:
    from django.db import connection

    from tenants.models import Domain

    domain = request.GET.get("domain", "").strip().lower().rstrip(".")
    connection.set_schema_to_public()
    allowed = bool(domain) and (
        domain == settings.BASE_DOMAIN.lower()
        or Domain.objects.filter(
            domain=domain, tenant__is_active=True, tenant__is_template=False
        ).exists()
    )
    return HttpResponse(status=200 if allowed else 404)


ROUTES = {
    "/healthz": healthz,
    "/readyz": readyz,
    "/metrics": metrics,
    "/_tls/permission": tls_permission,
}


class HealthMiddleware:
    """First middleware: serves ROUTES for any Host header, before ALLOWED_HOSTS and tenant
    resolution, without an access-log line or request metrics (probes run every few seconds)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        view = ROUTES.get(request.path_info.rstrip("/") or "/")
        if view is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
        response = view(request)
        response["Cache-Control"] = "no-store"
        return response
