"""Every tooling command explains itself with an example; the documented schema.json format is current."""

import pytest
from typer.testing import CliRunner

from fountain_cli.main import app

runner = CliRunner()


@pytest.mark.parametrize(
    "command", ["scaffold", "studio", "export-ddl", "export-openapi", "export-docs", "reset", "sweep"]
)
def test_every_tooling_command_explains_itself_with_an_example(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output


def test_the_published_json_schema_is_the_one_the_reader_checks() -> None:
    import json

    from fountain_cli.scaffold.json_reader import FORMAT
    from fountain_common.service import REPO_ROOT

    assert json.loads((REPO_ROOT / "docs" / "scaffold-schema.json").read_text()) == FORMAT
