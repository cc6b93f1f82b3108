"""Periodic upkeep of eligibilities (fanned out per municipality) and of releases."""

from django.db import connection
from kitaportal.celery import app

from . import services


@app.task
def sync_employer_eligibilities() -> dict:
    if getattr(connection.tenant, "type", "") != "municipality":
        return {}
    return services.sync_eligibilities()
