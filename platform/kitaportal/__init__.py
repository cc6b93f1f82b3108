"""The Django project package of kitaportal (installed from platform/kitaportal)."""

from .celery import app as celery_app

__all__ = ["celery_app"]
