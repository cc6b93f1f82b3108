"""Structured logs: every line carries request id, tenant, role and task id; a whole
registration flow (sign-up, verification, pre-registration, mail delivery) logs no personal
data, and what slips into a message is masked."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import pytest
from celery import signals
from django.test import Client, override_settings
from django_tenants.utils import tenant_context
from kitaportal.observability import ContextFilter, JsonFormatter

from tenants.common.models import OutboxMessage
from tests.conftest import client_for
from tests.registrations.test_parent_pages import form_data, sign_up_and_verify
from tests.registrations.test_pre_registration import next_august

EMAIL = "henrietta.quastenberg@example.org"
BIRTH = next_august() - timedelta(days=365 * 4)
PERSONAL = [
    "Mialotta",
    "Quastenberg",
    "Henrietta",
    EMAIL,
    "Zaunkönigweg 17",
    BIRTH.isoformat(),
    BIRTH.strftime("%d.%m.%Y"),
]


class Recorder(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def logs():
    """The records as the code logs them, and the JSON lines the console handler writes."""
    root = logging.getLogger()
    console = next(handler for handler in root.handlers if handler.get_name() == "console")
    output = io.StringIO()
    previous_stream = console.setStream(output)
    previous_formatter = console.formatter
    console.setFormatter(JsonFormatter())
    recorder = Recorder()
    recorder.addFilter(ContextFilter())
    root.handlers.insert(0, recorder)
    try:
        yield recorder.records, output
    finally:
        root.removeHandler(recorder)
        console.setStream(previous_stream)
        console.setFormatter(previous_formatter)


def json_lines(output: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in output.getvalue().splitlines() if line.strip()]


def raw_text(record: logging.LogRecord) -> str:
    """Everything a record carries: its message, arguments and extra fields."""
    return " ".join([record.getMessage(), *(str(value) for value in record.__dict__.values())])


def test_a_full_registration_flow_logs_no_personal_data(city, logs):
    records, output = logs
    client = sign_up_and_verify(city, email=EMAIL)
    data = form_data(
        city,
        child_0_first_name="Mialotta",
        child_0_last_name="Quastenberg",
        child_0_birth_date=BIRTH.isoformat(),
        guardian_first_name="Henrietta",
        guardian_last_name="Quastenberg",
        guardian_email=EMAIL,
        street="Zaunkönigweg 17",
    )
    invalid = client.post("/voranmeldung/", {**data, "start_date": "2001-01-01"})
    assert invalid.status_code == 200
    submitted = client.post("/voranmeldung/", data)
    assert submitted.status_code == 302
    assert client.get(submitted["Location"]).status_code == 200
    assert client.get("/meine-anmeldungen/").status_code == 200
    client.get("/kitas/gibt-es-nicht/")
    client_for(city).post("/konto/anmelden/", {"username": EMAIL, "password": "falsch"})
    # The mail goes out through the worker's task; the relay is down, so it logs a failure.
    from tenants.common.tasks import deliver_outbox_message

    with (
        tenant_context(city),
        override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=1,
        ),
    ):
        message = OutboxMessage.objects.filter(recipients=[EMAIL]).latest("pk")
        deliver_outbox_message.apply(args=[message.pk])

    lines = json_lines(output)
    assert len(lines) >= 8 and len(records) >= 8
    for line in lines:
        text = json.dumps(line, ensure_ascii=False)
        for value in PERSONAL:
            assert value not in text, f"{value!r} written in {text}"
    for record in records:
        for value in PERSONAL:
            assert value not in raw_text(record), f"{value!r} logged by {record.name}"


def test_every_line_carries_request_id_tenant_role_and_task_id(city, logs):
    records, output = logs
    client = sign_up_and_verify(city, email=EMAIL)
    response = client.get("/meine-anmeldungen/")
    from tenants.common.tasks import deliver_outbox_message

    with (
        tenant_context(city),
        override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=1,
        ),
    ):
        message = OutboxMessage.objects.filter(recipients=[EMAIL]).latest("pk")
        result = deliver_outbox_message.apply(args=[message.pk])

    lines = json_lines(output)
    for line in lines:
        assert {"time", "level", "logger", "message", "request_id", "tenant"} <= set(line)
        assert {"tenant_type", "user_role", "task_id"} <= set(line)
    access = [line for line in lines if line["logger"] == "kitaportal.request"]
    last = next(line for line in access if line["request_id"] == response["X-Request-ID"])
    assert last["tenant"] == "bochum" and last["tenant_type"] == "municipality"
    assert last["user_role"] == "parent" and last["view"] == "my-applications"
    assert last["status"] == 200 and last["method"] == "GET" and last["duration_ms"] >= 0
    assert "path" not in last, "paths may hold tokens (the verification link does)"
    in_task = [line for line in lines if line["logger"] == "tenants.common.services"]
    assert in_task and {line["task_id"] for line in in_task} >= {result.id}
    assert in_task[0]["message"] == "outbox delivery failed: ConnectionRefusedError"
    assert in_task[0]["tenant"] == "bochum"


def test_the_request_id_of_the_proxy_is_kept_and_a_bad_one_replaced(city, logs):
    records, output = logs
    kept = client_for(city).get("/", HTTP_X_REQUEST_ID="caddy-3f2a9c1e-77aa")
    assert kept["X-Request-ID"] == "caddy-3f2a9c1e-77aa"
    replaced = client_for(city).get("/", HTTP_X_REQUEST_ID="<script>")
    assert replaced["X-Request-ID"] != "<script>" and len(replaced["X-Request-ID"]) == 32
    ids = {line["request_id"] for line in json_lines(output)}
    assert {"caddy-3f2a9c1e-77aa", replaced["X-Request-ID"]} <= ids


def test_an_unknown_host_is_logged_without_a_tenant(tenant_registry, db, logs):
    records, output = logs
    response = Client(HTTP_HOST="gibt-es-nicht.localhost").get("/")
    assert response.status_code == 404
    (line,) = [line for line in json_lines(output) if line["logger"] == "kitaportal.request"]
    assert line["status"] == 404 and line["view"] == "" and line["tenant"] == "platform"


def test_personal_data_that_slips_into_a_line_is_masked(logs):
    records, output = logs
    logger = logging.getLogger("kitaportal.test")
    logger.warning("could not reach %s", EMAIL, extra={"guardian_name": "Henrietta", "count": 2})
    try:
        raise ValueError(f"duplicate key (email)=({EMAIL}) born {BIRTH:%d.%m.%Y}")
    except ValueError:
        logger.exception("saving failed")
    first, second = json_lines(output)
    assert first["message"] == "could not reach [Filtered]"
    assert first["guardian_name"] == "[Filtered]" and first["count"] == 2
    assert EMAIL not in second["exc_info"] and "[Filtered]" in second["exc_info"]
    assert BIRTH.strftime("%d.%m.%Y") not in second["exc_info"]


def test_celery_keeps_django_s_logging_configuration():
    assert signals.setup_logging.has_listeners(), "a receiver stops Celery's own set-up"
