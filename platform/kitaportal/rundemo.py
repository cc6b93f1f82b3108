"""Serve the demo: Django's web server plus a real Celery worker (with beat).

Ctrl-C stops both, and the embedded PostgreSQL if this demo uses it.
"""

import os
import signal
import subprocess
import sys
import time

from kitaportal import embedded

# Beat fans periodic tasks out per tenant, as in production (deploy/docker/entrypoint.sh); the
# platform's own entries carry "tenant_schemas": ["public"], which Celery's stock scheduler
# refuses.
SCHEDULER = "tenant_schemas_celery.scheduler:TenantAwareScheduler"


def worker_command(bindir: str) -> list[str]:
    """A real Celery worker with embedded, tenant-aware beat (one process: --pool=solo)."""
    return [
        os.path.join(bindir, "celery"),
        "-A",
        "kitaportal",
        "worker",
        "-B",
        "--scheduler",
        SCHEDULER,
        "--pool=solo",
        "--loglevel=INFO",
        "-s",
        str(embedded.DATA / "celerybeat-schedule"),
    ]


def main() -> int:
    port = os.environ.get("PORTAL_PORT", "8000")
    base = os.environ.get("BASE_DOMAIN", "localhost")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "kitaportal.settings.dev"}
    bindir = os.path.dirname(sys.executable)
    worker = subprocess.Popen(worker_command(bindir), env=env)
    web = subprocess.Popen(
        [os.path.join(bindir, "kitaportal"), "runserver", f"0.0.0.0:{port}", "--noreload"], env=env
    )
    print(
        f"\nKitaportal läuft / is running:\n  http://{base}:{port}/admin/  (Plattform)\n"
        f"  http://bochum.{base}:{port}/\n  http://kreis-dueren.{base}:{port}/\n"
        f"  http://rathauskids.{base}:{port}/\n  http://kreismaeuse.{base}:{port}/\n"
        "Strg-C beendet alles / Ctrl-C stops everything.\n",
        flush=True,
    )
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and web.poll() is None and worker.poll() is None:
        time.sleep(0.3)
    for process in (web, worker):
        if process.poll() is None:
            process.terminate()
    for process in (web, worker):
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    if not os.environ.get("DATABASE_URL"):
        embedded.stop()
        print("Embedded PostgreSQL gestoppt / stopped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
