"""The studio writes the next Alembic migration of a scaffolded service: previewed first, a drop only
when confirmed, and then the service migrates and serves the edited schema."""

import json
import re
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.operations import ops
from fastapi.testclient import TestClient
from sqlalchemy import BigInteger, Integer, Numeric, String, Text
from sqlalchemy.dialects import postgresql

from fountain_cli.scaffold.pipeline import ScaffoldError
from fountain_cli.studio import migration
from fountain_cli.studio.app import create_app, open_studio
from fountain_cli.studio.migration import ScratchDatabase, describe
from fountain_common.embedded_postgres import embedded_url
from tests.tooling.conftest import GIT, INPUTS, commit_all, run_in, snapshot
from tests.tooling.test_scaffold import reflect

LIBRARY = json.loads((INPUTS / "library.json").read_text())
SERVICE = "shelf"


@pytest.fixture(scope="module")
def scaffold(repository_copy: Callable[[], Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository copy with `shelf` scaffolded from library.json through the studio, committed."""
    root = repository_copy()
    source = tmp_path_factory.mktemp("input") / "library.json"
    source.write_text((INPUTS / "library.json").read_text())
    with TestClient(create_app(open_studio(source, None, root)), base_url="http://127.0.0.1:8790") as client:
        answer = client.post("/api/scaffold", json={"service": SERVICE})
    assert answer.status_code == 200, answer.text
    commit_all(root, f"scaffold {SERVICE}")
    return root


@pytest.fixture
def scaffolded(scaffold: Path) -> Path:
    """The copy as scaffolded: what an earlier test wrote is undone."""
    subprocess.run([*GIT, "reset", "-q", "--hard"], cwd=scaffold, check=True)
    subprocess.run([*GIT, "clean", "-q", "-fdx", "-e", "__pycache__"], cwd=scaffold, check=True)
    return scaffold


@pytest.fixture
def studio_of(scaffolded: Path, postgres_dir: Path) -> Iterator[TestClient]:
    studio = open_studio(scaffolded / "services" / SERVICE, None, scaffolded)
    studio.scratch = ScratchDatabase(postgres_dir)
    with TestClient(create_app(studio), base_url="http://127.0.0.1:8790") as client:
        yield client


def edited(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = json.loads(json.dumps(LIBRARY))
    change(document["entities"])
    return document


def undated(script: str) -> str:
    return re.sub(r"Create Date: .*", "", script)


def upgrade(root: Path, url: str, *args: str) -> None:
    for step in (["db", "upgrade", SERVICE, *args], ["db", "check", SERVICE]):
        result = run_in(root, "-m", "fountain_cli.main", *step, env={"FOUNTAIN_DATABASE_URL": url})
        assert result.returncode == 0, result.stdout + result.stderr


def columns(url: str) -> dict[str, list[str]]:
    return {table: [c["name"] for c in found["columns"]] for table, found in reflect(url, SERVICE).items()}


def test_an_added_field_and_table_are_previewed_written_migrated_and_served(
    scaffolded: Path, studio_of: TestClient, postgres_dir: Path
) -> None:
    def change(entities: dict[str, Any]) -> None:
        entities["review"]["fields"]["note"] = {"type": "text"}
        entities["review"]["fields"]["mood"] = {"type": "enum", "values": ["glad", "sad"]}
        entities["loan"] = {
            "fields": {
                "id": {"type": "uuid", "primaryKey": True},
                "book_id": {"type": "uuid", "references": "book", "required": True},
                "lent_on": {"type": "date", "required": True},
            }
        }

    before = snapshot(scaffolded)
    assert studio_of.put("/api/schema", json=edited(change)).json() == {"problems": []}
    preview = studio_of.post("/api/migration/preview")
    assert preview.status_code == 200, preview.text
    plan = preview.json()
    assert plan["drops"] == []
    assert "create table loan" in plan["steps"] and "add column review.note" in plan["steps"]
    assert plan["steps"][0] == "create enum type review_mood (glad, sad)", "before the column using it"
    assert plan["revision"] == "0002" and plan["file"].startswith(f"services/{SERVICE}/migrations/0002_")
    script = plan["script"]
    assert "down_revision: str | None = '0001'" in script or 'down_revision: str | None = "0001"' in script
    assert "op.create_table(" in script and "op.add_column(" in script and "op.drop_table(" in script
    assert snapshot(scaffolded) == before, "a preview writes nothing"

    written = studio_of.post("/api/migration/write", json={})
    assert written.status_code == 200, written.text
    assert plan["file"] in written.json()["files"]
    assert undated((scaffolded / plan["file"]).read_text()) == undated(script), "written as previewed"
    assert json.loads((scaffolded / "services" / SERVICE / "schema.json").read_text()) == edited(change)

    url = embedded_url(postgres_dir, "studio_migration_added")
    upgrade(scaffolded, url)
    assert columns(url) == {
        "alembic_version": ["version_num"],
        "author": ["id", "name", "born", "active"],
        "book": ["id", "author_id", "title", "pages", "added_at"],
        "review": ["id", "book_id", "stars", "note", "mood"],
        "loan": ["id", "book_id", "lent_on"],
    }
    fks = reflect(url, SERVICE)["loan"]["fks"]
    assert [(fk["constrained_columns"], fk["referred_table"]) for fk in fks] == [(["book_id"], "book")]

    # The service serves the new field and table through its API.
    served = run_in(scaffolded, "-c", SERVE_ROWS, env={"FOUNTAIN_DATABASE_URL": url})
    assert served.returncode == 0, served.stdout + served.stderr
    review, loan = json.loads(served.stdout.splitlines()[-1])  # after the request log lines
    assert review["note"] == "a fine read" and review["mood"] == "glad" and loan["lentOn"] == "2026-11-30"

    # Its downgrade takes the service back: the table, the fields and the enum type go.
    down = run_in(scaffolded, "-m", "fountain_cli.main", "db", "downgrade", SERVICE, env={"FOUNTAIN_DATABASE_URL": url})
    assert down.returncode == 0, down.stdout + down.stderr
    assert set(columns(url)) == {"alembic_version", "author", "book", "review"}
    assert columns(url)["review"] == ["id", "book_id", "stars"]
    upgrade(scaffolded, url)  # and up again: the type was dropped, so it is created anew

    # Nothing left to migrate: the tables are as declared.
    again = studio_of.post("/api/migration/preview")
    assert again.status_code == 422
    assert "no migration to write" in again.json()["problems"][0]


SERVE_ROWS = textwrap.dedent(
    """
    import asyncio, json, os
    import httpx
    from sqlalchemy.ext.asyncio import create_async_engine
    from fountain_cli import registry
    from fountain_common.app import create_service_app
    from fountain_common.settings import Settings

    async def main() -> None:
        url = os.environ["FOUNTAIN_DATABASE_URL"]
        engine = create_async_engine(url)
        app = create_service_app(registry.load_service("shelf"), settings=Settings(database_url=url), engine=engine)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:

            async def create(path: str, body: dict) -> dict:
                answer = await client.post(path, json=body)
                assert answer.status_code == 201, f"{path}: {answer.status_code} {answer.text}"
                return answer.json()

            author = await create("/v1/author", {"name": "Ada", "active": True})
            book = await create("/v1/book", {"authorId": author["id"], "title": "Notes"})
            review = await create("/v1/review", {"bookId": book["id"], "stars": 5, "note": "a fine read", "mood": "glad"})
            loan = await create("/v1/loan", {"bookId": book["id"], "lentOn": "2026-11-30"})
            read = await client.get(f"/v1/review/{review['id']}")
            assert read.status_code == 200, read.text
            print(json.dumps([read.json(), loan]))
        await engine.dispose()

    asyncio.run(main())
    """
)


def test_a_removed_field_is_written_only_when_the_drop_is_confirmed(
    scaffolded: Path, studio_of: TestClient, postgres_dir: Path
) -> None:
    def change(entities: dict[str, Any]) -> None:
        del entities["book"]["fields"]["pages"]

    studio_of.put("/api/schema", json=edited(change))
    plan = studio_of.post("/api/migration/preview").json()
    assert plan["drops"] == ["drop column book.pages and its values"]
    assert "op.drop_column('book', 'pages'" in plan["script"] or 'op.drop_column("book", "pages"' in plan["script"]

    before = snapshot(scaffolded)
    for body in ({}, {"confirm_drops": False}):
        refused = studio_of.post("/api/migration/write", json=body)
        assert refused.status_code == 409
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["problems"] == ["drop column book.pages and its values"]
        assert "Nothing was written" in refused.json()["title"]
    assert studio_of.post("/api/migration/write", json={"confirm_drops": "yes"}).status_code == 400
    assert snapshot(scaffolded) == before

    written = studio_of.post("/api/migration/write", json={"confirm_drops": True})
    assert written.status_code == 200, written.text
    url = embedded_url(postgres_dir, "studio_migration_removed")
    upgrade(scaffolded, url)
    assert columns(url)["book"] == ["id", "author_id", "title", "added_at"]

    down = run_in(scaffolded, "-m", "fountain_cli.main", "db", "downgrade", SERVICE, env={"FOUNTAIN_DATABASE_URL": url})
    assert down.returncode == 0, down.stdout + down.stderr
    assert columns(url)["book"] == ["id", "author_id", "title", "added_at", "pages"]


def test_nothing_is_written_when_a_step_fails_or_files_have_uncommitted_changes(
    scaffolded: Path, studio_of: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def change(entities: dict[str, Any]) -> None:
        entities["review"]["fields"]["note"] = {"type": "text"}

    studio_of.put("/api/schema", json=edited(change))
    operations = scaffolded / "services" / SERVICE / "operations.py"
    operations.write_text(operations.read_text() + "# a change of someone's, not committed\n")
    before = snapshot(scaffolded)
    refused = studio_of.post("/api/migration/write", json={})
    assert refused.status_code == 409
    assert refused.json()["problems"] == [f"commit or stash them first: M services/{SERVICE}/operations.py"]
    assert snapshot(scaffolded) == before
    subprocess.run([*GIT, "checkout", "-q", "--", str(operations)], cwd=scaffolded, check=True)

    # The last step (code generation) fails: every file written before it is put back.
    real_run = migration.run

    def failing_codegen(command: list[str], root: Path) -> None:
        if "codegen" in command:
            raise ScaffoldError(["`codegen shelf` failed: injected"])
        real_run(command, root)

    monkeypatch.setattr(migration, "run", failing_codegen)
    before = snapshot(scaffolded)
    failed = studio_of.post("/api/migration/write", json={})
    assert failed.status_code == 422
    assert failed.json()["problems"] == ["`codegen shelf` failed: injected"]
    assert snapshot(scaffolded) == before


def test_a_migration_needs_an_opened_service(tmp_path: Path) -> None:
    studio = open_studio(tmp_path / "schema.json", None, tmp_path)
    with TestClient(create_app(studio), base_url="http://127.0.0.1:8790") as client:
        for path in ("/api/migration/preview", "/api/migration/write"):
            answer = client.post(path, json={})
            assert answer.status_code == 409
            assert "fountain studio services/NAME" in answer.json()["problems"][0]


@pytest.mark.parametrize(
    ("old", "new", "loses"),
    [
        (postgresql.INTEGER(), BigInteger(), False),
        (postgresql.BIGINT(), Integer(), True),
        (postgresql.SMALLINT(), Integer(), False),
        (postgresql.VARCHAR(200), String(50), True),
        (postgresql.VARCHAR(50), String(200), False),
        (postgresql.VARCHAR(50), Text(), False),
        (postgresql.TEXT(), String(50), True),
        (postgresql.NUMERIC(10, 2), Numeric(12, 2), False),
        (postgresql.NUMERIC(10, 2), Numeric(10, 4), True),
        (postgresql.INTEGER(), Text(), True),
    ],
)
def test_a_type_change_is_a_drop_when_it_narrows(old: Any, new: Any, loses: bool) -> None:
    words, drops = describe(ops.AlterColumnOp("book", "pages", existing_type=old, modify_type=new))
    assert words.startswith("change column book.pages from ")
    assert drops is loses


def test_a_field_made_required_is_a_drop_only_without_a_default() -> None:
    bare = ops.AlterColumnOp("book", "pages", existing_type=Integer(), modify_nullable=False)
    assert describe(bare) == ("make column book.pages required, with no default for the rows that have none", True)
    defaulted = ops.AlterColumnOp(
        "book", "pages", existing_type=Integer(), modify_nullable=False, existing_server_default="0"
    )
    assert describe(defaulted) == ("make column book.pages required", False)


SERVE_CHECKED_ROW = textwrap.dedent(
    """
    import asyncio, json, os
    import httpx
    from sqlalchemy.ext.asyncio import create_async_engine
    from fountain_cli import registry
    from fountain_common.app import create_service_app
    from fountain_common.settings import Settings

    async def main() -> None:
        url = os.environ["FOUNTAIN_DATABASE_URL"]
        engine = create_async_engine(url)
        app = create_service_app(registry.load_service("shelf"), settings=Settings(database_url=url), engine=engine)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            author = (await client.post("/v1/author", json={"name": "Ada", "active": True})).json()
            book = {"authorId": author["id"], "title": "Notes", "pages": 13}
            refused = await client.post("/v1/book", json=book)
            kept = await client.post("/v1/book", json={**book, "pages": 12})
            print(json.dumps([refused.status_code, refused.json()["detail"], kept.status_code]))
        await engine.dispose()

    asyncio.run(main())
    """
)


def test_an_added_check_is_migrated_and_refuses_rows_and_a_removed_one_is_dropped(
    scaffolded: Path, studio_of: TestClient, postgres_dir: Path
) -> None:
    def change(entities: dict[str, Any]) -> None:
        # A condition the API cannot say as a bound: the database itself refuses the row.
        entities["book"]["checks"] = [{"sql": "pages <> 13", "name": "unlucky"}, {"sql": "length(title) > 0"}]

    # A condition the parser reads but PostgreSQL refuses for the table's types: said, nothing planned.
    mistyped = edited(lambda entities: entities["book"].update(checks=[{"sql": "title > 3"}]))
    assert studio_of.put("/api/schema", json=mistyped).json() == {"problems": []}
    refused = studio_of.post("/api/migration/preview")
    assert refused.status_code == 422
    assert refused.json()["problems"][0].startswith("table book: check book_title_check: PostgreSQL refuses it: ")

    assert studio_of.put("/api/schema", json=edited(change)).json() == {"problems": []}
    plan = studio_of.post("/api/migration/preview").json()
    assert [s for s in plan["steps"] if "check" in s] == [
        "add check book_title_check on book: length(title) > 0 (a row that breaks it fails the migration)",
        "add check unlucky on book: pages <> 13 (a row that breaks it fails the migration)",
    ]
    assert 'op.create_check_constraint("unlucky", "book", "pages <> 13", schema="shelf")' in plan["script"]
    assert studio_of.post("/api/migration/write", json={}).status_code == 200
    commit_all(scaffolded, "the checks")
    url = embedded_url(postgres_dir, "studio_migration_checks")
    upgrade(scaffolded, url)
    served = run_in(scaffolded, "-c", SERVE_CHECKED_ROW, env={"FOUNTAIN_DATABASE_URL": url})
    assert served.returncode == 0, served.stdout + served.stderr
    status, detail, kept_status = json.loads(served.stdout.splitlines()[-1])
    assert (status, kept_status) == (400, 201)
    assert detail.startswith("The book row breaks a rule of its table"), detail

    # Nothing more to migrate; then one check removed and the other's condition changed.
    assert studio_of.post("/api/migration/preview").status_code == 422
    kept = {"sql": "length(title) > 1", "name": "book_title_check"}
    studio_of.put("/api/schema", json=edited(lambda entities: entities["book"].update(checks=[kept])))
    plan = studio_of.post("/api/migration/preview").json()
    assert plan["steps"] == [
        "drop check book_title_check of book: (length(title) > 0)",
        "drop check unlucky of book: (pages <> 13)",
        "add check book_title_check on book: length(title) > 1 (a row that breaks it fails the migration)",
    ]
    assert 'op.drop_constraint("unlucky", "book", schema="shelf", type_="check")' in plan["script"]
    assert studio_of.post("/api/migration/write", json={}).status_code == 200
    upgrade(scaffolded, url)
    down = run_in(scaffolded, "-m", "fountain_cli.main", "db", "downgrade", SERVICE, env={"FOUNTAIN_DATABASE_URL": url})
    assert down.returncode == 0, down.stdout + down.stderr
