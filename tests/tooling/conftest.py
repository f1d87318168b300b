"""A throwaway copy of the repository to scaffold into, committed so its generated tree is clean."""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fountain_common.service import REPO_ROOT
from tests.service_processes import free_port
from tests.tooling.studio_journey import running

INPUTS = Path(__file__).parent / "inputs"
GIT = ["git", "-c", "user.name=FountainAI tests", "-c", "user.email=tests@fountain.coach", "-c", "commit.gpgsign=false"]


def copy_repository(target: Path) -> Path:
    """The working tree as it is (tracked and new files, not ignored ones), as a fresh repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        source = REPO_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    commit_all(target, "copy")
    return target


def commit_all(root: Path, message: str) -> None:
    subprocess.run([*GIT, "init", "-q"], cwd=root, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-q", "--allow-empty", "-m", message], cwd=root, check=True)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the copy (git's own folder aside) with its content."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts and "__pycache__" not in p.parts
    }


def run_in(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run this venv's python in the copy, importing the copy's code."""
    environment = {k: v for k, v in os.environ.items() if k != "FOUNTAIN_DATABASE_URL"}
    environment.update({"PYTHONPATH": str(root), **(env or {})})
    return subprocess.run(
        [sys.executable, *args], cwd=root, env=environment, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="session")
def repository_copy(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Path]:
    """make() -> a new committed copy of the repository."""

    def make() -> Path:
        return copy_repository(Path(tmp_path_factory.mktemp("repo")))

    return make


@pytest.fixture(scope="module")
def studio(
    repository_copy: Callable[[], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, Path]]:
    """`fountain studio` run in a copy of the repository, on a schema.json not yet written: its URL,
    the copy and the schema's path (one per test module, so each browser's journey has its own)."""
    root = repository_copy()
    schema = tmp_path_factory.mktemp("studio") / "schema.json"
    port = free_port()
    with running(root, ["studio", str(schema), "--port", str(port)], {}, "/api/schema", port) as url:
        yield url, root, schema
