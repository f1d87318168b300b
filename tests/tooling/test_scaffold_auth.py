"""`fountain scaffold --auth`: a service whose rows belong to accounts. Scaffolded into a copy of the
repository, migrated and checked against its tables, and served in-process with the gateway's
secret set: two accounts keep their rows apart, a reference to another account's row is refused,
unique values are unique per account, an admin sees every row; and its own generated tests pass."""

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from fountain_cli.scaffold.pipeline import ScaffoldError, plan
from fountain_common.embedded_postgres import embedded_url
from tests.tooling.conftest import INPUTS, commit_all, run_in

SERVICE = "owned"
# Checks of this schema's service by two accounts, run in the copy beside the service's own tests
# (the copy's code cannot be imported here): written there as tests/owned/test_two_accounts.py.
CHECKS = Path(__file__).with_name("scaffold_auth_checks.py")


@pytest.fixture(scope="module")
def scaffolded(repository_copy: Callable[[], Path]) -> Path:
    root = repository_copy()
    result = run_in(
        root, "-m", "fountain_cli.main", "scaffold", SERVICE, "--from-sql", str(INPUTS / "owned.sql"), "--auth"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    commit_all(root, f"scaffold {SERVICE}")
    return root


def test_the_owner_column_is_in_the_tables_the_migration_and_the_spec(
    scaffolded: Path, postgres_dir: Path, database_url: str
) -> None:
    url = embedded_url(postgres_dir, "fountain_scaffold_auth")
    for command in (("db", "upgrade", SERVICE), ("db", "check", SERVICE)):
        result = run_in(scaffolded, "-m", "fountain_cli.main", *command, env={"FOUNTAIN_DATABASE_URL": url})
        assert result.returncode == 0, result.stdout + result.stderr
    spec = (scaffolded / "specs" / f"{SERVICE}.yaml").read_text()
    assert "belongs to the account that made it" in spec
    folders = [f"services/{SERVICE}", f"tests/{SERVICE}"]
    for check in (("check", *folders), ("format", "--check", *folders)):
        result = run_in(scaffolded, "-m", "ruff", *check, "--no-cache")
        assert result.returncode == 0, result.stdout + result.stderr
    validate = run_in(scaffolded, "-m", "fountain_cli.main", "validate")
    assert f"specs/{SERVICE}.yaml: ok" in validate.stdout, validate.stdout + validate.stderr


def test_two_accounts_keep_their_rows_apart_and_the_generated_tests_pass(scaffolded: Path, tmp_path: Path) -> None:
    shutil.copy(CHECKS, scaffolded / "tests" / SERVICE / "test_two_accounts.py")
    tests = [f"tests/{SERVICE}/{name}" for name in ("test_two_accounts.py", "test_ownership.py", "test_rows.py")]
    result = run_in(scaffolded, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path}", *tests)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "11 passed" in result.stdout, result.stdout[-2000:]  # 2 checks here, 4 ownership tests, 5 of rows
    assert "failed" not in result.stdout.splitlines()[-1]


def test_a_view_is_refused_with_auth(repository_copy: Callable[[], Path], tmp_path: Path, database_url: str) -> None:
    source = tmp_path / "viewed.sql"
    source.write_text("CREATE TABLE a (id int PRIMARY KEY);\nCREATE VIEW a_count AS SELECT count(*) AS n FROM a;")
    with pytest.raises(ScaffoldError) as refused:
        plan(repository_copy(), "viewed", source, "sql", database_url, auth=True)
    assert any("view a_count: --auth: a view has no owner column" in p for p in refused.value.problems)


# Its schemathesis run (every operation, authenticated as an admin, and without a key or with a wrong
# one) takes about 100 s: with the big real-data tests, as the SQL services' own suites.
@pytest.mark.realdata
def test_its_contract_tests_pass(scaffolded: Path, tmp_path: Path) -> None:
    contract = f"tests/{SERVICE}/test_contract.py"
    result = run_in(scaffolded, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path}", contract)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\b\d+ passed", result.stdout), result.stdout[-2000:]
    assert "failed" not in result.stdout.splitlines()[-1]
