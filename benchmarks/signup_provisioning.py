"""Benchmark: from payment confirmation to a ready tenant, through the sign-up path.

    .venv/bin/python benchmarks/signup_provisioning.py [--runs N] [--keep]

Works in a database of its own (``kitaportal_bench_signup``), created and dropped on the
server of DATABASE_URL or on the embedded server, like ``tenant_provisioning.py``. Stripe is
the local test double (``tests/stripe_double``), the worker a real Celery process on a private
file-broker folder.

Per run: an organisation signs up through ``billing.services`` (email verified, subdomain,
plan, Checkout Session in the double), the double completes the Checkout and produces the
signed ``checkout.session.completed`` event, which is POSTed to the webhook view. That POST
is "payment confirmation"; the clock stops when the application is ``ready`` (tenant schema,
subscription, first admin and invitation committed). Measured two ways:

- ``worker``: the webhook queues ``billing.tasks.provision_signup``; the Celery worker runs it
  (what production does). Wall time from the POST to the moment a poll (every 10 ms) sees
  ``ready``; also ``ready_at - confirmed_at`` as stored. The first run (worker boot + first task) is
  reported separately.
- ``inline``: ``billing.services.provision_signup`` called in this process right after the
  confirmation (no broker), i.e. the provisioning work itself.

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tenant_provisioning import NAME_RE, BenchDatabase, say, server_url, verdict

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 2.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="sign-ups per mode (default 5)")
    parser.add_argument("--db-name", default="kitaportal_bench_signup")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--boot-wait",
        type=float,
        default=0,
        help="seconds to wait after starting the worker, so the cold run is its first task only",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not NAME_RE.match(args.db_name) or args.db_name in {"kitaportal", "postgres"}:
        parser.error(f"refusing database name {args.db_name!r}")
    return args


def sign_up(double, slug: str):
    from billing import services

    application = services.start_signup(
        tenant_type="municipality",
        organisation_name=f"Stadt {slug}",
        email=f"it@{slug}.example.org",
        language="de",
        base_url="http://localhost:8000",
    )
    services.verify_signup_email(services.verification_token(application))
    application.refresh_from_db()
    services.choose_subdomain(application, slug)
    services.choose_plan(application, plan_code="kommune-s", payment_route="checkout")
    services.start_payment(
        application,
        success_url="http://localhost:8000/ok?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://localhost:8000/",
    )
    application.refresh_from_db()
    double.complete_checkout(application.stripe_checkout_session_id)
    return application, double.events[-1]


def confirm(client, double, event) -> None:
    payload = json.dumps(event)
    response = client.post(
        "/stripe/webhook/",
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=double.sign(payload),
    )
    if response.content != b"signup_confirmed":
        raise SystemExit(f"webhook answered {response.status_code} {response.content!r}")


def wait_ready(application_id, timeout: float = 60.0) -> float:
    from billing.models import SignupApplication

    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        status = SignupApplication.objects.filter(pk=application_id).values_list(
            "status", flat=True
        )[0]
        if status == "ready":
            return time.perf_counter()
        time.sleep(0.01)
    raise SystemExit(f"sign-up {application_id} not ready after {timeout:.0f} s")


def run(args, double, broker_dir: str, figures: dict) -> None:
    from billing import services
    from billing.models import SignupApplication
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from tests.worker import celery_worker

    started = time.perf_counter()
    call_command("migrate_all", verbosity=0)
    connection.set_schema_to_public()
    say("setup", f"kitaportal migrate: {time.perf_counter() - started:.1f} s")
    client = Client(HTTP_HOST="localhost")

    inline = []
    queue = services._queue_provisioning
    services._queue_provisioning = lambda _id: None  # this mode: no broker
    for i in range(args.runs):
        application, event = sign_up(double, f"inline-{i}")
        t0 = time.perf_counter()
        confirm(client, double, event)
        services.provision_signup(application.pk)
        inline.append(time.perf_counter() - t0)
    say("inline", " ".join(f"{s:.3f}" for s in inline) + " s")

    services._queue_provisioning = queue
    worker_env = {
        "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"],
        "KITAPORTAL_TEST_BROKER_DIR": broker_dir,
    }
    walls, stored = [], []
    with celery_worker(worker_env):
        if args.boot_wait:
            time.sleep(args.boot_wait)  # let the worker finish booting: measure its first task
        for i in range(args.runs + 1):
            application, event = sign_up(double, f"worker-{i}")
            t0 = time.perf_counter()
            confirm(client, double, event)
            t1 = wait_ready(application.pk, timeout=120 if i == 0 else 60)
            done = SignupApplication.objects.get(pk=application.pk)
            if i == 0:
                figures["worker_cold_s"] = round(t1 - t0, 3)
                what = "first task of a booted worker" if args.boot_wait else "boot + first task"
                say("worker", f"cold ({what}): {t1 - t0:.3f} s")
                continue
            walls.append(t1 - t0)
            stored.append(done.provisioning_seconds)
    say("worker", " ".join(f"{s:.3f}" for s in walls) + " s (POST → poll sees ready)")
    figures.update(
        signup_confirm_to_ready_s=round(statistics.median(walls), 3),
        signup_confirm_to_ready_max_s=round(max(walls), 3),
        signup_confirm_to_ready_stored_s=round(statistics.median(stored), 3),
        signup_inline_provision_s=round(statistics.median(inline), 3),
        runs=args.runs,
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.path.insert(0, str(REPO))
    database = BenchDatabase(server_url(), args.db_name)
    database.create()
    say("database", f"{args.db_name} created")
    say("machine", f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start")
    from tests.stripe_double import StripeDouble

    double = StripeDouble().start()
    broker_dir = tempfile.mkdtemp(prefix="kitaportal-bench-broker-")
    os.environ.update(
        DATABASE_URL=database.url,
        DJANGO_SETTINGS_MODULE="kitaportal.settings.test",
        KITAPORTAL_TEST_BROKER_DIR=broker_dir,
        STRIPE_SECRET_KEY="sk_test_double",
        STRIPE_WEBHOOK_SECRET=double.webhook_secret,
        STRIPE_API_BASE=double.url,
    )
    figures: dict = {}
    status = 0
    try:
        import django

        django.setup()
        run(args, double, broker_dir, figures)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr, flush=True)
        status = 130
    finally:
        double.stop()
        if args.keep:
            say("database", f"{args.db_name} kept ({database.url})")
        else:
            database.drop()
            say("database", f"{args.db_name} dropped")
    if status:
        return status
    median = figures["signup_confirm_to_ready_s"]
    say(
        "target",
        f"payment confirmation → ready tenant (worker, median of {args.runs}): {median:.2f} s "
        f"< {TARGET_S:.0f} s: {verdict(median < TARGET_S)}",
    )
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
