"""The image's Dockerfile, entry point and health check, checked against the code without a
Docker engine: every file it copies exists, every role runs a command that exists, the build's
collectstatic works, and the web role serves the app through gunicorn with production
settings."""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from tests.deploy.helpers import (
    DOCKER,
    ENTRYPOINT,
    HEALTHCHECK,
    IMAGE_BIN,
    REPO,
    dockerfile_instructions,
    entrypoint_roles,
    final_stage,
    load_healthcheck,
    module_exists,
)

VENV_BIN = Path(sys.executable).parent


def instructions(keyword: str, stage=None) -> list[str]:
    return [rest for kw, rest in (stage or dockerfile_instructions()) if kw == keyword]


def test_the_image_is_built_in_stages_on_a_slim_base():
    froms = instructions("FROM")
    assert len(froms) >= 2, "a build stage and a runtime stage"
    args = dict(arg.split("=", 1) for arg in instructions("ARG"))
    base = args["PYTHON_IMAGE"]
    assert base.startswith("python:3.11") and "slim" in base
    assert froms[-1].startswith("${PYTHON_IMAGE} AS runtime")
    runtime = final_stage(dockerfile_instructions())
    copies_from_build = [rest for kw, rest in runtime if kw == "COPY" and "--from=build" in rest]
    assert any("/opt/venv" in rest for rest in copies_from_build)


def test_the_image_runs_as_a_non_root_user():
    runtime = final_stage(dockerfile_instructions())
    users = instructions("USER", runtime)
    assert users, "the runtime stage sets a USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0, "numeric, so Kubernetes can check runAsNonRoot"
    assert gid.isdigit() and int(gid) > 0


def test_every_file_the_dockerfile_copies_from_the_repository_exists():
    for rest in instructions("COPY"):
        if rest.startswith("--from="):
            continue
        *sources, _destination = shlex.split(rest)
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: missing in the build context"


def test_the_entry_point_and_health_check_are_copied_where_the_image_runs_them():
    entrypoint = json.loads(instructions("ENTRYPOINT")[-1])
    healthcheck = instructions("HEALTHCHECK")[-1]
    command = json.loads(healthcheck.split("CMD", 1)[1].strip())
    copied = {
        f"{IMAGE_BIN}/{Path(source).name}": REPO / source
        for rest in instructions("COPY")
        if IMAGE_BIN in rest
        for source in shlex.split(rest)[:-1]
    }
    assert entrypoint == [f"{IMAGE_BIN}/entrypoint.sh"]
    assert copied[entrypoint[0]] == ENTRYPOINT
    assert command[0] == "python" and copied[command[1]] == HEALTHCHECK
    assert os.access(ENTRYPOINT, os.X_OK) and os.access(HEALTHCHECK, os.X_OK)
    assert subprocess.run(["sh", "-n", str(ENTRYPOINT)]).returncode == 0
    assert f"{IMAGE_BIN}/gunicorn.conf.py" in copied, "the web role's --config"
    assert json.loads(instructions("CMD")[-1]) == ["web"]


def test_every_entry_point_role_runs_a_command_that_exists():
    from celery.utils.imports import symbol_by_name
    from django.core.management import get_commands
    from tenant_schemas_celery.app import CeleryApp
    from tenant_schemas_celery.scheduler import TenantAwareScheduler

    roles = entrypoint_roles()
    assert set(roles) == {"web", "worker", "beat", "migrate", "manage"}
    for words in roles.values():
        assert (VENV_BIN / words[0]).exists(), f"{words[0]} is installed"

    web = roles["web"]
    module, _, attribute = web[1].partition(":")
    assert module_exists(module) and attribute == "application"
    assert web[web.index("--config") + 1] == "$BIN_DIR/gunicorn.conf.py"

    for role in ("worker", "beat"):
        words = roles[role]
        app = words[words.index("-A") + 1]
        assert isinstance(symbol_by_name(f"{app}.celery:app"), CeleryApp)
    beat = roles["beat"]
    assert symbol_by_name(beat[beat.index("--scheduler") + 1]) is TenantAwareScheduler

    assert roles["migrate"][:2] == ["kitaportal", "migrate"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["kitaportal"] == "kitaportal.cli:main"
    assert "migrate_all" in get_commands(), "`kitaportal migrate` runs migrate_all"
    assert {"tenants", "load_demo"} <= set(get_commands())


def test_the_settings_module_of_the_image_exists():
    env = " ".join(instructions("ENV", final_stage(dockerfile_instructions())))
    settings_module = re.search(r"DJANGO_SETTINGS_MODULE=(\S+)", env).group(1)
    assert settings_module == "kitaportal.settings.production"
    assert module_exists(settings_module)


def test_translations_and_static_files_are_prepared_at_build_time():
    runs = " ".join(instructions("RUN"))
    assert "compilemessages" in runs
    assert "collectstatic --noinput" in runs
    assert (REPO / "platform/kitaportal/locale").is_dir()


def test_no_secret_is_baked_into_the_image():
    for keyword in ("ENV", "ARG", "LABEL"):
        for rest in instructions(keyword):
            assert not re.search(r"(SECRET|PASSWORD|TOKEN|DSN)\w*=", rest, re.IGNORECASE), rest
    # The only secret-looking value is the placeholder that lets collectstatic load the
    # production settings, inside one RUN; it says what it is.
    collect = next(rest for rest in instructions("RUN") if "collectstatic" in rest)
    assert "DJANGO_SECRET_KEY=collectstatic-only-not-a-secret" in collect
    ignored = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    assert {".env", "deploy/.env", "deploy/secrets", ".git"} <= set(ignored)


def test_the_runtime_dependencies_are_pinned_by_the_lock_file():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    locked = {
        line.split("==")[0].lower(): line.split("==")[1].split(";")[0].strip()
        for line in (REPO / "requirements.lock").read_text().splitlines()
        if "==" in line and not line.startswith(("#", " "))
    }
    for requirement in project["dependencies"]:
        name, version = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+)", requirement).groups()
        assert locked[name.lower().replace("_", "-")] == version, requirement


# --- The build's collectstatic and the web role, run for real ---------------------------------


@pytest.fixture(scope="module")
def collected_static(tmp_path_factory) -> Path:
    """Run the Dockerfile's collectstatic command (its environment, its arguments)."""
    collect = next(rest for rest in instructions("RUN") if "collectstatic" in rest)
    command = collect.split("&&")[-1].split()
    assignments = dict(word.split("=", 1) for word in command if re.match(r"^[A-Z_]+=", word))
    argv = [word for word in command if not re.match(r"^[A-Z_]+=", word)]
    static_root = tmp_path_factory.mktemp("static")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))},
        **assignments,
        "STATIC_ROOT": str(static_root),
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
    }
    result = subprocess.run(argv, env=env, capture_output=True, text=True, cwd="/tmp")
    assert result.returncode == 0, result.stderr
    return static_root


def test_collectstatic_at_build_time_writes_whitenoise_s_manifest(collected_static):
    manifest = json.loads((collected_static / "staticfiles.json").read_text())
    hashed = manifest["paths"]["kitaportal/site.css"]
    assert re.match(r"kitaportal/site\.[0-9a-f]{12}\.css", hashed)
    assert (collected_static / f"{hashed}.gz").exists(), "compressed for whitenoise"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port: int, path: str, host: str, headers: dict | None = None):
    """One GET with the given Host header; redirects are returned, not followed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host, **(headers or {})})
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read().decode()
    finally:
        connection.close()


@pytest.fixture
def web_server(tenant_registry, db, collected_static, tmp_path):
    """`entrypoint.sh web` with the production settings against the test database (`db`
    makes pytest-django create it; the server reads the tenants committed by the session)."""
    from tests.worker import database_url

    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))},
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "DJANGO_SETTINGS_MODULE": "kitaportal.settings.production",
        "DJANGO_SECRET_KEY": "g" * 20 + "Zq8-x!R2vL0#nW5tY7u@kE3%jH9^aS4&dF6*gB1",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        "BASE_DOMAIN": "localhost",
        "STATIC_ROOT": str(collected_static),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "METRICS_TOKEN": "scrape-token-1234",
        "LOG_FORMAT": "json",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
    }
    log = (tmp_path / "web.log").open("w+")
    process = subprocess.Popen(
        [str(ENTRYPOINT), "web"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if get(port, "/healthz", "127.0.0.1")[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    try:
        yield port, env, tmp_path / "web.log"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_the_web_role_serves_tenants_through_gunicorn_with_production_settings(web_server):
    port, env, log_path = web_server
    host, https = "rathauskids.localhost", {"X-Forwarded-Proto": "https"}
    status, headers, body = get(port, "/", host, https)
    assert status == 200, log_path.read_text()[-3000:]
    assert "RathausKids" in body
    assert re.match(r"^[0-9a-f]{32}$", headers["X-Request-ID"])
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    static = re.search(r'href="(/static/kitaportal/site\.[0-9a-f]{12}\.css)"', body).group(1)
    assert get(port, static, host, https)[0] == 200
    # Plain HTTP through the proxy is redirected; probes on the pod address are answered.
    assert get(port, "/", host)[0] == 301
    assert get(port, "/healthz", "10.0.0.7:8000")[0] == 200

    # The Docker HEALTHCHECK's web check passes against it.
    check = subprocess.run(
        [sys.executable, str(HEALTHCHECK), "web"], env={**env, "PORT": str(port)}
    )
    assert check.returncode == 0

    # Metrics of all gunicorn workers together, behind the token.
    assert get(port, "/metrics", "127.0.0.1")[0] == 401
    status, _, metrics = get(
        port, "/metrics", "127.0.0.1", {"Authorization": "Bearer scrape-token-1234"}
    )
    assert status == 200
    assert 'view="home"' in metrics and 'tenant_type="employer"' in metrics

    # One JSON access line for the tenant request, with its request id and tenant.
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    access = [
        line
        for line in lines
        if line["logger"] == "kitaportal.request" and line["request_id"] == headers["X-Request-ID"]
    ]
    assert len(access) == 1
    assert access[0]["tenant"] == "rathauskids" and access[0]["tenant_type"] == "employer"
    assert access[0]["view"] == "home" and access[0]["status"] == 200
    assert any(line["logger"] == "gunicorn.error" for line in lines), "gunicorn logs JSON too"


def test_the_health_check_finds_the_role_of_the_container():
    healthcheck = load_healthcheck()
    python, venv = "/opt/venv/bin/python", "/opt/venv/bin"
    assert healthcheck.role_from_cmdline([python, f"{venv}/gunicorn", "x:app"]) == "web"
    worker = [python, f"{venv}/celery", "-A", "kitaportal", "worker", "--loglevel", "INFO"]
    assert healthcheck.role_from_cmdline(worker) == "worker"
    beat = [python, f"{venv}/celery", "-A", "kitaportal", "beat", "--scheduler", "x"]
    assert healthcheck.role_from_cmdline(beat) == "beat"
    assert healthcheck.role_from_cmdline([python, f"{venv}/kitaportal", "migrate"]) == "none"
    assert healthcheck.main(["unknown-role"]) == 2


def run_ready_check(database_url: str) -> subprocess.CompletedProcess:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))},
        "DJANGO_SETTINGS_MODULE": "kitaportal.settings.test",
        "DATABASE_URL": database_url,
    }
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), "ready"], env=env, capture_output=True, text=True
    )


def test_the_init_containers_ready_check_passes_on_a_migrated_database(tenant_registry, db):
    from tests.worker import database_url

    result = run_ready_check(database_url())
    assert result.returncode == 0, result.stderr


def test_the_init_containers_ready_check_fails_while_the_database_is_down(tenant_registry, db):
    from tests.worker import database_url

    down = re.sub(r":\d+/", f":{free_port()}/", database_url())
    result = run_ready_check(down)
    assert result.returncode == 1
    assert "fail: OperationalError" in result.stderr
