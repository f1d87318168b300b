"""docker-compose.yml, generated from the service registry and the settings the services read.

Every service runs from one image (see Dockerfile); a one-shot `migrate` service upgrades every
schema before any API starts, and `gateway-config` renders Kong's configuration with the API keys
of the deployment (never committed) into a volume Kong reads at start-up. Optional profiles:
`backup` (a one-shot `fountain backup` into the `backups` volume) and `monitoring` (monitoring.py).
"""

from typing import Any

from pydantic_core import PydanticUndefined

from fountain_cli import monitoring, registry
from fountain_common.service import ServiceDefinition
from fountain_common.settings import Settings

COMPOSE_FILE = "docker-compose.yml"
IMAGE = "fountainai:latest"
KONG_IMAGE = "kong:3.9.1"
POSTGRES_IMAGE = "postgres:16.9"
ENV_PREFIX = Settings.model_config.get("env_prefix", "FOUNTAIN_")

DATABASE_USER = "fountain"
DATABASE_NAME = "fountain"
PASSWORD = "${POSTGRES_PASSWORD:?Set POSTGRES_PASSWORD (see .env.example)}"
CONSUMERS = "${GATEWAY_CONSUMERS:?Set GATEWAY_CONSUMERS to name:role:key entries (see .env.example)}"
# Kong proves to the services that it named the caller; both get the same secret.
GATEWAY_SECRET = "${GATEWAY_SECRET:?Set GATEWAY_SECRET (fountain gateway new-key; see .env.example)}"
# Optional: without it Kong accepts keys only, no token (`fountain accounts token-key` prints it).
TOKEN_PUBLIC_KEY = "${GATEWAY_TOKEN_PUBLIC_KEY:-}"

# Kong reads the configuration `gateway-config` renders into this volume.
DECLARATIVE_DIR = "/kong/declarative"
# Where the backup job writes; the image creates it for its user, so the volume starts writable.
BACKUP_DIR = "/backups"
KONG_PROXY_PORT = 8000
KONG_STATUS_PORT = 8100

# Values that differ from the Settings defaults inside the deployment; the rest keep their default
# and can be overridden from the environment of `docker compose`.
COMPOSE_SETTINGS = {
    "database_url": f"postgresql://{DATABASE_USER}:{PASSWORD}@postgres:5432/{DATABASE_NAME}",
    "data_dir": "/tmp/fountain",  # only used by the embedded PostgreSQL, which compose never starts
    "gateway_secret": GATEWAY_SECRET,
}


def compose_service_name(service: ServiceDefinition) -> str:
    """Docker DNS names: hyphens, because underscores are not valid in host names Kong resolves."""
    return service.name.replace("_", "-")


def deployment_settings() -> dict[str, str]:
    """COMPOSE_SETTINGS, plus each service's URL inside the compose network: services call each other
    directly by compose name, not through Kong (which would ask them for an API key)."""
    urls = {
        f"{svc.name}_url": f"http://{compose_service_name(svc)}:{svc.port}"
        for svc in registry.all_services()
        if f"{svc.name}_url" in Settings.model_fields
    }
    return {**COMPOSE_SETTINGS, **urls}


def settings_environment() -> dict[str, str | None]:
    """FOUNTAIN_* for every Settings field: the deployment's value, else `${VAR:-default}`.

    A field without default is passed through from the environment of `docker compose` (None:
    compose leaves it unset when the caller has not set it)."""
    environment: dict[str, str | None] = {}
    deployment = deployment_settings()
    for field_name, field in sorted(Settings.model_fields.items()):
        variable = f"{ENV_PREFIX}{field_name}".upper()
        if field_name in deployment:
            environment[variable] = deployment[field_name]
        elif field.default is None or field.default is PydanticUndefined:
            environment[variable] = None
        else:
            environment[variable] = f"${{{variable}:-{field.default}}}"
    return environment


def _python_probe(url: str) -> list[str]:
    # The slim image has no curl: Python's urllib fails (exit 1) on a refused connection or any
    # status of 400 and above.
    return ["CMD", "python", "-c", f"import urllib.request; urllib.request.urlopen('{url}', timeout=3)"]


def _app_service(command: list[str], depends_on: dict[str, Any]) -> dict[str, Any]:
    return {
        "image": IMAGE,
        "build": {"context": "."},
        "command": command,
        "environment": settings_environment(),
        "depends_on": depends_on,
    }


def compose_config() -> dict[str, Any]:
    services: dict[str, Any] = {
        "postgres": {
            "image": POSTGRES_IMAGE,
            "environment": {
                "POSTGRES_USER": DATABASE_USER,
                "POSTGRES_DB": DATABASE_NAME,
                "POSTGRES_PASSWORD": PASSWORD,
            },
            "volumes": ["postgres-data:/var/lib/postgresql/data"],
            "healthcheck": {
                "test": ["CMD", "pg_isready", "-U", DATABASE_USER, "-d", DATABASE_NAME],
                "interval": "5s",
                "timeout": "5s",
                "retries": 12,
            },
            "restart": "unless-stopped",
        },
        "migrate": {
            **_app_service(["fountain", "db", "upgrade"], {"postgres": {"condition": "service_healthy"}}),
            "restart": "no",
        },
        "gateway-config": {
            "image": IMAGE,
            "build": {"context": "."},
            "command": ["fountain", "gateway", "render", "--output", f"{DECLARATIVE_DIR}/kong.yml"],
            "environment": {
                "GATEWAY_CONSUMERS": CONSUMERS,
                "GATEWAY_SECRET": GATEWAY_SECRET,
                "GATEWAY_TOKEN_PUBLIC_KEY": TOKEN_PUBLIC_KEY,
            },
            "volumes": [f"gateway-config:{DECLARATIVE_DIR}"],
            "restart": "no",
        },
    }
    kong_depends: dict[str, Any] = {"gateway-config": {"condition": "service_completed_successfully"}}
    for service in registry.all_services():
        name = compose_service_name(service)
        services[name] = {
            **_app_service(
                [
                    "fountain",
                    "serve",
                    service.name,
                    "--host",
                    "0.0.0.0",
                    "--port",
                    str(service.port),
                    "--no-migrate",
                    # Kong checks the keys; the services are reachable on the compose network only.
                    "--behind-gateway",
                ],
                {
                    "postgres": {"condition": "service_healthy"},
                    "migrate": {"condition": "service_completed_successfully"},
                },
            ),
            "expose": [str(service.port)],
            "healthcheck": {
                "test": _python_probe(f"http://127.0.0.1:{service.port}/health"),
                "interval": "10s",
                "timeout": "5s",
                "retries": 6,
                "start_period": "10s",
            },
            "restart": "unless-stopped",
        }
        kong_depends[name] = {"condition": "service_healthy"}
    services["kong"] = {
        "image": KONG_IMAGE,
        "environment": {
            "KONG_DATABASE": "off",
            "KONG_DECLARATIVE_CONFIG": f"{DECLARATIVE_DIR}/kong.yml",
            "KONG_PROXY_LISTEN": f"0.0.0.0:{KONG_PROXY_PORT}",
            # The admin API listens inside the container only: nothing outside can change routes.
            "KONG_ADMIN_LISTEN": "127.0.0.1:8001",
            # /status and Prometheus /metrics for scrapers on the compose network; not published.
            "KONG_STATUS_LISTEN": f"0.0.0.0:{KONG_STATUS_PORT}",
            "KONG_PROXY_ACCESS_LOG": "/dev/stdout",
            "KONG_PROXY_ERROR_LOG": "/dev/stderr",
            "KONG_ADMIN_ACCESS_LOG": "/dev/stdout",
            "KONG_ADMIN_ERROR_LOG": "/dev/stderr",
            # Docker's DNS answers with a TTL of 600 s: re-resolve often, so that replicas added
            # with `docker compose up --scale` receive traffic within seconds.
            "KONG_DNS_VALID_TTL": "10",
            "KONG_DNS_ORDER": "LAST,A,CNAME",
        },
        "volumes": [f"gateway-config:{DECLARATIVE_DIR}:ro"],
        "ports": [f"${{GATEWAY_PORT:-80}}:{KONG_PROXY_PORT}"],
        "depends_on": kong_depends,
        "healthcheck": {"test": ["CMD", "kong", "health"], "interval": "10s", "timeout": "5s", "retries": 6},
        "restart": "unless-stopped",
    }
    services["backup"] = {
        # `docker compose --profile backup run --rm backup`: one backup folder per run, named by
        # its UTC time, in the `backups` volume (docs/operations.md).
        **_app_service(
            ["sh", "-c", f'exec fountain backup --output "{BACKUP_DIR}/$$(date -u +%Y%m%dT%H%M%SZ)"'],
            {"postgres": {"condition": "service_healthy"}},
        ),
        "profiles": ["backup"],
        "volumes": [f"backups:{BACKUP_DIR}"],
        "restart": "no",
    }
    services.update(monitoring.compose_services())
    return {
        "services": services,
        "volumes": {
            "postgres-data": {},
            "gateway-config": {},
            "backups": {},
            "prometheus-data": {},
            "grafana-data": {},
        },
    }
