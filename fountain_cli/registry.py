"""The services of this repository, found by their folders: services/<name>/service.py defines SERVICE."""

import importlib
from functools import cache

from fountain_common.service import REPO_ROOT, ServiceDefinition

SERVICES_DIR = REPO_ROOT / "services"


def service_names() -> list[str]:
    return sorted(p.parent.name for p in SERVICES_DIR.glob("*/service.py"))


@cache
def load_service(name: str) -> ServiceDefinition:
    if name not in service_names():
        raise KeyError(f"unknown service {name!r}; known: {', '.join(service_names())}")
    module = importlib.import_module(f"services.{name}.service")
    service: ServiceDefinition = module.SERVICE
    return service


def all_services() -> list[ServiceDefinition]:
    return [load_service(name) for name in service_names()]
