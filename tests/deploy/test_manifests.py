"""The Kubernetes manifests as a cluster would receive them: rendered by `kubectl kustomize` (the base and
each overlay) and validated against Kubernetes' own schemas, strictly (an unknown field is an error)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from genai_platform.providers.registry import PROVIDERS, queue_name

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
INSTALLATIONS = {"base": DEPLOY / "kubernetes", "small": DEPLOY / "overlays/small", "large": DEPLOY / "overlays/large"}
KUBERNETES_VERSION = "1.33.0"


def render(directory: Path) -> list[dict]:
    done = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [document for document in yaml.safe_load_all(done.stdout) if document]


def schema_errors(resources: list[dict]) -> list[str]:
    errors = []
    for resource in resources:
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{resource['kind']}/{resource['metadata']['name']}: {exc.message} at {list(exc.path)}")
    return errors


@pytest.fixture(scope="module", params=sorted(INSTALLATIONS))
def rendered(request) -> list[dict]:
    return render(INSTALLATIONS[request.param])


def test_every_rendered_resource_is_valid_against_the_kubernetes_schemas(rendered):
    assert schema_errors(rendered) == []


def test_the_schema_check_refuses_an_unknown_field():
    """The validation above can fail: a misspelt field in a Deployment is named."""
    deployment = next(r for r in render(INSTALLATIONS["base"]) if r["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {"limits": {"cpu": "1"}}
    assert len(schema_errors([deployment])) == 1


def test_each_provider_queue_has_a_worker_deployment_consuming_only_it(rendered):
    consumed = {}
    for resource in rendered:
        if resource["kind"] != "Deployment":
            continue
        command = resource["spec"]["template"]["spec"]["containers"][0].get("command", [])
        if "-Q" in command:
            consumed[command[command.index("-Q") + 1]] = resource["metadata"]["name"]
    assert {queue_name(provider) for provider in PROVIDERS} | {"platform"} <= set(consumed)


def test_every_container_is_bounded_and_runs_unprivileged(rendered):
    for resource in rendered:
        if resource["kind"] not in {"Deployment", "Job", "CronJob"}:
            continue
        pod = resource["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, resource["metadata"]["name"]
        for container in pod["containers"]:
            assert {"requests", "limits"} <= set(container["resources"]), container["name"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, container["name"]


def test_the_overlays_size_the_gateway_for_their_installation():
    def gateway_bounds(name: str) -> tuple[int, int]:
        hpa = next(r for r in render(INSTALLATIONS[name]) if r["kind"] == "HorizontalPodAutoscaler")
        return hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]

    assert gateway_bounds("small") < gateway_bounds("base") < gateway_bounds("large")


def test_workers_of_remote_providers_wait_on_threads_and_cpu_bound_queues_use_processes():
    """A provider call waits on the network: a thread each, a thousand per pod. Local embeddings and
    platform tasks compute (and platform tasks hold database connections): a few processes."""
    pools = {}
    for resource in render(INSTALLATIONS["base"]):
        command = resource["kind"] == "Deployment" and resource["spec"]["template"]["spec"]["containers"][0].get(
            "command"
        )
        if command and "-Q" in command:
            pool = command[command.index("--pool") + 1] if "--pool" in command else "prefork"
            pools[command[command.index("-Q") + 1]] = (pool, int(command[command.index("--concurrency") + 1]))
    for provider in PROVIDERS:
        pool, concurrency = pools[queue_name(provider)]
        if provider == "local":
            assert (pool, concurrency) == ("prefork", 2)
        else:
            assert pool == "threads" and concurrency >= 1000, provider
    assert pools["platform"][0] == "prefork"
