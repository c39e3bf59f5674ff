"""The production database (a CloudNativePG ``Cluster`` in k8s/overlays/production) against the app.

kubernetes-validate has no schema for an operator's custom resources, so this checks what the app
relies on instead: the services its URLs name exist, reads have standbys to go to, a confirmed
commit survives a failover, and PostgreSQL accepts every connection the workloads may open.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.test_k8s_manifests import (
    K8S_DIR,
    WORKLOAD_KINDS,
    _base_docs,
    _one,
    _pod_spec,
    _render_production,
)
from yixiang.settings import Settings

CLUSTER = "yixiang-db"
RESERVED = 10  # superuser_reserved_connections (3) and the operator's own, with room to spare


def _cluster() -> dict[str, Any]:
    return _one(_render_production(), "Cluster", CLUSTER)


def _secret_template() -> dict[str, str]:
    data: dict[str, str] = _one(_base_docs(), "Secret", "yixiang-secrets")["stringData"]
    return data


def test_the_app_urls_name_the_clusters_services_database_and_owner() -> None:
    initdb = _cluster()["spec"]["bootstrap"]["initdb"]
    secrets = _secret_template()
    primary = urlsplit(secrets["YIXIANG_DATABASE_URL"])
    assert primary.hostname == f"{CLUSTER}-rw", "writes must go to the primary's service"
    for url in secrets["YIXIANG_DATABASE_READ_URLS"].split(","):
        replica = urlsplit(url)
        assert replica.hostname == f"{CLUSTER}-ro", "reads must go to the standbys' service"
        assert (replica.username, replica.path) == (primary.username, primary.path)
    assert primary.username == initdb["owner"]
    assert primary.path == "/" + initdb["database"]


def test_reads_have_standbys_and_a_commit_survives_losing_a_node() -> None:
    spec = _cluster()["spec"]
    # Two standbys: the -ro service always has one, and with one lost the other still
    # acknowledges commits, so synchronous replication never stops the writes.
    assert spec["instances"] >= 3
    synchronous = spec["postgresql"]["synchronous"]
    assert synchronous["number"] >= 1 and synchronous.get("dataDurability", "required") == "required"
    assert synchronous["number"] <= spec["instances"] - 2
    affinity = spec["affinity"]
    assert affinity["enablePodAntiAffinity"] and affinity["podAntiAffinityType"] == "required"
    image = spec["imageName"]
    assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), "pin PostgreSQL's version"
    assert spec.get("enableSuperuserAccess") is False


def _processes(workload: dict[str, Any], docs: list[dict[str, Any]]) -> int:
    """How many app processes the workload may run at its largest."""
    name, kind = workload["metadata"]["name"], workload["kind"]
    scalers = [
        d["spec"]["maxReplicas"]
        for d in docs
        if d["kind"] == "HorizontalPodAutoscaler"
        and d["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": kind, "name": name}
    ]
    pods = max([workload["spec"].get("replicas", 1), *scalers])
    if kind == "Job":
        pods = workload["spec"].get("parallelism", 1)
    (container,) = _pod_spec(workload)["containers"]
    args = container.get("args", [])
    per_pod = int(args[args.index("--workers") + 1]) if "--workers" in args else 1
    return int(pods) * per_pod


def _setting(container: dict[str, Any], config: dict[str, str], name: str, default: int) -> int:
    for env in container.get("env", []):
        if env["name"] == name:
            return int(env["value"])
    return int(config.get(name, default))


def test_postgresql_accepts_every_connection_the_workloads_may_open() -> None:
    docs = _render_production()
    config = _one(docs, "ConfigMap", "yixiang-config")["data"]
    defaults = Settings()
    need, parts = RESERVED, []
    for workload in (d for d in docs if d["kind"] in WORKLOAD_KINDS):
        (container,) = _pod_spec(workload)["containers"]
        if "yixiang" not in container["image"]:
            continue
        pool = _setting(container, config, "YIXIANG_DATABASE_POOL_SIZE", defaults.database_pool_size)
        overflow = _setting(
            container, config, "YIXIANG_DATABASE_MAX_OVERFLOW", defaults.database_max_overflow
        )
        processes = _processes(workload, docs)
        need += processes * (pool + overflow)
        parts.append(f"{workload['metadata']['name']}: {processes} × {pool + overflow}")
    assert len(parts) >= 3, parts  # the API, the worker and the migration at least
    allowed = int(_cluster()["spec"]["postgresql"]["parameters"]["max_connections"])
    assert allowed >= need, f"max_connections {allowed} < {need} ({'; '.join(parts)}; +{RESERVED})"


def test_the_cluster_is_in_the_production_overlay_only() -> None:
    assert not any(d.get("kind") == "Cluster" for d in _base_docs())
    kustomization = yaml.safe_load((K8S_DIR / "overlays/production/kustomization.yaml").read_text())
    assert "database.yaml" in kustomization["resources"]
