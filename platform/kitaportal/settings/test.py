"""Settings for `make test`: a real PostgreSQL (embedded unless DATABASE_URL is set)."""

from pathlib import Path

from .dev import *  # noqa: F403
from .dev import CELERY_BROKER_URL, DATA_DIR, env, filesystem_broker

DEBUG = False
SECRET_KEY = "test-only-key"
DEMO_MODE = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", str(DATA_DIR / "test-mail"))

# A broker folder of its own, so a running demo worker never takes test tasks; one per test
# database, so runs side by side (DATABASE_TEST_NAME=test_x) never take each other's tasks.
if CELERY_BROKER_URL.startswith("filesystem://"):
    _suffix = env("DATABASE_TEST_NAME", "") or ""
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker(
        Path(
            env("KITAPORTAL_TEST_BROKER_DIR", "")
            or str(DATA_DIR / ("test-broker" + (f"-{_suffix}" if _suffix else "")))
        )
    )
STORAGES = {
    "default": {"BACKEND": "kitaportal.storage.TenantMediaStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = DATA_DIR / "test-media"
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

GEOCODER = "centroids"  # offline: tests make no network calls
