"""The `monitoring` profile of docker-compose.yml: Prometheus's configuration and alert rules, and
Grafana's provisioned data source and dashboard, generated from the service registry and the metric
names of fountain_common/metrics.py (written by `fountain gateway`, like docker-compose.yml).

Prometheus finds every replica of a service through Docker's DNS (one address per replica, as Kong
does) and scrapes its /metrics, which Kong never publishes. There is no Alertmanager in the profile:
firing alerts show in Prometheus (/alerts) and in Grafana; point `alerting` at an Alertmanager to
send them on.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fountain_cli import deployment, registry
from fountain_common import metrics
from fountain_common.service import REPO_ROOT

MONITORING_DIR = REPO_ROOT / "deploy" / "monitoring"
PROMETHEUS_FILE = MONITORING_DIR / "prometheus.yml"
ALERTS_FILE = MONITORING_DIR / "alerts.yml"
GRAFANA_DATASOURCE_FILE = MONITORING_DIR / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
GRAFANA_DASHBOARDS_FILE = MONITORING_DIR / "grafana" / "provisioning" / "dashboards" / "fountainai.yml"
DASHBOARD_FILE = MONITORING_DIR / "grafana" / "dashboards" / "fountainai.json"

# Where the files are inside the containers.
PROMETHEUS_CONFIG_DIR = "/etc/prometheus"
GRAFANA_PROVISIONING_DIR = "/etc/grafana/provisioning"
GRAFANA_DASHBOARD_DIR = "/etc/grafana/dashboards"

PROMETHEUS_IMAGE = "prom/prometheus:v2.55.1"
GRAFANA_IMAGE = "grafana/grafana:11.6.1"
SCRAPE_JOB = "fountainai"
SCRAPE_INTERVAL = "15s"
DNS_NAME_LABEL = "compose_service"
DATASOURCE_UID = "fountainai-prometheus"
DASHBOARD_UID = "fountainai-services"

# Alert thresholds.
ERROR_RATIO = 0.05  # more than 5% of a service's requests answered 5xx
SLOW_P99_SECONDS = 1.0  # the slowest 1% of a service's requests take longer than this
POOL_BUSY_RATIO = 0.9  # 90% of a pool's connections checked out

# Metric names (fountain_common/metrics.py; tests/deployment/test_monitoring.py checks each against a
# real scrape).
REQUESTS = "fountain_http_request_duration_seconds_count"
BUCKETS = "fountain_http_request_duration_seconds_bucket"
READY = "fountain_service_ready"
# /metrics waits for the readiness checks: it is left out of the latency the alerts watch.
SERVED = 'operation!="metrics"'


def prometheus_config() -> dict[str, Any]:
    services = [
        {
            "names": [deployment.compose_service_name(service)],
            "type": "A",
            "port": service.port,
            "refresh_interval": "30s",
        }
        for service in registry.all_services()
    ]
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [ALERTS_FILE.name],  # beside this file, here and in the container
        "scrape_configs": [
            {
                "job_name": SCRAPE_JOB,
                "metrics_path": metrics.METRICS_PATH,
                "dns_sd_configs": services,
                # The compose service a replica belongs to: FountainAIServiceMissing finds a service
                # with no replica left by it.
                "relabel_configs": [{"source_labels": ["__meta_dns_name"], "target_label": DNS_NAME_LABEL}],
            },
            {
                # Kong's prometheus plugin, on its status listener (not published either).
                "job_name": "kong",
                "static_configs": [{"targets": [f"kong:{deployment.KONG_STATUS_PORT}"]}],
            },
        ],
    }


def alert_rules() -> dict[str, Any]:
    def alert(name: str, expr: str, duration: str, severity: str, summary: str, description: str) -> dict[str, Any]:
        return {
            "alert": name,
            "expr": expr,
            "for": duration,
            "labels": {"severity": severity},
            "annotations": {"summary": summary, "description": description},
        }

    return {
        "groups": [
            {
                "name": "fountainai",
                "rules": [
                    alert(
                        "FountainAIHighErrorRate",
                        f'sum by (service) (rate({REQUESTS}{{status=~"5.."}}[5m]))'
                        f" / sum by (service) (rate({REQUESTS}[5m])) > {ERROR_RATIO}",
                        "5m",
                        "critical",
                        "{{ $labels.service }} answers 5xx to {{ $value | humanizePercentage }} of requests",
                        f"More than {ERROR_RATIO:.0%} of the requests of {{{{ $labels.service }}}} failed with a "
                        "server error for 5 minutes. Its logs name each failure by request id.",
                    ),
                    alert(
                        "FountainAISlowRequests",
                        f"histogram_quantile(0.99, sum by (service, le) (rate({BUCKETS}{{{SERVED}}}[5m])))"
                        f" > {SLOW_P99_SECONDS:g}",
                        "10m",
                        "warning",
                        "{{ $labels.service }}: 1% of requests take longer than {{ $value | humanizeDuration }}",
                        f"The 99th percentile latency of {{{{ $labels.service }}}} stayed above {SLOW_P99_SECONDS:g} s "
                        "for 10 minutes.",
                    ),
                    alert(
                        "FountainAINotReady",
                        f"{READY} == 0",
                        "2m",
                        "critical",
                        "{{ $labels.service }} ({{ $labels.instance }}) is not ready",
                        "The service cannot reach its database, or its schema is not at the newest migration "
                        "(`fountain db upgrade`), for 2 minutes.",
                    ),
                    alert(
                        "FountainAIDown",
                        f'up{{job="{SCRAPE_JOB}"}} == 0',
                        "1m",
                        "critical",
                        "{{ $labels.instance }} does not answer /metrics",
                        "Prometheus could not scrape the service for 1 minute: the process is down or hung.",
                    ),
                    alert(
                        "FountainAIServiceMissing",
                        " or ".join(
                            f'absent(up{{job="{SCRAPE_JOB}",{DNS_NAME_LABEL}="{deployment.compose_service_name(service)}"}})'
                            for service in registry.all_services()
                        ),
                        "2m",
                        "critical",
                        "No replica of {{ $labels." + DNS_NAME_LABEL + " }} is running",
                        "Docker's DNS names no container of the service, so Prometheus has nothing to scrape "
                        "(`docker compose ps`).",
                    ),
                    alert(
                        "FountainAIPoolExhausted",
                        f"fountain_db_pool_connections_in_use / fountain_db_pool_connections_max >= {POOL_BUSY_RATIO}",
                        "5m",
                        "warning",
                        "{{ $labels.service }} ({{ $labels.instance }}) uses {{ $value | humanizePercentage }} "
                        "of its database pool",
                        "Requests wait for a database connection. Raise FOUNTAIN_POOL_SIZE (within PostgreSQL's "
                        "max_connections), add replicas, or look for slow statements.",
                    ),
                ],
            }
        ]
    }


def grafana_datasource() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": "http://prometheus:9090",
                "isDefault": True,
                "editable": False,
            }
        ],
    }


def grafana_dashboard_provider() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "fountainai",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": GRAFANA_DASHBOARD_DIR},
            }
        ],
    }


def dashboard() -> dict[str, Any]:
    selected = 'service=~"$service"'
    panels: list[dict[str, Any]] = []

    def panel(title: str, unit: str, targets: list[tuple[str, str]], kind: str = "timeseries", width: int = 12) -> None:
        # Left to right in rows of 24 columns, 8 high.
        x = sum(p["gridPos"]["w"] for p in panels) % 24
        y = sum(p["gridPos"]["w"] for p in panels) // 24 * 8
        if x + width > 24:
            x, y = 0, y + 8
        panels.append(
            {
                "id": len(panels) + 1,
                "type": kind,
                "title": title,
                "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
                "gridPos": {"x": x, "y": y, "w": width, "h": 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [
                    {
                        "refId": chr(ord("A") + index),
                        "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
                        "expr": expr,
                        "legendFormat": legend,
                    }
                    for index, (expr, legend) in enumerate(targets)
                ],
            }
        )

    rate = "$__rate_interval"
    panel("Ready", "none", [(f"min by (service) ({READY}{{{selected}}})", "{{service}}")], "stat")
    panel(
        "Pool connections in use",
        "percentunit",
        [
            (
                f"sum by (service) (fountain_db_pool_connections_in_use{{{selected}}})"
                f" / sum by (service) (fountain_db_pool_connections_max{{{selected}}})",
                "{{service}}",
            )
        ],
    )
    panel(
        "Requests per second", "reqps", [(f"sum by (service) (rate({REQUESTS}{{{selected}}}[{rate}]))", "{{service}}")]
    )
    panel(
        "Server errors (5xx share)",
        "percentunit",
        [
            (
                f'sum by (service) (rate({REQUESTS}{{{selected},status=~"5.."}}[{rate}]))'
                f" / sum by (service) (rate({REQUESTS}{{{selected}}}[{rate}]))",
                "{{service}}",
            )
        ],
    )
    for quantile in (0.5, 0.99):
        panel(
            f"Latency p{quantile * 100:g}",
            "s",
            [
                (
                    f"histogram_quantile({quantile}, sum by (service, le) "
                    f"(rate({BUCKETS}{{{selected},{SERVED}}}[{rate}])))",
                    "{{service}}",
                )
            ],
        )
    panel(
        "Requests by operation and status",
        "reqps",
        [(f"sum by (service, operation, status) (rate({REQUESTS}{{{selected}}}[{rate}]))", "{{operation}} {{status}}")],
        width=24,
    )
    panel(
        "Calls to other services by outcome",
        "reqps",
        [
            (
                f"sum by (service, target, outcome) (rate(fountain_upstream_requests_total{{{selected}}}[{rate}]))",
                "{{service}} -> {{target}} {{outcome}}",
            )
        ],
    )
    panel(
        "Idempotent replays",
        "reqps",
        [
            (
                f"sum by (service, operation) (rate(fountain_idempotent_replays_total{{{selected}}}[{rate}]))",
                "{{service}} {{operation}}",
            )
        ],
    )
    return {
        "uid": DASHBOARD_UID,
        "title": "FountainAI services",
        "description": "Generated by `fountain gateway` from fountain_cli/monitoring.py: do not edit.",
        "tags": ["fountainai"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "service",
                    "label": "Service",
                    "type": "query",
                    "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
                    "query": {"query": f"label_values({READY}, service)", "refId": "service"},
                    "definition": f"label_values({READY}, service)",
                    "refresh": 2,
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {"text": "All", "value": "$__all"},
                }
            ]
        },
        "panels": panels,
    }


HEADER = (
    "# Generated by `fountain gateway` (also run by `make codegen`) from fountain_cli/monitoring.py and\n"
    "# the service registry. Do not edit: change those and regenerate; `make check-generated` fails\n"
    "# when this file differs from what they produce.\n"
)


def generated_files(to_yaml: Callable[[dict[str, Any], str], str]) -> dict[Path, str]:
    """Every file of the monitoring profile with its content (`to_yaml(data, header)` writes YAML)."""
    return {
        PROMETHEUS_FILE: to_yaml(prometheus_config(), HEADER),
        ALERTS_FILE: to_yaml(alert_rules(), HEADER),
        GRAFANA_DATASOURCE_FILE: to_yaml(grafana_datasource(), HEADER),
        GRAFANA_DASHBOARDS_FILE: to_yaml(grafana_dashboard_provider(), HEADER),
        # JSON has no comments: the dashboard's description says where it comes from.
        DASHBOARD_FILE: json.dumps(dashboard(), indent=2) + "\n",
    }


def compose_services() -> dict[str, Any]:
    """Prometheus and Grafana, started only with `docker compose --profile monitoring up`."""
    relative = MONITORING_DIR.relative_to(REPO_ROOT)
    return {
        "prometheus": {
            "image": PROMETHEUS_IMAGE,
            "profiles": ["monitoring"],
            "command": [
                f"--config.file={PROMETHEUS_CONFIG_DIR}/{PROMETHEUS_FILE.name}",
                "--storage.tsdb.path=/prometheus",
                "--storage.tsdb.retention.time=${PROMETHEUS_RETENTION:-15d}",
            ],
            "volumes": [
                f"./{relative}/{PROMETHEUS_FILE.name}:{PROMETHEUS_CONFIG_DIR}/{PROMETHEUS_FILE.name}:ro",
                f"./{relative}/{ALERTS_FILE.name}:{PROMETHEUS_CONFIG_DIR}/{ALERTS_FILE.name}:ro",
                "prometheus-data:/prometheus",
            ],
            # On the host's loopback only: the metrics name every operation and service.
            "ports": ["127.0.0.1:${PROMETHEUS_PORT:-9090}:9090"],
            "restart": "unless-stopped",
        },
        "grafana": {
            "image": GRAFANA_IMAGE,
            "profiles": ["monitoring"],
            "environment": {
                # Passed through from the environment of `docker compose`; unset, Grafana asks to
                # change its default password at the first login.
                "GF_SECURITY_ADMIN_PASSWORD": None,
                "GF_USERS_ALLOW_SIGN_UP": "false",
                "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH": f"{GRAFANA_DASHBOARD_DIR}/{DASHBOARD_FILE.name}",
            },
            "volumes": [
                f"./{relative}/grafana/provisioning:{GRAFANA_PROVISIONING_DIR}:ro",
                f"./{relative}/grafana/dashboards:{GRAFANA_DASHBOARD_DIR}:ro",
                "grafana-data:/var/lib/grafana",
            ],
            "ports": ["127.0.0.1:${GRAFANA_PORT:-3000}:3000"],
            "depends_on": ["prometheus"],
            "restart": "unless-stopped",
        },
    }
