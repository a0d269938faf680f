"""deploy/compose.yaml and the observability files it mounts.

``docker compose config`` cannot run here, so the file is validated against the
compose-spec JSON schema vendored by check-jsonschema, then checked for what
Conveyor needs: Redis with AOF and the ACL file, one Redis user per service,
scheduler and worker replicas, a worker stop grace longer than its drain, and
the observability profile with files that exist.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conveyor_worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
SERVICES = ("ingest", "scheduler", "worker")

Doc = dict[str, Any]


def compose() -> Doc:
    """The compose file, YAML anchors and merge keys resolved."""
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema against the vendored compose-spec schema."""
    return subprocess.run(  # noqa: S603 - the pinned validator on a file we wrote
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_compose_file_matches_the_compose_spec_schema() -> None:
    result = validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    broken = compose()
    broken["services"]["worker"]["deploy"]["replicas"] = {"many": True}
    broken["services"]["ingest"]["restart"] = ["always"]
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    assert validate(path).returncode != 0


def _env(service: str) -> dict[str, str]:
    env = compose()["services"][service]["environment"]
    assert isinstance(env, dict)
    return {str(k): str(v) for k, v in env.items()}


def test_redis_runs_with_aof_the_acl_file_and_a_configurable_fsync() -> None:
    redis = compose()["services"]["redis"]
    command = " ".join(redis["command"])
    assert "render-acl.sh /conveyor/users.acl /tmp/users.acl" in command
    assert "redis-server /conveyor/redis.conf --aclfile /tmp/users.acl" in command
    assert '--appendfsync "$$APPENDFSYNC"' in command
    assert redis["environment"]["APPENDFSYNC"] == "${CONVEYOR_REDIS_APPENDFSYNC:-everysec}"
    mounts = {m.split(":")[1]: DEPLOY / m.split(":")[0] for m in redis["volumes"][1:]}
    assert all(path.exists() for path in mounts.values())
    assert mounts["/conveyor/redis.conf"] == DEPLOY / "redis" / "redis.conf"
    assert "redis-data:/data" in redis["volumes"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_reads_the_same_queues_and_partitions(service: str) -> None:
    env = _env(service)
    assert env["CONVEYOR_QUEUES"] == "${CONVEYOR_QUEUES:-default}"
    assert env["CONVEYOR_QUEUE_PARTITIONS"] == "${CONVEYOR_QUEUE_PARTITIONS:-}"


def test_redis_is_the_version_kubernetes_pins() -> None:
    statefulset = next(
        doc
        for doc in yaml.safe_load_all((DEPLOY / "k8s" / "base" / "redis.yaml").read_text())
        if doc["kind"] == "StatefulSet"
    )
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert compose()["services"]["redis"]["image"] == container["image"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_connects_as_its_own_redis_user(service: str) -> None:
    url = _env(service)["CONVEYOR_REDIS_URL"]
    assert re.fullmatch(
        rf"redis://conveyor-{service}:\$\{{CONVEYOR_{service.upper()}_REDIS_PASSWORD\}}@redis:6379/0",
        url,
    )
    password_var = f"CONVEYOR_{service.upper()}_REDIS_PASSWORD"
    redis_env = compose()["services"]["redis"]["environment"]
    assert redis_env[f"{service.upper()}_PASSWORD"].startswith(f"${{{password_var}:?")


@pytest.mark.parametrize("service", SERVICES)
def test_service_containers_are_locked_down(service: str) -> None:
    spec = compose()["services"][service]
    assert spec["read_only"] is True
    assert spec["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in spec["security_opt"]
    assert spec["build"] == {
        "context": "..",
        "dockerfile": "deploy/docker/Dockerfile",
        "target": service,
    }
    assert spec["depends_on"]["redis"]["condition"] == "service_healthy"


def test_replicas_grace_and_ports() -> None:
    services = compose()["services"]
    assert services["scheduler"]["deploy"]["replicas"] == 2
    assert str(services["worker"]["deploy"]["replicas"]).startswith("${CONVEYOR_WORKER_REPLICAS")
    grace = int(services["worker"]["stop_grace_period"].removesuffix("s"))
    drain = float(_env("worker")["CONVEYOR_WORKER_SHUTDOWN_GRACE"])
    assert drain == WorkerSettings.model_fields["shutdown_grace"].default
    assert grace > drain + 5
    assert services["ingest"]["ports"] == ["${CONVEYOR_INGEST_PUBLISHED_PORT:-8080}:8080"]
    assert _env("ingest")["CONVEYOR_INGEST_HOST"] == "0.0.0.0"  # noqa: S104 - inside the container
    assert _env("ingest")["CONVEYOR_INGEST_JWT_SECRET"].startswith("${CONVEYOR_INGEST_JWT_SECRET:?")


def test_observability_profile_mounts_existing_files() -> None:
    services = compose()["services"]
    profiled = {name for name, spec in services.items() if "profiles" in spec}
    assert profiled == {"otel-collector", "jaeger", "prometheus", "grafana"}
    for name in profiled:
        assert services[name]["profiles"] == ["observability"]
        for volume in services[name].get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"


def test_prometheus_scrapes_every_service_and_loads_the_alert_rules() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    targets = {
        job["job_name"]: (job["dns_sd_configs"][0]["names"], job["dns_sd_configs"][0]["port"])
        for job in config["scrape_configs"]
    }
    assert targets == {
        "conveyor-ingest": (["ingest"], 8080),
        "conveyor-scheduler": (["scheduler"], 9102),
        "conveyor-worker": (["worker"], 9101),
    }


def metric_names(expr: str) -> set[str]:
    """Metric names of a PromQL expression: identifiers that are not functions or labels."""
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\bby\s*\([^)]*\)", "", expr)
    return set(re.findall(r"\b([a-zA-Z_]\w*)\b(?!\s*\()", bare)) - PROMQL_KEYWORDS


# Binary operators and modifiers that look like identifiers.
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset"}


def test_metric_names_are_found_in_promql() -> None:
    expr = 'sum by (queue) (rate(conveyor_a_total{x="y"}[5m])) / clamp_min(up, 1e-9) > 0.2'
    assert metric_names(expr) == {"conveyor_a_total", "up"}
    assert metric_names("conveyor_a > 1 and conveyor_b or time() - conveyor_c") == {
        "conveyor_a",
        "conveyor_b",
        "conveyor_c",
    }


def test_alert_rules_are_well_formed_and_name_conveyor_metrics() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    names = [r["alert"] for group in rules["groups"] for r in group["rules"]]
    assert len(names) == len(set(names)) >= 8
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert rule["annotations"]["summary"]
            metrics = metric_names(rule["expr"])
            assert metrics, rule["alert"]
            assert all(m == "up" or m.startswith("conveyor_") for m in metrics), metrics


def test_grafana_dashboard_and_datasource_are_provisioned() -> None:
    dashboard = json.loads(
        (DEPLOY / "grafana" / "dashboards" / "conveyor-overview.json").read_text()
    )
    assert dashboard["uid"] == "conveyor-overview"
    assert all(p["targets"][0]["expr"] for p in dashboard["panels"])
    sources = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )
    assert {s["uid"] for s in sources["datasources"]} >= {"prometheus"}


def test_collector_sends_traces_to_jaeger() -> None:
    config = yaml.safe_load((DEPLOY / "otel" / "collector.yaml").read_text())
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    (exporter,) = pipeline["exporters"]
    assert config["exporters"][exporter]["endpoint"] == "jaeger:4317"
