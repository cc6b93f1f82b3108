"""Settings for `make test`: a real PostgreSQL (embedded unless DATABASE_URL is set)."""

from .dev import *  # noqa: F403
from .dev import DATA_DIR, env

DEBUG = False
SECRET_KEY = "test-only-key"
DEMO_MODE = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = DATA_DIR / "test-media"
WHITENOISE_AUTOREFRESH = True
LOGGING_LEVEL = env("LOG_LEVEL", "WARNING")
