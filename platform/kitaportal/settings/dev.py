"""Settings for `make demo` and local work. Falls back to the embedded defaults."""

from kitaportal import embedded

from .base import *  # noqa: F403
from .base import DATA_DIR, DATABASE_URL, database_config, env, filesystem_broker  # noqa: F401

DEBUG = env("DJANGO_DEBUG", "1") == "1"
SECRET_KEY = env("DJANGO_SECRET_KEY", "dev-only-insecure-key-kitaportal")  # dev only
DEMO_MODE = True

DATABASES = {"default": database_config(DATABASE_URL or embedded.database_url())}

CELERY_BROKER_URL = env("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker(DATA_DIR / "broker")

EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = str(DATA_DIR / "mail")

# Facility finder: distance sort provider (integrations.geocoder).
GEOCODER = env("GEOCODER", "centroids")
