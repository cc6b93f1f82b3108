"""Sentry error reporting. The only module that imports sentry_sdk.

Personal data never leaves: no user identity, no request bodies, cookies, query strings or
frame variables (`data_collection`, the successor of `send_default_pii=False`), and a
`before_send` scrubber that removes emails, dates (birth dates), phone numbers and any value
stored under a personal key (name, email, birth date, address, …).
"""

from __future__ import annotations

import re
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration

FILTERED = "[Filtered]"
PERSONAL_KEYS = re.compile(
    r"(name|vorname|nachname|email|e_mail|mail|birth|geburt|dob|address|adresse|street|strasse"
    r"|phone|telefon|mobile|iban|password|passwort|token|secret|cookie|session|csrf|guardian"
    r"|child|kind|eltern|parent|note|notiz|code)",
    re.IGNORECASE,
)
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
DATE_RE = re.compile(r"\b(\d{1,2}\.\d{1,2}\.\d{2,4}|\d{4}-\d{2}-\d{2})\b")
PHONE_RE = re.compile(r"(\+?\d[\d /-]{7,}\d)")
IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}[A-Z0-9 ]{11,30}\b")


def scrub_text(value: str) -> str:
    value = EMAIL_RE.sub(FILTERED, value)
    value = IBAN_RE.sub(FILTERED, value)
    value = DATE_RE.sub(FILTERED, value)
    return PHONE_RE.sub(FILTERED, value)


def scrub(value: Any, key: str | None = None) -> Any:
    if key is not None and PERSONAL_KEYS.search(key):
        return FILTERED
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def scrub_event(event: dict, hint: dict | None = None) -> dict:
    """before_send hook: keep the stack and tags, drop or mask everything personal."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)
        request.pop("cookies", None)
        request["query_string"] = FILTERED if request.get("query_string") else ""
        headers = request.get("headers") or {}
        request["headers"] = {
            k: v for k, v in headers.items() if k.lower() in {"host", "user-agent", "accept"}
        }
        if "url" in request:
            request["url"] = scrub_text(request["url"])
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if "id" in user else {}
    for key in ("extra", "contexts", "breadcrumbs", "logentry", "message"):
        if key in event:
            event[key] = scrub(event[key]) if key != "contexts" else _scrub_contexts(event[key])
    for exception in (event.get("exception") or {}).get("values", []):
        if isinstance(exception.get("value"), str):
            exception["value"] = scrub_text(exception["value"])
        for frame in (exception.get("stacktrace") or {}).get("frames", []):
            frame.pop("vars", None)
    return event


def _scrub_contexts(contexts: dict) -> dict:
    # runtime/os/trace contexts are technical; anything else is scrubbed by key and value
    technical = {"runtime", "os", "trace", "device", "browser", "celery"}
    return {k: (v if k in technical else scrub(v)) for k, v in contexts.items()}


def init_sentry(
    dsn: str | None,
    environment: str = "development",
    release: str | None = None,
    transport: Any = None,
) -> bool:
    """Initialise Sentry from SENTRY_DSN; a missing DSN means Sentry stays off."""
    if not dsn:
        return False
    options: dict[str, Any] = {
        "dsn": dsn,
        "environment": environment,
        "release": release,
        "integrations": [DjangoIntegration(), CeleryIntegration()],
        # `data_collection` supersedes the deprecated `send_default_pii=False` (same intent,
        # stricter): no user identity, cookies, bodies, query strings or frame variables.
        "data_collection": {
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {
                "request": {"mode": "allowlist", "terms": ["host", "user-agent", "accept"]}
            },
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "database_query_data": False,
            "queues": False,
            "stack_frame_variables": False,
        },
        "before_send": scrub_event,
        "before_breadcrumb": lambda crumb, hint: scrub(crumb),
        "traces_sample_rate": 0.0,
    }
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
    return True


def set_tenant_tag(slug: str, tenant_type: str) -> None:
    sentry_sdk.set_tag("tenant", slug)
    sentry_sdk.set_tag("tenant_type", tenant_type)
