"""Offline checks for the deployment artefacts: k8s/ manifests and the Dockerfile.

Every full manifest under k8s/ is validated in strict mode (unknown fields are errors)
against the Kubernetes JSON schemas that ship inside the kubernetes-validate package, so
no network or cluster is needed. Patch files (under a ``patches/`` folder) are partial
objects; they are only checked for parseability and for targeting a real base resource.
When ``kubectl`` is on PATH, each kustomization is also rendered and its output validated.

The production overlay is also checked against the application itself: its settings are
accepted by the production profile, result files go to object storage, the ingress's body
limits and timeouts match the app's own limits, and the worker's liveness probe reads the
heartbeat its loop writes. These tests are plain and synchronous; only the one comparing the
ingress paths with the app's routes uses the running app (the ``backend`` fixture).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from oversight.mqtt import ingest_identifier
from oversight.settings import OversightSettings
from results.settings import ResultsSettings
from yixiang.heartbeat import heartbeat_path
from yixiang.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
K8S_DIR = ROOT / "k8s"
DOCKERFILE = ROOT / "Dockerfile"

# Schemas for this version ship with kubernetes-validate (kubernetes-json-schema/v1.30.0-local-strict).
KUBERNETES_VERSION = "1.30.0"

APP_UID = 10001
API_DEPLOYMENT = "yixiang-api"
WRITABLE_PATHS = {"/tmp", "/var/lib/yixiang"}
WORKLOAD_KINDS = {"Deployment", "Job", "StatefulSet", "DaemonSet", "CronJob"}


# --- discovery ---------------------------------------------------------------------------


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _yaml_files() -> list[Path]:
    return sorted(p for p in K8S_DIR.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())


def _is_kustomization(path: Path) -> bool:
    return path.name in {"kustomization.yaml", "kustomization.yml", "Kustomization"}


def _is_patch(path: Path) -> bool:
    return "patches" in path.relative_to(K8S_DIR).parts


KUSTOMIZATIONS = [p for p in _yaml_files() if _is_kustomization(p)]
PATCHES = [p for p in _yaml_files() if _is_patch(p)]
MANIFESTS = [p for p in _yaml_files() if not _is_kustomization(p) and not _is_patch(p)]


def _load_docs(path: Path) -> list[dict[str, Any]]:
    try:
        docs = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
    except yaml.YAMLError as exc:
        pytest.fail(f"{_rel(path)}: not valid YAML: {exc}")
    for index, doc in enumerate(docs):
        if not isinstance(doc, dict):
            pytest.fail(f"{_rel(path)}: document {index} is a {type(doc).__name__}, not a mapping")
    return docs


def _ident(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def _all_resources() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in MANIFESTS:
        for doc in _load_docs(path):
            yield path, doc


def _workloads() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{_rel(path)}::{_ident(doc)}", doc)
        for path, doc in _all_resources()
        if doc["kind"] in WORKLOAD_KINDS
    ]


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


# Custom resources of operators: kubernetes-validate ships no schema for them (and the operators'
# CRDs are not ours to copy in). What the app depends on in them is checked by its own test.
CUSTOM_RESOURCES = {"postgresql.cnpg.io/v1": "tests/test_k8s_database.py"}


def _validate_strict(doc: dict[str, Any], where: str) -> None:
    if doc.get("apiVersion") in CUSTOM_RESOURCES:
        return
    problem = None
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        location = "/".join(str(part) for part in exc.path) or "<root>"
        problem = f"{_ident(doc)} is invalid for Kubernetes {KUBERNETES_VERSION} at {location}: {exc.message}"
    except kubernetes_validate.SchemaNotFoundError as exc:
        problem = exc.message
    if problem:  # failed outside the except block to keep jsonschema's long traceback out of the report
        pytest.fail(f"{where}: {problem}")


def test_discovery_found_files() -> None:
    assert MANIFESTS, "no manifests found under k8s/"
    assert KUSTOMIZATIONS, "no kustomization.yaml found under k8s/"
    assert (K8S_DIR / "base" / "kustomization.yaml") in KUSTOMIZATIONS


# --- schema validation -------------------------------------------------------------------


@pytest.mark.parametrize("path", MANIFESTS, ids=_rel)
def test_manifest_is_valid_kubernetes(path: Path) -> None:
    docs = _load_docs(path)
    assert docs, f"{_rel(path)}: no YAML documents"
    for index, doc in enumerate(docs):
        where = f"{_rel(path)} (document {index})"
        for key in ("apiVersion", "kind"):
            assert doc.get(key), f"{where}: missing {key}"
        assert (doc.get("metadata") or {}).get("name"), f"{where}: missing metadata.name"
        _validate_strict(doc, where)


def _base_targets() -> set[tuple[str, str]]:
    return {(doc["kind"], doc["metadata"]["name"]) for _, doc in _all_resources()}


@pytest.mark.parametrize("path", PATCHES, ids=_rel)
def test_patch_parses_and_targets_a_resource(path: Path) -> None:
    targets = _base_targets()
    for doc in _load_docs(path):
        where = _rel(path)
        assert doc.get("apiVersion") and doc.get("kind"), f"{where}: patch needs apiVersion and kind"
        name = (doc.get("metadata") or {}).get("name")
        assert name, f"{where}: patch needs metadata.name"
        assert (doc["kind"], name) in targets, (
            f"{where}: patches {doc['kind']}/{name}, which no manifest defines"
        )


# --- kustomizations ----------------------------------------------------------------------


def _kustomization_refs(kustomization: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, relative path) for every local file or folder a kustomization names."""
    for field in ("resources", "components", "bases", "crds", "patchesStrategicMerge"):
        for entry in kustomization.get(field) or []:
            if isinstance(entry, str) and "://" not in entry and not entry.startswith("github.com/"):
                yield field, entry
    for field in ("patches", "patchesJson6902"):
        for entry in kustomization.get(field) or []:
            if isinstance(entry, dict) and entry.get("path"):
                yield field, entry["path"]
    for field in ("configMapGenerator", "secretGenerator"):
        for generator in kustomization.get(field) or []:
            for entry in [*(generator.get("files") or []), *(generator.get("envs") or [])]:
                yield field, entry.split("=", 1)[-1]
            if generator.get("env"):
                yield field, generator["env"]


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=_rel)
def test_kustomization_references_exist(path: Path) -> None:
    (kustomization,) = _load_docs(path)
    assert kustomization.get("kind") == "Kustomization", f"{_rel(path)}: kind must be Kustomization"
    refs = list(_kustomization_refs(kustomization))
    assert refs, f"{_rel(path)}: references nothing"
    for field, ref in refs:
        target = (path.parent / ref).resolve()
        assert target.exists(), f"{_rel(path)}: {field} entry {ref!r} does not exist"
        if target.is_dir():
            assert any((target / name).is_file() for name in ("kustomization.yaml", "kustomization.yml")), (
                f"{_rel(path)}: {field} entry {ref!r} is a folder without a kustomization.yaml"
            )


def test_every_manifest_and_patch_is_used_by_a_kustomization() -> None:
    used: set[Path] = set()
    for path in KUSTOMIZATIONS:
        (kustomization,) = _load_docs(path)
        used.update((path.parent / ref).resolve() for _, ref in _kustomization_refs(kustomization))
    orphans = [_rel(p) for p in [*MANIFESTS, *PATCHES] if p.resolve() not in used]
    assert not orphans, f"files under k8s/ that no kustomization.yaml references: {orphans}"


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (with built-in kustomize) is not installed")
@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=_rel)
def test_kustomization_renders_valid_kubernetes(path: Path) -> None:
    assert KUBECTL is not None
    result = subprocess.run(
        [KUBECTL, "kustomize", str(path.parent)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"{_rel(path)}: kubectl kustomize failed:\n{result.stderr}"
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]
    assert docs, f"{_rel(path)}: rendered nothing"
    for doc in docs:
        _validate_strict(doc, f"{_rel(path)} (rendered)")

    if "production" in path.relative_to(K8S_DIR).parts:
        for doc in docs:
            where = f"{_rel(path)} (rendered) {_ident(doc)}"
            assert doc["kind"] != "Secret", f"{where}: the placeholder Secret must not reach production"
            if doc["kind"] != "Namespace":
                assert doc["metadata"].get("namespace") == "yixiang", f"{where}: not in namespace yixiang"
            if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "yixiang-config":
                assert doc["data"]["YIXIANG_PROFILE"] == "production", where
                assert doc["data"]["YIXIANG_LOG_FORMAT"] == "json", where
            if doc["kind"] in WORKLOAD_KINDS:
                for container in _pod_spec(doc)["containers"]:
                    image = container["image"]
                    assert not image.endswith(":latest") and ":" in image.rsplit("/", 1)[-1], (
                        f"{where}: production image {image!r} must be pinned"
                    )


# --- workload security -------------------------------------------------------------------

WORKLOADS = _workloads()


@pytest.mark.parametrize(("where", "workload"), WORKLOADS, ids=[w for w, _ in WORKLOADS])
def test_workload_runs_non_root_with_read_only_root(where: str, workload: dict[str, Any]) -> None:
    pod = _pod_spec(workload)
    pod_security = pod.get("securityContext") or {}
    containers = [*(pod.get("initContainers") or []), *pod["containers"]]
    mounted_volumes = {v["name"]: v for v in pod.get("volumes") or []}
    assert pod.get("automountServiceAccountToken") is False, (
        f"{where}: set automountServiceAccountToken: false"
    )
    for container in containers:
        ctx = container.get("securityContext") or {}
        label = f"{where} container {container['name']}"

        def effective(key: str, ctx: dict[str, Any] = ctx) -> Any:
            return ctx.get(key, pod_security.get(key))

        assert effective("runAsNonRoot") is True, f"{label}: runAsNonRoot must be true"
        assert effective("runAsUser") == APP_UID, f"{label}: runAsUser must be {APP_UID}"
        assert ctx.get("readOnlyRootFilesystem") is True, f"{label}: readOnlyRootFilesystem must be true"
        assert ctx.get("allowPrivilegeEscalation") is False, (
            f"{label}: allowPrivilegeEscalation must be false"
        )
        assert ctx.get("privileged") in (None, False), f"{label}: must not be privileged"
        assert (ctx.get("capabilities") or {}).get("drop") == ["ALL"], f"{label}: capabilities must drop ALL"
        seccomp = (effective("seccompProfile") or {}).get("type")
        assert seccomp == "RuntimeDefault", f"{label}: seccompProfile must be RuntimeDefault"

        resources = container.get("resources") or {}
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                assert (resources.get(kind) or {}).get(resource), (
                    f"{label}: missing resources.{kind}.{resource}"
                )

        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts") or []}
        for mount_path in sorted(WRITABLE_PATHS):
            assert mount_path in mounts, (
                f"{label}: {mount_path} must be a writable volume (root fs is read-only)"
            )
            assert "emptyDir" in mounted_volumes.get(mounts[mount_path], {}), (
                f"{label}: {mount_path} not an emptyDir"
            )

        env_from = container.get("envFrom") or []
        assert {"configMapRef", "secretRef"} <= {key for entry in env_from for key in entry}, (
            f"{label}: must take its settings from the ConfigMap and the Secret via envFrom"
        )


def _find(kind: str, name: str) -> dict[str, Any]:
    found = [doc for _, doc in _all_resources() if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind}/{name} under k8s/, found {len(found)}"
    return found[0]


def test_api_probes_use_health_and_ready() -> None:
    deployment = _find("Deployment", API_DEPLOYMENT)
    (container,) = _pod_spec(deployment)["containers"]
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports") or []}

    def probe_target(probe_name: str) -> tuple[str, int]:
        probe = container.get(probe_name)
        assert probe and "httpGet" in probe, f"{API_DEPLOYMENT}: {probe_name} must be an httpGet probe"
        port = probe["httpGet"]["port"]
        return probe["httpGet"]["path"], ports.get(port, port)

    assert probe_target("livenessProbe") == ("/health", 8000)
    assert probe_target("readinessProbe") == ("/ready", 8000)
    assert probe_target("startupProbe") == ("/health", 8000)


def test_workload_commands() -> None:
    expected = {
        ("Deployment", "yixiang-api"): ["serve", "--host", "0.0.0.0", "--port", "8000"],
        ("Deployment", "yixiang-worker"): ["worker"],
        ("Job", "yixiang-migrate"): ["db", "upgrade"],
        ("StatefulSet", "yixiang-ingest"): ["oversight", "ingest"],
    }
    for (kind, name), args in expected.items():
        (container,) = _pod_spec(_find(kind, name))["containers"]
        assert "command" not in container, f"{kind}/{name}: keep the image ENTRYPOINT (yixiang)"
        assert container.get("args") == args, f"{kind}/{name}: args must be {args}"


def test_secret_template_holds_only_placeholders() -> None:
    secrets = [doc for _, doc in _all_resources() if doc["kind"] == "Secret"]
    assert secrets, "expected a Secret template under k8s/"
    for secret in secrets:
        assert "data" not in secret, f"{_ident(secret)}: use stringData placeholders, not base64 data"
        for key, value in (secret.get("stringData") or {}).items():
            assert "CHANGE-ME" in value, f"{_ident(secret)}: {key} must be an obvious CHANGE-ME placeholder"
    config = _find("ConfigMap", "yixiang-config")["data"]
    leaked = sorted(set(config) & {k for s in secrets for k in s.get("stringData") or {}})
    assert not leaked, f"secret settings must not be in the ConfigMap: {leaked}"


def test_the_config_map_holds_settings_the_app_accepts() -> None:
    config = _find("ConfigMap", "yixiang-config")["data"]
    # the production profile's own demands (database, Redis, secret, S3 keys) come from Secrets
    secrets = {"YIXIANG_S3_ACCESS_KEY": "from-the-secret", "YIXIANG_S3_SECRET_KEY": "from-the-secret"}
    settings = load_settings({**config, **secrets, "YIXIANG_PROFILE": "embedded"})
    # behind the ingress, X-Forwarded-For is believed from its pods only
    assert settings.trusted_proxies, "set YIXIANG_TRUSTED_PROXIES to the ingress controller's network"


# --- the app in production: storage, settings, ingress limits, worker liveness ----------------

PRODUCTION_OVERLAY = K8S_DIR / "overlays" / "production"
CONTAINER_WORKLOADS = [
    ("Deployment", "yixiang-api"),
    ("Deployment", "yixiang-worker"),
    ("Job", "yixiang-migrate"),
    ("StatefulSet", "yixiang-ingest"),
]


def _render_production() -> list[dict[str, Any]]:
    if KUBECTL is None:
        pytest.skip("kubectl (with built-in kustomize) is not installed")
    result = subprocess.run(
        [KUBECTL, "kustomize", str(PRODUCTION_OVERLAY)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


def _base_docs() -> list[dict[str, Any]]:
    return [doc for path, doc in _all_resources() if "base" in path.relative_to(K8S_DIR).parts]


SOURCES = {"base": _base_docs, "production": _render_production}


def _one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _container(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (container,) = _pod_spec(_one(docs, kind, name))["containers"]
    return container


def _secret_refs(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Variable -> (Secret, key) for each variable the container takes from a Secret's key."""
    return {
        env["name"]: (ref["name"], ref["key"])
        for env in container.get("env") or []
        if (ref := (env.get("valueFrom") or {}).get("secretKeyRef"))
    }


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_result_files_go_to_object_storage_with_keys_from_a_secret(source: str) -> None:
    # Each pod's emptyDir loses the files on restart and hides them from the other replicas.
    docs = SOURCES[source]()
    config = _one(docs, "ConfigMap", "yixiang-config")["data"]
    assert config.get("YIXIANG_RESULTS_STORAGE") == "s3", f"{source}: result files must go to S3"
    assert config.get("YIXIANG_S3_BUCKET"), f"{source}: no S3 bucket"
    assert "YIXIANG_RESULTS_SHARED_VOLUME" not in config, f"{source}: the data dir is an emptyDir"
    for kind, name in CONTAINER_WORKLOADS:
        refs = _secret_refs(_container(docs, kind, name))
        for variable in ("YIXIANG_S3_ACCESS_KEY", "YIXIANG_S3_SECRET_KEY"):
            assert variable in refs, f"{source} {kind}/{name}: {variable} must come from a Secret's key"
            assert variable not in config, f"{source}: {variable} is a secret, not configuration"
        if source == "base":  # the template names every key the workloads read
            for secret, key in refs.values():
                assert key in _one(docs, "Secret", secret)["stringData"], f"{secret} template lacks {key}"


def test_the_production_overlay_is_accepted_by_the_production_profile() -> None:
    docs = _render_production()
    config = _one(docs, "ConfigMap", "yixiang-config")["data"]
    # What the out-of-band Secrets hold (realistic values, none a placeholder)...
    secrets = {
        "YIXIANG_DATABASE_URL": "postgresql+asyncpg://yixiang:pw@postgres:5432/yixiang",
        "YIXIANG_REDIS_URL": "redis://:pw@redis:6379/0",
        "YIXIANG_MEILI_KEY": "6fbd1c0e3a7a4b2c9d8e7f6a5b4c3d2e",
        "YIXIANG_SECRET_KEY": "kR8vQ2mZx4Lp9sTn6Wd3Hy7Jc1Fb5Gv0Ne8Ua2Xo",
    }
    for kind, name in CONTAINER_WORKLOADS:
        env = (
            config
            | secrets
            | {
                variable: "s3-" + key
                for variable, (_, key) in _secret_refs(_container(docs, kind, name)).items()
            }
        )
        try:  # ...and the configuration shipped: the app must take it as it is
            load_settings(env)
        except Exception as exc:
            pytest.fail(f"{kind}/{name}: the production profile refuses the overlay's settings: {exc}")


NGINX = "nginx.ingress.kubernetes.io/"


def _nginx_bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", size.lower()).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def _ingress(docs: list[dict[str, Any]], name: str) -> tuple[dict[str, str], list[str]]:
    ingress = _one(docs, "Ingress", name)
    paths = [p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    return ingress["metadata"].get("annotations") or {}, paths


UPLOAD = "/api/v1/bookings/0b7a3c52-1f0e-4c8e-9d61-3f2a7b9c4e10/results"
IMPORTS = [
    "/api/v1/provider/instruments/import",
    "/api/v1/voucher-programs/0b7a3c52-1f0e-4c8e-9d61-3f2a7b9c4e10/grants/import",
]


def _routed(paths: list[str], path: str) -> bool:
    return any(re.match(pattern, path) for pattern in paths)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_ingress_body_limits_and_timeouts_match_the_app(source: str) -> None:
    docs = SOURCES[source]()
    settings, results = Settings(), ResultsSettings()
    ingresses = sorted(d["metadata"]["name"] for d in docs if d["kind"] == "Ingress")
    assert ingresses == ["yixiang-api", "yixiang-api-imports", "yixiang-api-results"], ingresses

    general, _ = _ingress(docs, "yixiang-api")
    assert _nginx_bytes(general[NGINX + "proxy-body-size"]) == settings.max_body_bytes

    # Result files: the app takes each file up to its limit, streaming; so must the ingress.
    upload, upload_paths = _ingress(docs, "yixiang-api-results")
    limit = _nginx_bytes(upload[NGINX + "proxy-body-size"])
    assert results.max_file_bytes < limit <= results.max_file_bytes + 8 * 1024**2
    assert upload[NGINX + "proxy-request-buffering"] == "off"
    for timeout in ("proxy-send-timeout", "proxy-read-timeout"):
        # 200 MiB at a slow 0.5 MiB/s takes 400 s
        assert int(upload[NGINX + timeout]) >= results.max_file_bytes / (512 * 1024), timeout
    assert upload.get(NGINX + "use-regex") == "true"
    assert _routed(upload_paths, UPLOAD) and not _routed(upload_paths, UPLOAD.removesuffix("/results"))
    assert not _routed(upload_paths, UPLOAD.replace("/results", "/results/extra"))

    imports, import_paths = _ingress(docs, "yixiang-api-imports")
    assert _nginx_bytes(imports[NGINX + "proxy-body-size"]) == settings.max_body_bytes
    for timeout in ("proxy-send-timeout", "proxy-read-timeout"):
        assert int(imports[NGINX + timeout]) >= 300, timeout
    assert all(_routed(import_paths, path) for path in IMPORTS)
    assert not _routed(import_paths, "/api/v1/provider/instruments/export")


async def test_the_ingress_paths_are_routes_of_the_app(backend) -> None:
    # A renamed route would silently fall back to the 1 MiB default: the paths must exist.
    routes = [
        re.sub(r"\{[^}]+\}", "0b7a3c52-1f0e-4c8e-9d61-3f2a7b9c4e10", r.path) for r in backend.app.routes
    ]
    assert UPLOAD in routes and set(IMPORTS) <= set(routes)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_the_worker_is_restarted_when_its_loop_hangs(source: str) -> None:
    docs = SOURCES[source]()
    data_dir = _one(docs, "ConfigMap", "yixiang-config")["data"]["YIXIANG_DATA_DIR"]
    worker = _container(docs, "Deployment", "yixiang-worker")
    expected = ["yixiang", "worker", "--check-heartbeat", "--heartbeat-file", str(heartbeat_path(data_dir))]
    for probe in ("startupProbe", "livenessProbe"):
        assert (worker.get(probe) or {}).get("exec", {}).get("command") == expected, f"{source}: {probe}"
    mounts = {m["mountPath"] for m in worker["volumeMounts"]}
    assert data_dir in mounts, "the heartbeat's folder must be writable"


# --- Dockerfile --------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile_final_stage_runs_as_non_root() -> None:
    instructions = _dockerfile_instructions()
    stage_starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert len(stage_starts) >= 2, "Dockerfile should be multi-stage (builder + runtime)"
    final = instructions[stage_starts[-1] :]
    users = [value for keyword, value in final if keyword == "USER"]
    assert users, "the final Dockerfile stage must set USER"
    user = users[-1].split(":", 1)[0]
    assert user not in {"root", "0"}, f"the final stage runs as {users[-1]!r}"
    assert user == str(APP_UID), f"use the numeric UID {APP_UID} so runAsNonRoot can verify it"
    entrypoints = [value for keyword, value in final if keyword == "ENTRYPOINT"]
    assert entrypoints and entrypoints[-1] == '["yixiang"]', "ENTRYPOINT must be the yixiang CLI"
    assert ("EXPOSE", "8000") in final


def test_dockerfile_base_image_is_pinned_by_version_and_digest() -> None:
    instructions = _dockerfile_instructions()
    args = dict(value.split("=", 1) for keyword, value in instructions if keyword == "ARG" and "=" in value)
    image = args.get("PYTHON_IMAGE", "")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+@sha256:[0-9a-f]{64}", image), (
        f"base image {image!r} must name an exact Python release and its digest"
    )
    for keyword, value in instructions:
        if keyword == "FROM":
            assert value.split()[0] == "${PYTHON_IMAGE}", f"FROM {value}: use the pinned PYTHON_IMAGE"


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_each_ingest_process_keeps_its_broker_session_across_restarts(source: str) -> None:
    # The broker holds what an ingest process has not acknowledged under its client id: the id
    # must stay the same when the pod is replaced and differ between replicas — a StatefulSet's
    # pod name is both.
    docs = SOURCES[source]()
    ingest = _container(docs, "StatefulSet", "yixiang-ingest")
    client_id = {e["name"]: e for e in ingest.get("env") or []}["YIXIANG_OVERSIGHT_MQTT_CLIENT_ID"]
    assert client_id["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    section = OversightSettings.of(load_settings({"YIXIANG_OVERSIGHT_MQTT_CLIENT_ID": "yixiang-ingest-0"}))
    assert ingest_identifier(section) == "yixiang-ingest-0"  # a pod's name is a valid id, used as is
    for probe in ("startupProbe", "livenessProbe"):  # a stuck loop is restarted
        command = (ingest.get(probe) or {}).get("exec", {}).get("command")
        assert command == ["yixiang", "oversight", "ingest", "--check-heartbeat"], f"{source}: {probe}"
    assert _one(docs, "ConfigMap", "yixiang-config")["data"]["YIXIANG_DATA_DIR"] in {
        m["mountPath"] for m in ingest["volumeMounts"]
    }, "the heartbeat's folder must be writable"
    statefulset = _one(docs, "StatefulSet", "yixiang-ingest")
    service = _one(docs, "Service", statefulset["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    # the broker's address carries the ingest account's password: a Secret's, not configuration
    assert "YIXIANG_OVERSIGHT_MQTT_URL" not in _one(docs, "ConfigMap", "yixiang-config")["data"]
    if source == "base":
        assert "YIXIANG_OVERSIGHT_MQTT_URL" in _one(docs, "Secret", "yixiang-secrets")["stringData"]
