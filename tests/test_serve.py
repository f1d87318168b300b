"""`fountain serve`: all five services in one process, dispatched by Host header as the gateway
does; and one service alone."""

import httpx

from fountain_cli import registry
from tests.central_sequence.conftest import reset_numbering
from tests.service_processes import serve


async def test_all_services_answer_on_one_port_by_host(engine, database_url: str) -> None:  # type: ignore[no-untyped-def]
    await reset_numbering(engine)
    with serve([], database_url, host_header="centralsequence.fountain.coach") as (url,):
        async with httpx.AsyncClient(base_url=url) as http:
            # The README's example, as curl sends it.
            numbered = await http.post(
                "/v1/sequence",
                json={"elementType": "script", "elementId": 1},
                headers={"Host": "centralsequence.fountain.coach"},
            )
            assert (numbered.status_code, numbered.json()) == (201, {"sequenceNumber": 1})
            for service in registry.all_services():
                ready = await http.get("/ready", headers={"Host": service.host})
                assert ready.json() == {"status": "ok", "service": service.name}
            unknown = await http.get("/ready", headers={"Host": "example.com"})
            assert unknown.status_code == 404
            assert "centralsequence.fountain.coach" in unknown.json()["detail"]


async def test_one_service_alone(engine, database_url: str) -> None:  # type: ignore[no-untyped-def]
    await reset_numbering(engine)
    with serve(["central_sequence"], database_url) as (url,):
        async with httpx.AsyncClient(base_url=url) as http:
            response = await http.post("/v1/sequence", json={"elementType": "script", "elementId": 7})
            assert response.json() == {"sequenceNumber": 1}
            assert response.headers["x-request-id"]
            echoed = await http.get("/health", headers={"X-Request-ID": "trace-me"})
            assert echoed.headers["x-request-id"] == "trace-me"
