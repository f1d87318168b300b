"""`fountain export` against the five services served as `fountain serve` serves them (uvicorn, one
process, routed by Host header), in a thread: each format written to a file or standard output, and
clear errors for what can go wrong."""

import io
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pypdf import PdfReader
from screenplain.parsers import fountain as fountain_parser
from screenplain.types import Dialog, Slug
from typer.testing import CliRunner

from fountain_cli.main import app
from fountain_cli.servers import Auth, all_services_app
from fountain_common.http_server import server_options
from fountain_common.settings import get_settings
from tests.service_processes import free_port

runner = CliRunner()
HOSTS = {"core_script": "scriptmanagement.fountain.coach", "character": "character.fountain.coach"}


@pytest.fixture(scope="module")
def url(database_url: str) -> Iterator[str]:
    port = free_port()
    address = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as env:
        # The services call each other through the server itself, as `fountain serve` has them do.
        env.setenv("FOUNTAIN_GATEWAY_URL", address)
        get_settings.cache_clear()
        # As `make run` serves them: on loopback, without key checks (`fountain serve --no-auth`).
        app = all_services_app(Auth.NONE)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **server_options()))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        yield address
        server.should_exit = server.force_exit = True
        thread.join(timeout=15)
    get_settings.cache_clear()


def created(url: str, service: str, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(url + path, json=body, headers={"Host": HOSTS[service]}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def script_id(url: str) -> int:
    script = created(
        url, "core_script", "/v2/scripts", {"title": "Export", "titlePage": [{"key": "Title", "value": "Export"}]}
    )
    heading = created(url, "core_script", f"/v2/scripts/{script['scriptId']}/sections", {"title": "INT. HALL - DAY"})
    nurse = created(url, "character", "/v2/characters", {"name": "Nurse", "description": ""})
    words = created(url, "character", "/v2/spokenWords", {"text": "Madam!"})
    body = {"characterId": nurse["characterId"], "spokenWordId": words["spokenWordId"]}
    created(url, "core_script", f"/v2/scripts/{script['scriptId']}/sections/{heading['headingId']}/lines", body)
    return int(script["scriptId"])


def test_each_format_is_written_to_a_file_or_standard_output(url: str, script_id: int, tmp_path: Path) -> None:
    shown = runner.invoke(app, ["export", str(script_id), "--url", url])
    assert shown.exit_code == 0, shown.output
    paragraphs = list(fountain_parser.parse(io.StringIO(shown.stdout)))
    assert isinstance(paragraphs[0], Slug) and str(paragraphs[0].line) == "INT. HALL - DAY"
    assert isinstance(paragraphs[1], Dialog) and str(paragraphs[1].character) == "NURSE"

    fdx = tmp_path / "story.fdx"
    written = runner.invoke(app, ["export", str(script_id), "--format", "fdx", "--url", url, "--output", str(fdx)])
    assert written.exit_code == 0, written.output
    assert f"Wrote fdx of script {script_id} to {fdx}" in written.stderr
    content = ElementTree.parse(fdx).getroot().find("Content")  # the body; the title page is apart
    assert content is not None
    types = [p.get("Type") for p in content.iter("Paragraph")]
    assert types == ["Scene Heading", "Character", "Dialogue"]
    title_page = ElementTree.parse(fdx).getroot().find("TitlePage")
    assert title_page is not None and "Export" in ["".join(t.itertext()) for t in title_page.iter("Text")]

    pdf = tmp_path / "story.pdf"
    assert runner.invoke(app, ["export", str(script_id), "-f", "pdf", "--url", url, "-o", str(pdf)]).exit_code == 0
    reader = PdfReader(pdf)
    assert "INT. HALL - DAY" in "\n".join(page.extract_text() for page in reader.pages)

    html = runner.invoke(app, ["export", str(script_id), "-f", "html", "--url", url])
    assert html.exit_code == 0 and '<p class="character">NURSE</p>' in html.stdout


def test_export_explains_itself_with_an_example() -> None:
    shown = runner.invoke(app, ["export", "--help"])
    assert shown.exit_code == 0 and "Example:" in shown.output and "--api-key" in shown.output


def test_what_goes_wrong_is_said_clearly(url: str, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["export", "987654", "--url", url])
    assert missing.exit_code == 1
    assert "Story Factory answered 404: Script 987654 not found." in missing.stderr
    unreachable = runner.invoke(app, ["export", "1", "--url", f"http://127.0.0.1:{free_port()}"])
    assert unreachable.exit_code == 1 and "Cannot reach" in unreachable.stderr and "make run" in unreachable.stderr
    assert runner.invoke(app, ["export", "1", "--format", "docx", "--url", url]).exit_code == 2
    assert runner.invoke(app, ["export", "0", "--url", url]).exit_code == 2
    to_directory = runner.invoke(app, ["export", "1", "--url", url, "--output", str(tmp_path)])
    assert to_directory.exit_code == 1 and "is a directory" in to_directory.stderr
