"""Every tooling command explains itself with an example."""

import pytest
from typer.testing import CliRunner

from fountain_cli.main import app

runner = CliRunner()


@pytest.mark.parametrize("command", ["scaffold", "export-ddl", "export-openapi", "export-docs", "reset"])
def test_every_tooling_command_explains_itself_with_an_example(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
