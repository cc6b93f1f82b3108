"""Sentry events carry the tenant tag and no personal data."""

import json
from io import BytesIO

import pytest
import sentry_sdk
from django.contrib.auth.forms import AuthenticationForm
from django.test import RequestFactory
from sentry_sdk.transport import Transport

from integrations.sentry import init_sentry, scrub_event

CHILD_FIRST, CHILD_LAST = "Mialotta", "Musterfrau"
EMAIL = "mialotta.eltern@example.org"
BIRTH_ISO, BIRTH_DE = "2023-04-05", "05.04.2023"
CSRF = "a" * 32
PERSONAL = [CHILD_FIRST, CHILD_LAST, EMAIL, BIRTH_ISO, BIRTH_DE, "0234 5556677"]


class CapturingTransport(Transport):
    def __init__(self, options=None):
        super().__init__(options)
        self.events = []

    def capture_envelope(self, envelope):
        for item in envelope.items:
            if item.type in ("event", "transaction"):
                self.events.append(item.payload.json)


@pytest.fixture
def sentry_events():
    transport = CapturingTransport()
    init_sentry("https://public@sentry.example/1", environment="test", transport=transport)
    yield transport.events
    sentry_sdk.get_client().close()
    sentry_sdk.init(dsn=None)


def wsgi_call(app, request):
    """Call the real WSGI handler (which Sentry instruments), keeping the test's connection open."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        return _wsgi_call(app, request)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _wsgi_call(app, request):
    status = {}

    def start_response(code, headers, exc_info=None):
        status["code"] = int(code.split()[0])

    body = b"".join(app(request.environ, start_response))
    return status["code"], body


def test_an_error_during_a_bochum_request_reaches_sentry_tagged_and_without_personal_data(
    city, sentry_events, monkeypatch
):
    from kitaportal.wsgi import application

    def failing_clean(self):
        raise RuntimeError(f"Anmeldung fehlgeschlagen für {EMAIL}, Kind geboren {BIRTH_DE}")

    monkeypatch.setattr(AuthenticationForm, "clean", failing_clean)
    payload = (
        f"username={EMAIL}&password=geheim&child_first_name={CHILD_FIRST}"
        f"&child_last_name={CHILD_LAST}&birth_date={BIRTH_ISO}&phone=0234+5556677"
    ).encode()
    request = RequestFactory().post(
        f"/konto/anmelden/?email={EMAIL}",
        data=payload,
        content_type="application/x-www-form-urlencoded",
        HTTP_HOST=city.hostname,
        HTTP_COOKIE=f"csrftoken={CSRF}; email={EMAIL}",
        HTTP_X_CSRFTOKEN=CSRF,
    )
    request.environ["wsgi.input"] = BytesIO(payload)
    code, _ = wsgi_call(application, request)
    assert code == 500
    sentry_sdk.flush()
    assert sentry_events, "the error was reported"
    event = sentry_events[-1]
    serialized = json.dumps(event, ensure_ascii=False)
    for value in PERSONAL:
        assert value not in serialized, f"{value!r} leaked into the Sentry event"
    assert event["tags"]["tenant"] == "bochum"
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"


def test_a_logged_error_with_personal_data_is_scrubbed(sentry_events):
    import logging

    logging.getLogger("registrations").error(
        "Voranmeldung für %s (%s) von %s",
        f"{CHILD_FIRST} {CHILD_LAST}",
        BIRTH_ISO,
        EMAIL,
        extra={"child_name": CHILD_FIRST, "guardian_email": EMAIL},
    )
    sentry_sdk.flush()
    serialized = json.dumps(sentry_events, ensure_ascii=False)
    assert sentry_events
    for value in (EMAIL, BIRTH_ISO):
        assert value not in serialized


def test_the_scrubber_masks_personal_keys_anywhere_in_an_event():
    event = {
        "extra": {"child": {"first_name": "Mia"}, "count": 3, "note": "Allergie"},
        "user": {"id": 7, "email": EMAIL, "username": EMAIL},
        "request": {
            "data": {"name": "Mia"},
            "cookies": {"sessionid": "x"},
            "headers": {"Cookie": "x", "Host": "bochum.localhost"},
        },
        "exception": {
            "values": [
                {
                    "value": f"mail {EMAIL} am {BIRTH_DE}",
                    "stacktrace": {"frames": [{"vars": {"name": "Mia"}}]},
                }
            ]
        },
    }
    scrubbed = json.dumps(scrub_event(event), ensure_ascii=False)
    for value in ("Mia", EMAIL, BIRTH_DE, "Allergie"):
        assert value not in scrubbed
    assert '"count": 3' in scrubbed
    assert '"id": 7' in scrubbed
    assert "bochum.localhost" in scrubbed


def test_without_a_dsn_sentry_stays_off():
    assert init_sentry(None) is False
