"""Configuration comes from the environment; production has no secret defaults."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "kitaportal.settings.production",
    "DJANGO_SECRET_KEY": "p" * 20 + "Zq8-x!R2vL0#nW5tY7u@kE3%jH9^aS4&dF6*gB1",
    "DATABASE_URL": "postgresql://kitaportal@db.internal:5432/kitaportal",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "BASE_DOMAIN": "kitaportal.example",
}


def run_manage(*args, env):
    # a production process never runs with the browser tests' async-unsafe switch
    unwanted = {*PRODUCTION_ENV, "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in unwanted}
    return subprocess.run(
        [sys.executable, "-m", "kitaportal.cli", *args],
        env={**clean, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_secrets_can_come_from_files(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("f" * 20 + "Zq8-x!R2vL0#nW5tY7u@kE3%jH9^aS4&dF6*gB1\n")
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}
    env["DJANGO_SECRET_KEY_FILE"] = str(secret)
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stderr


def test_the_celery_app_is_tenant_aware():
    from kitaportal.celery import app
    from tenant_schemas_celery.app import CeleryApp

    assert isinstance(app, CeleryApp)


EMAIL_KEYS = (
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS",
    "EMAIL_USE_SSL",
    "EMAIL_PORT",
)


def _production_settings(**extra) -> dict:
    """The email settings a production process gets from this environment."""
    unwanted = {*PRODUCTION_ENV, *EMAIL_KEYS, "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in unwanted}
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{k: getattr(settings, k) for k in {EMAIL_KEYS!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**clean, **PRODUCTION_ENV, **extra},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_smtp_authentication_comes_from_the_environment_and_a_secret_file(tmp_path):
    password = tmp_path / "email_host_password"
    password.write_text("s3cret-smtp\n")
    result = _production_settings(
        EMAIL_HOST_USER="portal@stadt.example",
        EMAIL_HOST_PASSWORD_FILE=str(password),
        EMAIL_USE_TLS="true",
        EMAIL_PORT="587",
    )
    assert result == {
        "EMAIL_HOST_USER": "portal@stadt.example",
        "EMAIL_HOST_PASSWORD": "s3cret-smtp",
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
        "EMAIL_PORT": 587,
    }


def test_tls_and_ssl_together_are_refused_at_start():
    with pytest.raises(subprocess.CalledProcessError) as failure:
        _production_settings(EMAIL_USE_TLS="true", EMAIL_USE_SSL="true")
    assert "exclude each other" in failure.value.stderr
