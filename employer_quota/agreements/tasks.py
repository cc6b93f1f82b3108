"""Public-schema upkeep: releases under the release rule, purge of old codes and attempts."""

from django.db import connection
from kitaportal.celery import app

from . import services


@app.task
def apply_agreement_releases() -> int:
    if connection.schema_name != "public":
        return 0  # fanned out per tenant: only the public run does the work
    released = services.apply_releases()
    services.purge_expired()
    return len(released)
