"""The story's Fountain screenplay written as Final Draft (FDX), HTML and PDF by screenplain, a
well-kept Fountain library: the screenplay is parsed by its parser and written by its exporters, so
every format shows what the Fountain text says.

screenplain's FDX writer leaves out the title page, sections, synopses, scene numbers and page breaks.
Each body element is still written by it; what it leaves out is added with its own paragraph writer
and with Final Draft's elements built by xml.etree: `<TitlePage>`, a section as an `Outline {depth}`
paragraph, a synopsis as the `<SceneProperties><Summary>` of the scene heading or section it follows, a
scene number as `Number`, a page break as `StartsNewPage="Yes"` on the paragraph after it.

Writing a PDF of a feature-length screenplay takes a while of CPU; it runs in a worker thread, so the
service keeps answering other requests meanwhile.
"""

import asyncio
import io
import xml.etree.ElementTree as ElementTree

from reportlab import rl_config
from screenplain.export import fdx, html, pdf
from screenplain.parsers import fountain as fountain_parser
from screenplain.richstring import parse_emphasis
from screenplain.types import PageBreak, Screenplay, Section, Slug

FDX_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n'
# Title page entries Final Draft centres (the title block); the others stand at the left.
CENTERED_TITLE_KEYS = frozenset({"Title", "Credit", "Author", "Authors", "Source"})


def _parsed(screenplay: str) -> Screenplay:
    return fountain_parser.parse(io.StringIO(screenplay))


def _fdx_paragraphs(write: str) -> list[ElementTree.Element]:
    """The elements screenplain wrote as a fragment of FDX (paragraphs, or the text of one)."""
    return list(ElementTree.fromstring(f"<Content>{write}</Content>"))


def _written(paragraphs: list[object]) -> list[list[ElementTree.Element]]:
    """Each element of the body as screenplain's FDX writer writes it (nothing for what it leaves out),
    a section as its paragraph writer writes an `Outline {depth}` paragraph; parsed as XML at once."""
    out = io.StringIO()
    for paragraph in paragraphs:
        out.write("<Element>")
        if isinstance(paragraph, Section):
            fdx.write_paragraph(out, f"Outline {paragraph.level}", [paragraph.text])
        else:
            document = io.StringIO()
            fdx.to_fdx(Screenplay(paragraphs=[paragraph]), document)
            out.write(document.getvalue().split("<Content>", 1)[1].rsplit("</Content>", 1)[0])
        out.write("</Element>")
    return [list(element) for element in _fdx_paragraphs(out.getvalue())]


def _summary(synopsis: str) -> ElementTree.Element:
    """Final Draft's scene summary holding a synopsis, its emphasis as screenplain writes emphasis."""
    out = io.StringIO()
    fdx.write_text(out, parse_emphasis(synopsis), False)
    properties = ElementTree.Element("SceneProperties")
    summary = ElementTree.SubElement(ElementTree.SubElement(properties, "Summary"), "Paragraph")
    summary.extend(_fdx_paragraphs(out.getvalue()))  # its <Text> elements
    return properties


def _title_page(screenplay: Screenplay) -> ElementTree.Element:
    """Final Draft's `<TitlePage>`: each value line of the title page in the order written, the title
    block centred, an empty paragraph between entries."""
    out = io.StringIO()
    for index, (key, values) in enumerate(screenplay.title_page.items()):
        if index:
            out.write('    <Paragraph Type="General"></Paragraph>\n')
        for value in values:
            fdx.write_paragraph(out, "General", [parse_emphasis(value)], centered=key in CENTERED_TITLE_KEYS)
    title_page = ElementTree.Element("TitlePage")
    ElementTree.SubElement(title_page, "Content").extend(_fdx_paragraphs(out.getvalue()))
    return title_page


def to_fdx(screenplay: str) -> str:
    parsed = _parsed(screenplay)
    root = ElementTree.Element("FinalDraft", DocumentType="Script", Template="No", Version="1")
    content = ElementTree.SubElement(root, "Content")
    new_page = False
    for paragraph, written in zip(parsed.paragraphs, _written(parsed.paragraphs), strict=True):
        if isinstance(paragraph, PageBreak):
            new_page = True
            continue
        if not written:
            continue
        first = written[0]
        if isinstance(paragraph, Slug) and paragraph.scene_number is not None:
            first.set("Number", str(paragraph.scene_number))
        if isinstance(paragraph, (Slug, Section)) and paragraph.synopsis:
            first.insert(0, _summary(paragraph.synopsis))
        if new_page:
            first.set("StartsNewPage", "Yes")
            new_page = False
        content.extend(written)
    if parsed.title_page:
        root.append(_title_page(parsed))
    ElementTree.indent(root)
    return FDX_DECLARATION + ElementTree.tostring(root, encoding="unicode") + "\n"


def to_html(screenplay: str) -> str:
    out = io.StringIO()
    html.convert(_parsed(screenplay), out)
    return out.getvalue()


# The same screenplay makes the same PDF, byte for byte (no creation date or random document id), as
# its strong ETag promises.
rl_config.invariant = 1


def _pdf(screenplay: str) -> bytes:
    out = io.BytesIO()
    pdf.to_pdf(_parsed(screenplay), out)
    return out.getvalue()


async def to_pdf(screenplay: str) -> bytes:
    return await asyncio.to_thread(_pdf, screenplay)
