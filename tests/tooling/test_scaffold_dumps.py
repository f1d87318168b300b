"""The promise of `fountain scaffold`, measured: after its migrations a scaffolded service's schema
holds exactly what the input declared. `pg_dump --schema-only` of the input applied by psql to an
empty database equals pg_dump of the service's schema (schema names and the order of the objects
aside), and `fountain db downgrade --to base` leaves the schema empty.

Inputs: a public sample database's own script (Chinook), a hand-written file with each construct
once, and that file as pg_dump writes it back."""

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from fountain_common.embedded_postgres import embedded_url, ensure_server
from tests.tooling.conftest import INPUTS, commit_all, run_in

# service -> (input file, the database the input builds its schema in, None: the one it is run in)
DUMPED = {
    "music": ("chinook.sql", "chinook"),
    "stage": ("constructs.sql", None),
    "stage_dump": ("constructs_dump.sql", None),
    "rentals": ("realdata/pagila-schema.sql", None),
}
# The big ones: only with -m realdata (make test-realdata).
REALDATA = {"rentals"}


def _bin(name: str) -> str:
    import pgserver

    return str(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)


def _socket(postgres_dir: Path) -> str:
    return str(ensure_server(postgres_dir).get_uri().split("host=", 1)[1])


def _run(postgres_dir: Path, *command: str) -> str:
    result = subprocess.run(
        [*command, "-h", _socket(postgres_dir), "-U", "postgres"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def schema_dump(postgres_dir: Path, database: str, schema: str) -> str:
    return _run(
        postgres_dir,
        _bin("pg_dump"),
        "--schema-only",
        "--no-owner",
        "--no-privileges",
        "--schema",
        schema,
        "--exclude-table",
        f"{schema}.alembic_version",
        "-d",
        database,
    )


def objects(dump: str, schema: str) -> list[str]:
    """The dump's statements with the schema name left out, in a fixed order; session settings,
    psql meta-commands, comments of pg_dump's own and the schema itself aside."""
    text = re.sub(rf'(?<![\w"])"?{re.escape(schema)}"?\.', "", dump)
    lines = [
        line
        for line in text.splitlines()
        if line.strip() and not line.startswith(("--", "\\", "SET ", "SELECT pg_catalog.set_config"))
    ]
    statements = [s.strip() for s in "\n".join(lines).split(";\n") if s.strip()]
    return sorted(s for s in statements if not re.match(r"(CREATE|COMMENT ON|ALTER) SCHEMA ", s))


@pytest.fixture(scope="module")
def scaffold(repository_copy: Callable[[], Path], postgres_dir: Path) -> Callable[[str], Path]:
    """scaffold(service) -> the repository copy it was scaffolded in (one copy per input: two serve the
    same paths)."""
    roots: dict[str, Path] = {}

    def make(service: str) -> Path:
        if service not in roots:
            root = roots[service] = repository_copy()
            input_path = str(INPUTS / DUMPED[service][0])
            env = {"FOUNTAIN_DATABASE_URL": embedded_url(postgres_dir, "fountain_scaffold")}  # where views are typed
            result = run_in(root, "-m", "fountain_cli.main", "scaffold", service, "--from-sql", input_path, env=env)
            assert result.returncode == 0, result.stdout + result.stderr
            commit_all(root, f"scaffold {service}")
        return roots[service]

    return make


@pytest.mark.parametrize(
    "service", [pytest.param(s, marks=[pytest.mark.realdata] if s in REALDATA else []) for s in DUMPED]
)
def test_the_migrated_schema_dumps_as_the_input_does(
    scaffold: Callable[[str], Path], postgres_dir: Path, service: str
) -> None:
    input_name, built_in = DUMPED[service]
    root = scaffold(service)
    applied = f"applied_{service}"
    _run(postgres_dir, _bin("psql"), "-X", "-q", "-d", "postgres", "-c", f'DROP DATABASE IF EXISTS "{applied}"')
    _run(postgres_dir, _bin("psql"), "-X", "-q", "-d", "postgres", "-c", f'CREATE DATABASE "{applied}"')
    _run(postgres_dir, _bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", applied, "-f", str(INPUTS / input_name))
    expected = objects(schema_dump(postgres_dir, built_in or applied, "public"), "public")

    url = embedded_url(postgres_dir, f"scaffolded_{service}")
    env = {"FOUNTAIN_DATABASE_URL": url}
    upgrade = run_in(root, "-m", "fountain_cli.main", "db", "upgrade", service, env=env)
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    check = run_in(root, "-m", "fountain_cli.main", "db", "check", service, env=env)
    assert check.returncode == 0, check.stdout + check.stderr  # the tables module matches the migration
    migrated = objects(schema_dump(postgres_dir, f"scaffolded_{service}", service), service)
    assert len(expected) > 10
    assert migrated == expected

    downgrade = run_in(root, "-m", "fountain_cli.main", "db", "downgrade", service, "--to", "base", env=env)
    assert downgrade.returncode == 0, downgrade.stdout + downgrade.stderr
    assert objects(schema_dump(postgres_dir, f"scaffolded_{service}", service), service) == []


def test_json_input_migrates_every_type_and_downgrades_to_nothing(
    repository_copy: Callable[[], Path], postgres_dir: Path
) -> None:
    root = repository_copy()
    result = run_in(root, "-m", "fountain_cli.main", "scaffold", "bands", "--from-json", str(INPUTS / "band.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    commit_all(root, "scaffold bands")
    url = embedded_url(postgres_dir, "scaffolded_bands")
    env = {"FOUNTAIN_DATABASE_URL": url}
    for command in (("upgrade",), ("check",)):
        done = run_in(root, "-m", "fountain_cli.main", "db", *command, "bands", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    dump = "\n".join(objects(schema_dump(postgres_dir, "scaffolded_bands", "bands"), "bands"))
    for declared in (
        "CREATE TYPE band_mood AS ENUM (\n    'calm',\n    'loud'\n)",
        "mood band_mood DEFAULT 'calm'::band_mood NOT NULL",
        "price numeric(8,2)",
        "founded timestamp without time zone",
        "tags text[]",
        "code character(3)",
        "ratio double precision",
        "ADD CONSTRAINT member_pkey PRIMARY KEY (band_id, seat)",
        "FOREIGN KEY (band_id) REFERENCES band(id) ON UPDATE CASCADE ON DELETE CASCADE",
    ):
        assert declared in dump
    downgrade = run_in(root, "-m", "fountain_cli.main", "db", "downgrade", "bands", "--to", "base", env=env)
    assert downgrade.returncode == 0, downgrade.stdout + downgrade.stderr
    assert objects(schema_dump(postgres_dir, "scaffolded_bands", "bands"), "bands") == []


# --- the table API of the scaffolded Chinook service, over HTTP -----------------------------------

SEED = """
INSERT INTO artist VALUES (1, 'AC/DC'), (2, 'Accept'), (3, 'Aerosmith');
INSERT INTO album VALUES (1, 'For Those About To Rock', 1), (2, 'Let There Be Rock', 1), (3, 'Balls to the Wall', 2);
INSERT INTO genre VALUES (1, 'Rock'), (2, 'Metal');
INSERT INTO media_type VALUES (1, 'MPEG audio file');
INSERT INTO track VALUES
    (1, 'For Those About To Rock', 1, 1, 1, 'Angus Young', 343719, 11170334, 0.99),
    (2, 'Put The Finger On You', 1, 1, 1, NULL, 205662, 6713451, 0.99),
    (3, 'Go Down', 2, 1, 1, NULL, 331180, 10847611, 0.99),
    (4, 'Balls to the Wall', 3, 1, 2, NULL, 342562, 5510424, 1.29);
INSERT INTO playlist VALUES (1, 'Music'), (2, 'Heavy Metal Classic');
INSERT INTO playlist_track VALUES (1, 1), (1, 3), (1, 4), (2, 4);
"""
# Requests to the scaffolded service in-process, each [method, path, body or null, headers]; prints
# each answer's status and body (JSON, or else its text).
CLIENT = """
import asyncio, json, os, sys
import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from fountain_common.settings import Settings
from tests.in_process import service_app

async def main() -> None:
    url = os.environ["FOUNTAIN_DATABASE_URL"]
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL search_path TO music"))
        for statement in sys.argv[1].split(";"):
            if statement.strip():
                await conn.execute(text(statement))
    app = service_app("music", Settings(database_url=url), engine)
    answers = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        for method, target, body, headers in json.loads(sys.argv[2]):
            response = await client.request(method, target, json=body, headers=headers)
            json_answer = response.headers["content-type"].startswith("application/json")
            answers.append([response.status_code, response.json() if json_answer else response.text])
    await engine.dispose()
    print(json.dumps(answers))

asyncio.run(main())
"""


def test_the_scaffolded_chinook_service_selects_embeds_and_writes_many_rows(
    scaffold: Callable[[str], Path], postgres_dir: Path
) -> None:
    root = scaffold("music")
    url = embedded_url(postgres_dir, "api_music")
    env = {"FOUNTAIN_DATABASE_URL": url}
    for command in (("downgrade", "music", "--to", "base"), ("upgrade", "music")):
        done = run_in(root, "-m", "fountain_cli.main", "db", *command, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    targets = [
        "/v1/artist?select=name&embed=album(track(genre))&limit=2",
        "/v1/track/4?select=name,unitPrice&embed=album(artist),playlist",
        "/v1/playlist?embed=track(album)&select=name",
        "/v1/artist?select=name,birthday",
        "/v1/artist?embed=albums",
        "/v1/track/1?embed=playlist(track",
        "/v1/artist/1?select=name,album.title,album.track.name,album.track.genre.name",
    ]
    writes = [
        ["POST", "/v1/artist-batch", [{"artistId": 10, "name": "Queen"}, {"artistId": 11}]],
        ["POST", "/v1/artist-batch", [{"artistId": 12, "name": "Rush"}, {"artistId": 1, "name": "Again"}]],
        ["PUT", "/v1/artist", [{"artistId": 1, "name": "AC-DC"}, {"artistId": 12, "name": "Rush"}]],
        ["PATCH", "/v1/track?albumId=eq.1", {"unitPrice": "0.89"}],
        ["DELETE", "/v1/playlist-track", None],
        ["DELETE", "/v1/playlist-track?playlistId=eq.2", None],
        ["GET", "/v1/artist?select=name&orderBy=artistId", None],
    ]
    writes.append(["GET", "/v1/track?select=trackId,name,composer,unitPrice&embed=genre&limit=2", None])
    requests = json.dumps(
        [
            [*request, {"Accept": "text/csv"} if request is writes[-1] else {}]
            for request in [*[["GET", target, None] for target in targets], *writes]
        ]
    )
    result = run_in(root, "-c", CLIENT, SEED, requests, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    answers = json.loads(result.stdout.splitlines()[-1])
    artists, track, playlists, bad_select, bad_embed, unclosed, chosen = answers[: len(targets)]
    created, refused, upserted, changed, unguarded, deleted, names, tracks_csv = answers[len(targets) :]

    assert artists[0] == 200
    acdc = artists[1]["items"][0]
    assert acdc["name"] == "AC/DC" and "artistId" not in acdc
    assert [album["title"] for album in acdc["album"]] == ["For Those About To Rock", "Let There Be Rock"]
    assert [t["name"] for t in acdc["album"][0]["track"]] == ["For Those About To Rock", "Put The Finger On You"]
    assert acdc["album"][0]["track"][0]["genre"] == {"genreId": 1, "name": "Rock"}
    assert artists[1]["items"][1]["album"][0]["track"][0]["unitPrice"] == "1.29"
    assert artists[1]["total"] == 3

    assert track == [
        200,
        {
            "name": "Balls to the Wall",
            "unitPrice": "1.29",
            "album": {
                "albumId": 3,
                "title": "Balls to the Wall",
                "artistId": 2,
                "artist": {"artistId": 2, "name": "Accept"},
            },
            "playlist": [{"playlistId": 1, "name": "Music"}, {"playlistId": 2, "name": "Heavy Metal Classic"}],
        },
    ]
    assert playlists[0] == 200
    music, heavy = playlists[1]["items"]
    assert [t["name"] for t in music["track"]] == ["For Those About To Rock", "Go Down", "Balls to the Wall"]
    assert heavy["track"][0]["album"]["title"] == "Balls to the Wall"
    assert set(heavy) == {"name", "track"}

    assert bad_select[0] == 400
    assert "select: 'birthday' is not a field of artist; fields: artistId, name." in bad_select[1]["message"]
    assert bad_embed[0] == 400
    assert "Cannot embed albums in artist rows; embeddable: album." in bad_embed[1]["message"]
    assert unclosed[0] == 400 and "a parenthesis is not closed" in unclosed[1]["message"]
    # The fields of embedded rows, named by their path (which embeds them).
    assert chosen == [
        200,
        {
            "name": "AC/DC",
            "album": [
                {
                    "title": "For Those About To Rock",
                    "track": [
                        {"name": "For Those About To Rock", "genre": {"name": "Rock"}},
                        {"name": "Put The Finger On You", "genre": {"name": "Rock"}},
                    ],
                },
                {"title": "Let There Be Rock", "track": [{"name": "Go Down", "genre": {"name": "Rock"}}]},
            ],
        },
    ]

    # Writes of many rows: all or none, upserts on the key, changes and deletes by filter with a guard.
    assert created == [201, [{"artistId": 10, "name": "Queen"}, {"artistId": 11, "name": None}]]
    assert refused[0] == 409 and "Key (artist_id)=(1) already exists" in refused[1]["message"]
    assert upserted == [200, [{"artistId": 1, "name": "AC-DC"}, {"artistId": 12, "name": "Rush"}]]
    assert changed == [200, {"count": 2}]
    assert unguarded[0] == 400 and "or allRows=true to touch every row" in unguarded[1]["message"]
    assert deleted == [200, {"count": 1}]
    assert [item["name"] for item in names[1]["items"]] == ["AC-DC", "Accept", "Aerosmith", "Queen", None, "Rush"]

    # A list as CSV, when asked for with Accept: text/csv.
    assert tracks_csv == [
        200,
        "trackId,name,composer,unitPrice,genre\r\n"
        '1,For Those About To Rock,Angus Young,0.89,"{""genreId"":1,""name"":""Rock""}"\r\n'
        '2,Put The Finger On You,,0.89,"{""genreId"":1,""name"":""Rock""}"\r\n',
    ]


@pytest.mark.realdata
def test_the_scaffolded_chinook_service_passes_its_own_tests(scaffold: Callable[[str], Path], tmp_path: Path) -> None:
    """Its generated behaviour tests and its schemathesis run over every operation, stateful runs
    included (about 20 minutes on a loaded 2-core machine: with the big real-data tests)."""
    root = scaffold("music")
    result = run_in(root, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path}", "tests/music")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\b\d+ passed", result.stdout)
    assert "failed" not in result.stdout.splitlines()[-1]
