"""The studio's key journey, written once and walked in each browser engine it is checked in (Chromium
through Playwright, Firefox through Marionette): a three-table schema built by typing and clicking, a
bad name shown as the scaffold words it and nothing written, the ER diagram drawn, then saved and
scaffolded into a copy of the repository."""

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

import httpx
import pytest
import yaml

from tests.service_processes import free_port
from tests.tooling.fake_model import fake_model

WAIT_MS = 30_000  # a wait for the page or a scaffold to finish, not a limit on how fast they are
SCAFFOLD_WAIT_MS = 120_000


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


class Target(NamedTuple):
    """Something on the page: a control by its label, a button or tab by its name, or a CSS selector."""

    kind: Literal["label", "button", "tab", "css"]
    value: str


def label(text: str) -> Target:
    return Target("label", text)


def button(name: str) -> Target:
    return Target("button", name)


def tab(name: str) -> Target:
    return Target("tab", name)


def css(selector: str) -> Target:
    return Target("css", selector)


Key = Literal["Enter", "Tab", "ArrowRight"]

# Each drawn text that reaches past its table's box (the box is sized for the engine's own font).
OVERFLOWING_TEXT = """[...document.querySelectorAll("#er-svg g.entity")].flatMap((group) => {
  const box = group.querySelector("rect.box").getBBox();
  return [...group.querySelectorAll("text")]
    .filter((text) => { const b = text.getBBox(); return b.x < box.x || b.x + b.width > box.x + box.width; })
    .map((text) => `${group.dataset.table}: ${text.textContent}`);
})"""

PAGE_WIDER_THAN_WINDOW = "document.documentElement.scrollWidth > document.documentElement.clientWidth"


class StudioPage(Protocol):
    """What the journey does on the page; each `expect_*` waits until it holds (or fails the test)."""

    async def goto(self, url: str) -> None: ...
    async def fill(self, target: Target, text: str) -> None: ...
    async def press(self, target: Target, key: Key) -> None: ...
    async def click(self, target: Target) -> None: ...
    async def select(self, target: Target, value: str) -> None: ...
    async def set_checked(self, target: Target, checked: bool) -> None: ...
    async def expect_text(
        self, target: Target, text: str, *, exact: bool = False, timeout_ms: int = WAIT_MS
    ) -> None: ...
    async def expect_value(self, target: Target, value: str) -> None: ...
    async def expect_count(self, target: Target, count: int) -> None: ...
    async def expect_attribute(self, target: Target, name: str, value: str) -> None: ...
    async def expect_focused(self, target: Target) -> None: ...
    async def expect_visible(self, target: Target, visible: bool) -> None: ...
    async def expect_enabled(self, target: Target, enabled: bool) -> None: ...
    async def press_on_focused(self, key: Key) -> None: ...
    async def left(self, target: Target) -> float: ...
    async def evaluate(self, expression: str) -> Any:
        """A JavaScript expression's value in the page."""


NO_PROBLEMS = "No problems: this schema can be saved and scaffolded."


async def add_table(page: StudioPage, index: int, name: str, fields: list[tuple[str, str]]) -> None:
    """A table added from the keyboard: its name and Enter, then each field's name, type and Enter."""
    await page.fill(label("New table"), name)
    await page.press(label("New table"), "Enter")
    await page.expect_text(css(f"#t{index}-heading"), f"Table {name}", exact=True)
    await page.expect_focused(css(f"#t{index}-new-field"))
    for number, (field, kind) in enumerate(fields):
        await page.select(css(f"#t{index}-new-type"), kind)
        await page.fill(css(f"#t{index}-new-field"), field)
        await page.press(css(f"#t{index}-new-field"), "Enter")
        await page.expect_value(css(f"#t{index}-f{number}-name"), field)


async def build_check_save_and_scaffold(page: StudioPage, url: str, root: Path, schema: Path) -> None:
    """The journey up to the service `reading` scaffolded from tables author, book and review."""
    await page.goto(url)
    await page.expect_text(css("#file"), str(schema))

    await add_table(page, 0, "author", [("id", "uuid"), ("name", "string")])
    await page.fill(label("Maximum length (author.name)"), "200")
    await page.set_checked(label("Primary key (author.id)"), True)
    await page.set_checked(label("Nullable (author.name)"), False)
    await page.set_checked(label("Unique (author.name)"), True)
    await add_table(page, 1, "book", [("id", "uuid"), ("author_id", "uuid"), ("title", "text"), ("pages", "integer")])
    await page.set_checked(label("Primary key (book.id)"), True)
    await page.select(label("References (book.author_id)"), "author")
    await page.fill(label("Default (book.pages)"), "100")
    await page.fill(label("Default (book.title)"), "Untitled")
    await add_table(page, 2, "review", [("id", "bigserial"), ("book_id", "uuid"), ("mood", "enum")])
    await page.set_checked(label("Primary key (review.id)"), True)
    await page.select(label("References (review.book_id)"), "book")
    await page.expect_text(
        css("#problems"),
        "at /entities/review/fields/mood: an enum field lists its values, and only an enum field does",
    )
    await page.fill(label("Enum values, separated by commas (review.mood)"), "good, bad")

    # A table and a field removed, a referenced table renamed: its references follow.
    await add_table(page, 3, "scratch", [("id", "uuid")])
    await page.click(button("Remove table scratch"))
    await page.expect_count(css("#t3-heading"), 0)
    await page.click(button("Remove field pages"))
    await page.expect_count(label("Default (book.pages)"), 0)
    await page.fill(css("#t0-name"), "writer")
    await page.press(css("#t0-name"), "Tab")
    await page.expect_value(label("References (book.author_id)"), "writer")
    await page.fill(css("#t0-name"), "author")
    await page.press(css("#t0-name"), "Tab")
    await page.expect_value(label("References (book.author_id)"), "author")
    await page.expect_text(css("#problems"), NO_PROBLEMS, exact=True)
    await page.expect_text(css("#preview"), "/v1/review:")

    # A bad name: the scaffold's own words, and neither Save nor Scaffold writes anything.
    await page.fill(css("#t2-name"), "Bad Review")
    await page.expect_text(css("#problems"), "'Bad Review' is not a valid name")
    await page.expect_text(css("#preview"), "The preview follows once the problems listed are fixed.", exact=True)
    await page.click(button("Save schema.json"))
    await page.expect_text(css("#result"), "Nothing was written")
    await page.fill(label("Service name"), "reading")
    await page.click(button("Scaffold service"))
    await page.expect_text(css("#result"), "Nothing was written")
    assert not schema.exists()
    assert not (root / "services" / "reading").exists()

    await page.fill(css("#t2-name"), "review")
    await page.expect_text(css("#problems"), NO_PROBLEMS, exact=True)
    await page.click(tab("DDL"))
    await page.select(label("Dialect"), "sqlite")
    await page.expect_text(css("#preview"), "CREATE TABLE review")
    # The tabs answer the arrow keys too.
    await page.press(tab("DDL"), "ArrowRight")
    await page.expect_focused(tab("ER diagram"))
    await page.expect_text(css("#preview"), 'book |o--o{ review : "book_id"')
    # The same diagram drawn: a box per table, keys marked, a line per reference with its cardinality.
    await page.expect_count(css("#er-svg g.entity"), 3)
    await page.expect_text(css('#er-svg g.entity[data-table="book"] text[data-field="author_id"]'), "FK")
    await page.expect_text(css('#er-svg g.entity[data-table="author"] text[data-field="id"]'), "PK")
    to_review = css('#er-svg g.relation-group[data-child="review"]')
    await page.expect_attribute(to_review, "data-cardinality", "|o--o{")
    await page.expect_attribute(to_review, "data-parent", "book")
    await page.expect_attribute(css('#er-svg g.relation-group[data-child="book"]'), "data-parent", "author")
    lefts = [await page.left(css(f'#er-svg g.entity[data-table="{t}"] rect.box')) for t in ("author", "book", "review")]
    assert lefts == sorted(lefts), f"parents left of children: {lefts}"
    assert await page.evaluate(OVERFLOWING_TEXT) == [], "each field's text fits in its table's box"
    # Laid out for 1280x800: three tables, their fields and the drawing fit the window's width.
    assert await page.evaluate(PAGE_WIDER_THAN_WINDOW) is False, "the page scrolls sideways"
    # It follows each edit: a required reference is || on the parent's side, a unique one o| on the child's.
    await page.set_checked(label("Nullable (review.book_id)"), False)
    await page.expect_attribute(to_review, "data-cardinality", "||--o{")
    await page.set_checked(label("Unique (review.book_id)"), True)
    await page.expect_attribute(to_review, "data-cardinality", "||--o|")
    await page.expect_text(css("#preview"), 'book ||--o| review : "book_id"')
    await page.set_checked(label("Unique (review.book_id)"), False)
    await page.set_checked(label("Nullable (review.book_id)"), True)
    await page.expect_attribute(to_review, "data-cardinality", "|o--o{")
    await add_table(page, 3, "loan", [("id", "uuid"), ("book_id", "uuid")])
    await page.select(label("References (loan.book_id)"), "book")
    await page.expect_count(css("#er-svg g.entity"), 4)
    await page.expect_attribute(css('#er-svg g.relation-group[data-child="loan"]'), "data-parent", "book")
    await page.click(button("Remove table loan"))
    await page.expect_count(css("#er-svg g.entity"), 3)
    await page.expect_count(css("#er-svg g.relation-group"), 2)

    await page.click(button("Save schema.json"))
    await page.expect_text(css("#result"), f"Saved {schema}.")
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

    await page.click(button("Scaffold service"))
    await page.expect_text(
        css("#result"), "Service reading created: tables author, book, review", timeout_ms=SCAFFOLD_WAIT_MS
    )
    spec = yaml.safe_load((root / "specs" / "reading.yaml").read_text())
    assert {"/v1/author", "/v1/book", "/v1/review"} <= set(spec["paths"])
    assert (root / "services" / "reading" / "generated").is_dir()


async def assist_proposes_and_an_accepted_proposal_is_an_edit(page: StudioPage, root: Path, folder: Path) -> None:
    """The AI assist asked from the keyboard: an invalid proposal shown and rejected, a valid one
    accepted with Enter (the focus is on Accept) and saved."""
    # Tables of their own: the scaffold journey before may have taken author, book and review.
    shelf = {"fields": {"id": {"type": "uuid", "primaryKey": True}, "label": {"type": "string"}}}
    schema = folder / "shelves.json"
    schema.write_text(json.dumps({"entities": {"shelf": shelf}}))
    invalid = {"entities": {"shelf": {"fields": {**shelf["fields"], "label": {"type": "money"}}}}}
    proposal = {"entities": {"shelf": {"fields": {**shelf["fields"], "note": {"type": "text"}}}}}
    with fake_model() as model:
        environment = {"FOUNTAIN_STUDIO_AI_URL": model.url, "FOUNTAIN_STUDIO_AI_MODEL": "tiny-model"}
        port = free_port()
        with running(root, ["studio", str(schema), "--port", str(port)], environment, "/api/schema", port) as url:
            await page.goto(url)
            instruction = label("Describe a change")
            await page.expect_visible(instruction, True)

            model.content = json.dumps(invalid)
            await page.fill(instruction, "make labels money")
            await page.press(instruction, "Enter")
            await page.expect_text(css("#proposal"), "/entities/shelf/fields/label/type")
            await page.expect_enabled(button("Accept"), False)
            await page.click(button("Reject"))
            await page.expect_text(css("#proposal"), "nothing changed")

            model.content = json.dumps(proposal)
            await page.fill(instruction, "add a note to shelves")
            await page.press(instruction, "Enter")
            await page.expect_text(css("#proposal-changes"), 'field shelf.note added: {"type": "text"}', exact=True)
            await page.expect_focused(button("Accept"))
            await page.press_on_focused("Enter")
            await page.expect_value(css("#t0-f2-name"), "note")
            await page.expect_text(css("#problems"), NO_PROBLEMS, exact=True)
            await page.click(button("Save schema.json"))
            await page.expect_text(css("#result"), f"Saved {schema}.")
    assert json.loads(schema.read_text()) == proposal


async def assist_box_is_hidden_without_an_endpoint(page: StudioPage, url: str) -> None:
    await page.goto(url)
    await page.expect_text(css("#file"), "Save writes")
    await page.expect_visible(label("Describe a change"), False)


async def numeric_precision_and_fields_unique_together(page: StudioPage, root: Path, folder: Path) -> None:
    """A numeric field's precision and scale, a table's fields unique together and a check, edited and saved."""
    schema = folder / "items.json"
    fields = {"id": {"type": "uuid", "primaryKey": True}, "price": {"type": "numeric"}}
    fields |= {"code": {"type": "string"}, "maker": {"type": "string"}}
    schema.write_text(json.dumps({"entities": {"item": {"fields": fields}}}))
    port = free_port()
    with running(root, ["studio", str(schema), "--port", str(port)], {}, "/api/schema", port) as url:
        await page.goto(url)
        await page.fill(label("Scale (item.price)"), "4")
        await page.expect_text(css("#problems"), "scale needs a precision at least as large")
        await page.fill(label("Precision (item.price)"), "10")
        await page.fill(label("Scale (item.price)"), "2")
        await page.fill(label("Unique together"), "code, maker")
        await page.press(label("Unique together"), "Enter")
        await page.expect_count(label("Fields unique together (item)"), 1)
        await page.expect_text(
            css("#t0-uniques li"), "unique (code, maker) Remove unique (code, maker) of item", exact=True
        )
        await page.expect_text(css("#problems"), NO_PROBLEMS, exact=True)
        await page.click(tab("ER diagram"))
        await page.expect_text(css('#er-svg text[data-field="maker"]'), "UK")
        await page.click(tab("DDL"))
        await page.expect_text(css("#preview"), "UNIQUE (code, maker)")
        await page.expect_text(css("#preview"), "price NUMERIC(10, 2)")
        # A check: its problem shown as it is typed, then fixed and named.
        await page.fill(label("New check"), "price >")
        await page.press(label("New check"), "Enter")
        await page.expect_text(css("#problems"), "at /entities/item/checks/0/sql: 'price >': SQL syntax error")
        await page.fill(label("Check condition 1 (item)"), "price >= 0")
        await page.fill(label("Check name 1 (item)"), "price_not_negative")
        await page.expect_text(css("#problems"), NO_PROBLEMS, exact=True)
        await page.expect_text(css("#preview"), "CONSTRAINT price_not_negative CHECK (price >= 0)")
        await page.click(button("Save schema.json"))
        await page.expect_text(css("#result"), f"Saved {schema}.")
        saved = json.loads(schema.read_text())["entities"]["item"]
        assert saved["unique"] == [["code", "maker"]]
        assert saved["checks"] == [{"sql": "price >= 0", "name": "price_not_negative"}]
        assert saved["fields"]["price"] == {"type": "numeric", "precision": 10, "scale": 2}

        # A field removed takes its group with it, as the database would; a group is removed by its button.
        await page.click(button("Remove field maker"))
        await page.expect_count(label("Fields unique together (item)"), 0)
        await page.fill(label("Unique together"), "code")
        await page.press(label("Unique together"), "Enter")
        await page.click(button("Remove unique (code) of item"))
        await page.expect_count(label("Fields unique together (item)"), 0)
        await page.click(button("Save schema.json"))
        # Waited for without blocking the event loop, which passes on the page's requests in Chromium.
        deadline = time.monotonic() + WAIT_MS / 1000
        while "unique" in (saved := json.loads(schema.read_text())["entities"]["item"]):
            assert time.monotonic() < deadline, f"the group is still saved: {saved}"
            await asyncio.sleep(0.05)
