"""`fountain export`: a story from Story Factory as Fountain, Final Draft, HTML or PDF, into a file
or onto standard output, from `make run` (`fountain serve`) or through a gateway."""

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import httpx
import typer

from fountain_cli import registry

DEFAULT_URL = "http://127.0.0.1:8080"
# A feature-length screenplay is typeset as PDF in seconds; more than this is a server in trouble.
TIMEOUT_SECONDS = 120.0


class Format(StrEnum):
    fountain = "fountain"
    fdx = "fdx"
    html = "html"
    pdf = "pdf"


EPILOG = (
    "Example: fountain export 1 --format pdf --output story.pdf\n\n"
    "Against a gateway: fountain export 1 --format fdx --url https://gateway.example --api-key KEY"
)


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg="red", err=True)
    return typer.Exit(1)


def _problem(response: httpx.Response) -> str:
    """What the server said went wrong: a problem's detail (or a /v1 message), else the status."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        said = body.get("detail") or body.get("message") or body.get("title")
        if isinstance(said, str) and said:
            return said
    return f"{response.status_code} {response.reason_phrase}"


def fetch_story(script_id: int, story_format: Format, url: str, api_key: Optional[str]) -> bytes:
    """The story in `story_format`, as Story Factory answers it; a clear error otherwise."""
    host = registry.load_service("story_factory").host
    headers = {"Host": host}
    if api_key:
        headers["apikey"] = api_key
    path = f"/v2/stories/{script_id}/{story_format.value}"
    try:
        response = httpx.get(url.rstrip("/") + path, headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.InvalidURL as error:
        raise _fail(f"Not a URL: {url!r} ({error}).") from None
    except httpx.TimeoutException:
        raise _fail(f"{url} did not answer {path} within {TIMEOUT_SECONDS:.0f} s.") from None
    except httpx.TransportError as error:
        raise _fail(
            f"Cannot reach {url} ({error}). Start the services with `make run` (or `fountain serve`), "
            "or give the gateway's address with --url."
        ) from None
    if response.status_code in (401, 403):
        raise _fail(f"{url} refused the request ({_problem(response)}); give the gateway's key with --api-key.")
    if response.status_code != 200:
        raise _fail(f"Story Factory answered {response.status_code}: {_problem(response)}")
    return response.content


def export_story(
    script_id: Annotated[int, typer.Argument(min=1, help="The script whose story to export.", show_default=False)],
    story_format: Annotated[
        Format, typer.Option("--format", "-f", help="fountain (text), fdx (Final Draft), html or pdf.")
    ] = Format.fountain,
    url: Annotated[
        str,
        typer.Option(envvar="FOUNTAIN_GATEWAY_URL", help="Where the services answer: `make run` or a gateway."),
    ] = DEFAULT_URL,
    api_key: Annotated[
        Optional[str],
        typer.Option(
            envvar="FOUNTAIN_GATEWAY_API_KEY", help="The gateway's key, sent as `apikey`.", show_default=False
        ),
    ] = None,
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="File to write; standard output when left out.", show_default=False),
    ] = None,
) -> None:
    """Export a story as Fountain, Final Draft (FDX), HTML or PDF.

    Reads GET /v2/stories/SCRIPT_ID/FORMAT from Story Factory, by its Host header as the gateway routes.

    Writes it to --output, or to standard output.
    """
    if output is None and story_format is Format.pdf and sys.stdout.isatty():
        raise _fail("A PDF is binary: give --output FILE (or redirect standard output).")
    if output is not None and output.is_dir():
        raise _fail(f"--output {output} is a directory; give a file name.")
    story = fetch_story(script_id, story_format, url, api_key)
    if output is None:
        sys.stdout.buffer.write(story)
        sys.stdout.buffer.flush()
        return
    try:
        output.write_bytes(story)
    except OSError as error:
        raise _fail(f"Cannot write {output}: {error.strerror}.") from None
    typer.echo(f"Wrote {story_format.value} of script {script_id} to {output} ({len(story):,} bytes).", err=True)
