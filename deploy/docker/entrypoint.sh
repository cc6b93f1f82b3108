#!/bin/sh
# Entry point of the kitaportal image. The first argument is the role:
#   web      gunicorn (gunicorn.conf.py next to this script)
#   worker   Celery worker; extra arguments go to `celery worker` (e.g. -Q default,bulk)
#   beat     Celery beat, fanning periodic tasks out to every tenant
#   migrate  `kitaportal migrate` (public schema, templates, fast rollout to all tenants)
#   manage   `kitaportal <command …>`, e.g. `manage tenants create --type … --slug … --name …`
# Anything else is executed as given (e.g. `sh`).
set -eu

BIN_DIR=$(cd "$(dirname "$0")" && pwd)

role=${1:-web}
[ "$#" -gt 0 ] && shift

# prometheus_client's multi-process mode for the long-running, multi-process roles: their
# processes share one directory, empty at start. Not for one-off commands and health checks
# (`docker exec` does not pass through here), whose files would pile up in it.
multiprocess_metrics() {
    PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-/tmp/prometheus}
    export PROMETHEUS_MULTIPROC_DIR
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
}

case "$role" in
    web)
        multiprocess_metrics
        exec gunicorn kitaportal.wsgi:application --config "$BIN_DIR/gunicorn.conf.py" "$@"
        ;;
    worker)
        multiprocess_metrics
        exec celery -A kitaportal worker \
            --loglevel "${LOG_LEVEL:-INFO}" \
            --concurrency "${CELERY_CONCURRENCY:-2}" \
            --without-gossip --without-mingle \
            "$@"
        ;;
    beat)
        exec celery -A kitaportal beat \
            --loglevel "${LOG_LEVEL:-INFO}" \
            --scheduler tenant_schemas_celery.scheduler:TenantAwareScheduler \
            "$@"
        ;;
    migrate)
        exec kitaportal migrate "$@"
        ;;
    manage)
        exec kitaportal "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
