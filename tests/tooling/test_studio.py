"""`fountain studio`'s JSON API against the real scaffold code: it opens a schema.json or a SQL
file, reports problems in the words `fountain scaffold` uses, previews the OpenAPI, DDL and ER
diagram the scaffold would give, saves only the schema.json, and scaffolds a service."""

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fountain_cli.main import app as cli
from fountain_cli.scaffold.pipeline import ScaffoldError, next_port, plan, read_input
from fountain_cli.scaffold.spec_writer import render_spec
from fountain_cli.studio.app import Studio, create_app, open_studio
from tests.tooling.conftest import INPUTS, snapshot

LIBRARY = json.loads((INPUTS / "library.json").read_text())
BAD_NAME = {"entities": {"Bad-Table": {"fields": {"id": {"type": "uuid", "primaryKey": True}}}}}


@pytest.fixture(scope="module")
def root(repository_copy: Callable[[], Path]) -> Path:
    return repository_copy()


def client_for(studio: Studio) -> TestClient:
    return TestClient(create_app(studio), base_url="http://127.0.0.1:8790")


@pytest.fixture
def library(tmp_path: Path, root: Path) -> Iterator[tuple[TestClient, Path]]:
    source = tmp_path / "library.json"
    source.write_text((INPUTS / "library.json").read_text())
    with client_for(open_studio(source, None, root)) as client:
        yield client, source


def scaffold_problems(root: Path, tmp_path: Path, document: Any) -> list[str]:
    """What `fountain scaffold --from-json` refuses this document with."""
    folder = tmp_path / "scaffold-input"
    folder.mkdir()
    source = folder / "library.json"
    source.write_text(json.dumps(document))
    with pytest.raises(ScaffoldError) as refused:
        plan(root, "fresh", source, "json")
    return refused.value.problems


def test_an_opened_schema_json_is_served_as_it_is(library: tuple[TestClient, Path]) -> None:
    client, source = library
    answer = client.get("/api/schema").json()
    assert answer["document"] == LIBRARY
    assert answer["problems"] == []
    assert answer["saveTo"] == str(source)
    assert "uuid" in answer["fieldTypes"] and "postgresql" in answer["dialects"]


@pytest.mark.parametrize(
    "document",
    [
        BAD_NAME,
        {
            "entities": {
                "a": {"fields": {"id": {"type": "uuid", "primaryKey": True}, "n": {"type": "integer", "default": "x"}}}
            }
        },
        {"entities": {"a": {"fields": {"id": {"type": "money"}}}}},
        {
            "entities": {
                "book": {
                    "fields": {
                        "id": {"type": "uuid", "primaryKey": True},
                        "a": {"type": "uuid", "references": "nowhere"},
                    }
                }
            }
        },
        {"entities": {}},
    ],
    ids=["bad-name", "bad-default", "unknown-type", "dangling-reference", "empty"],
)
def test_validation_uses_the_scaffolds_words(
    library: tuple[TestClient, Path], root: Path, tmp_path: Path, document: Any
) -> None:
    client, source = library
    before = source.read_text()
    problems = client.post("/api/validate", json=document).json()["problems"]
    assert problems and problems == scaffold_problems(root, tmp_path, document)
    assert client.get("/api/schema").json()["document"] == LIBRARY, "a candidate does not replace the schema"
    assert source.read_text() == before


def test_a_table_another_service_serves_is_named(library: tuple[TestClient, Path]) -> None:
    client, _ = library
    taken = {"entities": {"characters": {"fields": {"id": {"type": "uuid", "primaryKey": True}}}}}
    problems = client.post("/api/validate", json=taken).json()["problems"]
    assert any("is served by character already" in p for p in problems), problems


def test_the_previews_are_what_the_scaffold_writes(library: tuple[TestClient, Path], root: Path) -> None:
    client, _ = library
    text = client.get("/api/preview/openapi", params={"service": "books"}).text
    assert text == render_spec(
        "books", "books.fountain.coach", next_port(root), read_input(INPUTS / "library.json", "json")
    )
    assert {"/v1/author", "/v1/book", "/v1/review"} <= set(yaml.safe_load(text)["paths"])

    postgres = client.get("/api/preview/ddl", params={"dialect": "postgresql", "service": "books"}).text
    assert "CREATE SCHEMA IF NOT EXISTS books" in postgres
    assert "CREATE TABLE books.book" in postgres and "REFERENCES books.author (id)" in postgres
    sqlite = client.get("/api/preview/ddl", params={"dialect": "sqlite"}).text
    assert "CREATE TABLE review" in sqlite and "ON DELETE CASCADE" in sqlite and "SCHEMA" not in sqlite
    mssql = client.get("/api/preview/ddl", params={"dialect": "mssql"}).text
    assert "CREATE TABLE new_service.author" in mssql

    diagram = client.get("/api/preview/er").text
    assert diagram.startswith("erDiagram\n")
    # The relations as `fountain export-docs` draws them: one line per foreign key, named by its field.
    assert re.search(r'^    author \|\|--o. book : "author_id"$', diagram, re.M), diagram
    assert re.search(r'^    book \|\|--o. review : "book_id"$', diagram, re.M), diagram
    assert "        uuid book_id FK\n" in diagram


def test_previews_of_a_schema_with_problems_say_why(library: tuple[TestClient, Path]) -> None:
    client, _ = library
    assert client.put("/api/schema", json=BAD_NAME).json()["problems"]
    for path in ("/api/preview/openapi", "/api/preview/ddl", "/api/preview/er"):
        answer = client.get(path)
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        assert any("Bad-Table" in p for p in answer.json()["problems"])


def test_a_bad_dialect_service_name_or_body_is_a_problem(library: tuple[TestClient, Path]) -> None:
    client, _ = library
    dialect = client.get("/api/preview/ddl", params={"dialect": "oracle"})
    assert dialect.status_code == 400 and "one of postgresql, sqlite, mssql" in dialect.json()["detail"]
    service = client.get("/api/preview/openapi", params={"service": "Bad-Name"})
    assert service.status_code == 422 and "'Bad-Name' is not a valid name" in service.json()["detail"]
    body = client.put("/api/schema", content=b"{not json", headers={"Content-Type": "application/json"})
    assert body.status_code == 400 and body.headers["content-type"] == "application/problem+json"
    scaffold = client.post("/api/scaffold", json={"service": 3})
    assert scaffold.status_code == 400


def test_save_writes_the_schema_json_and_nothing_else(library: tuple[TestClient, Path]) -> None:
    client, source = library
    edited = json.loads(json.dumps(LIBRARY))
    edited["entities"]["review"]["fields"]["note"] = {"type": "text"}
    before = snapshot(source.parent)
    assert client.put("/api/schema", json=edited).json()["problems"] == []
    assert client.post("/api/save").json() == {"saved": str(source)}
    assert json.loads(source.read_text()) == edited
    after = snapshot(source.parent)
    assert set(after) == set(before) and after != before


def test_a_schema_whose_table_another_service_serves_is_saved_but_not_scaffolded(
    library: tuple[TestClient, Path], root: Path
) -> None:
    client, source = library
    taken = {"entities": {"characters": {"fields": {"id": {"type": "uuid", "primaryKey": True}}}}}
    assert client.put("/api/schema", json=taken).json()["problems"]
    assert client.post("/api/save").status_code == 200
    assert json.loads(source.read_text()) == taken
    before = snapshot(root)
    refused = client.post("/api/scaffold", json={"service": "people"})
    assert refused.status_code == 422 and "is served by character already" in refused.json()["detail"]
    assert snapshot(root) == before


def test_another_host_or_origin_is_refused(library: tuple[TestClient, Path]) -> None:
    client, source = library
    before = source.read_text()
    rebound = client.get("/api/schema", headers={"Host": "attacker.example:8790"})
    assert rebound.status_code == 403 and rebound.headers["content-type"] == "application/problem+json"
    client.put("/api/schema", json={"entities": {"x": {"fields": {"id": {"type": "uuid", "primaryKey": True}}}}})
    other_page = client.post("/api/save", headers={"Origin": "http://attacker.example"})
    assert other_page.status_code == 403
    assert source.read_text() == before
    assert client.post("/api/save", headers={"Origin": "http://127.0.0.1:8790"}).status_code == 200


def test_a_schema_with_problems_is_not_saved(library: tuple[TestClient, Path]) -> None:
    client, source = library
    before = snapshot(source.parent)
    client.put("/api/schema", json=BAD_NAME)
    answer = client.post("/api/save")
    assert answer.status_code == 422 and answer.json()["title"].startswith("Nothing was written")
    assert snapshot(source.parent) == before


def test_a_missing_schema_json_starts_empty_and_save_creates_it(tmp_path: Path, root: Path) -> None:
    target = tmp_path / "new" / "schema.json"
    with client_for(open_studio(target, None, root)) as client:
        assert client.get("/api/schema").json()["document"] == {"entities": {}}
        client.put("/api/schema", json=LIBRARY)
        client.post("/api/save")
    assert json.loads(target.read_text()) == LIBRARY


def test_a_sql_file_opens_as_schema_json_saved_beside_it(tmp_path: Path, root: Path) -> None:
    source = tmp_path / "shop.sql"
    source.write_text((INPUTS / "shop.sql").read_text())
    studio = open_studio(source, None, root)
    assert studio.save_to == tmp_path / "shop.schema.json"
    from_sql = read_input(source, "sql")
    with client_for(studio) as client:
        answer = client.get("/api/schema").json()
        entities = answer["document"]["entities"]
        assert list(entities) == [t.name for t in from_sql.served]
        for table in from_sql.served:
            assert list(entities[table.name]["fields"]) == [c.name for c in table.columns]
            for name in table.primary_key:
                assert entities[table.name]["fields"][name]["primaryKey"] is True
        # Its CHECKs are carried as the tables' checks, named as the SQL named them.
        assert not [line for line in answer["leftOut"] if "CHECK" in line]
        assert entities["customer"]["checks"] == [{"sql": "credit >= 0"}]
        assert entities["purchase"]["checks"] == [{"sql": "length(note) < 500", "name": "purchase_note_short"}]
        assert answer["problems"] == [], answer["problems"]
        assert client.post("/api/save").status_code == 200
    assert json.loads((tmp_path / "shop.schema.json").read_text()) == answer["document"]
    assert source.read_text() == (INPUTS / "shop.sql").read_text()
    # Read back as schema.json, the checks are the SQL's, with PostgreSQL's name for the unnamed one.
    saved = read_input(tmp_path / "shop.schema.json", "json")
    assert [(c.sql, c.name) for t in saved.tables for c in t.checks] == [
        ("credit >= 0", "customer_credit_check"),
        ("length(note) < 500", "purchase_note_short"),
    ]
    assert saved.table("customer").column("credit").bounds == {"minimum": 0}


def test_a_check_is_edited_with_its_problems_reported_as_typed(library: tuple[TestClient, Path]) -> None:
    client, source = library
    document = json.loads(json.dumps(LIBRARY))
    checks = document["entities"]["book"]["checks"] = [{"sql": "pages >"}]
    assert client.put("/api/schema", json=document).json()["problems"] == [
        "library.json: at /entities/book/checks/0/sql: 'pages >': SQL syntax error: syntax error at or near \")\""
    ]
    checks[0] = {"sql": "pagez > 0"}
    assert client.put("/api/schema", json=document).json()["problems"] == [
        "library.json: at /entities/book/checks/0/sql: 'pagez' is not a field of book"
    ]
    checks[0] = {"sql": "pages > 0", "name": "some_pages"}
    assert client.put("/api/schema", json=document).json()["problems"] == []
    ddl = client.get("/api/preview/ddl?service=books&dialect=postgresql").text
    assert "CONSTRAINT some_pages CHECK (pages > 0)" in ddl
    assert client.post("/api/save").status_code == 200
    assert json.loads(source.read_text())["entities"]["book"]["checks"] == [{"sql": "pages > 0", "name": "some_pages"}]


def test_scaffold_writes_the_service_and_refuses_a_taken_name(library: tuple[TestClient, Path], root: Path) -> None:
    client, _ = library
    answer = client.post("/api/scaffold", json={"service": "books"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["tables"] == ["author", "book", "review"]
    spec = yaml.safe_load((root / "specs" / "books.yaml").read_text())
    assert any("author" in path for path in spec["paths"])
    assert (root / "services" / "books" / "generated").is_dir()

    before = snapshot(root)
    again = client.post("/api/scaffold", json={"service": "books"})
    assert again.status_code == 422
    assert "service name: 'books' exists already (services/books/)" in again.json()["problems"]
    assert snapshot(root) == before


def test_the_command_refuses_an_unreadable_input(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    result = CliRunner().invoke(cli, ["studio", str(broken)])
    assert result.exit_code == 1
    assert "Cannot open" in result.output
