"""deploy/k8s: each overlay is rendered with `kubectl kustomize` and every manifest validated
against the Kubernetes schemas (kubernetes-validate, strict: unknown fields are errors), then
checked against the code and the issue's requirements."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from tests.deploy.helpers import DEPLOY, HEALTHCHECK, IMAGE_BIN, entrypoint_roles, load_healthcheck

K8S = DEPLOY / "k8s"
OVERLAYS = ["staging", "production"]
# The oldest Kubernetes release we support (autoscaling/v2, policy/v1, …).
KUBERNETES_VERSION = "1.30"
APP_IMAGE = "registry.kitaportal.example/kitaportal"
SECRET_MOUNT = "/run/secrets/kitaportal"


def render(path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is missing: `make system-deps` installs it (kubernetes-client)"
    result = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request) -> tuple[str, list[dict]]:
    return request.param, render(K8S / "overlays" / request.param)


def find(docs, kind: str, name: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}"
    return matches[0]


def app_pod_specs(docs) -> dict[str, dict]:
    specs = {}
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job", "StatefulSet"):
            labels = doc["spec"]["template"]["metadata"]["labels"]
            if labels.get("app.kubernetes.io/name") == "kitaportal":
                specs[labels["app.kubernetes.io/component"]] = doc["spec"]["template"]["spec"]
    return specs


def config(docs) -> dict[str, str]:
    maps = [d for d in docs if d["kind"] == "ConfigMap"]
    assert len(maps) == 1 and maps[0]["metadata"]["name"].startswith("kitaportal-config-")
    return maps[0]["data"]


def test_every_rendered_manifest_is_valid_for_kubernetes(overlay):
    name, docs = overlay
    assert docs
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']}: {error.message}")


def test_the_validator_rejects_a_misspelt_field():
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "replica": 2,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_every_overlay_has_the_processes_the_platform_needs(overlay):
    name, docs = overlay
    for deployment in ("kitaportal-web", "kitaportal-worker", "kitaportal-beat"):
        find(docs, "Deployment", deployment)
    find(docs, "Job", "kitaportal-migrate")
    find(docs, "Service", "kitaportal-web")
    namespaces = {doc["metadata"].get("namespace") for doc in docs}
    assert namespaces == {"kitaportal-staging" if name == "staging" else "kitaportal"}


def test_every_app_container_runs_an_entry_point_role_of_our_image(overlay):
    _, docs = overlay
    roles = entrypoint_roles()
    checks = load_healthcheck().CHECKS
    for component, spec in app_pod_specs(docs).items():
        assert spec["automountServiceAccountToken"] is False
        (container,) = spec["containers"]
        assert container["image"].startswith(APP_IMAGE + ":")
        assert container["args"] == [component] and component in roles
        for init in spec.get("initContainers", []):
            assert init["image"] == container["image"]
            assert init["command"][:3] == ["python", f"{IMAGE_BIN}/{HEALTHCHECK.name}", "ready"]
            assert "ready" in checks
    assert set(app_pod_specs(docs)) == {"web", "worker", "beat", "migrate"}


def test_every_container_has_resources_and_runs_locked_down(overlay):
    _, docs = overlay
    for component, spec in app_pod_specs(docs).items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in spec["containers"] + spec.get("initContainers", []):
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), component
            assert {"cpu", "memory"} <= set(resources["limits"]), component
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"] == {"drop": ["ALL"]}
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, "writable /tmp (prometheus files, temp files)"


def test_secrets_are_referenced_by_file_and_never_stored(overlay):
    _, docs = overlay
    assert not [d for d in docs if d["kind"] == "Secret"], "Secrets are created by the operator"
    data = config(docs)
    file_variables = {k: v for k, v in data.items() if k.endswith("_FILE")}
    assert {"DJANGO_SECRET_KEY_FILE", "DATABASE_URL_FILE", "CELERY_BROKER_URL_FILE"} <= set(
        file_variables
    )
    for value in file_variables.values():
        assert value.startswith(SECRET_MOUNT + "/")
    for key in data:
        assert not (("SECRET" in key or "PASSWORD" in key) and not key.endswith("_FILE")), key
    for component, spec in app_pod_specs(docs).items():
        secret_volumes = {
            v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v
        }
        assert set(secret_volumes.values()) == {"kitaportal-secrets"}
        for container in spec["containers"] + spec.get("initContainers", []):
            config_refs = [e["configMapRef"]["name"] for e in container["envFrom"]]
            assert config_refs == [
                next(d for d in docs if d["kind"] == "ConfigMap")["metadata"]["name"]
            ]
            mounted = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounted[SECRET_MOUNT] in secret_volumes, f"{component}: secrets mounted"
    assert data["DJANGO_SETTINGS_MODULE"] == "kitaportal.settings.production"
    assert data["SENTRY_ENVIRONMENT"] in {"staging", "production"}
    assert "SENTRY_RELEASE" in data


def test_web_is_probed_on_healthz_and_readyz_and_scales_on_cpu(overlay):
    _, docs = overlay
    web = find(docs, "Deployment", "kitaportal-web")
    (container,) = web["spec"]["template"]["spec"]["containers"]
    port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
    assert port == 8000, "gunicorn.conf.py binds PORT, 8000 by default"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert web["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    hpa = find(docs, "HorizontalPodAutoscaler", "kitaportal-web")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "kitaportal-web"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert (
        hpa["spec"]["minReplicas"] >= 1 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    )


def test_workers_scale_on_the_queue_length_kitaportal_exports(overlay, tmp_path):
    from kitaportal.observability import QueueDepthCollector
    from kombu import Connection

    _, docs = overlay
    hpa = find(docs, "HorizontalPodAutoscaler", "kitaportal-worker")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "kitaportal-worker"
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "External"
    external = metric["external"]["metric"]
    options = {
        key: str(tmp_path)
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")
    }
    exported = {
        family.name: family
        for family in QueueDepthCollector(
            lambda: Connection("filesystem://", transport_options=options)
        ).collect()
    }
    assert external["name"] in exported
    queues = {sample.labels["queue"] for sample in exported[external["name"]].samples}
    assert external["selector"]["matchLabels"]["queue"] in queues
    worker = find(docs, "Deployment", "kitaportal-worker")
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["exec"]["command"][-1] == "worker"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"] == int(
        env["CELERY_METRICS_PORT"]
    )


def test_beat_is_a_singleton(overlay):
    _, docs = overlay
    beat = find(docs, "Deployment", "kitaportal-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert not [
        d
        for d in docs
        if d["kind"] == "HorizontalPodAutoscaler"
        and d["spec"]["scaleTargetRef"]["name"] == "kitaportal-beat"
    ]


def test_migrations_run_as_a_job_that_gates_the_rollout(overlay):
    _, docs = overlay
    job = find(docs, "Job", "kitaportal-migrate")
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["containers"][0]["args"] == ["migrate"]
    assert entrypoint_roles()["migrate"][:2] == ["kitaportal", "migrate"]
    # New worker and beat pods wait for it; new web pods are not ready before (/readyz).
    for name in ("kitaportal-worker", "kitaportal-beat"):
        pod = find(docs, "Deployment", name)["spec"]["template"]["spec"]
        assert [c["name"] for c in pod["initContainers"]] == ["wait-for-migrations"]
    script = (K8S / "deploy.sh").read_text()
    delete, apply, wait = (
        script.index("delete job kitaportal-migrate"),
        script.index("kubectl apply -k"),
        script.index("wait --for=condition=complete job/kitaportal-migrate"),
    )
    assert delete < apply < wait
    assert subprocess.run(["sh", "-n", str(K8S / "deploy.sh")]).returncode == 0


def test_the_ingress_serves_the_platform_and_every_tenant_with_a_wildcard_certificate(overlay):
    _, docs = overlay
    base_domain = config(docs)["BASE_DOMAIN"]
    ingress = find(docs, "Ingress", "kitaportal")
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert hosts == {base_domain, f"*.{base_domain}"}
    (tls,) = ingress["spec"]["tls"]
    assert set(tls["hosts"]) == hosts and tls["secretName"]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    for rule in ingress["spec"]["rules"]:
        (path,) = rule["http"]["paths"]
        assert path["backend"]["service"] == {"name": "kitaportal-web", "port": {"name": "http"}}


def test_disruption_budgets_keep_web_and_workers_available(overlay):
    name, docs = overlay
    web = find(docs, "PodDisruptionBudget", "kitaportal-web")
    worker = find(docs, "PodDisruptionBudget", "kitaportal-worker")
    assert web["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "web"
    assert worker["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "worker"
    if name == "production":
        assert web["spec"]["minAvailable"] >= 2
    assert worker["spec"]["maxUnavailable"] == 1


def selects(selector: dict, labels: dict) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        if (
            expression["operator"] == "In"
            and labels.get(expression["key"]) not in expression["values"]
        ):
            return False
    return True


def egress_for(docs, labels: dict) -> list[dict]:
    rules = []
    for policy in (d for d in docs if d["kind"] == "NetworkPolicy"):
        if selects(policy["spec"]["podSelector"], labels):
            rules += policy["spec"].get("egress", [])
    return rules


def test_web_and_worker_reach_postgresql_and_redis_only(overlay):
    _, docs = overlay
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    deny = find(docs, "NetworkPolicy", "kitaportal-default-deny")
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    private = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
    for component in ("web", "worker", "beat", "migrate"):
        labels = {"app.kubernetes.io/name": "kitaportal", "app.kubernetes.io/component": component}
        assert selects(deny["spec"]["podSelector"], labels)
        in_cluster = set()
        for rule in egress_for(policies, labels):
            ports = {(p["protocol"], p["port"]) for p in rule["ports"]}
            for peer in rule["to"]:
                if "ipBlock" in peer:
                    block = peer["ipBlock"]
                    excluded = [ipaddress.ip_network(n) for n in block["except"]]
                    assert all(any(p.subnet_of(e) for e in excluded) for p in private), (
                        "no private (in-cluster) address through an ipBlock"
                    )
                    assert ports <= {("TCP", 443), ("TCP", 587), ("TCP", 465), ("TCP", 25)}
                    continue
                target = peer["podSelector"]["matchLabels"]
                in_cluster.add((tuple(sorted(target.items())), frozenset(ports)))
        assert in_cluster == {
            ((("app.kubernetes.io/name", "postgresql"),), frozenset({("TCP", 5432)})),
            ((("app.kubernetes.io/name", "redis"),), frozenset({("TCP", 6379)})),
            ((("k8s-app", "kube-dns"),), frozenset({("UDP", 53), ("TCP", 53)})),
        }, component


def test_only_the_ingress_controller_and_prometheus_reach_web(overlay):
    _, docs = overlay
    policy = find(docs, "NetworkPolicy", "kitaportal-web-ingress")
    (rule,) = policy["spec"]["ingress"]
    sources = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in rule["from"]
    }
    assert sources == {"ingress-nginx", "monitoring"}
    assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]


def test_staging_brings_its_own_postgresql_16_and_redis_7():
    docs = render(K8S / "overlays" / "staging")
    postgres = find(docs, "StatefulSet", "kitaportal-postgres")
    redis = find(docs, "StatefulSet", "kitaportal-redis")
    assert postgres["spec"]["template"]["spec"]["containers"][0]["image"].startswith("postgres:16")
    assert redis["spec"]["template"]["spec"]["containers"][0]["image"].startswith("redis:7")
    assert postgres["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == (
        "postgresql"
    )
    assert redis["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "redis"
