"""Production settings: every secret must come from the environment; no defaults."""

from .base import *  # noqa: F403
from .base import database_config, env, env_bool, require

DEBUG = False
SECRET_KEY = require("DJANGO_SECRET_KEY")
DATABASES = {"default": database_config(require("DATABASE_URL"))}
CELERY_BROKER_URL = require("CELERY_BROKER_URL")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "31536000") or 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
PORTAL_SCHEME = "https"
PORTAL_PORT = env("PORTAL_PORT", "")
STORAGES = {
    "default": {"BACKEND": "kitaportal.storage.TenantMediaStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Facility finder: distance sort provider (integrations.geocoder). Uploads are served by Django,
# per tenant (kitaportal.storage).
GEOCODER = env("GEOCODER", "centroids")
