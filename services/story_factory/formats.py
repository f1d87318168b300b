"""The story's Fountain screenplay written as Final Draft (FDX), HTML and PDF by screenplain, a
well-kept Fountain library: the screenplay is parsed by its parser and written by its exporters, so
every format shows what the Fountain text says.

Writing a PDF of a feature-length screenplay takes a while of CPU; it runs in a worker thread, so the
service keeps answering other requests meanwhile.
"""

import asyncio
import io

from screenplain.export import fdx, html, pdf
from screenplain.parsers import fountain as fountain_parser
from screenplain.types import Screenplay


def _parsed(screenplay: str) -> Screenplay:
    return fountain_parser.parse(io.StringIO(screenplay))


def to_fdx(screenplay: str) -> str:
    out = io.StringIO()
    fdx.to_fdx(_parsed(screenplay), out)
    return out.getvalue()


def to_html(screenplay: str) -> str:
    out = io.StringIO()
    html.convert(_parsed(screenplay), out)
    return out.getvalue()


def _pdf(screenplay: str) -> bytes:
    out = io.BytesIO()
    pdf.to_pdf(_parsed(screenplay), out)
    return out.getvalue()


async def to_pdf(screenplay: str) -> bytes:
    return await asyncio.to_thread(_pdf, screenplay)
