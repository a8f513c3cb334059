"""examples/deploy: the Dockerfile and the Kubernetes sidecar manifest agree with the code.

The container's command goes through the real CLI parser, the probe paths are requested
from a real `crosswalk serve` running the manifest's own ConfigMap config, and the key
variable the manifest fills from its Secret is shown to be the one the proxy checks. So
renaming a route, a serve option or the key variable fails here, not in a cluster.
"""

from __future__ import annotations

import json
import posixpath
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from crosswalk.policies.parse import parse_config
from crosswalk.router import serve as serve_mod
from crosswalk.router.auth import keys_from
from crosswalk.router.cli import main as cli_main
from tests.router.proxy_harness import ProxyProcess

DEPLOY = Path(__file__).resolve().parent.parent / "examples" / "deploy"


def _dockerfile() -> dict[str, Any]:
    text = (DEPLOY / "Dockerfile").read_text()
    lines = [line.strip() for line in text.replace("\\\n", " ").splitlines() if line.strip() and not line.lstrip().startswith("#")]
    instructions: dict[str, list[str]] = {}
    for line in lines:
        word, _, rest = line.partition(" ")
        instructions.setdefault(word.upper(), []).append(rest.strip())
    return instructions


def _manifest() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / "sidecar.yaml").read_text()) if doc]


def _pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    return deployment["spec"]["template"]["spec"]


def _sidecar(pod: dict[str, Any]) -> dict[str, Any]:
    (container,) = [c for c in pod.get("initContainers", []) + pod["containers"] if c["name"] == "crosswalk"]
    return container


def _cmd() -> list[str]:
    (cmd,) = _dockerfile()["CMD"]
    return json.loads(cmd)  # exec form: no shell between the signal and the process


def _probe_port(container: dict[str, Any], probe: dict[str, Any]) -> int:
    port = probe["httpGet"]["port"]
    if isinstance(port, str):  # a named port
        (port,) = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return int(port)


def _serve_args(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    """What `crosswalk serve` would be started with, parsed by the real CLI."""
    seen: list[tuple[Any, ...]] = []
    monkeypatch.setattr(serve_mod, "main", lambda *args, **options: seen.append(args) or 0)  # options: the log flags
    assert argv[0] == "crosswalk"
    assert cli_main(argv[1:]) == 0
    (args,) = seen
    return args


def test_dockerfile_is_a_slim_non_root_image_serving_on_the_exposed_port(monkeypatch):
    docker = _dockerfile()
    (base,) = docker["FROM"]
    assert re.fullmatch(r"python:3\.\d+-slim", base)
    (user,) = docker["USER"]
    assert user not in ("root", "0")
    (exposed,) = docker["EXPOSE"]
    config, host, port, workers = _serve_args(_cmd(), monkeypatch)
    assert (host, port, workers) == ("0.0.0.0", int(exposed), 1)
    assert config == "/config/crosswalk.yaml"
    assert any(re.search(r"pip install .*\.", run) for run in docker["RUN"])
    assert "http://127.0.0.1:8080/healthz" in docker["HEALTHCHECK"][0]


def test_sidecar_runs_the_image_command_on_the_probed_port(monkeypatch):
    pod = _pod(_manifest())
    sidecar = _sidecar(pod)
    assert sidecar["args"] == _cmd()
    config, _host, port, _workers = _serve_args(sidecar["args"], monkeypatch)
    assert [p["containerPort"] for p in sidecar["ports"]] == [port] == [int(_dockerfile()["EXPOSE"][0])]
    assert _probe_port(sidecar, sidecar["readinessProbe"]) == port
    assert _probe_port(sidecar, sidecar["livenessProbe"]) == port
    assert sidecar["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert sidecar["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # The app reaches the sidecar on loopback, on the same port, at the OpenAI base path.
    (app,) = pod["containers"]
    base_url = {e["name"]: e.get("value") for e in app["env"]}["OPENAI_BASE_URL"]
    assert base_url == f"http://127.0.0.1:{port}/v1"


def test_config_comes_from_the_configmap_at_the_path_the_command_reads():
    docs = _manifest()
    pod = _pod(docs)
    sidecar = _sidecar(pod)
    config_path = _cmd()[_cmd().index("--config") + 1]
    mount_dir, key = posixpath.split(config_path)
    (mount,) = [m for m in sidecar["volumeMounts"] if m["mountPath"] == mount_dir]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    (configmap,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == volume["configMap"]["name"]]
    assert key in configmap["data"]


def _secret_env(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
            for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})}


def test_api_keys_come_from_a_secret_in_the_variable_auth_reads():
    pod = _pod(_manifest())
    secrets = _secret_env(_sidecar(pod))
    assert "CROSSWALK_API_KEYS" in secrets
    assert keys_from([], env={"CROSSWALK_API_KEYS": "k1, k2"}) == ("k1", "k2")
    # The app authenticates with the same Secret entry the proxy accepts.
    (app,) = pod["containers"]
    assert _secret_env(app)["OPENAI_API_KEY"] == secrets["CROSSWALK_API_KEYS"]


def _get(url: str, key: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_manifest_config_serves_its_probe_paths_and_checks_the_secret_key(tmp_path):
    docs = _manifest()
    pod = _pod(docs)
    sidecar = _sidecar(pod)
    (configmap,) = [d for d in docs if d["kind"] == "ConfigMap"]
    config = tmp_path / "crosswalk.yaml"
    config.write_text(configmap["data"]["crosswalk.yaml"])
    # Every variable the manifest fills from the Secret, with stand-in values; the config
    # interpolates the vendor keys (${OPENAI_API_KEY}), so a missing one fails the start.
    env = {name: f"test-{name.lower()}" for name in _secret_env(sidecar)}
    proxy = ProxyProcess(config, env=env)
    try:
        proxy.wait_ready()
        for probe in ("readinessProbe", "livenessProbe"):
            # The kubelet sends no key: the probes must answer without one.
            assert _get(proxy.url + sidecar[probe]["httpGet"]["path"]) == 200, probe
        models = proxy.url + "/v1/models"
        assert _get(models) == 401
        assert _get(models, "wrong") == 401
        assert _get(models, env["CROSSWALK_API_KEYS"]) == 200
        # Prometheus scrapes with the metrics key, which opens nothing else.
        assert _get(proxy.url + "/metrics") == 401
        assert _get(proxy.url + "/metrics", env["CROSSWALK_METRICS_KEY"]) == 200
        assert _get(models, env["CROSSWALK_METRICS_KEY"]) == 401
    finally:
        proxy.stop()


def test_the_grace_period_covers_the_drain_window_and_the_longest_request():
    docs = _manifest()
    pod = _pod(docs)
    (configmap,) = [d for d in docs if d["kind"] == "ConfigMap"]
    config = parse_config(configmap["data"]["crosswalk.yaml"], env={"OPENAI_API_KEY": "k", "MISTRAL_API_KEY": "k"})
    longest = max(step.timeouts.total_s for step in config.steps.values())
    assert pod["terminationGracePeriodSeconds"] >= config.proxy.drain_s + longest + 1
    # The readiness probe notices the drain (503) before the listener closes.
    probe = _sidecar(pod)["readinessProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] <= config.proxy.drain_s
