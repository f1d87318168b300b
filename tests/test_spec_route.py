"""Generated routes (SpecRoute) read plainly valid parameters without FastAPI's dependency solving and
match by path shape first. Whatever they accept must be what FastAPI would have given the route
function, and they must match exactly the requests FastAPI's routes match; everything else still
goes through FastAPI, so its answers (422s included) are unchanged."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fountain_cli import registry
from fountain_common.app import create_service_app
from fountain_common.request_limits import INTEGER_TEXT
from fountain_common.settings import Settings
from fountain_common.spec_route import _INVALID, SpecRoute, _Parameter


def _spec_routes() -> list[SpecRoute]:
    routes: list[SpecRoute] = []
    for service in registry.all_services():
        app = create_service_app(service, settings=Settings(database_url="postgresql://unused/none"))
        routes += [route for route in app.router.routes if isinstance(route, SpecRoute)]
    return routes


ROUTES = _spec_routes()
READ_DIRECTLY = [route for route in ROUTES if route.reader is not None]
PARAMETERS: list[tuple[SpecRoute, _Parameter]] = [
    (route, parameter)
    for route in READ_DIRECTLY
    for parameter in (*route.reader.path, *route.reader.query.values(), *route.reader.headers.values())  # type: ignore[union-attr]
]


def _field(route: SpecRoute, parameter: _Parameter) -> Any:
    fields = {"path": route.dependant.path_params, "query": route.dependant.query_params}.get(
        parameter.location, route.dependant.header_params
    )
    return next(field for field in fields if field.name == parameter.name)


def test_every_read_and_delete_of_the_specs_is_read_directly() -> None:
    """Operations without a body take integers, strings (some with patterns) and enums only: all of
    them must have a reader, or the hot reads quietly fall back to FastAPI's slower handling."""
    without_body = [route for route in ROUTES if route.body_field is None]
    assert without_body and [r.path for r in without_body if r.reader is None] == []
    assert all(route.reader is None for route in ROUTES if route.body_field is not None)


_RAW = st.one_of(
    st.from_regex(r"\A-?[0-9]{1,22}\Z"),
    st.sampled_from(["", "0", "-1", "+1", " 1", "1 ", "1_0", "007", "9223372036854775807", "9223372036854775808"]),
    st.text(max_size=40),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC-_.~0123456789,\n\x00é ", max_size=300),
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), raw=_RAW)
def test_a_value_read_directly_is_the_value_fastapi_gives(data: st.DataObject, raw: str) -> None:
    route, parameter = data.draw(st.sampled_from(PARAMETERS))
    enum_values = getattr(_field(route, parameter).field_info.annotation, "__args__", ())
    if enum_values and all(isinstance(value, str) for value in enum_values):
        raw = data.draw(st.one_of(st.just(raw), st.sampled_from(enum_values)))
    value = parameter.convert(raw)
    if value is _INVALID:
        return  # left to FastAPI: nothing to compare
    field = _field(route, parameter)
    validated, errors = field.validate(raw, {}, loc=(parameter.location, parameter.alias))
    assert errors == [] and validated == value and type(validated) is type(value), (route.path, parameter, raw)
    if isinstance(value, int):  # FastAPI's route also refuses an integer not written in digits
        assert INTEGER_TEXT.fullmatch(raw), (route.path, parameter, raw)


def test_an_absent_parameter_gets_fastapis_default() -> None:
    for route, parameter in PARAMETERS:
        field = _field(route, parameter)
        assert parameter.required == field.field_info.is_required()
        if not parameter.required:
            assert parameter.default == field.field_info.get_default(call_default_factory=True)


def _scope(path: str, method: str, root_path: str = "") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": root_path + path, "root_path": root_path, "headers": []}


_SAMPLE_PATHS = sorted(
    {route.path.replace("{", "").replace("}", "") for route in ROUTES}
    | {route.path.replace("{", "x").replace("}", "") + suffix for route in ROUTES for suffix in ("", "/", "/extra")}
    | {"/", "/v2", "/v2/", "/health/", "/openapi.json", "/v2/characters/1/paraphrases/2", "/v2/scopes/a.b/elements"}
)


@pytest.mark.parametrize("root_path", ["", "/character"])
def test_matching_by_shape_matches_what_fastapi_matches(root_path: str) -> None:
    for path in _SAMPLE_PATHS:
        for method in ("GET", "POST", "DELETE"):
            scope = _scope(path, method, root_path)
            for route in ROUTES:
                assert route.matches(dict(scope))[0] == APIRoute.matches(route, dict(scope))[0], (
                    path,
                    method,
                    route.path,
                )


async def test_requests_read_directly_answer_as_before(client_for: Callable[[str], httpx.AsyncClient]) -> None:
    characters = client_for("character")
    created = await characters.post("/v2/characters", json={"name": "Ada", "description": "d"})
    character_id = created.json()["characterId"]
    read = await characters.get(f"/v2/characters/{character_id}")
    assert read.status_code == 200 and read.json() == created.json()
    assert read.headers["etag"] == created.headers["etag"]
    # Values the direct reading leaves to FastAPI still get FastAPI's answers.
    for bad in ("0", "-1", "abc", "%201", "1_0", "99999999999999999999"):
        refused = await characters.get(f"/v2/characters/{bad}")
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"] == "application/problem+json"
    missing = await characters.get("/v2/characters/999999999")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    listed = await characters.get("/v2/characters", params={"ids": str(character_id), "sort": "-name", "limit": "1"})
    assert listed.status_code == 200 and [item["characterId"] for item in listed.json()["items"]] == [character_id]
    assert (await characters.get("/v2/characters", params={"sort": "name\n"})).status_code == 422
    assert (await characters.get("/v2/characters?limit=1&limit=2")).status_code == 200  # FastAPI: the last
    stale = await characters.delete(f"/v2/characters/{character_id}", headers={"If-Match": '"41"'})
    assert stale.status_code == 412
    assert (await characters.delete(f"/v2/characters/{character_id}", headers={"If-Match": '"1"'})).status_code == 204
    assert (await characters.get(f"/v2/characters/{character_id}")).status_code == 404
