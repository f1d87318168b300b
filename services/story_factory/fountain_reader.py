"""Reading a Fountain screenplay (https://fountain.io/syntax) into the elements a story holds.

Elements are told apart by screenplain's rules (screenplain.parsers.fountain, the parser the export is
checked with), so a screenplay read here and written back by fountain.py parses to the same elements.
screenplain itself is not used to read: it drops notes and the boneyard, keeps no line numbers (a
fault could not name its line) and changes the case of title page keys. What it reads is kept here:
- the title page, key by key in the order and case written, a multi-line value with its line breaks;
- scene headings (`INT.`, `EXT.`, `EST.`, `INT./EXT.`, `I/E` or forced with `.`) with `#12A#` numbers;
- actions (forced with `!`), lyrics (`~`), dialogue (a cue with its extensions, parentheticals between
  the spoken lines, the right-hand side of a dual dialogue `^`), transitions, centered text, page
  breaks, sections (`#`, with their depth) and synopses (`=`);
- notes `[[...]]` and the boneyard `/* ... */`, as notes at their place.
Text is kept as written, Fountain emphasis (`*`, `**`, `_`) and escapes included; `plain` reads it as
it prints.
"""

import itertools
import json
import re
from dataclasses import dataclass, field

from screenplain.richstring import parse_emphasis

# screenplain's patterns (parsers/fountain.py), so both read a paragraph alike.
_SLUG_STARTS = (re.compile(r"^(INT|EXT|EST)[ .]"), re.compile(r"^(INT\.?/EXT\.?)[ .]"), re.compile(r"^I/E[ .]"))
_SLUG = re.compile(r"(?:(\.)(?=[^.])\s*)?(\S.*?)\s*$")
_SCENE_NUMBER = re.compile(r"(.*?)\s*(?:#([\w\-.]+)#)\s*$")
_SECTION = re.compile(r"^(#{1,6})\s*([^#].*)$")
_TRANSITION = re.compile(r"(>?)\s*(.+?)(TO:)?$")
_CENTERED = re.compile(r"\s*>\s*(.*?)\s*<\s*$")
_DUAL = re.compile(r"^(.+?)(\s*\^)$")
_PAGE_BREAK = re.compile(r"^={3,}$")
_NOTE = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)
_TITLE_KEY = re.compile(r"([^:]+):\s*(.*)")
_TITLE_VALUE = re.compile(r"(?:\s{3,}|\t)(.+)")
_LINE_BREAK = re.compile("\r\n|\n|\r")
_VALID_SCENE_NUMBER = re.compile(r"^[A-Za-z0-9.-]{1,20}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MARKUP = re.compile(r"<(\?xml|!DOCTYPE|[A-Za-z][\w:-]*[\s>/])", re.IGNORECASE)
_CUE = re.compile(r"^(?P<name>[^(]*?)\s*(?P<extensions>(?:\([^()]*\)\s*)*)$")

# What the owning services accept (their specs' bounds).
TITLE_MAX = 200
NAME_MAX = 200
EXTENSION_MAX = 50
MAX_EXTENSIONS = 5
TEXT_MAX = 10000
PARENTHETICAL_MAX = 500
TITLE_KEY_MAX = 100
TITLE_ENTRIES_MAX = 50
LINES_MAX = 10000


class ScreenplayError(ValueError):
    """Something the screenplay holds that a story cannot, at a line (1-based) of the text."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"Line {line}: {message}")
        self.line = line
        self.message = message


@dataclass
class Element:
    """One story line: kind as Core Script names it, and what that kind takes."""

    kind: str  # action, dialogue, transition, centered, pageBreak, note, lyrics, section, synopsis
    line: int
    text: str | None = None  # every kind but dialogue and pageBreak
    character: str | None = None
    extensions: list[str] = field(default_factory=list)  # a dialogue's cue: each as written
    words: str | None = None
    parentheticals: list[tuple[int, str]] = field(default_factory=list)
    dual: bool = False  # a dialogue: the right-hand side of a dual dialogue
    depth: int | None = None  # a section: how many `#`


@dataclass
class Scene:
    """A scene heading (None for what comes before the first one) and its elements."""

    heading: str | None
    scene_number: str | None
    line: int
    elements: list[Element] = field(default_factory=list)


@dataclass
class Screenplay:
    title_page: list[tuple[str, str]]
    scenes: list[Scene]

    @property
    def elements(self) -> list[Element]:
        return [element for scene in self.scenes for element in scene.elements]

    @property
    def title(self) -> str:
        """The title page's Title on one line, else the first scene heading, else `Untitled`."""
        titles = [value for key, value in self.title_page if key.strip().lower() == "title"]
        headings = [scene.heading for scene in self.scenes if scene.heading]
        title = " ".join(plain((titles or headings or ["Untitled"])[0]).split()) or "Untitled"
        return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1] + "…"


def plain(text: str) -> str:
    """Fountain text as it prints: emphasis markers dropped, backslash escapes resolved."""
    return str(parse_emphasis(text))


def _is_blank(line: str) -> bool:
    return line in ("", " ")  # two spaces are a line of their own in dialogue


def _lines(text: str) -> list[str]:
    return [line.expandtabs(4) for line in _LINE_BREAK.split(text)]


def _without_boneyard(lines: list[str]) -> tuple[list[str], list[Element]]:
    """The lines with each `/* ... */` blanked out (line numbers kept), and each as a note."""
    out: list[str] = []
    notes: list[Element] = []
    inside: list[str] | None = None
    start = 0
    for number, line in enumerate(lines, start=1):
        kept = ""
        rest = line
        while True:
            if inside is None:
                opening = rest.find("/*")
                if opening < 0:
                    kept += rest
                    break
                kept += rest[:opening]
                rest = rest[opening + 2 :]
                inside, start = [], number
            closing = rest.find("*/")
            if closing < 0:
                inside.append(rest)
                break
            inside.append(rest[:closing])
            rest = rest[closing + 2 :]
            text = "\n".join(row.strip() for row in "\n".join(inside).strip().splitlines() if row.strip())
            if text:
                notes.append(Element("note", start, text=text))
            inside = None
        out.append(kept)
    if inside is not None:
        raise ScreenplayError(start, "a boneyard /* is never closed with */.")
    return out, notes


def _title_page(lines: list[str]) -> tuple[list[tuple[str, str]], int]:
    """The title page's entries and how many lines it takes (0: the screenplay has none)."""
    head = list(itertools.takewhile(lambda line: line != "", lines))
    entries: list[tuple[int, str, list[str]]] = []  # (line, key, values)
    index = 0
    while index < len(head):
        key_match = _TITLE_KEY.match(head[index])
        if key_match is None:
            return [], 0
        key, value = key_match.group(1), key_match.group(2)
        index += 1
        values = [value] if value else []
        if not value:
            while index < len(head) and (value_match := _TITLE_VALUE.match(head[index])):
                values.append(value_match.group(1))
                index += 1
        if values:
            entries.append((index - len(values) + (1 if value else 0), key.strip(), values))
    if not entries:
        return [], 0
    for position, (line, key, values) in enumerate(entries):
        if not key:
            raise ScreenplayError(line, "a title page key needs a name before its colon.")
        if len(key) > TITLE_KEY_MAX:
            raise ScreenplayError(line, f"a title page key is at most {TITLE_KEY_MAX} characters.")
        if position >= TITLE_ENTRIES_MAX:
            raise ScreenplayError(line, f"a title page holds at most {TITLE_ENTRIES_MAX} entries.")
        if sum(len(v) + 1 for v in values) > TEXT_MAX:
            raise ScreenplayError(line, f"a title page value is at most {TEXT_MAX} characters.")
    return [(key, "\n".join(value.strip() for value in values)) for _, key, values in entries], len(head)


class _Reader:
    def __init__(self) -> None:
        self.scenes: list[Scene] = [Scene(None, None, 1)]
        self.previous: str | None = None  # the kind of the last paragraph read

    @property
    def elements(self) -> list[Element]:
        return self.scenes[-1].elements

    def paragraph(self, numbered: list[tuple[int, str]]) -> None:
        first_line = numbered[0][0]
        joined = "\n".join(text for _, text in numbered)
        notes = []
        for match in _NOTE.finditer(joined):
            at = first_line + joined.count("\n", 0, match.start())
            text = "\n".join(row.strip() for row in match.group(1).strip().splitlines() if row.strip())
            if text:
                notes.append(Element("note", at, text=_checked_text(text, at)))
        rest = _NOTE.sub("", joined)
        if not _is_blank(rest):
            lines = rest.split("\n")
            self.classify(lines, first_line)
        self.elements.extend(notes)

    def classify(self, lines: list[str], at: int) -> None:
        for control in (_CONTROL.search(line) for line in lines):
            if control:
                row = next(n for n, line in enumerate(lines) if _CONTROL.search(line))
                raise ScreenplayError(at + row, f"control character {control.group()!r} is not screenplay text.")
        if lines[0].startswith("!"):
            return self.action(lines, at)
        if len(lines) == 1 and _PAGE_BREAK.match(lines[0]):
            self.elements.append(Element("pageBreak", at))
            self.previous = "pageBreak"
            return None
        if len(lines) == 1 and lines[0].startswith("=") and self.previous in ("scene", "section"):
            return self.note(lines[0][1:].strip(), at, "synopsis")
        if self.sections(lines, at) or self.scene(lines, at) or self.centered(lines, at):
            return None
        if self.dialogue(lines, at) or self.transition(lines, at):
            return None
        return self.action(lines, at)

    def note(self, text: str, at: int, kind: str, depth: int | None = None) -> None:
        """A section or synopsis (screenplain keeps them as structure, not as printed elements)."""
        if not text:
            raise ScreenplayError(at, f"a {kind} needs some text.")
        self.elements.append(Element(kind, at, text=_checked_text(text, at), depth=depth))
        self.previous = kind

    def sections(self, lines: list[str], at: int) -> bool:
        kept: list[str] = []
        for line in lines:
            if _SECTION.match(line) or (line.startswith("=") and kept):
                kept.append(line)
            else:
                return False
        for offset, line in enumerate(kept):
            if section := _SECTION.match(line):
                self.note(section.group(2).strip(), at + offset, "section", len(section.group(1)))
            else:
                self.note(line[1:].strip(), at + offset, "synopsis")
        return True

    def scene(self, lines: list[str], at: int) -> bool:
        if len(lines) != 1 or (match := _SLUG.match(lines[0])) is None:
            return False
        period, text = match.groups()
        if not period and not any(start.match(text.upper()) for start in _SLUG_STARTS):
            return False
        scene_number = None
        if numbered := _SCENE_NUMBER.match(text):
            text, scene_number = numbered.groups()
            if not _VALID_SCENE_NUMBER.match(scene_number):
                raise ScreenplayError(
                    at, f"scene number #{scene_number}# may hold only letters, digits, dots and dashes (at most 20)."
                )
        heading = " ".join(text.split())
        if not heading:
            raise ScreenplayError(at, "a scene heading needs some text.")
        if len(heading) > TITLE_MAX:
            raise ScreenplayError(at, f"a scene heading is at most {TITLE_MAX} characters.")
        self.scenes.append(Scene(heading, scene_number, at))
        self.previous = "scene"
        return True

    def centered(self, lines: list[str], at: int) -> bool:
        rows = [_CENTERED.match(line) for line in lines]
        if not all(rows):
            return False
        text = "\n".join(row.group(1) for row in rows if row)
        if not text.strip():
            return False
        self.elements.append(Element("centered", at, text=_checked_text(text, at)))
        self.previous = "centered"
        return True

    def dialogue(self, lines: list[str], at: int) -> bool:
        if len(lines) < 2 or lines[0].endswith("  "):
            return False
        cue = lines[0]
        if cue.startswith("@") and len(cue) >= 2:
            cue = cue[1:]
        elif not cue.split("(", 1)[0].isupper():
            return False
        dual = self.previous == "dialogue" and (pair := _DUAL.match(cue)) is not None
        if dual and pair:
            cue = pair.group(1)
        name, extensions = _cue(cue.strip(), at)
        words: list[str] = []
        parentheticals: list[tuple[int, str]] = []
        open_parenthetical: list[str] | None = None
        for offset, raw in enumerate(lines[1:], start=1):
            line = raw.strip()
            if open_parenthetical is None and line.startswith("("):
                open_parenthetical = []
            if open_parenthetical is not None:
                open_parenthetical.append(line)
                if line.endswith(")"):
                    text = " ".join(open_parenthetical)[1:-1].strip()
                    parentheticals.append((len(words), _checked_parenthetical(text, at + offset)))
                    open_parenthetical = None
            else:
                words.append(line)
        if open_parenthetical is not None:
            text = " ".join(open_parenthetical)[1:].strip()
            parentheticals.append((len(words), _checked_parenthetical(text, at + len(lines) - 1)))
        spoken = "\n".join(words).strip("\n")
        if not plain(spoken).strip():
            raise ScreenplayError(at, f"the dialogue of {name} holds no spoken words.")
        self.elements.append(
            Element(
                "dialogue",
                at,
                character=name,
                extensions=extensions,
                words=_checked_text(spoken, at),
                parentheticals=parentheticals,
                dual=dual,
            )
        )
        self.previous = "dialogue"
        return True

    def transition(self, lines: list[str], at: int) -> bool:
        if len(lines) != 1 or (match := _TRANSITION.match(lines[0])) is None:
            return False
        forced, text, to_colon = match.groups()
        if forced:
            text = text.upper() + (to_colon or "")
        elif text.isupper() and to_colon:
            text = text + to_colon
        else:
            return False
        self.elements.append(Element("transition", at, text=_checked_text(" ".join(text.split()), at)))
        self.previous = "transition"
        return True

    def action(self, lines: list[str], at: int) -> None:
        rows = [(line[1:] if line.startswith("!") else line).rstrip() for line in lines]
        kind = "action"
        if all(row.startswith("~") for row in rows if row) and not lines[0].startswith("!"):
            kind, rows = "lyrics", [row[1:].strip() for row in rows]
        text = "\n".join(rows).strip("\n")
        if plain(text).strip():
            self.elements.append(Element(kind, at, text=_checked_text(text, at)))
        self.previous = kind


def _cue(cue: str, at: int) -> tuple[str, list[str]]:
    """A cue as (name, extensions): `STEEL (O.S.)` is STEEL and [O.S.]; `BOB (V.O.) (CONT'D)` is BOB
    and [V.O., CONT'D], each extension as written."""
    match = _CUE.match(cue)
    if match is None or not match.group("name").strip():
        name, extensions = cue, []
    else:
        name = match.group("name")
        extensions = [e.strip() for e in re.findall(r"\(([^()]*)\)", match.group("extensions")) if e.strip()]
    name = " ".join(plain(name).split())  # a name is who speaks, not how it is printed
    if not name:
        raise ScreenplayError(at, "a character cue needs a name.")
    if len(name) > NAME_MAX:
        raise ScreenplayError(at, f"a character name is at most {NAME_MAX} characters.")
    if len(extensions) > MAX_EXTENSIONS:
        raise ScreenplayError(at, f"a cue has at most {MAX_EXTENSIONS} extensions.")
    if any(len(extension) > EXTENSION_MAX for extension in extensions):
        raise ScreenplayError(at, f"a cue's extension is at most {EXTENSION_MAX} characters.")
    return name, extensions


def _checked_text(text: str, at: int) -> str:
    if len(text) > TEXT_MAX:
        raise ScreenplayError(at, f"an element is at most {TEXT_MAX} characters; this one has {len(text)}.")
    return text


def _checked_parenthetical(text: str, at: int) -> str:
    if not text:
        raise ScreenplayError(at, "a parenthetical needs some text.")
    if len(text) > PARENTHETICAL_MAX:
        raise ScreenplayError(at, f"a parenthetical is at most {PARENTHETICAL_MAX} characters.")
    return text


def read(text: str) -> Screenplay:
    """The screenplay in `text`; ScreenplayError names the line of the first thing a story cannot hold."""
    text = text.removeprefix("\ufeff")  # a byte order mark some editors write first
    if not text.strip():
        raise ScreenplayError(1, "the screenplay is empty.")
    if (other := _not_fountain(text)) is not None:
        raise ScreenplayError(
            1, f"this is not a Fountain screenplay but {other}; send the screenplay as Fountain text."
        )
    lines, boneyard = _without_boneyard(_lines(text))
    title_page, skipped = _title_page(lines)
    reader = _Reader()
    pending = sorted(boneyard, key=lambda note: note.line)
    numbered = list(enumerate(lines, start=1))[skipped:]
    for blank, group in itertools.groupby(numbered, lambda item: _is_blank(item[1])):
        paragraph = list(group)
        while pending and pending[0].line <= paragraph[-1][0]:
            reader.elements.append(pending.pop(0))
        if not blank:
            reader.paragraph(paragraph)
    reader.elements.extend(pending)
    scenes = [scene for scene in reader.scenes if scene.heading is not None or scene.elements]
    screenplay = Screenplay(title_page, scenes)
    elements = screenplay.elements
    if len(elements) > LINES_MAX:
        raise ScreenplayError(elements[LINES_MAX].line, f"a story holds at most {LINES_MAX} elements.")
    if not title_page and not elements:
        raise ScreenplayError(1, "the screenplay holds no element: only notes or boneyard that hold nothing.")
    return screenplay


def _not_fountain(text: str) -> str | None:
    """What the text is instead of a Fountain screenplay, when it is plainly something else."""
    start = text.lstrip()
    if _MARKUP.match(start) and start.rstrip().endswith(">"):
        return "Final Draft (FDX)" if "<FinalDraft" in start[:2000] else "XML or HTML"
    if start.startswith(("{", "[")) and not start.startswith("[["):
        try:
            json.loads(start)
        except ValueError:
            return None
        return "JSON"
    return None
