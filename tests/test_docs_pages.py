"""The documentation pages in a real browser: Debian's Chromium, headless, with every request to
anything but this machine blocked. `fountain serve`'s index page links each service's /docs and
/redoc (which must render every operation of the spec from the service's own assets), its
OpenAPI document and its health checks; "Try it out" calls the server that served the page. The
routing by path prefix is also checked in-process, without a browser."""

import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Page, Route, async_playwright, expect

from fountain_cli import registry
from fountain_cli.host_dispatch import HostDispatcher
from fountain_common.app import create_service_app
from fountain_common.settings import Settings
from tests.service_processes import serve

CHROMIUM = Path("/usr/bin/chromium")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# The public hosts lead to this machine; every other name fails to resolve.
RESOLVER_RULES = "MAP *.fountain.coach 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
RENDER_TIMEOUT_MS = 30_000  # a wait for the UI to finish rendering, not a limit on how fast it is


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    with serve([], database_url, ready_path="/central_sequence/ready") as (url,):
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is needed to check the docs pages: `make deploy-tools` installs Debian's chromium.")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=[f"--host-resolver-rules={RESOLVER_RULES}"]
        )
        yield browser
        await browser.close()


@dataclass
class Watched:
    page: Page
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
async def watched(browser: Browser) -> AsyncIterator[Watched]:
    """A page whose requests off this machine are refused and recorded, as are its script errors."""
    context = await browser.new_context()
    page = await context.new_page()
    watched = Watched(page)

    async def only_this_machine(route: Route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if host == "127.0.0.1" or host.endswith(".fountain.coach"):
            await route.continue_()
        else:
            watched.outside.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_this_machine)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    page.on("console", lambda message: watched.errors.append(message.text) if message.type == "error" else None)
    yield watched
    await context.close()
    assert watched.outside == [], "the page reached for the internet"


def _operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {**operation, "method": method, "path": path}
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


async def _check_swagger_ui(page: Page, spec: dict[str, Any]) -> None:
    # Swagger UI shows an operation once under each of its tags.
    expected = Counter(
        (op["method"].upper(), op["path"]) for op in _operations(spec) for _ in op.get("tags") or ["default"]
    )
    await expect(page.locator(".opblock")).to_have_count(sum(expected.values()), timeout=RENDER_TIMEOUT_MS)
    shown = await page.eval_on_selector_all(
        ".opblock",
        "blocks => blocks.map(b => [b.querySelector('.opblock-summary-method').textContent,"
        " b.querySelector('.opblock-summary [data-path]').getAttribute('data-path')])",
    )
    assert Counter(tuple(pair) for pair in shown) == expected


async def _check_redoc(page: Page, spec: dict[str, Any]) -> None:
    expected = sorted(op["operationId"] for op in _operations(spec))
    sections = page.locator('[data-section-id^="operation/"]')
    await expect(sections).to_have_count(len(expected), timeout=RENDER_TIMEOUT_MS)
    shown = await sections.evaluate_all("els => els.map(e => e.dataset.sectionId.slice('operation/'.length))")
    assert sorted(shown) == expected


async def test_index_page_links_every_service_and_its_docs_render_offline(server: str, watched: Watched) -> None:
    page = watched.page
    await page.goto(server + "/")
    await expect(page).to_have_title("FountainAI services")
    for service in registry.all_services():
        entry = page.locator(f"li#{service.name}")
        links = {await link.text_content(): await link.get_attribute("href") for link in await entry.locator("a").all()}
        assert links == {
            "Swagger UI": f"/{service.name}/docs",
            "ReDoc": f"/{service.name}/redoc",
            "OpenAPI": f"/{service.name}/openapi.json",
            "health": f"/{service.name}/health",
            "ready": f"/{service.name}/ready",
        }
        spec = httpx.get(server + links["OpenAPI"]).json()
        assert spec["servers"] == [{"url": f"{server}/{service.name}", "description": "Where this document was served"}]
        await expect(entry.locator("h2")).to_contain_text(spec["info"]["title"])

        await entry.get_by_role("link", name="Swagger UI", exact=True).click()
        await expect(page).to_have_url(f"{server}/{service.name}/docs")
        await _check_swagger_ui(page, spec)

        await page.goto(server + links["ReDoc"])
        await _check_redoc(page, spec)

        for check in ("health", "ready"):
            response = await page.goto(server + links[check])
            assert response is not None and response.status == 200
            assert json.loads(await response.text())["status"] == "ok"
        await page.goto(server + "/")
    # ReDoc's sidebar asks for its maker's logo from a CDN; the pages' Content-Security-Policy
    # stops that before it leaves the browser, and the sidebar goes on without it.
    assert [e for e in watched.errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in e] == []


def test_a_created_resource_is_located_under_the_prefix_it_was_created_through(server: str) -> None:
    created = httpx.post(f"{server}/character/v2/characters", json={"name": "Juliet", "description": "A Capulet."})
    assert created.status_code == 201
    assert created.headers["location"].startswith("/character/v2/characters/")
    assert httpx.get(server + created.headers["location"]).json()["name"] == "Juliet"


@pytest.mark.parametrize("reached_by", ["path prefix", "public host"])
async def test_try_it_out_calls_the_server_that_served_the_page(server: str, watched: Watched, reached_by: str) -> None:
    port = urlsplit(server).port
    base = f"{server}/character" if reached_by == "path prefix" else f"http://character.fountain.coach:{port}"
    page = watched.page
    await page.goto(base + "/docs")
    operation = page.locator(".opblock-get").filter(
        has=page.locator('.opblock-summary-path[data-path="/v2/characters"]')
    )
    await operation.locator(".opblock-summary").click()
    await operation.get_by_role("button", name="Try it out").click()
    async with page.expect_request(lambda request: "/v2/characters" in request.url) as sent:
        await operation.get_by_role("button", name="Execute").click()
    assert (await sent.value).url.startswith(base + "/v2/characters")
    status = operation.locator(".live-responses-table tr.response .response-col_status")
    await expect(status).to_have_text("200", timeout=RENDER_TIMEOUT_MS)
    assert watched.errors == []


async def test_path_prefixes_and_the_index_page_of_the_all_in_one_server() -> None:
    settings = Settings(database_url="postgresql://unused/db")  # nothing here reaches the database
    dispatcher = HostDispatcher({s.host: create_service_app(s, settings=settings) for s in registry.all_services()})
    transport = httpx.ASGITransport(app=dispatcher)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as http:
        index = await http.get("/")
        assert index.headers["content-type"] == "text/html; charset=utf-8"
        for name in registry.service_names():
            assert f'href="/{name}/docs"' in index.text and f'href="/{name}/health"' in index.text

        refused = await http.post("/")
        assert (refused.status_code, refused.headers["allow"]) == (405, "GET, HEAD")
        assert refused.headers["content-type"] == "application/problem+json"

        service = await http.get("/character")
        assert (service.status_code, service.headers["location"]) == (307, "/character/docs")

        served = (await http.get("/character/openapi.json")).json()
        assert served["servers"][0]["url"] == "http://127.0.0.1:8080/character"

        for page in ("docs", "redoc"):
            shown = await http.get(f"/character/{page}")
            assert "'self'" in shown.headers["content-security-policy"]
            assert "/character/openapi.json" in shown.text and "/character/docs-assets/" in shown.text
            assert "://" not in shown.text  # no address off this server
        assert (await http.get("/character/docs-assets/swagger-ui-bundle.js")).status_code == 200
        assert (await http.get("/character/docs-assets/redoc.standalone.js")).status_code == 200

        unknown = await http.get("/nowhere/docs")
        assert unknown.status_code == 404
        assert "/character/" in unknown.json()["detail"] and "character.fountain.coach" in unknown.json()["detail"]
        # The public host still reaches the service at its own root.
        public = await http.get("/openapi.json", headers={"Host": "character.fountain.coach"})
        assert public.json()["servers"][0]["url"] == "http://character.fountain.coach"
