"""`fountain scaffold --from-sql` reads bootstrap.sql or `pg_dump --schema-only` into the model its spec,
tables and migration are written from: each column's type, default and key, the constraints and
indexes, the statements the migration runs and how its downgrade drops them, what it skips and what it
refuses. In process and quick (the scaffolded services themselves: test_scaffold.py)."""

from dataclasses import replace
from pathlib import Path

import pytest

from fountain_cli.scaffold.model import ForeignKey, Index, Schema, SchemaError, Statement, Table, check_schema
from fountain_cli.scaffold.sql_reader import SUPPORTED, read_sql

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
        "NOT NULL foreign keys form a cycle: a -> b -> a; the API cannot create their first rows (load them with "
        "--with-data, or make one of the keys nullable or DEFERRABLE)",
    ]


def test_the_dump_of_the_constructs_file_reads_as_the_same_tables() -> None:
    """pg_dump writes the same schema otherwise: keys and defaults in ALTER TABLE, identities added
    afterwards, qualified names, a name for every check. The API is written from the same tables."""

    def unplaced(schema: Schema) -> dict[str, Table]:
        tables = {}
        for table in schema.tables:
            table = replace(table, where="", columns=[replace(c, where="") for c in table.columns])
            tables[table.name] = replace(table, checks=[replace(c, name=None) for c in table.checks])
        return tables

    hand_written, dumped = read_input("constructs.sql"), read_input("constructs_dump.sql")
    assert unplaced(dumped) == unplaced(hand_written)
    assert [c.name for c in dumped.table("usher").checks] == ["usher_name_check"]
    assert dumped.statements[0].sql == "SET LOCAL check_function_bodies = 'false'"
    assert dumped.notes == [
        "constructs_dump.sql: skipped 10 statement(s), SET of session settings (the migration runs with its own): "
        "lines 9, 10, 11, 12, 13, 16, 17, 18, ...",
        "constructs_dump.sql: skipped 1 statement(s), set_config of session settings (the migration runs with its "
        "own): line 14",
        "constructs_dump.sql: skipped 10 statement(s), ownership and privileges (the service's database role owns "
        "its schema): lines 31, 41, 56, 86, 108, 137, 159, 172, ...",
    ]
    # Names unqualified as the migration runs them in the service's own schema.
    assert not any("public." in s.sql for s in dumped.statements)


def test_a_real_dump_drops_every_function_view_and_type_by_its_signature() -> None:
    schema = read_sql((INPUTS / "realdata" / "pagila-schema.sql").read_text(), "pagila-schema.sql")
    drops = [(s.kind, s.drop) for s in schema.statements if s.drop and s.kind != "table" and s.kind != "sequence"]
    assert drops == [
        ("domain", 'DOMAIN IF EXISTS "bıgınt"'),
        ("type", 'TYPE IF EXISTS "mpaa_rating"'),
        ("domain", 'DOMAIN IF EXISTS "year"'),
        ("function", 'FUNCTION IF EXISTS "_group_concat"(text, text)'),
        # OUT parameters are no part of a function's signature.
        ("function", 'FUNCTION IF EXISTS "film_in_stock"(integer, integer)'),
        ("function", 'FUNCTION IF EXISTS "film_not_in_stock"(integer, integer)'),
        ("function", 'FUNCTION IF EXISTS "get_customer_balance"(integer, timestamp with time zone)'),
        ("function", 'FUNCTION IF EXISTS "inventory_held_by_customer"(integer)'),
        ("function", 'FUNCTION IF EXISTS "inventory_in_stock"(integer)'),
        ("function", 'FUNCTION IF EXISTS "last_day"(timestamp with time zone)'),
        ("function", 'FUNCTION IF EXISTS "last_updated"()'),
        ("function", 'FUNCTION IF EXISTS "rewards_report"(integer, numeric)'),
        ("function", 'AGGREGATE IF EXISTS "group_concat"(text)'),
        ("view", 'VIEW IF EXISTS "actor_info"'),
        ("view", 'VIEW IF EXISTS "customer_list"'),
        ("view", 'VIEW IF EXISTS "film_list"'),
        ("view", 'VIEW IF EXISTS "nicer_but_slower_film_list"'),
        ("view", 'MATERIALIZED VIEW IF EXISTS "rental_by_category"'),
        ("view", 'VIEW IF EXISTS "sales_by_film_category"'),
        ("view", 'VIEW IF EXISTS "sales_by_store"'),
        ("view", 'VIEW IF EXISTS "staff_list"'),
    ]
    partitions = [t.name for t in schema.tables if not t.served]
    assert len(partitions) == 55 and all(name.startswith("payment_p20") for name in partitions)
    assert schema.table("payment").served and not schema.table("payment").triggered
    assert schema.table("film").triggered
    film = schema.table("film")
    assert film.column("rating").type.labels == ("G", "PG", "PG-13", "R", "NC-17")
    assert film.column("release_year").type.domain == "year"
    assert schema.table("customer").column("customer_id").generated == "serial"  # a key from a sequence


# --- statements: carried, skipped, refused ---------------------------------------------------------


def carried(sql: str) -> list[tuple[str, str, str | None]]:
    return [(s.kind, s.sql, s.drop) for s in read_sql(sql).statements]


def test_objects_without_crud_meaning_are_carried_and_dropped_by_name() -> None:
    assert carried(
        'CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA public;\n'
        "CREATE TYPE pair AS (a int, b text);\n"
        "CREATE TYPE span AS RANGE (subtype = int4);\n"
        "CREATE TABLE t (id int PRIMARY KEY);\n"
        "CREATE MATERIALIZED VIEW m AS SELECT id FROM t;\n"
        "REFRESH MATERIALIZED VIEW m;\n"
        "CREATE PROCEDURE p(IN a int, INOUT b text, OUT c int, VARIADIC d int[]) LANGUAGE sql AS $$ SELECT 1 $$;\n"
        "CREATE FUNCTION f(a int DEFAULT 1) RETURNS int LANGUAGE sql AS $$ SELECT a $$;\n"
        "CREATE AGGREGATE total(int) (sfunc = int4pl, stype = int);\n"
        "CREATE AGGREGATE tally(*) (sfunc = int8inc, stype = int8);\n"
        "ALTER TABLE t ENABLE ROW LEVEL SECURITY;\n"
        "CREATE POLICY mine ON t USING (true);\n"
        "CREATE RULE quiet AS ON DELETE TO t DO INSTEAD NOTHING;\n"
        "CREATE SEQUENCE s;\nALTER SEQUENCE s RESTART WITH 5"
    ) == [
        ("extension", 'CREATE EXTENSION IF NOT EXISTS "uuid-ossp"', 'EXTENSION IF EXISTS "uuid-ossp"'),
        ("type", "CREATE TYPE pair AS (a int, b text)", 'TYPE IF EXISTS "pair"'),
        ("type", "CREATE TYPE span AS RANGE (subtype = int4)", 'TYPE IF EXISTS "span"'),
        ("table", "CREATE TABLE t (id int PRIMARY KEY)", 'TABLE IF EXISTS "t"'),
        ("view", "CREATE MATERIALIZED VIEW m AS SELECT id FROM t", 'MATERIALIZED VIEW IF EXISTS "m"'),
        ("other", "REFRESH MATERIALIZED VIEW m", None),
        (
            "function",
            "CREATE PROCEDURE p(IN a int, INOUT b text, OUT c int, VARIADIC d int[]) LANGUAGE sql AS $$ SELECT 1 $$",
            'PROCEDURE IF EXISTS "p"(integer, text, integer[])',
        ),
        (
            "function",
            "CREATE FUNCTION f(a int DEFAULT 1) RETURNS int LANGUAGE sql AS $$ SELECT a $$",
            'FUNCTION IF EXISTS "f"(integer)',
        ),
        (
            "function",
            "CREATE AGGREGATE total(int) (sfunc = int4pl, stype = int)",
            'AGGREGATE IF EXISTS "total"(integer)',
        ),
        ("function", "CREATE AGGREGATE tally(*) (sfunc = int8inc, stype = int8)", 'AGGREGATE IF EXISTS "tally"(*)'),
        ("other", "ALTER TABLE t ENABLE ROW LEVEL SECURITY", None),
        ("other", "CREATE POLICY mine ON t USING (true)", None),
        ("other", "CREATE RULE quiet AS ON DELETE TO t DO INSTEAD NOTHING", None),
        ("sequence", "CREATE SEQUENCE s", 'SEQUENCE IF EXISTS "s"'),
        ("other", "ALTER SEQUENCE s RESTART WITH 5", None),
    ]


def test_a_function_in_the_public_schema_is_dropped_unqualified() -> None:
    assert carried("CREATE FUNCTION public.f(a public.t) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;") == [
        ("function", "CREATE FUNCTION f(a t) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$", 'FUNCTION IF EXISTS "f"(t)')
    ]


def test_an_enum_value_added_later_is_one_of_its_labels() -> None:
    schema = read_sql(
        "CREATE TYPE mood AS ENUM ('calm');\nALTER TYPE mood ADD VALUE 'tense';\n"
        "CREATE TABLE t (id int PRIMARY KEY, m mood, ms public.mood[]);"
    )
    assert schema.table("t").column("m").type.labels == ("calm", "tense")
    assert schema.table("t").column("ms").type == replace(schema.table("t").column("m").type, array=True)
    assert [s.kind for s in schema.statements] == ["type", "other", "table"]
    assert refused("CREATE TYPE mood AS ENUM ('calm');\nALTER TYPE mood RENAME VALUE 'calm' TO 'still';") == [
        "bad.sql:2: ALTER TYPE mood: only ADD VALUE is carried"
    ]
    assert refused("ALTER TYPE other ADD VALUE 'x';") == ["bad.sql:1: ALTER TYPE other: only ADD VALUE is carried"]


def test_session_settings_transactions_and_privileges_are_skipped_with_a_note() -> None:
    schema = read_sql(
        "BEGIN;\n"
        "SELECT pg_catalog.set_config('search_path', '', false);\n"
        "CREATE DATABASE shop;\n"
        "DROP TABLE IF EXISTS t;\n"
        "CREATE SCHEMA public;\n"
        "COMMENT ON SCHEMA public IS 'standard public schema';\n"
        "CREATE TABLE t (id int PRIMARY KEY);\n"
        "GRANT SELECT ON t TO PUBLIC;\n"
        "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC;\n"
        "GRANT pg_read_all_data TO someone;\n"
        "DROP DATABASE shop;\n"
        "COMMIT;",
        "skips.sql",
    )
    assert [s.kind for s in schema.statements] == ["table"]
    assert schema.notes == [
        "skips.sql: skipped 2 statement(s), BEGIN/COMMIT (the migration runs in its own transaction): lines 1, 12",
        "skips.sql: skipped 1 statement(s), set_config of session settings (the migration runs with its own): line 2",
        "skips.sql: skipped 2 statement(s), CREATE/DROP DATABASE (the service lives in the configured database): "
        "lines 3, 11",
        "skips.sql: skipped 1 statement(s), DROP (the service's schema starts empty): line 4",
        "skips.sql: skipped 2 statement(s), the public schema itself (the service has its own): lines 5, 6",
        "skips.sql: skipped 3 statement(s), ownership and privileges (the service's database role owns its schema): "
        "lines 8, 9, 10",
    ]


def test_psql_meta_commands_are_skipped_but_not_inside_a_function_body() -> None:
    schema = read_sql(
        "\\restrict abc\n"
        "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$\n"
        "\\not a command\n"
        "$$;\n"
        "  \\connect shop\n"
        "CREATE TABLE t (id int PRIMARY KEY);\n"
        "\\unrestrict abc",
        "meta.sql",
    )
    assert schema.statements[0].sql == "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$\n\\not a command\n$$"
    assert schema.table("t").where == "meta.sql:6: "
    assert schema.notes == [
        "meta.sql: skipped 3 statement(s), psql meta-commands (a psql client's, not the database's): lines 1, 5, 7"
    ]


def test_a_long_list_of_skipped_lines_is_cut_after_eight() -> None:
    sets = "".join(f"SET a{n} = 1;\n" for n in range(9))
    assert read_sql(sets + "CREATE TABLE t (id int PRIMARY KEY);", "s.sql").notes == [
        "s.sql: skipped 9 statement(s), SET of session settings (the migration runs with its own): "
        "lines 1, 2, 3, 4, 5, 6, 7, 8, ..."
    ]
    assert read_sql(sets[: sets.index("SET a8")] + "CREATE TABLE t (id int PRIMARY KEY);", "s.sql").notes == [
        "s.sql: skipped 8 statement(s), SET of session settings (the migration runs with its own): "
        "lines 1, 2, 3, 4, 5, 6, 7, 8"
    ]


def test_check_function_bodies_is_kept_for_the_migration() -> None:
    assert carried("SET check_function_bodies = false;\nSET check_function_bodies TO DEFAULT;") == [
        ("other", "SET LOCAL check_function_bodies = 'false'", None),
        ("other", "SET LOCAL check_function_bodies = DEFAULT", None),
    ]


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("CREATE TABLE a (\n  id int PRIMARY KEY,,\n);", 'bad.sql:2: SQL syntax error: syntax error at or near ","'),
        (
            "CREATE TABLE a (id int PRIMARY KEY);\nSELECT 1;",
            "bad.sql:2: a SELECT statement cannot be carried into a service's migration",
        ),
        (
            "CREATE TABLE a (id int PRIMARY KEY);\nSELECT set_config('a', 'b', false) FROM a;",
            "bad.sql:2: a SELECT statement cannot be carried into a service's migration",
        ),
        (
            "CREATE TABLE a (id int PRIMARY KEY);\nSELECT set_config('a', 'b', false), now();",
            "bad.sql:2: a SELECT statement cannot be carried into a service's migration",
        ),
        (
            "CREATE TABLE a (id int PRIMARY KEY);\n\nUPDATE a SET id = 2;",
            "bad.sql:3: an UPDATE statement cannot be carried into a service's migration",
        ),
        (
            "CREATE TABLE a (id int PRIMARY KEY);\nVACUUM a;",
            "bad.sql:2: a VACUUM statement cannot be carried into a service's migration",
        ),
        (
            "CREATE TABLE a (id int PRIMARY KEY);\nALTER SYSTEM SET work_mem = 1;",
            "bad.sql:2: an ALTER SYSTEM statement cannot be carried into a service's migration",
        ),
        (
            "CREATE TABLE other.a (id int PRIMARY KEY);",
            "bad.sql:1: other.a: objects of schema other cannot be carried; a service holds one schema (unqualified or "
            "public. names)",
        ),
        ("CREATE SCHEMA shop;", "bad.sql:1: CREATE SCHEMA shop: a service holds exactly one schema, its own"),
        (
            "CREATE TABLE a AS SELECT 1 AS id;",
            "bad.sql:1: CREATE TABLE ... AS copies rows; declare the table with its columns instead",
        ),
        (
            "CREATE OPERATOR === (leftarg = int, rightarg = int, function = int4eq);",
            "bad.sql:1: CREATE OPERATOR === cannot be carried",
        ),
        ("CREATE TEMP TABLE a (id int PRIMARY KEY);", "bad.sql:1: table a: temporary tables are not carried"),
        (
            "CREATE TYPE p AS (x int);\nCREATE TABLE a OF p (PRIMARY KEY (x));",
            "bad.sql:2: table a: typed tables (OF type) are not supported",
        ),
        (
            "CREATE TABLE a (id int PRIMARY KEY);\nCREATE TABLE b (x int PRIMARY KEY) INHERITS (a);",
            "bad.sql:2: table b: inheritance (INHERITS) is not supported; partitions are",
        ),
        (
            "CREATE TABLE a (id int PRIMARY KEY) TABLESPACE fast;",
            "bad.sql:1: table a: a tablespace (fast) is not carried",
        ),
        ("CREATE TABLE a (id int PRIMARY KEY, LIKE b);", "bad.sql:1: table a: TableLikeClause is not supported"),
        (
            "CREATE TABLE a (id int PRIMARY KEY, x int);\nCREATE INDEX ON a (x);",
            "bad.sql:2: CREATE INDEX without a name: name it, so the migration and the tables agree",
        ),
        ("ALTER TABLE a ADD PRIMARY KEY (id);", "bad.sql:1: ALTER TABLE a: no table a was declared before this line"),
        (
            "CREATE TABLE a (id int PRIMARY KEY, x int);\nALTER TABLE a DROP COLUMN x;",
            "bad.sql:2: ALTER TABLE a: DropColumn is not carried",
        ),
        (
            "CREATE TABLE a (id int PRIMARY KEY, x int);\nALTER TABLE a ALTER COLUMN y SET NOT NULL;",
            "bad.sql:2: ALTER TABLE a: SetNotNull is not carried",
        ),
        (
            "CREATE TABLE a (id int PRIMARY KEY, id2 int PRIMARY KEY);",
            "bad.sql:1: table a, column id2: a second primary key",
        ),
        (
            "CREATE TABLE a (id int PRIMARY KEY, b int REFERENCES other.b);",
            "bad.sql:1: other.b: objects of schema other cannot be carried; a service holds one schema (unqualified or "
            "public. names)",
        ),
        (
            "CREATE TABLE a (id int PRIMARY KEY, price money);",
            "bad.sql:1: table a, column price: type money is not supported (supported: " + SUPPORTED + ")",
        ),
        (
            "CREATE TABLE a (id int PRIMARY KEY, n pg_catalog.money);",
            "bad.sql:1: table a, column n: type pg_catalog.money is not supported",
        ),
        (
            "CREATE TABLE a (id int PRIMARY KEY, n shop.thing);",
            "bad.sql:1: table a, column n: type shop.thing is not supported",
        ),
        ("CREATE DOMAIN cash AS money;", "bad.sql:1: domain cash: type money is not supported"),
        (
            "CREATE DOMAIN tags AS text[];\nCREATE TABLE a (id int PRIMARY KEY, t tags[]);",
            "bad.sql:2: table a, column t: an array of an array domain is not supported",
        ),
    ],
)
def test_what_cannot_be_carried_is_refused_naming_its_line(sql: str, problem: str) -> None:
    problems = refused(sql)
    assert any(p.startswith(problem) for p in problems), problems


def test_every_fault_of_the_input_is_named_at_once() -> None:
    assert refused("CREATE TABLE a (id int PRIMARY KEY, price money);\nSELECT 1;\nCREATE SCHEMA shop;") == [
        f"bad.sql:1: table a, column price: type money is not supported (supported: {SUPPORTED})",
        "bad.sql:2: a SELECT statement cannot be carried into a service's migration",
        "bad.sql:3: CREATE SCHEMA shop: a service holds exactly one schema, its own",
    ]


# --- columns and constraints ----------------------------------------------------------------------


def test_each_postgresql_type_name_becomes_the_models_type() -> None:
    declared = {
        "a": ("int2", "smallint"),
        "b": ("int4", "integer"),
        "c": ("int8", "bigint"),
        "d": ("float4", "real"),
        "e": ("float8", "double precision"),
        "f": ("bool", "boolean"),
        "g": ("varchar", "varchar"),
        "h": ("char", "char(1)"),
        "i": ("character(4)", "char(4)"),
        "j": ("numeric", "numeric"),
        "k": ("numeric(6)", "numeric(6,0)"),
        "l": ("decimal(6, 3)", "numeric(6,3)"),
        "m": ("timestamptz", "timestamptz"),
        "n": ("time with time zone", "timetz"),
        "o": ("date", "date"),
        "p": ("cidr", "cidr"),
        "q": ("macaddr", "macaddr"),
        "r": ("tsvector", "tsvector"),
        "s": ("pg_catalog.int4", "integer"),
        "t": ("varchar(20)[]", "varchar(20)[]"),
        "u": ("integer[][]", "integer[]"),
        "v": ("uuid", "uuid"),
        "w": ("json", "json"),
    }
    columns_sql = ", ".join(f"{name} {sql}" for name, (sql, _) in declared.items())
    table = read_sql(f"CREATE TABLE t (id int PRIMARY KEY, {columns_sql});").table("t")
    assert {c.name: c.type.sql() for c in table.columns[1:]} == {name: shown for name, (_, shown) in declared.items()}
    assert (table.column("j").type.precision, table.column("j").type.scale) == (None, None)
    assert (table.column("k").type.precision, table.column("k").type.scale) == (6, 0)
    assert table.column("g").type.length is None and table.column("h").type.length == 1
    assert table.column("t").type.array and not table.column("s").type.array


def test_serial_columns_are_integers_numbered_by_their_own_sequence() -> None:
    table = read_sql(
        "CREATE TABLE t (a smallserial PRIMARY KEY, b serial2, c serial4, d bigserial, e serial8, f int);"
    ).table("t")
    assert columns(table) == {
        "a": ("smallint", False, "nextval('t_a_seq'::regclass)", "serial"),
        "b": ("smallint", False, "nextval('t_b_seq'::regclass)", "serial"),
        "c": ("integer", False, "nextval('t_c_seq'::regclass)", "serial"),
        "d": ("bigint", False, "nextval('t_d_seq'::regclass)", "serial"),
        "e": ("bigint", False, "nextval('t_e_seq'::regclass)", "serial"),
        "f": ("integer", True, None, None),
    }


def test_a_type_an_extension_brings_is_carried_as_text_by_its_name() -> None:
    schema = read_sql(
        "CREATE EXTENSION citext;\nCREATE TABLE t (id int PRIMARY KEY, email citext NOT NULL, emails citext[]);"
    )
    email, emails = schema.table("t").column("email").type, schema.table("t").column("emails").type
    assert (email.name, email.named, email.array) == ("other", "citext", False)
    assert (emails.name, emails.named, emails.array) == ("other", "citext", True)
    assert email.sql() == "citext" and emails.sql() == "citext[]"
    assert schema.statements[0] == Statement("CREATE EXTENSION citext", "extension", 'EXTENSION IF EXISTS "citext"')
    # Without an extension an unknown name is a mistake; a name in another schema is never an extension's.
    assert refused("CREATE TABLE t (id int PRIMARY KEY, email citext);")[0].startswith(
        "bad.sql:1: table t, column email: type citext is not supported"
    )
    assert refused("CREATE EXTENSION citext;\nCREATE TABLE t (id int PRIMARY KEY, email ext.citext);")[0].startswith(
        "bad.sql:2: table t, column email: type ext.citext is not supported"
    )


def test_a_domain_column_has_the_domains_base_type_and_bounds() -> None:
    schema = read_sql(
        "CREATE DOMAIN year AS int CHECK (VALUE > 1900) CHECK (VALUE < 2156) NOT NULL;\n"
        "CREATE DOMAIN tag AS varchar(12)[];\n"
        "CREATE TABLE t (id int PRIMARY KEY, y year CHECK (y <= 2100), ys year[], tags tag);"
    )
    t = schema.table("t")
    assert (t.column("y").type.sql(), t.column("y").type.name, t.column("y").bounds) == (
        "year",
        "integer",
        {"minimum": 1901, "maximum": 2100},
    )
    assert (t.column("ys").type.array, t.column("ys").type.domain, t.column("ys").bounds) == (
        True,
        "year",
        {"minimum": 1901, "maximum": 2155},
    )
    assert (t.column("tags").type.name, t.column("tags").type.length, t.column("tags").type.array) == (
        "varchar",
        12,
        True,
    )


def test_column_constraints_become_the_columns_rules() -> None:
    schema = read_sql(
        "CREATE TABLE a (id int PRIMARY KEY, code text UNIQUE);\n"
        "CREATE TABLE t (\n"
        "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
        "  n int NULL DEFAULT 3 CONSTRAINT n_positive CHECK (n > 0),\n"
        "  twice int GENERATED ALWAYS AS (n * 2) STORED,\n"
        "  a_id int NOT NULL REFERENCES a ON DELETE RESTRICT ON UPDATE SET DEFAULT DEFERRABLE,\n"
        "  a_code text REFERENCES a (code) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,\n"
        "  b_id int REFERENCES a NOT DEFERRABLE INITIALLY IMMEDIATE,\n"
        "  period int,\n"
        "  EXCLUDE USING gist (period WITH =),\n"
        "  CONSTRAINT t_pair UNIQUE (n, twice)\n"
        ");"
    )
    t = schema.table("t")
    assert columns(t) == {
        "id": ("bigint", False, None, "identity_always"),
        "n": ("integer", True, "3", None),
        "twice": ("integer", True, None, "computed"),
        "a_id": ("integer", False, None, None),
        "a_code": ("text", True, None, None),
        "b_id": ("integer", True, None, None),
        "period": ("integer", True, None, None),
    }
    assert t.column("twice").expression == "n * 2"
    assert t.column("n").bounds == {"minimum": 1}
    assert [(c.sql, c.name) for c in t.checks] == [("n > 0", "n_positive")]
    assert t.foreign_keys == [
        ForeignKey(["a_id"], "a", ["id"], "RESTRICT", None, on_update="SET DEFAULT", deferrable=True),
        ForeignKey(["a_code"], "a", ["code"], "SET NULL", None, deferrable=True, initially_deferred=True),
        ForeignKey(["b_id"], "a", ["id"]),
    ]
    assert t.uniques == [(["n", "twice"], "t_pair")]
    assert schema.table("a").uniques == [(["code"], None)]


def test_table_constraints_name_their_columns() -> None:
    schema = read_sql(
        "CREATE TABLE a (x int, y int, CONSTRAINT a_key PRIMARY KEY (x, y));\n"
        "CREATE TABLE b (id int, x int, y int, PRIMARY KEY (id),\n"
        "  CONSTRAINT b_a FOREIGN KEY (x, y) REFERENCES public.a (x, y) ON DELETE CASCADE ON UPDATE NO ACTION);"
    )
    assert schema.table("a").primary_key == ["x", "y"]
    assert [c.nullable for c in schema.table("a").columns] == [False, False]
    assert [c.nullable for c in schema.table("b").columns] == [False, True, True]
    assert schema.table("b").foreign_keys == [ForeignKey(["x", "y"], "a", ["x", "y"], "CASCADE", "b_a")]
    assert refused(
        "CREATE TABLE a (id int PRIMARY KEY);\nCREATE TABLE b (id int PRIMARY KEY, a int REFERENCES shop.a);"
    ) == [
        "bad.sql:2: shop.a: objects of schema shop cannot be carried; a service holds one schema (unqualified or "
        "public. names)"
    ]


def test_a_reference_without_columns_points_to_the_primary_key_declared_later() -> None:
    schema = read_sql(
        "CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a);\nCREATE TABLE a (code text PRIMARY KEY);"
    )
    assert schema.table("b").foreign_keys[0].target_columns == ["code"]


def test_a_key_from_a_sequence_is_the_databases_to_choose() -> None:
    schema = read_sql(
        "CREATE SEQUENCE s;\n"
        "CREATE TABLE t (id int PRIMARY KEY DEFAULT nextval('s'::regclass), n int DEFAULT nextval('s'), "
        "g int GENERATED BY DEFAULT AS IDENTITY);\n"
        "CREATE TABLE u (id int DEFAULT nextval('s'::regclass) PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY);"
    )
    assert columns(schema.table("t")) == {
        "id": ("integer", False, "nextval('s'::regclass)", "serial"),
        "n": ("integer", True, "nextval('s')", None),  # not a key: the API may set it
        "g": ("integer", False, None, "identity"),
    }
    assert schema.table("u").column("id").generated == "identity"


def test_alter_table_adds_keys_defaults_columns_identities_and_partitions() -> None:
    schema = read_sql(
        "CREATE TABLE t (id int, n int, note text);\n"
        "CREATE TABLE p (id int PRIMARY KEY, at date) PARTITION BY RANGE (at);\n"
        "CREATE TABLE p1 (id int PRIMARY KEY, at date);\n"
        "ALTER TABLE ONLY t ADD CONSTRAINT t_pkey PRIMARY KEY (id), ALTER COLUMN n SET DEFAULT 7,\n"
        "  ALTER COLUMN note SET NOT NULL, ADD COLUMN extra varchar(5) CHECK (length(extra) > 1);\n"
        "ALTER TABLE t ALTER COLUMN note SET DEFAULT 'x', ALTER COLUMN note DROP DEFAULT;\n"
        "ALTER TABLE t ADD CONSTRAINT t_n CHECK (n >= 2);\n"
        "ALTER TABLE t ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;\n"
        "ALTER TABLE t CLUSTER ON t_pkey, ALTER COLUMN n SET STATISTICS 100;\n"
        "ALTER TABLE t OWNER TO postgres;\n"
        "ALTER TABLE p ATTACH PARTITION p1 FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');\n"
        "ALTER TABLE p ATTACH PARTITION gone FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');",
        "alter.sql",
    )
    t = schema.table("t")
    assert t.primary_key == ["id"]
    assert columns(t) == {
        "id": ("integer", False, None, "identity_always"),
        "n": ("integer", True, "7", None),
        "note": ("text", False, None, None),
        "extra": ("varchar(5)", True, None, None),
    }
    assert t.column("extra").bounds == {"minLength": 2}
    assert t.column("n").bounds == {"minimum": 2}
    assert [(c.sql, c.name) for c in t.checks] == [("length(extra) > 1", None), ("n >= 2", "t_n")]
    assert [(table.name, table.served) for table in schema.tables] == [("t", True), ("p", True), ("p1", False)]
    assert schema.notes == [
        "alter.sql: skipped 1 statement(s), ownership and privileges (the service's database role owns its schema): "
        "line 10"
    ]
    assert [s.kind for s in schema.statements] == ["table"] * 3 + ["other"] * 7


def test_a_partition_declared_as_such_is_served_through_its_parent() -> None:
    schema = read_sql(
        "CREATE TABLE p (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);\n"
        "CREATE TABLE p1 PARTITION OF p FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');"
    )
    assert [(t.name, t.served) for t in schema.tables] == [("p", True), ("p1", False)]


def test_indexes_are_declared_with_their_columns_expressions_predicate_and_method() -> None:
    schema = read_sql(
        "CREATE TABLE t (id int PRIMARY KEY, name text, tags text[]);\n"
        "CREATE UNIQUE INDEX t_name ON public.t USING btree (name, lower(name)) WHERE (id > 0);\n"
        "CREATE INDEX t_tags ON t USING gin (tags);\n"
        "CREATE INDEX elsewhere ON other_table (x);"
    )
    assert schema.table("t").indexes == [
        Index("t_name", ["name", "lower(name)"], True, [False, True], "id > 0"),
        Index("t_tags", ["tags"], False, [False], None, "gin"),
    ]
    assert [s.sql for s in schema.statements[1:]] == [
        "CREATE UNIQUE INDEX t_name ON t USING btree (name, lower(name)) WHERE (id > 0)",
        "CREATE INDEX t_tags ON t USING gin (tags)",
        "CREATE INDEX elsewhere ON other_table (x)",
    ]


def test_comments_are_kept_on_the_table_and_column_they_name() -> None:
    schema = read_sql(
        "CREATE TABLE t (id int PRIMARY KEY, n int);\n"
        "COMMENT ON TABLE public.t IS 'Things.';\n"
        "COMMENT ON COLUMN t.n IS 'How many.';\n"
        "COMMENT ON COLUMN public.t.id IS 'The key.';\n"
        "COMMENT ON COLUMN t.missing IS 'Nothing.';\n"
        "COMMENT ON TABLE other_table IS 'Elsewhere.';\n"
        "COMMENT ON COLUMN other_table.n IS 'Elsewhere.';\n"
        "COMMENT ON FUNCTION now() IS 'Clock.';"
    )
    t = schema.table("t")
    assert (t.comment, t.column("n").comment, t.column("id").comment) == ("Things.", "How many.", "The key.")
    assert len(schema.statements) == 8  # every comment is carried for the migration


def test_simple_checks_become_bounds_of_the_column_they_name() -> None:
    table = read_sql(
        "CREATE TABLE t (id int PRIMARY KEY, a int, b int, c int, d smallint, e bigint, f text, g varchar(9),"
        " h numeric, i int[], j int, k int, l text, m int, n int, o int,\n"
        "  CHECK (a > 1 AND a < 10), CHECK (0 <= b AND 9 >= b), CHECK (5 < c), CHECK (d <= -1),"
        "  CHECK (e >= 10 AND e >= 20 AND e <= 30 AND e <= 25),"
        "  CHECK (char_length(f) < 4), CHECK (length(g) > -3), CHECK (h > 0), CHECK (i[1] > 0),"
        "  CHECK (j > 1.5), CHECK (k <> 3), CHECK (l > 'a'), CHECK (length(m) > 2), CHECK (t.n > 1),"
        "  CHECK (o > 1 OR o < -1), CHECK (upper(l) > 'A'), CHECK (1 < 2), CHECK (n > a), CHECK (missing > 1),"
        "  CHECK (length(l, 'UTF8') < 2), CHECK (o IS NOT NULL), CHECK (o + 1 > 2), CHECK (k > true))"
    ).table("t")
    assert {c.name: c.bounds for c in table.columns if c.bounds} == {
        "a": {"minimum": 2, "maximum": 9},
        "b": {"minimum": 0, "maximum": 9},
        "c": {"minimum": 6},
        "d": {"maximum": -1},
        "e": {"minimum": 20, "maximum": 25},
        "f": {"maxLength": 3},
        "g": {"minLength": 0},
    }


def test_a_statement_is_carried_without_its_semicolon_and_names_in_pg_catalog_are_fine() -> None:
    assert carried(
        "CREATE TABLE t (id int PRIMARY KEY);\n"
        "create extension hstore with schema public;\n"
        "CREATE VIEW classes AS SELECT relname FROM pg_catalog.pg_class;\n"
        "CREATE AGGREGATE pair_total(int, int) (sfunc = f, stype = int);\n"
        "CREATE VIEW v AS SELECT 1 AS X;  \n"
    ) == [
        ("table", "CREATE TABLE t (id int PRIMARY KEY)", 'TABLE IF EXISTS "t"'),
        ("extension", "create extension hstore", 'EXTENSION IF EXISTS "hstore"'),
        ("view", "CREATE VIEW classes AS SELECT relname FROM pg_catalog.pg_class", 'VIEW IF EXISTS "classes"'),
        (
            "function",
            "CREATE AGGREGATE pair_total(int, int) (sfunc = f, stype = int)",
            'AGGREGATE IF EXISTS "pair_total"(integer, integer)',
        ),
        ("view", "CREATE VIEW v AS SELECT 1 AS X", 'VIEW IF EXISTS "v"'),
    ]


def test_a_meta_command_after_a_one_line_function_body_is_skipped() -> None:
    schema = read_sql(
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n\\connect shop\n"
        "CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$ ; CREATE FUNCTION h() RETURNS int "
        "LANGUAGE sql AS $$ SELECT 2 $$;\n\\connect shop\nCREATE TABLE t (id int PRIMARY KEY);"
    )
    assert [s.kind for s in schema.statements] == ["function", "function", "function", "table"]
    assert schema.notes == [
        "input: skipped 2 statement(s), psql meta-commands (a psql client's, not the database's): lines 2, 4"
    ]


def test_more_refusals_name_the_input_and_the_fault() -> None:
    assert refused("CREATE TABLE t (id int PRIMARY KEY, x shop.int4);", "input")[0].startswith(
        "input:1: table t, column x: type shop.int4 is not supported"
    )
    with pytest.raises(SchemaError) as error:
        read_sql("CREATE TABLE t (id int PRIMARY KEY, x setof int);")
    assert error.value.problems[0].startswith("input:1: table t, column x: type SETOF integer is not supported")
    assert refused("CREATE TABLE a (id int PRIMARY KEY, x int, NOT NULL x);") == [
        "bad.sql:1: table a: constraint CONSTR_NOTNULL is not supported"
    ]
    assert refused("CREATE TABLE a (id int PRIMARY KEY, x int, PRIMARY KEY (x));") == [
        "bad.sql:1: table a: a second primary key"
    ]
    assert refused("CREATE TABLE a (id int PRIMARY KEY, b_id int REFERENCES b);") == [
        "bad.sql:1: table a, foreign key (b_id) -> b(): table 'b' is not declared in this input"
    ]


def test_constraint_attributes_in_any_order_and_arrays_of_numerics() -> None:
    schema = read_sql(
        "CREATE TABLE a (id int PRIMARY KEY);\n"
        "CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a INITIALLY DEFERRED DEFERRABLE, "
        "prices numeric(6,2)[], t int, n int, CHECK (t.n > 1));\n"
        "ALTER TABLE b CLUSTER ON b_pkey, ALTER COLUMN n SET NOT NULL;"
    )
    b = schema.table("b")
    assert (b.foreign_keys[0].deferrable, b.foreign_keys[0].initially_deferred) == (True, True)
    assert b.column("prices").type.sql() == "numeric(6,2)[]" and b.column("prices").type.array
    assert (b.column("t").bounds, b.column("n").bounds) == ({}, {})  # t.n names no column of its own
    assert not b.column("n").nullable
