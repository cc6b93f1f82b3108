"""Settings shared by every environment. Everything configurable comes from the environment."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = PACKAGE_DIR.parents[1]
DATA_DIR = Path(os.environ.get("KITAPORTAL_DATA_DIR", REPO_DIR / ".data"))


def env(name: str, default: str | None = None) -> str | None:
    """Read a variable, or the file named by NAME_FILE (Docker/Kubernetes secrets)."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]


def require(name: str) -> str:
    value = env(name)
    if not value:
        raise ImproperlyConfigured(f"The environment variable {name} is required.")
    return value


DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")

# Tenants are found by host: <slug>.<BASE_DOMAIN>; the platform lives on BASE_DOMAIN itself.
BASE_DOMAIN = env("BASE_DOMAIN", "localhost")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or [BASE_DOMAIN, f".{BASE_DOMAIN}"]
PORTAL_SCHEME = env("PORTAL_SCHEME", "http")
PORTAL_PORT = env("PORTAL_PORT", "8000")

# --- Tenancy (django-tenants, multi-type) -----------------------------------------------
COMMON_TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "tenants.accounts",
    "tenants.common",
]

TENANT_TYPES = {
    "public": {
        "APPS": [
            "django_tenants",
            *COMMON_TENANT_APPS,
            "django.contrib.admin",
            "django.contrib.staticfiles",
            "django_filters",
            "rest_framework",
            "tenants",
            "billing",
            # employer <-> municipality: agreements, codes, claims (ids, counts, money)
            "employer_quota.agreements",
            "django_prometheus",
            # the project package as an app, so collectstatic finds kitaportal/static/
            "kitaportal",
        ],
        "URLCONF": "kitaportal.urls_public",
    },
    "municipality": {
        "APPS": [*COMMON_TENANT_APPS, "registrations", "onboarding", "employer_quota.municipal"],
        "URLCONF": "kitaportal.urls_municipality",
        "BASE_SCHEMA": "template_municipality",
    },
    "employer": {
        "APPS": [*COMMON_TENANT_APPS, "employer_quota"],
        "URLCONF": "kitaportal.urls_employer",
        "BASE_SCHEMA": "template_employer",
    },
}
HAS_MULTI_TYPE_TENANTS = True
MULTI_TYPE_DATABASE_FIELD = "type"
TENANT_CREATION_FAKES_MIGRATIONS = True
TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
# Set search_path once per tenant switch instead of before every cursor.
TENANT_LIMIT_SET_CALLS = True

INSTALLED_APPS: list[str] = []
for _config in TENANT_TYPES.values():
    INSTALLED_APPS += [app for app in _config["APPS"] if app not in INSTALLED_APPS]

DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)

MIDDLEWARE = [
    # /healthz, /readyz, /metrics on every host, before tenant resolution (kitaportal.health)
    "kitaportal.health.HealthMiddleware",
    # request id, access line, request metrics (kitaportal.observability)
    "kitaportal.observability.RequestContextMiddleware",
    "kitaportal.observability.MetricsBeforeMiddleware",
    "kitaportal.middleware.TenantMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # staff read-only while a tenant's subscription is suspended or cancelled
    "billing.middleware.SubscriptionStateMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "kitaportal.observability.MetricsAfterMiddleware",
]

ROOT_URLCONF = "kitaportal.urls_public"
WSGI_APPLICATION = "kitaportal.wsgi.application"
ASGI_APPLICATION = "kitaportal.asgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kitaportal.context_processors.portal",
                "billing.context_processors.billing",
                "onboarding.context_processors.portal_setup",
            ],
        },
    }
]

# Django's form renderer, with <input> and <textarea> written in Python (same markup).
FORM_RENDERER = "kitaportal.renderers.FastWidgetRenderer"

# --- Database -----------------------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL")


def database_config(url: str) -> dict:
    config = dj_database_url.parse(url, conn_max_age=int(env("DB_CONN_MAX_AGE", "0") or 0))
    config["ENGINE"] = "django_tenants.postgresql_backend"
    # No server-side cursors (they would break behind a transaction-mode pooler). Note: the
    # tenant's search_path is set per session, so PgBouncer must run in SESSION mode for now
    # (see platform/docs/scaling.md).
    config["DISABLE_SERVER_SIDE_CURSORS"] = True
    config.setdefault("TEST", {})
    if env("DATABASE_TEST_NAME"):
        config["TEST"]["NAME"] = env("DATABASE_TEST_NAME")
    return config


DATABASES: dict = {}  # filled by each environment's settings module
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth & sessions: cookies stay host-only so a login never crosses tenants ------------
SESSION_COOKIE_DOMAIN = None
CSRF_COOKIE_DOMAIN = None
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 60 * 60 * 8
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Language: German first, English complete --------------------------------------------
LANGUAGE_CODE = "de"
LANGUAGES = [("de", _("Deutsch")), ("en", _("Englisch"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = "Europe/Berlin"
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(REPO_DIR / "staticfiles")))
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "/media/"
# Each tenant's uploads in MEDIA_ROOT/<schema>/ (kitaportal.storage), served on its host only.
MULTITENANT_RELATIVE_MEDIA_ROOT = "%s"
STORAGES = {
    "default": {"BACKEND": "kitaportal.storage.TenantMediaStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Celery (tenant-aware through tenant-schemas-celery) ----------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "flush-outbox": {"task": "tenants.common.tasks.flush_outbox", "schedule": 60.0},
    # platform-wide (public schema only; TenantAwareScheduler would fan them out otherwise)
    "billing-retry-signups": {
        "task": "billing.tasks.retry_stuck_signups",
        "schedule": 120.0,
        "tenant_schemas": ["public"],
    },
    "billing-housekeeping": {
        "task": "billing.tasks.housekeeping",
        "schedule": 3600.0,
        "tenant_schemas": ["public"],
    },
    "agreement-releases": {
        "task": "employer_quota.agreements.tasks.apply_agreement_releases",
        "schedule": 3600.0,
    },
    "employer-eligibilities": {
        "task": "employer_quota.municipal.tasks.sync_employer_eligibilities",
        "schedule": 900.0,
    },
    "employer-housekeeping": {
        "task": "employer_quota.tasks.employer_housekeeping",
        "schedule": 3600.0,
    },
    "expire-offers": {"task": "registrations.tasks.expire_offers", "schedule": 600.0},
    "offer-reminders": {"task": "registrations.tasks.send_offer_reminders", "schedule": 3600.0},
}


def filesystem_broker(base: Path) -> dict:
    for sub in ("out", "processed", "control"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(base / "out"),
        "data_folder_out": str(base / "out"),
        "processed_folder": str(base / "processed"),
        "control_folder": str(base / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }


CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}

# --- Email --------------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "25") or 25)
# Authenticated submission (port 587 with STARTTLS, or 465 with implicit TLS); the password
# may come from a secret file (EMAIL_HOST_PASSWORD_FILE).
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "") or ""
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = int(env("EMAIL_TIMEOUT", "30") or 30)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL exclude each other.")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Kitaportal <noreply@kitaportal.example>")

# --- Sentry -------------------------------------------------------------------------------
SENTRY_DSN = env("SENTRY_DSN")
SENTRY_ENVIRONMENT = env("SENTRY_ENVIRONMENT", "development")
SENTRY_RELEASE = env("SENTRY_RELEASE")

# --- Stripe (integrations.stripe; billing) -------------------------------------------------
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET")
# Another API server (the test double in tests/); unset in production.
STRIPE_API_BASE = env("STRIPE_API_BASE")
# Days an invoice-paying public body has to pay; days a cancelled tenant's data is kept.
BILLING_INVOICE_DAYS_UNTIL_DUE = int(env("BILLING_INVOICE_DAYS_UNTIL_DUE", "30") or 30)
BILLING_RETENTION_DAYS = int(env("BILLING_RETENTION_DAYS", "90") or 90)
# The platform operator as seller on e-invoices (XRechnung).
SELLER_NAME = env("SELLER_NAME", "Kitaportal GmbH")
SELLER_STREET = env("SELLER_STREET", "Musterstraße 1")
SELLER_POSTCODE = env("SELLER_POSTCODE", "44787")
SELLER_CITY = env("SELLER_CITY", "Bochum")
SELLER_VAT_ID = env("SELLER_VAT_ID", "DE123456789")
SELLER_EMAIL = env("SELLER_EMAIL", "rechnung@kitaportal.example")
# The live demo the platform site links to.
DEMO_TENANT_SLUG = env("DEMO_TENANT_SLUG", "bochum")

# --- Logging: no personal data; request id, tenant, role and task id on every line ----------
# LOG_FORMAT=json (one JSON object per line) or plain; default: plain on a terminal, else json.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "kitaportal.observability.ContextFilter"}},
    "formatters": {
        "json": {"()": "kitaportal.observability.JsonFormatter"},
        "plain": {"()": "kitaportal.observability.PlainFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            "formatter": env("LOG_FORMAT") or ("plain" if os.isatty(2) else "json"),
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # 4xx warnings name the path (which may hold a token); the access line has the status.
        "django.request": {"level": "ERROR"},
    },
}

# --- Tenant provisioning ------------------------------------------------------------------
RESERVED_SLUGS = frozenset({"www", "api", "admin", "static", "media", "public", "platform", "mail"})

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

DEMO_MODE = False
