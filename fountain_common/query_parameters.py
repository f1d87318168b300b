"""Unknown query parameters are refused, as unknown body fields are: a misspelt `?limt=5` answered as
if it were absent hides the client's mistake. 422 on /v2, 400 on /v1 (see problems.py)."""

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from fountain_common.problems import invalid

_declared: dict[int, frozenset[str]] = {}  # id(route) -> the query parameter names it declares


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_names(dependency)
    return names


def _declared_names(route: APIRoute) -> frozenset[str]:
    names = _declared.get(id(route))
    if names is None:
        names = _declared[id(route)] = frozenset(_query_names(route.dependant))
    return names


async def reject_unknown_query_parameters(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    declared = _declared_names(route)
    unknown = sorted(set(request.query_params.keys()) - declared)
    if unknown:
        takes = ", ".join(sorted(declared)) or "none"
        raise invalid(
            f"Unknown query parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"this operation takes: {takes}.",
            [{"location": f"query.{name}", "message": "Unknown query parameter."} for name in unknown],
        )
