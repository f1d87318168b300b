"""`fountain studio` in a real browser (Debian's Chromium, headless, driven by Playwright; any request
off this machine is refused). The journeys of studio_journey.py are walked in Firefox too
(test_studio_firefox.py); here also the scaffolded service is served, and a migration written."""

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, Route, async_playwright, expect

from fountain_common.embedded_postgres import embedded_url
from tests.service_processes import free_port
from tests.tooling.conftest import INPUTS, commit_all, run_in
from tests.tooling.studio_journey import (
    SCAFFOLD_WAIT_MS,
    WAIT_MS,
    Key,
    Target,
    assist_box_is_hidden_without_an_endpoint,
    assist_proposes_and_an_accepted_proposal_is_an_edit,
    build_check_save_and_scaffold,
    numeric_precision_and_fields_unique_together,
    running,
)

# A browser, a studio process, a scaffold and the scaffolded service run: about 30 s.
pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
# Assertions wait as long as actions do (Playwright's own default is 5 s): on a loaded machine the
# studio's previews, which run the scaffold's pipeline, may take longer than that to come back.
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is needed to check the studio: `make deploy-tools` installs Debian's chromium.")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    outside: list[str] = []
    errors: list[str] = []

    async def only_this_machine(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_this_machine)
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    await context.close()
    assert outside == [], "the page reached for the internet"
    assert errors == [], errors


class PlaywrightStudioPage:
    """The shared journey's steps on a Playwright page: controls found as a user names them."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def find(self, target: Target) -> Locator:
        if target.kind == "label":
            return self.page.get_by_label(target.value, exact=True)
        if target.kind in ("button", "tab"):
            return self.page.get_by_role(target.kind, name=target.value, exact=True)
        return self.page.locator(target.value)

    async def goto(self, url: str) -> None:
        await self.page.goto(url)

    async def fill(self, target: Target, text: str) -> None:
        await self.find(target).fill(text)

    async def press(self, target: Target, key: Key) -> None:
        await self.find(target).press(key)

    async def click(self, target: Target) -> None:
        await self.find(target).click()

    async def select(self, target: Target, value: str) -> None:
        await self.find(target).select_option(value)

    async def set_checked(self, target: Target, checked: bool) -> None:
        await self.find(target).set_checked(checked)

    async def expect_text(self, target: Target, text: str, *, exact: bool = False, timeout_ms: int = WAIT_MS) -> None:
        if exact:
            await expect(self.find(target)).to_have_text(text, timeout=timeout_ms)
        else:
            await expect(self.find(target)).to_contain_text(text, timeout=timeout_ms)

    async def expect_value(self, target: Target, value: str) -> None:
        await expect(self.find(target)).to_have_value(value)

    async def expect_count(self, target: Target, count: int) -> None:
        await expect(self.find(target)).to_have_count(count)

    async def expect_attribute(self, target: Target, name: str, value: str) -> None:
        await expect(self.find(target)).to_have_attribute(name, value)

    async def expect_focused(self, target: Target) -> None:
        await expect(self.find(target)).to_be_focused()

    async def expect_visible(self, target: Target, visible: bool) -> None:
        if visible:
            await expect(self.find(target)).to_be_visible()
        else:
            await expect(self.find(target)).to_be_hidden()

    async def expect_enabled(self, target: Target, enabled: bool) -> None:
        if enabled:
            await expect(self.find(target)).to_be_enabled()
        else:
            await expect(self.find(target)).to_be_disabled()

    async def press_on_focused(self, key: Key) -> None:
        await self.page.keyboard.press(key)

    async def evaluate(self, expression: str) -> Any:
        return await self.page.evaluate(f"() => ({expression})")

    async def left(self, target: Target) -> float:
        box = await self.find(target).bounding_box()
        assert box is not None, f"{target} is not drawn"
        return box["x"]


async def test_build_check_save_and_scaffold_three_tables(
    studio: tuple[str, Path, Path], page: Page, postgres_dir: Path
) -> None:
    url, root, schema = studio
    await build_check_save_and_scaffold(PlaywrightStudioPage(page), url, root, schema)

    # The scaffolded service, migrated and served, takes and gives back rows of the tables built.
    database = {"FOUNTAIN_DATABASE_URL": embedded_url(postgres_dir, "fountain_studio")}
    upgrade = run_in(root, "-m", "fountain_cli.main", "db", "upgrade", "reading", env=database)
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    with running(
        root, ["serve", "reading", "--no-auth", "--port", str(port := free_port())], database, "/ready", port
    ) as served:
        author = httpx.post(f"{served}/v1/author", json={"name": "Ursula"})
        assert author.status_code == 201, author.text
        book = httpx.post(f"{served}/v1/book", json={"authorId": author.json()["id"]})
        assert book.status_code == 201, book.text
        assert book.json()["title"] == "Untitled"
        review = httpx.post(f"{served}/v1/review", json={"bookId": book.json()["id"], "mood": "sad"})
        assert review.status_code in (400, 422), review.text  # not one of the enum's values
        review = httpx.post(f"{served}/v1/review", json={"bookId": book.json()["id"], "mood": "good"})
        assert review.status_code == 201, review.text
        assert httpx.get(f"{served}/v1/review/{review.json()['id']}").json()["mood"] == "good"


async def test_the_ai_assist_proposes_and_an_accepted_proposal_is_an_edit(
    studio: tuple[str, Path, Path], page: Page, tmp_path: Path
) -> None:
    _, root, _ = studio
    await assist_proposes_and_an_accepted_proposal_is_an_edit(PlaywrightStudioPage(page), root, tmp_path)


async def test_the_assist_box_is_hidden_when_no_endpoint_is_set(studio: tuple[str, Path, Path], page: Page) -> None:
    url, _, _ = studio
    await assist_box_is_hidden_without_an_endpoint(PlaywrightStudioPage(page), url)


async def test_a_service_s_next_migration_is_previewed_and_a_drop_written_only_when_ticked(
    repository_copy: Callable[[], Path], page: Page
) -> None:
    root = repository_copy()
    scaffold = run_in(root, "-m", "fountain_cli.main", "scaffold", "shelf", "--from-json", str(INPUTS / "library.json"))
    assert scaffold.returncode == 0, scaffold.stdout + scaffold.stderr
    commit_all(root, "scaffold shelf")
    port = free_port()
    with running(root, ["studio", "services/shelf", "--port", str(port)], {}, "/api/schema", port) as url:
        await page.goto(url)
        await expect(page.get_by_role("heading", name="Migration")).to_be_visible()
        await page.get_by_role("button", name="Remove field pages").click()
        await page.get_by_role("button", name="Preview migration").click()
        drops = page.locator("#migration-drops")
        await expect(drops).to_have_text("drop column book.pages and its values", timeout=SCAFFOLD_WAIT_MS)
        await expect(page.locator("#migration-script")).to_contain_text("op.drop_column(")
        write = page.get_by_role("button", name="Write migration")
        await expect(write).to_be_disabled()
        assert not list((root / "services" / "shelf" / "migrations").glob("0002_*.py"))

        await page.get_by_label("Drop them: I accept losing this data").check()
        await write.click()
        await expect(page.locator("#migration")).to_contain_text(
            "Written services/shelf/migrations/0002_", timeout=SCAFFOLD_WAIT_MS
        )
        (written,) = (root / "services" / "shelf" / "migrations").glob("0002_*.py")
        assert "op.drop_column(" in written.read_text()
        assert (
            "pages"
            not in json.loads((root / "services" / "shelf" / "schema.json").read_text())["entities"]["book"]["fields"]
        )


async def test_numeric_precision_and_fields_unique_together_are_edited_on_the_page(
    studio: tuple[str, Path, Path], page: Page, tmp_path: Path
) -> None:
    _, root, _ = studio
    await numeric_precision_and_fields_unique_together(PlaywrightStudioPage(page), root, tmp_path)
