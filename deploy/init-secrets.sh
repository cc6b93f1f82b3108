#!/bin/sh
# Creates the secrets compose.yaml mounts, as random values in deploy/secrets/ (once: files
# that exist are kept, so running it again changes nothing).
#   django_secret_key   Django's SECRET_KEY
#   postgres_password   the database password (PostgreSQL reads it at its first start)
#   database_url        DATABASE_URL with that password, for web, worker, beat and migrate
#   metrics_token       bearer token Prometheus sends to web:8000/metrics
#   email_host_password the SMTP password: created EMPTY, put yours in (or leave it empty
#                       for a relay without authentication)
# The folder is readable by you only; the files themselves are world-readable because the
# containers run as other users (kitaportal 10001, postgres 999) and see only their own files.
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
chmod 0700 secrets

random_value() {
    head -c 96 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c "$1"
}

write_once() {
    if [ ! -s "secrets/$1" ]; then
        printf '%s\n' "$2" > "secrets/$1"
        echo "created secrets/$1"
    fi
    chmod 0444 "secrets/$1"
}

write_once django_secret_key "$(random_value 64)"
write_once postgres_password "$(random_value 40)"
write_once metrics_token "$(random_value 40)"
password=$(cat secrets/postgres_password)
write_once database_url "postgresql://kitaportal:${password}@postgres:5432/kitaportal"
if [ ! -e secrets/email_host_password ]; then
    : > secrets/email_host_password
    echo "created secrets/email_host_password (empty: put the SMTP password in, if any)"
fi
chmod 0444 secrets/email_host_password
