"""`fountain studio` in Debian's Firefox ESR (headless), driven over Marionette, Firefox's own remote
protocol: Playwright drives only its own patched Firefox, and its WebDriver BiDi channel asks for
commands newer than this ESR has. The journeys of studio_journey.py, the ones the Chromium test walks,
with typing and keys sent as key events, clicks refused on a control hidden or covered, and the ER
diagram's SVG laid out by Gecko."""

import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.tooling.studio_journey import (
    WAIT_MS,
    Key,
    Target,
    assist_box_is_hidden_without_an_endpoint,
    assist_proposes_and_an_accepted_proposal_is_an_edit,
    build_check_save_and_scaffold,
    numeric_precision_and_fields_unique_together,
)

with warnings.catch_warnings():
    # marionette-driver's helper packages still use what Python 3.11 deprecates (telnetlib, distro's
    # linux_distribution, an invalid escape): not this project's to fix.
    warnings.simplefilter("ignore", DeprecationWarning)
    from marionette_driver.errors import ElementNotInteractableException, StaleElementException
    from marionette_driver.keys import Keys
    from marionette_driver.marionette import Marionette, WebElement

# A browser, two studio processes and a scaffold: about a minute.
pytestmark = pytest.mark.slow

FIREFOX = Path("/usr/bin/firefox-esr")

# Page requests anywhere but this machine go to a closed local port, so they fail instead of leaving.
OFFLINE = {
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 9,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": 9,
    "network.proxy.no_proxies_on": "127.0.0.1",
}

# The targets as the Chromium test's Playwright finds them: a control by its aria-label or <label>,
# a button or tab by its accessible name (its aria-label or text), else a CSS selector.
FIND = """
const [kind, value, what, name] = arguments;
const words = (node) => node.textContent.replace(/\\s+/g, " ").trim();
const named = (node) => node.getAttribute("aria-label") ?? words(node);
let found;
if (kind === "css") found = [...document.querySelectorAll(value)];
else if (kind === "label")
  found = [...document.querySelectorAll("input, select, textarea, [aria-label]")].filter((node) =>
    node.getAttribute("aria-label") === value || [...(node.labels ?? [])].some((l) => words(l) === value));
else
  found = [...document.querySelectorAll(kind === "tab" ? '[role="tab"]' : 'button:not([role]), [role="button"]')]
    .filter((node) => named(node) === value);
switch (what) {
  case "elements": return found;
  case "text": return found.map(words);
  case "value": return found.map((node) => node.value);
  case "checked": return found.map((node) => node.checked);
  case "attribute": return found.map((node) => node.getAttribute(name));
  case "focused": return found.map((node) => node === document.activeElement);
  case "enabled": return found.map((node) => !node.disabled);
  case "left": return found.map((node) => node.getBoundingClientRect().x);
}
"""

# Installed once the page has loaded, what the page throws from then on (an error while it loads
# leaves it without the controls the journey waits for).
WATCH = """
window.studioErrors = [];
window.addEventListener("error", (event) => window.studioErrors.push(String(event.message)));
window.addEventListener("unhandledrejection", (event) => window.studioErrors.push(String(event.reason)));
"""

KEYS = {"Enter": Keys.ENTER, "Tab": Keys.TAB, "ArrowRight": Keys.ARROW_RIGHT}


class FirefoxStudioPage:
    """The shared journey's steps over Marionette; each action waits for its one target, as Playwright's
    locators do, and is tried again when the studio has just redrawn the tables under it."""

    def __init__(self, client: Marionette) -> None:
        self.client = client

    def observe(self, target: Target, what: str, name: str = "") -> list[Any]:
        found: list[Any] = self.client.execute_script(FIND, script_args=[target.kind, target.value, what, name])
        return found

    def wait(
        self,
        target: Target,
        what: str,
        holds: Callable[[list[Any]], bool],
        *,
        name: str = "",
        timeout_ms: int = WAIT_MS,
    ) -> None:
        deadline = time.monotonic() + timeout_ms / 1000
        while not holds(seen := self.observe(target, what, name)):
            if time.monotonic() > deadline:
                pytest.fail(f"{target.kind} {target.value!r}: {what} {name} is {seen!r}")
            time.sleep(0.05)

    def act(self, target: Target, action: Callable[[WebElement], None]) -> None:
        deadline = time.monotonic() + WAIT_MS / 1000
        while True:
            found = self.observe(target, "elements")
            if len(found) == 1:
                try:
                    return action(found[0])
                except (StaleElementException, ElementNotInteractableException):
                    if time.monotonic() > deadline:
                        raise
            elif time.monotonic() > deadline:
                pytest.fail(f"{target.kind} {target.value!r}: {len(found)} elements found, one expected")
            time.sleep(0.05)

    def errors(self) -> list[str]:
        errors: list[str] = self.client.execute_script(
            "return window.studioErrors ?? ['the page was reloaded or left']", sandbox=None
        )
        return errors

    def requested(self) -> list[str]:
        names: list[str] = self.client.execute_script(
            'return [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")]'
            ".map((entry) => entry.name)"
        )
        return names

    async def goto(self, url: str) -> None:
        self.client.navigate(url)
        # In the page's own scope (not a sandbox), so what it records outlives this call.
        self.client.execute_script(WATCH, sandbox=None)

    async def fill(self, target: Target, text: str) -> None:
        # Typed as a user does: everything selected, then the new text over it. Two commands, as the
        # modifier held in one would stay held for the text too (Ctrl+U empties the field).
        def type_over(element: WebElement) -> None:
            element.send_keys(Keys.CONTROL, "a")
            element.send_keys(text or Keys.BACK_SPACE)

        self.act(target, type_over)

    async def press(self, target: Target, key: Key) -> None:
        self.act(target, lambda element: element.send_keys(KEYS[key]))

    async def click(self, target: Target) -> None:
        self.act(target, lambda element: element.click())

    async def select(self, target: Target, value: str) -> None:
        self.act(target, lambda element: element.find_element("css selector", f'option[value="{value}"]').click())
        self.wait(target, "value", lambda seen: seen == [value])

    async def set_checked(self, target: Target, checked: bool) -> None:
        self.act(target, lambda element: None if element.is_selected() == checked else element.click())
        self.wait(target, "checked", lambda seen: seen == [checked])

    async def expect_text(self, target: Target, text: str, *, exact: bool = False, timeout_ms: int = WAIT_MS) -> None:
        expected = " ".join(text.split())
        self.wait(
            target,
            "text",
            lambda seen: len(seen) == 1 and (seen[0] == expected if exact else expected in seen[0]),
            timeout_ms=timeout_ms,
        )

    async def expect_value(self, target: Target, value: str) -> None:
        self.wait(target, "value", lambda seen: seen == [value])

    async def expect_count(self, target: Target, count: int) -> None:
        self.wait(target, "elements", lambda seen: len(seen) == count)

    async def expect_attribute(self, target: Target, name: str, value: str) -> None:
        self.wait(target, "attribute", lambda seen: seen == [value], name=name)

    async def expect_focused(self, target: Target) -> None:
        self.wait(target, "focused", lambda seen: seen == [True])

    async def expect_visible(self, target: Target, visible: bool) -> None:
        # As Playwright's: a control not on the page at all is hidden too.
        deadline = time.monotonic() + WAIT_MS / 1000
        while True:
            try:
                shown = [element.is_displayed() for element in self.observe(target, "elements")]
            except StaleElementException:
                shown = None
            if shown is not None and (shown == [True] if visible else not any(shown)):
                return
            if time.monotonic() > deadline:
                pytest.fail(f"{target.kind} {target.value!r}: displayed is {shown!r}")
            time.sleep(0.05)

    async def expect_enabled(self, target: Target, enabled: bool) -> None:
        self.wait(target, "enabled", lambda seen: seen == [enabled])

    async def press_on_focused(self, key: Key) -> None:
        self.client.execute_script("return document.activeElement").send_keys(KEYS[key])

    async def evaluate(self, expression: str) -> Any:
        return self.client.execute_script(f"return ({expression});")

    async def left(self, target: Target) -> float:
        self.wait(target, "left", lambda seen: len(seen) == 1)
        left: float = self.observe(target, "left")[0]
        return left


@pytest.fixture(scope="module")
def firefox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Marionette]:
    if not FIREFOX.exists():
        pytest.fail("Firefox is needed to check the studio: `make deploy-tools` installs Debian's firefox-esr.")
    log = tmp_path_factory.mktemp("firefox") / "gecko.log"
    client = Marionette(bin=str(FIREFOX), port=0, headless=True, prefs=OFFLINE, gecko_log=str(log))
    try:
        client.start_session()
        client.set_window_rect(width=1280, height=800)
        yield client
    finally:
        client.cleanup()


@pytest.fixture
def page(firefox: Marionette) -> Iterator[FirefoxStudioPage]:
    page = FirefoxStudioPage(firefox)
    yield page
    outside = [name for name in page.requested() if urlsplit(name).hostname != "127.0.0.1"]
    assert outside == [], "the page reached for the internet"
    assert page.errors() == []


async def test_build_check_save_and_scaffold_three_tables_in_firefox(
    studio: tuple[str, Path, Path], page: FirefoxStudioPage
) -> None:
    url, root, schema = studio
    await build_check_save_and_scaffold(page, url, root, schema)


async def test_the_ai_assist_proposes_and_an_accepted_proposal_is_an_edit_in_firefox(
    studio: tuple[str, Path, Path], page: FirefoxStudioPage, tmp_path: Path
) -> None:
    _, root, _ = studio
    await assist_proposes_and_an_accepted_proposal_is_an_edit(page, root, tmp_path)


async def test_the_assist_box_is_hidden_when_no_endpoint_is_set_in_firefox(
    studio: tuple[str, Path, Path], page: FirefoxStudioPage
) -> None:
    url, _, _ = studio
    await assist_box_is_hidden_without_an_endpoint(page, url)


async def test_numeric_precision_and_fields_unique_together_are_edited_on_the_page_in_firefox(
    studio: tuple[str, Path, Path], page: FirefoxStudioPage, tmp_path: Path
) -> None:
    _, root, _ = studio
    await numeric_precision_and_fields_unique_together(page, root, tmp_path)
