"""The `monitoring` profile of docker-compose.yml: Prometheus's configuration and alert rules checked
and unit-tested with promtool, the Grafana dashboard's queries parsed by promtool, and every metric
they name found in a real scrape of the services."""

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from fountain_cli import deployment, gateway, monitoring, registry
from fountain_common.service import REPO_ROOT
from tests.deployment.test_compose import REQUIRED, _config, docker_compose  # noqa: F401 (fixture)

API_SERVICES = {deployment.compose_service_name(s): s for s in registry.all_services()}


@pytest.fixture(scope="session")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is needed to check deploy/monitoring/: `make deploy-tools` installs Debian's prometheus "
            "package (apt-get install prometheus)."
        )
    return found


def run(promtool: str, *args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False)


def test_committed_files_are_what_the_generator_produces() -> None:
    assert gateway.generated_differences() == []
    for path in monitoring.generated_files(gateway.to_yaml):
        assert path.exists(), path


def test_prometheus_config_and_rules_pass_promtool(promtool: str) -> None:
    result = run(promtool, "check", "config", str(monitoring.PROMETHEUS_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout + result.stderr  # the config loads the alert rules
    result = run(promtool, "check", "rules", str(monitoring.ALERTS_FILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_fails_on_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    broken = tmp_path / "alerts.yml"
    broken.write_text(monitoring.ALERTS_FILE.read_text().replace("== 0", "== "))
    assert run(promtool, "check", "rules", str(broken)).returncode != 0


def test_every_api_service_is_scraped_on_its_port(compose: dict[str, Any]) -> None:
    config = yaml.safe_load(monitoring.PROMETHEUS_FILE.read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == monitoring.SCRAPE_JOB)
    assert job["metrics_path"] == "/metrics"
    scraped = {name: target["port"] for target in job["dns_sd_configs"] for name in target["names"]}
    assert set(scraped) == set(API_SERVICES)
    for name, port in scraped.items():
        assert str(port) in compose["services"][name]["expose"]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(gateway.COMPOSE_FILE.read_text())


def _description(alert: str) -> str:
    rules = yaml.safe_load(monitoring.ALERTS_FILE.read_text())["groups"][0]["rules"]
    return str(next(rule for rule in rules if rule["alert"] == alert)["annotations"]["description"])


def _alert_test(series: dict[str, str], alert: str, at: str, fired: list[tuple[dict[str, str], str]]) -> dict[str, Any]:
    """promtool's unit test: `alert` at `at` is exactly `fired`, each (labels, rendered summary)."""
    expected = [
        {
            "exp_labels": labels,
            "exp_annotations": {
                "summary": summary,
                "description": _description(alert).replace("{{ $labels.service }}", labels.get("service", "")),
            },
        }
        for labels, summary in fired
    ]
    return {
        "interval": "1m",
        "input_series": [{"series": name, "values": values} for name, values in series.items()],
        "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": expected}],
    }


REQUESTS = "fountain_http_request_duration_seconds_count"
BUCKET = "fountain_http_request_duration_seconds_bucket"
UP = 'up{job="fountainai",instance="10.0.0.2:8102",compose_service="%s"}'


def _all_services_up(except_: str = "") -> dict[str, str]:
    return {UP % name: "1x30" for name in API_SERVICES if name != except_}


def _buckets(service: str, slow: bool) -> dict[str, str]:
    """60 requests a minute; slow: a tenth of them take over 2.5 s."""
    labels = f'service="{service}",operation="getCharacter",status="200"'
    fast_per_minute = 54 if slow else 60
    return {
        f'{BUCKET}{{{labels},le="0.01"}}': f"0+{fast_per_minute}x30",
        f'{BUCKET}{{{labels},le="2.5"}}': f"0+{fast_per_minute}x30",
        f'{BUCKET}{{{labels},le="+Inf"}}': "0+60x30",
    }


ALERT_CASES = {
    "errors fire above 5%": _alert_test(
        {
            f'{REQUESTS}{{service="character",operation="getCharacter",status="200"}}': "0+90x30",
            f'{REQUESTS}{{service="character",operation="getCharacter",status="500"}}': "0+10x30",
            f'{REQUESTS}{{service="core_script",operation="addScript",status="201"}}': "0+100x30",
            f'{REQUESTS}{{service="core_script",operation="addScript",status="503"}}': "0+1x30",
        },
        "FountainAIHighErrorRate",
        "15m",
        [({"service": "character", "severity": "critical"}, "character answers 5xx to 10% of requests")],
    ),
    "errors do not fire before 5 minutes": _alert_test(
        {f'{REQUESTS}{{service="character",operation="getCharacter",status="500"}}': "0+10x30"},
        "FountainAIHighErrorRate",
        "4m",
        [],
    ),
    "slow p99 fires": _alert_test(
        {**_buckets("character", slow=True), **_buckets("session_context", slow=False)},
        "FountainAISlowRequests",
        "20m",
        [({"service": "character", "severity": "warning"}, "character: 1% of requests take longer than 2.5s")],
    ),
    "not ready fires after 2 minutes": _alert_test(
        {
            'fountain_service_ready{service="character",instance="a"}': "1 1 0x10",
            'fountain_service_ready{service="story_factory",instance="b"}': "1x12",
        },
        "FountainAINotReady",
        "6m",
        [({"service": "character", "instance": "a", "severity": "critical"}, "character (a) is not ready")],
    ),
    "a replica that stops answering is down": _alert_test(
        {UP % "character": "1 0x10"},
        "FountainAIDown",
        "5m",
        [
            (
                {
                    "job": "fountainai",
                    "instance": "10.0.0.2:8102",
                    "compose_service": "character",
                    "severity": "critical",
                },
                "10.0.0.2:8102 does not answer /metrics",
            )
        ],
    ),
    "a service without any replica is missing": _alert_test(
        _all_services_up(except_="story-factory"),
        "FountainAIServiceMissing",
        "5m",
        [
            (
                {"job": "fountainai", "compose_service": "story-factory", "severity": "critical"},
                "No replica of story-factory is running",
            )
        ],
    ),
    "nothing is missing when every service runs": _alert_test(_all_services_up(), "FountainAIServiceMissing", "5m", []),
    "a busy pool fires": _alert_test(
        {
            'fountain_db_pool_connections_in_use{service="character",instance="a"}': "28x10",
            'fountain_db_pool_connections_max{service="character",instance="a"}': "30x10",
            'fountain_db_pool_connections_in_use{service="core_script",instance="b"}': "12x10",
            'fountain_db_pool_connections_max{service="core_script",instance="b"}': "30x10",
        },
        "FountainAIPoolExhausted",
        "8m",
        [
            (
                {"service": "character", "instance": "a", "severity": "warning"},
                "character (a) uses 93.33% of its database pool",
            )
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(ALERT_CASES))
def test_alerts_fire_when_and_only_when_they_should(promtool: str, tmp_path: Path, case: str) -> None:
    tests = tmp_path / "alerts_test.yml"
    tests.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(monitoring.ALERTS_FILE)],
                "evaluation_interval": "1m",
                "tests": [ALERT_CASES[case]],
            }
        )
    )
    result = run(promtool, "test", "rules", str(tests))
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_alert_test_fails_when_the_alert_does_not_fire(promtool: str, tmp_path: Path) -> None:
    """The unit tests above can fail: expecting an alert on healthy series is refused."""
    case = _alert_test(_all_services_up(), "FountainAIServiceMissing", "5m", [({"compose_service": "character"}, "")])
    tests = tmp_path / "alerts_test.yml"
    tests.write_text(
        yaml.safe_dump({"rule_files": [str(monitoring.ALERTS_FILE)], "evaluation_interval": "1m", "tests": [case]})
    )
    assert run(promtool, "test", "rules", str(tests)).returncode != 0


def _dashboard() -> dict[str, Any]:
    return dict(json.loads(monitoring.DASHBOARD_FILE.read_text()))


def _queries() -> list[str]:
    dashboard = _dashboard()
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queries += [variable["definition"] for variable in dashboard["templating"]["list"]]
    return queries


def _as_promql(query: str) -> str:
    """Grafana's variables replaced by what they stand for, so that promtool can parse the query."""
    query = query.replace("$__rate_interval", "1m").replace("$service", ".*")
    # label_values(metric, label) is Grafana's: the metric is what Prometheus is asked for.
    return re.sub(r"^label_values\((.+), *\w+\)$", r"group by (service) (\1)", query)


def test_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:query{n}", "expr": _as_promql(q)} for n, q in enumerate(_queries())],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_is_provisioned_from_the_prometheus_data_source() -> None:
    dashboard = _dashboard()
    datasource = yaml.safe_load(monitoring.GRAFANA_DATASOURCE_FILE.read_text())["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090" and datasource["uid"] == monitoring.DATASOURCE_UID
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == datasource["uid"]
        assert all(target["datasource"]["uid"] == datasource["uid"] for target in panel["targets"])
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        covered = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not covered & cells, f"{panel['title']} overlaps another panel"
        cells |= covered
    provider = yaml.safe_load(monitoring.GRAFANA_DASHBOARDS_FILE.read_text())["providers"][0]
    assert provider["options"]["path"] == monitoring.GRAFANA_DASHBOARD_DIR


async def test_every_metric_the_rules_and_dashboard_name_is_exported(
    client_for: Callable[[str], httpx.AsyncClient],
) -> None:
    client = client_for("core_script")
    # Traffic that creates every labelled series: a call to another service and an idempotent replay.
    for _ in range(2):
        created = await client.post("/v2/scripts", json={"title": "Hamlet"}, headers={"Idempotency-Key": "monitoring"})
        assert created.status_code == 201, created.text
    scraped = (await client.get("/metrics")).text
    exported = {sample.name for family in text_string_to_metric_families(scraped) for sample in family.samples}
    rules = yaml.safe_load(monitoring.ALERTS_FILE.read_text())["groups"][0]["rules"]
    named = set(re.findall(r"\bfountain_[a-z_]+", "\n".join([rule["expr"] for rule in rules] + _queries())))
    assert named, "the rules and dashboard name no fountain_ metric"
    assert named <= exported, f"named but never exported: {sorted(named - exported)}"


def test_monitoring_services_run_only_in_their_profile(docker_compose: str, tmp_path: Path) -> None:  # noqa: F811
    result = _config(docker_compose, tmp_path, REQUIRED)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    for name in ("prometheus", "grafana"):
        assert resolved[name]["profiles"] == ["monitoring"]
        for port in resolved[name]["ports"]:
            assert port["host_ip"] == "127.0.0.1" if isinstance(port, dict) else port.startswith("127.0.0.1:")
        for volume in resolved[name]["volumes"]:
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith("/"):
                assert Path(source).exists(), f"{name} mounts {source}, which is not in the repository"
    for name in [*API_SERVICES, "postgres", "kong"]:
        assert "profiles" not in resolved[name], f"{name} must start without a profile"


def test_the_mounted_files_are_where_the_containers_read_them(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    config_path = next(a for a in prometheus["command"] if a.startswith("--config.file=")).split("=", 1)[1]
    mounts = dict(volume.split(":")[1::-1] for volume in prometheus["volumes"] if volume.startswith("./"))
    assert config_path in mounts
    rule_file = yaml.safe_load(monitoring.PROMETHEUS_FILE.read_text())["rule_files"][0]
    assert str(Path(config_path).parent / rule_file) in mounts
    grafana = compose["services"]["grafana"]
    targets = [volume.split(":")[1] for volume in grafana["volumes"]]
    assert monitoring.GRAFANA_PROVISIONING_DIR in targets and monitoring.GRAFANA_DASHBOARD_DIR in targets
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{monitoring.GRAFANA_DASHBOARD_DIR}/{monitoring.DASHBOARD_FILE.name}"
