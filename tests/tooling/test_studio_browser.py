"""`fountain studio` in a real browser (Debian's Chromium, headless; any request off this machine is
refused): a three-table schema built by typing and clicking, a bad name shown as the scaffold words
it and nothing written, then saved and scaffolded into a copy of the repository."""

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from playwright.async_api import Browser, Page, Route, async_playwright, expect

from fountain_common.embedded_postgres import embedded_url
from tests.service_processes import free_port
from tests.tooling.conftest import INPUTS, commit_all, run_in
from tests.tooling.fake_model import fake_model

# A browser, a studio process, a scaffold and the scaffolded service run: about 30 s.
pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
WAIT_MS = 30_000  # a wait for the page or a scaffold to finish, not a limit on how fast they are
SCAFFOLD_WAIT_MS = 120_000
# Assertions wait as long as actions do (Playwright's own default is 5 s): on a loaded machine the
# studio's previews, which run the scaffold's pipeline, may take longer than that to come back.
expect.set_options(timeout=WAIT_MS)


@contextmanager
def running(root: Path, args: list[str], env: dict[str, str], ready: str, port: int) -> Iterator[str]:
    """`fountain ARGS` in the repository copy until it answers `ready`; its base URL."""
    environment = {k: v for k, v in os.environ.items() if k != "FOUNTAIN_DATABASE_URL"}
    environment |= {"PYTHONPATH": str(root), **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "fountain_cli.main", *args],
        cwd=root,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(url + ready).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            time.sleep(0.1)
        else:
            pytest.fail(f"`fountain {' '.join(args)}` did not answer {ready} within a minute")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def studio(
    repository_copy: Callable[[], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, Path]]:
    """`fountain studio` run in a copy of the repository, on a schema.json not yet written."""
    root = repository_copy()
    schema = tmp_path_factory.mktemp("studio") / "schema.json"
    port = free_port()
    with running(root, ["studio", str(schema), "--port", str(port)], {}, "/api/schema", port) as url:
        yield url, root, schema


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


async def add_table(page: Page, index: int, name: str, fields: list[tuple[str, str]]) -> None:
    """A table added from the keyboard: its name and Enter, then each field's name, type and Enter."""
    await page.get_by_label("New table").fill(name)
    await page.get_by_label("New table").press("Enter")
    await expect(page.locator(f"#t{index}-heading")).to_have_text(f"Table {name}")
    await expect(page.locator(f"#t{index}-new-field")).to_be_focused()
    for number, (field, kind) in enumerate(fields):
        await page.locator(f"#t{index}-new-type").select_option(kind)
        await page.locator(f"#t{index}-new-field").fill(field)
        await page.locator(f"#t{index}-new-field").press("Enter")
        await expect(page.locator(f"#t{index}-f{number}-name")).to_have_value(field)


async def test_build_check_save_and_scaffold_three_tables(
    studio: tuple[str, Path, Path], page: Page, postgres_dir: Path
) -> None:
    url, root, schema = studio
    await page.goto(url)
    await expect(page.locator("#file")).to_contain_text(str(schema))

    await add_table(page, 0, "author", [("id", "uuid"), ("name", "string")])
    await page.get_by_label("Maximum length (author.name)").fill("200")
    await page.get_by_label("Primary key (author.id)").check()
    await page.get_by_label("Nullable (author.name)").uncheck()
    await page.get_by_label("Unique (author.name)").check()
    await add_table(page, 1, "book", [("id", "uuid"), ("author_id", "uuid"), ("title", "text"), ("pages", "integer")])
    await page.get_by_label("Primary key (book.id)").check()
    await page.get_by_label("References (book.author_id)").select_option("author")
    await page.get_by_label("Default (book.pages)").fill("100")
    await page.get_by_label("Default (book.title)").fill("Untitled")
    await add_table(page, 2, "review", [("id", "bigserial"), ("book_id", "uuid"), ("mood", "enum")])
    await page.get_by_label("Primary key (review.id)").check()
    await page.get_by_label("References (review.book_id)").select_option("book")
    await expect(page.locator("#problems")).to_contain_text(
        "at /entities/review/fields/mood: an enum field lists its values, and only an enum field does"
    )
    await page.get_by_label("Enum values, separated by commas (review.mood)").fill("good, bad")

    # A table and a field removed, a referenced table renamed: its references follow.
    await add_table(page, 3, "scratch", [("id", "uuid")])
    await page.get_by_role("button", name="Remove table scratch").click()
    await expect(page.locator("#t3-heading")).to_have_count(0)
    await page.get_by_role("button", name="Remove field pages").click()
    await expect(page.get_by_label("Default (book.pages)")).to_have_count(0)
    await page.locator("#t0-name").fill("writer")
    await page.locator("#t0-name").press("Tab")
    await expect(page.get_by_label("References (book.author_id)")).to_have_value("writer")
    await page.locator("#t0-name").fill("author")
    await page.locator("#t0-name").press("Tab")
    await expect(page.get_by_label("References (book.author_id)")).to_have_value("author")
    await expect(page.locator("#problems")).to_have_text("No problems: this schema can be saved and scaffolded.")
    await expect(page.locator("#preview")).to_contain_text("/v1/review:")

    # A bad name: the scaffold's own words, and neither Save nor Scaffold writes anything.
    await page.locator("#t2-name").fill("Bad Review")
    await expect(page.locator("#problems")).to_contain_text("'Bad Review' is not a valid name")
    await expect(page.locator("#preview")).to_have_text("The preview follows once the problems listed are fixed.")
    await page.get_by_role("button", name="Save schema.json").click()
    await expect(page.locator("#result")).to_contain_text("Nothing was written")
    await page.get_by_label("Service name").fill("reading")
    await page.get_by_role("button", name="Scaffold service").click()
    await expect(page.locator("#result")).to_contain_text("Nothing was written")
    assert not schema.exists()
    assert not (root / "services" / "reading").exists()

    await page.locator("#t2-name").fill("review")
    await expect(page.locator("#problems")).to_have_text("No problems: this schema can be saved and scaffolded.")
    await page.get_by_role("tab", name="DDL").click()
    await page.get_by_label("Dialect").select_option("sqlite")
    await expect(page.locator("#preview")).to_contain_text("CREATE TABLE review")
    await page.get_by_role("tab", name="ER diagram").click()
    await expect(page.locator("#preview")).to_contain_text('book |o--o{ review : "book_id"')
    # The same diagram drawn: a box per table, keys marked, a line per reference with its cardinality.
    drawing = page.locator("#er-svg")
    await expect(drawing.locator("g.entity")).to_have_count(3)
    await expect(drawing.locator('g.entity[data-table="book"] text[data-field="author_id"]')).to_contain_text("FK")
    await expect(drawing.locator('g.entity[data-table="author"] text[data-field="id"]')).to_contain_text("PK")
    to_review = drawing.locator('g.relation-group[data-child="review"]')
    await expect(to_review).to_have_attribute("data-cardinality", "|o--o{")
    await expect(to_review).to_have_attribute("data-parent", "book")
    await expect(drawing.locator('g.relation-group[data-child="book"]')).to_have_attribute("data-parent", "author")
    boxes = [
        await drawing.locator(f'g.entity[data-table="{t}"] rect.box').bounding_box()
        for t in ("author", "book", "review")
    ]
    assert [box["x"] for box in boxes if box] == sorted(box["x"] for box in boxes if box), "parents left of children"
    # It follows each edit: a required reference is || on the parent's side, a unique one o| on the child's.
    await page.get_by_label("Nullable (review.book_id)").uncheck()
    await expect(to_review).to_have_attribute("data-cardinality", "||--o{")
    await page.get_by_label("Unique (review.book_id)").check()
    await expect(to_review).to_have_attribute("data-cardinality", "||--o|")
    await expect(page.locator("#preview")).to_contain_text('book ||--o| review : "book_id"')
    await page.get_by_label("Unique (review.book_id)").uncheck()
    await page.get_by_label("Nullable (review.book_id)").check()
    await expect(to_review).to_have_attribute("data-cardinality", "|o--o{")
    await add_table(page, 3, "loan", [("id", "uuid"), ("book_id", "uuid")])
    await page.get_by_label("References (loan.book_id)").select_option("book")
    await expect(drawing.locator("g.entity")).to_have_count(4)
    await expect(drawing.locator('g.relation-group[data-child="loan"]')).to_have_attribute("data-parent", "book")
    await page.get_by_role("button", name="Remove table loan").click()
    await expect(drawing.locator("g.entity")).to_have_count(3)
    await expect(drawing.locator("g.relation-group")).to_have_count(2)

    await page.get_by_role("button", name="Save schema.json").click()
    await expect(page.locator("#result")).to_contain_text(f"Saved {schema}.")
    saved = json.loads(schema.read_text())
    assert list(saved["entities"]) == ["author", "book", "review"]
    assert saved["entities"]["book"]["fields"]["author_id"] == {"type": "uuid", "references": "author"}
    assert saved["entities"]["book"]["fields"]["title"] == {"type": "text", "default": "Untitled"}
    assert list(saved["entities"]["book"]["fields"]) == ["id", "author_id", "title"]
    assert saved["entities"]["author"]["fields"]["name"] == {
        "type": "string",
        "maxLength": 200,
        "required": True,
        "unique": True,
    }
    assert saved["entities"]["review"]["fields"]["mood"] == {"type": "enum", "values": ["good", "bad"]}

    await page.get_by_role("button", name="Scaffold service").click()
    await expect(page.locator("#result")).to_contain_text(
        "Service reading created: tables author, book, review", timeout=SCAFFOLD_WAIT_MS
    )
    spec = yaml.safe_load((root / "specs" / "reading.yaml").read_text())
    assert {"/v1/author", "/v1/book", "/v1/review"} <= set(spec["paths"])
    assert (root / "services" / "reading" / "generated").is_dir()

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
    # Tables of their own: the scaffold test before may have taken author, book and review.
    shelf = {"fields": {"id": {"type": "uuid", "primaryKey": True}, "label": {"type": "string"}}}
    schema = tmp_path / "shelves.json"
    schema.write_text(json.dumps({"entities": {"shelf": shelf}}))
    invalid = {"entities": {"shelf": {"fields": {**shelf["fields"], "label": {"type": "money"}}}}}
    proposal = {"entities": {"shelf": {"fields": {**shelf["fields"], "note": {"type": "text"}}}}}
    with fake_model() as model:
        environment = {"FOUNTAIN_STUDIO_AI_URL": model.url, "FOUNTAIN_STUDIO_AI_MODEL": "tiny-model"}
        port = free_port()
        with running(root, ["studio", str(schema), "--port", str(port)], environment, "/api/schema", port) as url:
            await page.goto(url)
            instruction = page.get_by_label("Describe a change")
            await expect(instruction).to_be_visible()

            model.content = json.dumps(invalid)
            await instruction.fill("make labels money")
            await instruction.press("Enter")
            await expect(page.locator("#proposal")).to_contain_text("/entities/shelf/fields/label/type")
            await expect(page.get_by_role("button", name="Accept")).to_be_disabled()
            await page.get_by_role("button", name="Reject").click()
            await expect(page.locator("#proposal")).to_contain_text("nothing changed")

            model.content = json.dumps(proposal)
            await instruction.fill("add a note to shelves")
            await instruction.press("Enter")
            await expect(page.locator("#proposal-changes")).to_have_text('field shelf.note added: {"type": "text"}')
            await expect(page.get_by_role("button", name="Accept")).to_be_focused()
            await page.keyboard.press("Enter")
            await expect(page.locator("#t0-f2-name")).to_have_value("note")
            await expect(page.locator("#problems")).to_have_text(
                "No problems: this schema can be saved and scaffolded."
            )
            await page.get_by_role("button", name="Save schema.json").click()
            await expect(page.locator("#result")).to_contain_text(f"Saved {schema}.")
    assert json.loads(schema.read_text()) == proposal


async def test_the_assist_box_is_hidden_when_no_endpoint_is_set(studio: tuple[str, Path, Path], page: Page) -> None:
    url, _, _ = studio
    await page.goto(url)
    await expect(page.locator("#file")).to_contain_text("Save writes")
    await expect(page.get_by_label("Describe a change")).to_be_hidden()


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
    schema = tmp_path / "items.json"
    fields = {"id": {"type": "uuid", "primaryKey": True}, "price": {"type": "numeric"}}
    fields |= {"code": {"type": "string"}, "maker": {"type": "string"}}
    schema.write_text(json.dumps({"entities": {"item": {"fields": fields}}}))
    port = free_port()
    with running(root, ["studio", str(schema), "--port", str(port)], {}, "/api/schema", port) as url:
        await page.goto(url)
        await page.get_by_label("Scale (item.price)").fill("4")
        await expect(page.locator("#problems")).to_contain_text("scale needs a precision at least as large")
        await page.get_by_label("Precision (item.price)").fill("10")
        await page.get_by_label("Scale (item.price)").fill("2")
        await page.get_by_label("Unique together").fill("code, maker")
        await page.get_by_label("Unique together").press("Enter")
        await expect(page.get_by_label("Fields unique together (item)").get_by_role("listitem")).to_have_text(
            "unique (code, maker) Remove unique (code, maker) of item"
        )
        await expect(page.locator("#problems")).to_have_text("No problems: this schema can be saved and scaffolded.")
        await page.get_by_role("tab", name="ER diagram").click()
        await expect(page.locator('#er-svg text[data-field="maker"]')).to_contain_text("UK")
        await page.get_by_role("tab", name="DDL").click()
        await expect(page.locator("#preview")).to_contain_text("UNIQUE (code, maker)")
        await expect(page.locator("#preview")).to_contain_text("price NUMERIC(10, 2)")
        await page.get_by_role("button", name="Save schema.json").click()
        await expect(page.locator("#result")).to_contain_text(f"Saved {schema}.")
        saved = json.loads(schema.read_text())["entities"]["item"]
        assert saved["unique"] == [["code", "maker"]]
        assert saved["fields"]["price"] == {"type": "numeric", "precision": 10, "scale": 2}

        # A field removed takes its group with it, as the database would; a group is removed by its button.
        await page.get_by_role("button", name="Remove field maker").click()
        await expect(page.get_by_label("Fields unique together (item)")).to_have_count(0)
        await page.get_by_label("Unique together").fill("code")
        await page.get_by_label("Unique together").press("Enter")
        await page.get_by_role("button", name="Remove unique (code) of item").click()
        await expect(page.get_by_label("Fields unique together (item)")).to_have_count(0)
        async with page.expect_response("**/api/save"):
            await page.get_by_role("button", name="Save schema.json").click()
        assert "unique" not in json.loads(schema.read_text())["entities"]["item"]
