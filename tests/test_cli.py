"""The `fountain` command: helpful --help with examples, clear errors for bad input."""

import pytest
from typer.testing import CliRunner

from fountain_cli.main import app

runner = CliRunner()


@pytest.mark.parametrize(
    "command",
    [
        ["validate"],
        ["codegen"],
        ["serve"],
        ["db", "upgrade"],
        ["db", "downgrade"],
        ["db", "check"],
        ["db", "current"],
        ["db", "revision"],
        ["import"],
    ],
)
def test_every_command_explains_itself_with_an_example(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output


def test_an_unknown_service_is_a_clear_error() -> None:
    result = runner.invoke(app, ["db", "upgrade", "no_such_service"])
    assert result.exit_code == 2
    assert "Unknown service 'no_such_service'" in result.output
    assert "central_sequence" in result.output


def test_validate_reports_every_spec() -> None:
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok") == 5
