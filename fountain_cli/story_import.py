"""`fountain import`: send a Fountain screenplay to Story Factory (POST /v2/stories) as a new story.

The services run behind one address that routes by Host header (`make run`, or a gateway), so the
request names Story Factory's host. The screenplay is read and checked as UTF-8 here first, so a file
in another encoding is refused before anything is sent; on the way, a progress bar shows the upload,
then the time the services take to store it.
"""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Optional

import httpx
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from fountain_cli import registry

CHUNK = 64 * 1024
# Above this size the upload is shown chunk by chunk; smaller screenplays go in one piece.
PROGRESS_FROM_BYTES = 256 * 1024


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, fg="red", err=True)
    return typer.Exit(code)


def _problem(response: httpx.Response) -> str:
    """The service's problem details as one readable message."""
    try:
        problem: Any = response.json()
    except ValueError:
        return f"{response.status_code} {response.reason_phrase}: {response.text[:500]}"
    if not isinstance(problem, dict):
        return f"{response.status_code} {response.reason_phrase}"
    message = f"{response.status_code} {problem.get('title', response.reason_phrase)}: {problem.get('detail', '')}"
    errors = problem.get("errors") or []
    lines = [f"  {error.get('location')}: {error.get('message')}" for error in errors[:10] if isinstance(error, dict)]
    return "\n".join([message.rstrip(": "), *lines])


def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="The screenplay, a Fountain text file in UTF-8.", exists=True, dir_okay=False, readable=True
        ),
    ],
    url: Annotated[
        str, typer.Option(help="Where the services answer: `make run` (the default) or a gateway.")
    ] = "http://127.0.0.1:8080",
    api_key: Annotated[
        Optional[str], typer.Option(help="The gateway's API key, sent as `apikey`.", envvar="FOUNTAIN_API_KEY")
    ] = None,
    idempotency_key: Annotated[
        Optional[str],
        typer.Option(help="Send this Idempotency-Key (a new one each run by default): a retry creates one story."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the services.", min=1)] = 120.0,
) -> None:
    """Import a Fountain screenplay as a new story and print its scriptId and where to read it.

    Example: fountain import "Big Fish.fountain" --url https://gateway.example --api-key KEY
    """
    data = file.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise _fail(
            f"{file} is not UTF-8 text (byte {error.start}, line {line}): save it as UTF-8 and try again."
        ) from None
    if not data.strip():
        raise _fail(f"{file} is empty: there is no screenplay to import.")
    headers = {
        "content-type": "text/plain; charset=utf-8",
        "host": registry.load_service("story_factory").host,
        "idempotency-key": idempotency_key or str(uuid.uuid4()),
    }
    if api_key:
        headers["apikey"] = api_key
    endpoint = url.rstrip("/") + "/v2/stories"
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        transient=True,
        disable=len(data) < PROGRESS_FROM_BYTES,
    ) as progress:
        upload = progress.add_task(f"Sending {file.name}", total=len(data))

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(data), CHUNK):
                yield data[start : start + CHUNK]
                progress.advance(upload, min(CHUNK, len(data) - start))
            progress.update(upload, description="Storing the story")

        headers["content-length"] = str(len(data))
        try:
            with httpx.Client(timeout=timeout) as client:
                response = client.post(endpoint, content=chunks(), headers=headers)
        except httpx.TimeoutException:
            raise _fail(f"{endpoint} did not answer within {timeout:g} s.") from None
        except httpx.HTTPError as error:
            raise _fail(f"Could not reach {endpoint}: {error}. Is `make run` (or the gateway) running?") from None
    if response.status_code != 201:
        raise _fail(f"The import failed: {_problem(response)}")
    story = response.json()
    typer.echo(
        f"Imported {file.name} as script {story['scriptId']} ({story['title']}): {story['sectionCount']} scenes, "
        f"{story['lineCount']} elements, {story['characterCount']} characters."
    )
    typer.echo(f"Read it at {url.rstrip('/')}{response.headers.get('location', '')} (Host: {headers['host']}).")
