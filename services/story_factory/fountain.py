"""A story as a screenplay in the Fountain format (https://fountain.io/syntax).

- Title page: the script's own title page, key by key as written; without one, `Title:`, `Author:`
  (when there is one) and the description as `Notes:`. Each line of a multi-line value is indented by
  three spaces; a blank line ends the title page.
- Each section: a forced scene heading (`.ACT 1, SCENE 1`), so no title needs to start with INT./EXT.,
  with its scene number as `#12A#`.
- Each line, by its kind: an action paragraph (forced with `!` when it would otherwise read as another
  element); a dialogue: its action (if any), a `[[note]]` of the context's entries other than `mood`,
  the character's cue in upper case (forced with `@` when upper case alone would not make it one) with
  each of its extensions in its own parentheses (`BOB (V.O.) (CONT'D)`), the context's `mood` and the parentheticals, and the spoken words; a forced
  transition (`> CUT TO:`); centered text (`> text <`); a page break (`===`); a note (`[[text]]`);
  lyrics (`~` before each line); a section (`#` as many times as its depth); a synopsis (`= text`).
- A dual dialogue: the cue of its right-hand side ends in `^`, its context's note follows it (a note
  between the two sides would part them for some readers). Core Script refuses changes that part a
  pair; one without a dialogue just before it (left by an earlier version) is written as a plain
  dialogue.
- A part a line names that its owner no longer has: a note naming it (`[[Missing from line 7:
  character 12 (deleted since the line was written).]]`) where the line stands, and where Fountain
  needs something to keep the element's shape, a marker (`@MISSING CHARACTER 12`, `(missing spoken
  words 34)`); a missing action is the note alone.

Text is Fountain text: emphasis (`*italic*`, `**bold**`, `_underline_`) is kept as written and
reaches the screenplay unchanged. Only `/*`, which would open a boneyard and hide what follows, is
written with a backslash before its `*` (read back as `/*`).
"""

import re
from collections.abc import Sequence
from typing import Union

from .assembly import Layout, PlacedLine, PlacedSection
from .generated.clients.core_script_models import Parenthetical
from .generated.models import Story, StoryLine, StoryParenthetical, StorySection

# A screenplay is written from a story's layout as its owners answered it (what GET .../fountain
# reads: no /v2 model per line) or from the /v2 story made of that layout; both read alike.
AnyStory = Union[Story, Layout]
AnyLine = Union[StoryLine, PlacedLine]

# Lines that Fountain reads as something other than action: scene headings, and the characters that
# start forced elements, sections, synopses, centered text, transitions, lyrics and notes.
_SCENE_HEADING = re.compile(r"^(INT|EXT|EST|INT\.?/EXT|I/E)[ .]", re.IGNORECASE)
_FORCING_STARTS = ("!", "@", ".", "#", "=", ">", "~", "[[", "/*")
_TRANSITION = re.compile(r"TO:$")
_PAGE_BREAK = re.compile(r"^={3,}$")
PARENTHETICAL_KEY = "mood"
# The title of the section an import keeps what comes before the first scene heading in (a title
# page's FADE IN:): written without a heading when it is the first section.
OPENING = "Before the first scene"


def escape(text: str) -> str:
    """Text as written, emphasis included, with only a boneyard's opening `/*` escaped."""
    return text.replace("/*", "/\\*")


def one_line(text: str) -> str:
    return " ".join(text.split())


def _paragraphs(text: str) -> list[list[str]]:
    """Text as paragraphs of non-blank lines (a blank line would end a Fountain element)."""
    paragraphs: list[list[str]] = [[]]
    for line in text.splitlines():
        line = line.expandtabs(4).rstrip()
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return [paragraph for paragraph in paragraphs if paragraph]


def _reads_as_other_element(lines: list[str]) -> bool:
    first = lines[0].lstrip()
    if first.startswith(_FORCING_STARTS) or _SCENE_HEADING.match(first) or _PAGE_BREAK.match(first):
        return True
    # A line in upper case (before any parenthesis, as in `HANS (on the radio)`) reads as a character
    # cue when more lines follow, and one ending in TO: as a transition.
    cue_like = any(line.split("(", 1)[0].isupper() for line in lines)
    return cue_like or any(_TRANSITION.search(line) for line in lines) or first.endswith("<")


def action(text: str) -> list[str]:
    """An action's paragraphs as Fountain lines, each paragraph forced with `!` where needed."""
    out: list[str] = []
    for paragraph in _paragraphs(text):
        lines = [escape(line) for line in paragraph]
        if _reads_as_other_element(paragraph):
            lines[0] = "!" + lines[0]
        out += [*lines, ""]
    return out


def character_cue(name: str) -> str:
    """The name in upper case; forced with `@` when that alone does not make a cue (no cased letters,
    a parenthesis, which would read as an extension, or a leading character that forces another element)."""
    cue = one_line(name).upper()
    plain = cue.isupper() and "(" not in cue and not cue.startswith(_FORCING_STARTS) and not cue.startswith("[")
    plain = plain and not _SCENE_HEADING.match(cue)
    return escape(cue) if plain else "@" + escape(cue)


def dialogue(text: str) -> list[str]:
    """Dialogue lines; a blank line inside is kept as two spaces, as Fountain asks."""
    lines = [escape(line.expandtabs(4).strip()) for line in text.strip().splitlines()]
    return [line or "  " for line in lines] or ["  "]


def _note(entries: dict[str, str]) -> str:
    text = "; ".join(f"{one_line(key)}: {one_line(value)}" for key, value in sorted(entries.items()))
    return "[[" + text.replace("]]", "] ]") + "]]"


def _note_text(text: str) -> str:
    """A note's text on its lines; a blank line would end the note's paragraph."""
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    return "[[" + "\n".join(lines).replace("]]", "] ]") + "]]"


_PART_NAMES = {"character": "character", "action": "action", "spokenWord": "spoken words", "context": "context"}


def missing_note(line: AnyLine) -> list[str]:
    """A note naming the parts of the line that their owners no longer have, or nothing."""
    if not line.missing:
        return []
    parts = ", ".join(f"{_PART_NAMES[gone.part.value]} {gone.id}" for gone in line.missing)
    return [f"[[Missing from line {line.lineId}: {parts} (deleted since the line was written).]]", ""]


def _missing_id(line: AnyLine, part: str) -> int:
    return next(gone.id for gone in line.missing if gone.part.value == part)


def dialogue_block(line: AnyLine, dual: bool = False) -> list[str]:
    """A dialogue element: its action (if any), the notes (missing parts, the context's entries), cue,
    parentheticals and words; `dual`: the right-hand side of a dual dialogue, its notes after it.
    A missing character or spoken words leave a marker where Fountain needs one: the cue
    `@MISSING CHARACTER 12`, the line `(missing spoken words 34)`."""
    out = action(line.action.description) if line.action is not None else []
    data = dict(line.context.data) if line.context is not None else {}
    mood = one_line(data.pop(PARENTHETICAL_KEY, ""))
    notes = [*missing_note(line), *([_note(data), ""] if data else [])]
    if not dual:
        out += notes
    if line.character is not None:
        cue = character_cue(line.character.name)
    else:
        cue = f"@MISSING CHARACTER {_missing_id(line, 'character')}"
    for extension in line.extensions:
        cue += f" ({escape(one_line(extension))})"
    if dual:
        cue += " ^"
    out.append(cue)
    if mood:
        out.append(f"({escape(mood)})")
    if line.spokenWord is not None:
        spoken = dialogue(line.spokenWord.text)
    else:
        spoken = [f"(missing spoken words {_missing_id(line, 'spokenWord')})"]
    given: Sequence[Union[StoryParenthetical, Parenthetical]] = line.parentheticals
    parentheticals = sorted(given, key=lambda p: p.beforeLine)
    for index, spoken_line in enumerate(spoken):
        out += [f"({escape(one_line(p.text))})" for p in parentheticals if p.beforeLine == index]
        out.append(spoken_line)
    out += [f"({escape(one_line(p.text))})" for p in parentheticals if p.beforeLine >= len(spoken)]
    out.append("")
    if dual:
        out += notes
    return out


def _lyrics(text: str) -> list[str]:
    """Each line after `~`; a blank line inside stays a lyric (`~`), so the lyrics stay one element."""
    rows = [row.expandtabs(4).rstrip() for row in text.strip().splitlines()]
    return [*("~" + escape(row) for row in rows), ""]


def line_block(line: AnyLine, pairs_with_previous: bool = False) -> list[str]:
    """The line's Fountain paragraphs; `pairs_with_previous`: the paragraph before is a dialogue a
    dual dialogue can pair with."""
    if line.kind.value == "dialogue":
        return dialogue_block(line, dual=line.dual and pairs_with_previous)
    if line.kind.value == "action":
        # An action its owner no longer has is written as the note naming it.
        return action(line.action.description) if line.action is not None else missing_note(line)
    if line.kind.value == "pageBreak":
        return ["===", ""]
    text = line.text or ""
    if line.kind.value == "transition":
        return ["> " + escape(one_line(text)), ""]
    if line.kind.value == "centered":
        return [*(f"> {escape(row)} <" for paragraph in _paragraphs(text) for row in paragraph), ""]
    if line.kind.value == "lyrics":
        return _lyrics(text)
    if line.kind.value == "section":
        return ["#" * (line.depth or 1) + " " + escape(one_line(text)), ""]
    if line.kind.value == "synopsis":
        return ["= " + escape(one_line(text)), ""]
    return [_note_text(text), ""]


def scene_heading(title: str) -> str:
    heading = one_line(title)
    # `..` starts no scene heading, and a heading must hold some text: such titles become a section.
    if not heading or heading.startswith("."):
        return "# " + (heading or "Untitled")
    return "." + escape(heading)


def _title_page_entry(key: str, value: str) -> list[str]:
    rows = [row.strip() for row in value.strip().splitlines() if row.strip()]
    if len(rows) == 1:
        return [f"{one_line(key)}: {rows[0]}"]
    return [f"{one_line(key)}:", *("   " + row for row in rows)]


def title_page(story: AnyStory) -> list[str]:
    if story.titlePage:
        return [*(row for entry in story.titlePage for row in _title_page_entry(entry.key, entry.value)), ""]
    out = [f"Title: {escape(one_line(story.title))}"]
    if story.author.strip():
        out.append(f"Author: {escape(one_line(story.author))}")
    if description := [escape(line) for paragraph in _paragraphs(story.description) for line in paragraph]:
        out += ["Notes:", *("   " + line.strip() for line in description)]
    return [*out, ""]


def render(story: AnyStory) -> str:
    out = title_page(story)
    sections: Sequence[Union[StorySection, PlacedSection]] = story.sections
    for index, section in enumerate(sections):
        heading = scene_heading(section.title)
        if section.sceneNumber:
            heading += f" #{section.sceneNumber}#"
        if not (index == 0 and section.title == OPENING and not section.sceneNumber):
            out += [heading, ""]
        pairs = False
        for line in section.lines:
            out += line_block(line, pairs)
            # A dual dialogue pairs with a dialogue that is not itself the right-hand side of a pair.
            pairs = line.kind.value == "dialogue" and not (line.dual and pairs)
    return "\n".join(out).rstrip("\n") + "\n"
