"""gunicorn settings for the web role (`entrypoint.sh web`). Every value can be overridden by
an environment variable, so one image fits a small host and a large pod."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 25
keepalive = 5
# Recycle workers now and then (memory growth), staggered so they do not restart together.
# Not too often: a worker keeps the portal's rendered public pages per data version
# (registrations/finder.py, bounded), and a new worker renders them again.
max_requests = 10000
max_requests_jitter = 1000
# Heartbeat files in memory: works with a read-only root file system.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# Only the reverse proxy (Caddy, the ingress controller) can reach this port, so its
# X-Forwarded-Proto is trusted.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")

# Django writes one structured access line per request (URL name, status, duration, request
# id; no path, query string or client address), so gunicorn's own access log stays off.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "INFO").lower()
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "kitaportal.observability.JsonFormatter"},
        "plain": {"()": "kitaportal.observability.PlainFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": os.environ.get("LOG_FORMAT", "json"),
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": loglevel.upper(), "propagate": False}
    },
}


def child_exit(server, worker):
    """Forget a dead worker's live gauges (prometheus_client multi-process mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
