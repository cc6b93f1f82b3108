#!/usr/bin/env python3
"""Health check of the kitaportal image (Docker HEALTHCHECK, Kubernetes exec probes and init
containers).

    healthcheck.py [web|worker|beat|ready] [--wait SECONDS]

- web:    GET http://127.0.0.1:$PORT/healthz answers 200 (standard library only).
- worker: this container's Celery worker answers a ping (`celery inspect ping`).
- beat:   the broker answers (beat only sends; a reachable broker is what it needs).
- ready:  database, broker and migrations as /readyz checks them, in-process. With --wait,
          retries until ready or SECONDS have passed (init containers of worker and beat, so
          they never run new code against schemas that are not migrated yet).

Without a role, the role is read from PID 1's command line (the entry point execs gunicorn
or celery), so one HEALTHCHECK line serves every service. Exit status 0 means healthy.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def role_from_cmdline(argv: list[str]) -> str:
    """The role of a process, from its argument vector."""
    words = [os.path.basename(word) for word in argv]
    if any(word.startswith("gunicorn") for word in words):
        return "web"
    if "celery" in words or any(word.endswith("/celery") for word in argv):
        if "beat" in words:
            return "beat"
        if "worker" in words:
            return "worker"
    return "none"


def pid1_cmdline() -> list[str]:
    try:
        with open("/proc/1/cmdline", "rb") as handle:
            return [part.decode() for part in handle.read().split(b"\0") if part]
    except OSError:
        return []


def check_web() -> bool:
    port = os.environ.get("PORT", "8000")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def check_worker() -> bool:
    result = subprocess.run(
        [
            "celery",
            "-A",
            "kitaportal",
            "inspect",
            "ping",
            "--destination",
            f"celery@{socket.gethostname()}",
            "--timeout",
            "5",
        ],
        capture_output=True,
        timeout=30,
    )
    return result.returncode == 0


def _django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kitaportal.settings.production")
    import django

    django.setup()


def check_beat() -> bool:
    _django()
    from kitaportal.health import check_broker

    try:
        check_broker()
    except Exception:
        return False
    return True


def check_ready() -> bool:
    _django()
    from kitaportal.health import readiness

    ready, body = readiness()
    if not ready:
        print(body["checks"], file=sys.stderr)
    return ready


CHECKS = {"web": check_web, "worker": check_worker, "beat": check_beat, "ready": check_ready}


def main(argv: list[str] | None = None) -> int:
    # A check is a short-lived process: it must not leave metric files behind.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    args = list(sys.argv[1:] if argv is None else argv)
    wait = 0.0
    if "--wait" in args:
        index = args.index("--wait")
        wait = float(args[index + 1])
        del args[index : index + 2]
    role = args[0] if args else role_from_cmdline(pid1_cmdline())
    if role == "none":
        return 0  # a one-off command (migrate, manage): nothing long-running to check
    if role not in CHECKS:
        print(f"unknown role {role!r}; expected one of {', '.join(CHECKS)}", file=sys.stderr)
        return 2
    deadline = time.monotonic() + wait
    while True:
        if CHECKS[role]():
            return 0
        if time.monotonic() >= deadline:
            return 1
        time.sleep(2)


if __name__ == "__main__":
    raise SystemExit(main())
