"""`fountain scaffold --from-sql` reads bootstrap.sql or `pg_dump --schema-only` into the model its spec,
tables and migration are written from: each column's type, default and key, the constraints and
indexes, the statements the migration runs and how its downgrade drops them, what it skips and what it
refuses. In process and quick (the scaffolded services themselves: test_scaffold.py)."""

from pathlib import Path

import pytest

from fountain_cli.scaffold.model import ForeignKey, Index, Schema, SchemaError, Table, check_schema
from fountain_cli.scaffold.sql_reader import read_sql

INPUTS = Path(__file__).parent / "inputs"


def read_input(name: str) -> Schema:
    return read_sql((INPUTS / name).read_text(), name)


def columns(table: Table) -> dict[str, tuple[str, bool, str | None, str | None]]:
    """Each column as the API and the tables see it: type as declared, nullable, default, generated."""
    return {c.name: (c.type.sql(), c.nullable, c.default, c.generated) for c in table.columns}


def refused(sql: str, origin: str = "bad.sql") -> list[str]:
    with pytest.raises(SchemaError) as error:
        check_schema(read_sql(sql, origin))
    return error.value.problems


# --- the model of each construct -----------------------------------------------------------------


def test_every_column_type_default_and_key_of_the_constructs_file() -> None:
    schema = read_input("constructs.sql")
    assert [t.name for t in schema.tables] == ["venue", "performance", "seat", "usher"]
    assert columns(schema.table("venue")) == {
        "id": ("integer", False, "nextval('venue_number_seq'::regclass)", "serial"),
        "name": ("varchar(120)", False, None, None),
        "code": ("char(3)", False, None, None),
        "address": ("inet", True, None, None),
        "opened": ("year", True, None, None),
    }
    assert columns(schema.table("performance")) == {
        "venue_id": ("integer", False, None, None),
        "starts": ("timestamp", False, None, None),
        "ends_at": ("timestamptz", True, None, None),
        "doors": ("time", True, None, None),
        "running": ("interval", True, "CAST('02:00:00' AS interval)", None),
        "price": ("numeric(8,2)", False, "0", None),
        "rating": ("real", True, None, None),
        "score": ("double precision", True, None, None),
        "poster": ("bytea", True, None, None),
        "details": ("jsonb", False, "CAST('{}' AS jsonb)", None),
        "raw": ("json", True, None, None),
        "tags": ("text[]", True, "CAST('{}' AS text[])", None),
        "mood": ("mood", False, "CAST('calm' AS mood)", None),
        "ticket": ("uuid", False, "gen_random_uuid()", None),
        "note": ("text", True, None, None),
        "last_update": ("timestamptz", False, "now()", None),
    }
    assert columns(schema.table("seat")) == {
        "id": ("bigint", False, None, "identity"),
        "venue_id": ("integer", False, None, None),
        "starts": ("timestamp", False, None, None),
        "label": ("varchar(10)", False, None, None),
        "sold": ("boolean", False, "FALSE", None),
    }
    assert columns(schema.table("usher")) == {
        "id": ("integer", False, "nextval('usher_id_seq'::regclass)", "serial"),
        "name": ("text", False, None, None),
    }
    mood = schema.table("performance").column("mood").type
    assert (mood.name, mood.enum, mood.labels) == ("enum", "mood", ("calm", "tense", "joyful"))
    opened = schema.table("venue").column("opened")
    assert (opened.type.name, opened.type.domain, opened.bounds) == (
        "integer",
        "year",
        {"minimum": 1901, "maximum": 2155},
    )


def test_keys_constraints_indexes_comments_and_triggers_of_the_constructs_file() -> None:
    schema = read_input("constructs.sql")
    venue, performance, seat, usher = (schema.table(n) for n in ("venue", "performance", "seat", "usher"))
    assert [t.primary_key for t in (venue, performance, seat, usher)] == [
        ["id"],
        ["venue_id", "starts"],
        ["id"],
        ["id"],
    ]
    assert seat.uniques == [(["venue_id", "starts", "label"], "seat_label_key")]
    assert performance.foreign_keys == [
        ForeignKey(["venue_id"], "venue", ["id"], "CASCADE", "performance_venue_id_fkey", on_update="CASCADE")
    ]
    assert seat.foreign_keys == [
        ForeignKey(
            ["venue_id", "starts"],
            "performance",
            ["venue_id", "starts"],
            None,
            "seat_performance_fkey",
            deferrable=True,
            initially_deferred=True,
        )
    ]
    assert venue.indexes == [
        Index("venue_code_idx", ["code"], True, [False]),
        Index("venue_lower_name_idx", ["lower(CAST(name AS text))"], False, [True]),
    ]
    assert performance.indexes == [Index("performance_unsold_idx", ["starts"], False, [False], "note IS NULL")]
    assert [(c.sql, c.name) for c in usher.checks] == [("length(name) <= 80", None)]
    assert usher.column("name").bounds == {"maxLength": 80}
    assert venue.comment == "Where performances take place."
    assert performance.column("price").comment == "The ticket price, exact."
    assert [t.triggered for t in schema.tables] == [False, True, False, False]
    assert all(t.served for t in schema.tables)
    assert [t.where for t in schema.tables] == [f"constructs.sql:{n}: " for n in (10, 20, 40, 47)]


def test_the_migration_runs_each_statement_as_written_and_its_downgrade_drops_each_object() -> None:
    schema = read_input("constructs.sql")
    assert [(s.kind, s.drop) for s in schema.statements] == [
        ("type", 'TYPE IF EXISTS "mood"'),
        ("domain", 'DOMAIN IF EXISTS "year"'),
        ("sequence", 'SEQUENCE IF EXISTS "venue_number_seq"'),
        ("table", 'TABLE IF EXISTS "venue"'),
        ("other", None),  # ALTER SEQUENCE ... OWNED BY
        ("table", 'TABLE IF EXISTS "performance"'),
        ("table", 'TABLE IF EXISTS "seat"'),
        ("table", 'TABLE IF EXISTS "usher"'),
        ("other", None),
        ("other", None),
        ("other", None),
        ("other", None),  # three indexes
        ("other", None),
        ("other", None),
        ("other", None),  # two comments
        ("other", None),
        ("function", 'FUNCTION IF EXISTS "last_updated"()'),
        ("other", None),  # the trigger goes with its table
        ("view", 'VIEW IF EXISTS "upcoming"'),
    ]
    assert schema.statements[0].sql == "CREATE TYPE mood AS ENUM ('calm', 'tense', 'joyful')"
    assert schema.statements[-1].sql == (
        "CREATE VIEW upcoming AS\n SELECT v.name, p.starts, p.price\n"
        "   FROM (performance p JOIN venue v ON ((v.id = p.venue_id)))\n  WHERE (p.starts > now())"
    )
    assert schema.notes == [
        "constructs.sql: skipped 1 statement(s), SET of session settings (the migration runs with its own): line 3",
        "constructs.sql: skipped 1 statement(s), ownership and privileges (the service's database role owns its "
        "schema): line 79",
    ]


def test_simple_checks_also_bound_the_api() -> None:
    from fountain_cli.scaffold.spec_writer import build_spec

    schema = read_input("shop.sql")
    check_schema(schema)
    assert schema.table("customer").column("credit").bounds == {"minimum": 0}
    assert schema.table("purchase").column("note").bounds == {"maxLength": 499}
    spec = build_spec("shop", "shop.fountain.coach", 8108, schema)["components"]["schemas"]
    assert spec["CustomerCreate"]["properties"]["credit"]["minimum"] == 0
    assert spec["PurchaseUpdate"]["properties"]["note"]["maxLength"] == 499
    reversed_check = read_sql(
        "CREATE TABLE t (id int PRIMARY KEY, n int CHECK (10 > n), s text CHECK (length(s) >= 2));"
    )
    assert reversed_check.table("t").column("n").bounds == {"maximum": 9}
    assert reversed_check.table("t").column("s").bounds == {"minLength": 2}


def test_what_is_skipped_or_cannot_be_created_through_the_api_is_noted() -> None:
    schema = read_sql(
        "SET client_encoding = 'UTF8';\n\\connect shop\nCREATE TABLE a (id int PRIMARY KEY, b_id int NOT NULL);\n"
        "CREATE TABLE b (id int PRIMARY KEY, a_id int NOT NULL REFERENCES a);\n"
        "ALTER TABLE a ADD FOREIGN KEY (b_id) REFERENCES b;\nALTER TABLE a OWNER TO postgres;",
        "cycle.sql",
    )
    check_schema(schema)
    assert schema.notes == [
        "cycle.sql: skipped 1 statement(s), psql meta-commands (a psql client's, not the database's): line 2",
        "cycle.sql: skipped 1 statement(s), SET of session settings (the migration runs with its own): line 1",
        "cycle.sql: skipped 1 statement(s), ownership and privileges (the service's database role owns its schema): "
        "line 6",
        "NOT NULL foreign keys form a cycle: a -> b -> a; the API cannot create their first rows (load them another "
        "way, or make one of the keys nullable or DEFERRABLE)",
    ]
