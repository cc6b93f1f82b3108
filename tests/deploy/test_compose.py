"""deploy/compose.yaml, checked against the code without a Docker engine: every service's
image, command, environment, secrets and health check fit what the image and the code expect."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess

import pytest
import yaml

from tests.deploy.helpers import (
    DEPLOY,
    DOCKERFILE,
    HEALTHCHECK,
    IMAGE_BIN,
    REPO,
    entrypoint_roles,
    load_healthcheck,
    module_exists,
)

COMPOSE = DEPLOY / "compose.yaml"
APP_SERVICES = {"migrate", "web", "worker", "beat"}
VARIABLE_RE = re.compile(r"\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def test_the_stack_has_every_service_the_platform_needs(services):
    assert set(services) == APP_SERVICES | {"postgres", "redis", "proxy"}
    assert re.fullmatch(r"postgres:16(\.\d+)?(-[a-z]+)?", services["postgres"]["image"])
    assert re.fullmatch(r"redis:7(\.\d+)*(-[a-z]+)?", services["redis"]["image"])
    assert services["proxy"]["image"].startswith("caddy:2")


def test_web_worker_beat_and_migrate_run_the_one_image_built_from_our_dockerfile(services):
    images = {services[name]["image"] for name in APP_SERVICES}
    assert images == {"${KITAPORTAL_IMAGE:-kitaportal:latest}"}
    for name in APP_SERVICES:
        build = services[name]["build"]
        assert (COMPOSE.parent / build["context"]).resolve() == REPO
        assert (REPO / build["dockerfile"]).resolve() == DOCKERFILE


def test_each_app_service_runs_an_entry_point_role(services):
    roles = entrypoint_roles()
    for name in APP_SERVICES:
        command = services[name]["command"]
        assert command == [name], f"{name} runs the entry point's {name} role"
        assert command[0] in roles
    beat = roles["beat"]
    assert beat[beat.index("--scheduler") + 1] == (
        "tenant_schemas_celery.scheduler:TenantAwareScheduler"
    )


def test_the_app_environment_fits_the_settings(services):
    production = (REPO / "platform/kitaportal/settings/production.py").read_text()
    required = set(re.findall(r'require\("([A-Z_]+)"\)', production))
    assert required == {"DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"}
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert module_exists(env["DJANGO_SETTINGS_MODULE"])
        assert env["DJANGO_SETTINGS_MODULE"] == "kitaportal.settings.production"
        for variable in required:
            assert variable in env or f"{variable}_FILE" in env, f"{name} lacks {variable}"
        assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        # Sentry tags every event with the release (the image tag) and the environment.
        assert env["SENTRY_RELEASE"] == "${KITAPORTAL_RELEASE:-}"
        assert env["SENTRY_ENVIRONMENT"] == "${SENTRY_ENVIRONMENT:-production}"
        # No secret value in the file: secrets come as *_FILE from /run/secrets.
        for key, value in env.items():
            if re.search(r"SECRET|PASSWORD|TOKEN", key):
                assert key.endswith("_FILE") and value.startswith("/run/secrets/"), key


def test_every_secret_file_variable_points_at_a_mounted_secret(compose, services):
    declared = compose["secrets"]
    for name in APP_SERVICES | {"postgres"}:
        service = services[name]
        for key, value in service["environment"].items():
            if key.endswith("_FILE"):
                secret = value.removeprefix("/run/secrets/")
                assert secret in service["secrets"], f"{name}: {key} is not mounted"
                assert secret in declared
    for secret in declared.values():
        assert secret["file"].startswith("./secrets/")


def test_init_secrets_creates_every_secret_compose_mounts(compose, tmp_path):
    shutil.copy(DEPLOY / "init-secrets.sh", tmp_path)
    first = subprocess.run(["sh", str(tmp_path / "init-secrets.sh")], capture_output=True)
    assert first.returncode == 0, first.stderr
    values = {}
    for secret in compose["secrets"].values():
        path = tmp_path / secret["file"]
        assert path.exists(), f"{secret['file']} is created"
        assert stat.S_IMODE(path.stat().st_mode) == 0o444, "readable by the container users"
        values[path.name] = path.read_text().strip()
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    assert len(values["django_secret_key"]) >= 50
    password = values["postgres_password"]
    assert values["database_url"] == f"postgresql://kitaportal:{password}@postgres:5432/kitaportal"
    # A second run keeps what exists.
    subprocess.run(["sh", str(tmp_path / "init-secrets.sh")], check=True, capture_output=True)
    assert (tmp_path / "secrets/postgres_password").read_text().strip() == password
    ignored = (DEPLOY / ".gitignore").read_text().split()
    assert {"/secrets/", "/.env"} <= set(ignored)


def test_the_database_url_matches_the_postgres_service(services):
    postgres = services["postgres"]["environment"]
    script = (DEPLOY / "init-secrets.sh").read_text()
    url = re.search(r'"(postgresql://[^"]+)"', script).group(1)
    assert url == (
        f"postgresql://{postgres['POSTGRES_USER']}:${{password}}@postgres:5432/"
        f"{postgres['POSTGRES_DB']}"
    )
    assert postgres["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    command = " ".join(services["postgres"]["command"])
    assert "max_locks_per_transaction=1024" in command, "as the embedded server, for rollouts"
    assert "archive_command=" in command and "wal_level=replica" in command


def test_migrations_run_once_before_web_worker_and_beat_start(services):
    migrate = services["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}
        assert depends["redis"] == {"condition": "service_healthy"}
    assert services["proxy"]["depends_on"] == {"web": {"condition": "service_healthy"}}


def test_health_checks_use_the_image_s_script_with_the_service_s_role(services):
    checks = load_healthcheck().CHECKS
    for name in ("web", "worker", "beat"):
        test = services[name]["healthcheck"]["test"]
        assert test == ["CMD", "python", f"{IMAGE_BIN}/{HEALTHCHECK.name}", name]
        assert name in checks
    assert services["migrate"]["healthcheck"] == {"disable": True}
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_only_the_proxy_publishes_ports_and_the_databases_stay_internal(compose, services):
    for name, service in services.items():
        if name != "proxy":
            assert "ports" not in service, f"{name} publishes no port"
    assert compose["networks"]["backend"] == {"internal": True}
    for name in ("postgres", "redis"):
        assert services[name]["networks"] == ["backend"]
    assert services["proxy"]["networks"] == ["edge"]
    assert "edge" in services["web"]["networks"]
    assert "edge" not in services["worker"]["networks"]


def test_every_named_volume_is_declared(compose, services):
    declared = set(compose["volumes"])
    used = set()
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                used.add(source)
            else:
                assert (DEPLOY / source).exists(), f"bind mount {source} exists"
    assert used == declared
    assert {"pgdata", "redis-data", "media"} <= declared


def test_every_variable_compose_reads_is_documented_in_env_example():
    documented = env_example()
    for match in VARIABLE_RE.finditer(COMPOSE.read_text()):
        variable, modifier = match.group(1), match.group(2) or ""
        if modifier.startswith(":?") or not modifier:
            assert variable in documented, f"{variable} is required: document it"
        else:
            assert variable in documented, f"{variable} has a default: document it anyway"
    assert not any(re.search(r"SECRET|PASSWORD|TOKEN", key) for key in documented)


def test_the_proxy_routes_the_platform_and_every_tenant_host_to_web(services):
    proxy = services["proxy"]
    mounts = {
        target: source for source, target, *_ in (volume.split(":") for volume in proxy["volumes"])
    }
    caddyfile = (DEPLOY / mounts["/etc/caddy/Caddyfile"].removeprefix("./")).read_text()
    assert "{$BASE_DOMAIN}, *.{$BASE_DOMAIN} {" in caddyfile, "wildcard site"
    assert "reverse_proxy web:8000" in caddyfile
    gunicorn = (REPO / "deploy/docker/gunicorn.conf.py").read_text()
    assert "os.environ.get('PORT', '8000')" in gunicorn
    # Caddy's placeholders come from the proxy's environment.
    for variable in set(re.findall(r"\{\$([A-Z_]+)", caddyfile)):
        assert variable in proxy["environment"], variable
    # One snippet per TLS mode, in the mounted folder.
    tls_dir = DEPLOY / mounts["/etc/caddy/tls"].removeprefix("./")
    default_mode = re.search(r"\{\$TLS_MODE:([a-z-]+)\}", caddyfile).group(1)
    assert {path.stem for path in tls_dir.glob("*.caddy")} == {"on-demand", "files", "internal"}
    assert default_mode == "on-demand"


def test_certificates_on_demand_are_asked_of_an_endpoint_kitaportal_serves(tenant_registry, db):
    from django.test import Client
    from kitaportal.health import ROUTES

    caddyfile = (DEPLOY / "caddy/Caddyfile").read_text()
    ask = re.search(r"ask http://web:8000(/\S+)", caddyfile).group(1)
    assert ask in ROUTES
    assert Client(HTTP_HOST="web:8000").get(ask, {"domain": "bochum.localhost"}).status_code == 200
    assert Client(HTTP_HOST="web:8000").get(ask, {"domain": "fremd.example"}).status_code == 404
    internal = re.search(r"@internal path (.+)", caddyfile).group(1).split()
    assert {"/metrics", "/_tls/*"} <= set(internal), "kept from the internet"


def test_the_operator_guide_walks_from_nothing_to_the_first_tenant():
    guide = (DEPLOY / "README.md").read_text()
    for step in (
        "init-secrets.sh",
        "cp .env.example .env",
        "docker compose build",
        "docker compose up -d",
        "kitaportal tenants create",
        "createsuperuser",
    ):
        assert step in guide, step
    assert os.access(DEPLOY / "init-secrets.sh", os.X_OK)
