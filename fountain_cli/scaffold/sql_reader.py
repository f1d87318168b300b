"""PostgreSQL DDL (hand-written, or `pg_dump --schema-only`) -> the neutral schema model, through
PostgreSQL's own parser (pglast).

Every statement that builds the schema is kept, as written, for the migration to run: tables,
sequences, indexes, enums, domains, comments, and objects without CRUD meaning (views, functions,
triggers, policies, extensions). The tables are also read into the model the API is written from.
Session settings, ownership, privileges and psql meta-commands are skipped with a note; anything
else is refused before anything is written, naming its line and why.
"""

import re
from collections import defaultdict
from typing import Any

from pglast import ast, parse_sql
from pglast.enums.parsenodes import AlterTableType, ConstrType, FunctionParameterMode, ObjectType
from pglast.enums.primnodes import BoolExprType
from pglast.parser import ParseError
from pglast.stream import RawStream

from fountain_cli.scaffold.model import (
    Check,
    Column,
    ColumnType,
    ForeignKey,
    Index,
    Rows,
    Schema,
    SchemaError,
    Statement,
    Table,
)

# PostgreSQL's type names (after the parser's normalisation) -> the model's types.
TYPE_NAMES = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "numeric": "numeric",
    "float4": "real",
    "float8": "double",
    "text": "text",
    "varchar": "varchar",
    "bpchar": "char",
    "bool": "boolean",
    "uuid": "uuid",
    "timestamptz": "timestamptz",
    "timestamp": "timestamp",
    "date": "date",
    "time": "time",
    "timetz": "timetz",
    "interval": "interval",
    "bytea": "bytea",
    "json": "json",
    "jsonb": "jsonb",
    "inet": "inet",
    "cidr": "cidr",
    "macaddr": "macaddr",
    "tsvector": "tsvector",
}
SERIALS = {
    "smallserial": "smallint",
    "serial2": "smallint",
    "serial": "integer",
    "serial4": "integer",
    "bigserial": "bigint",
    "serial8": "bigint",
}
SUPPORTED = (
    "smallint, integer, bigint, serial, bigserial, numeric(p,s), real, double precision, text, varchar(n), "
    "char(n), boolean, uuid, timestamp, timestamptz, date, time, timetz, interval, bytea, json, jsonb, inet, "
    "cidr, macaddr, tsvector, enums and domains over these, and arrays of them"
)
FK_ACTIONS = {"a": None, "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
# The schema a dump qualifies its objects with; the migration creates them in the service's own.
SOURCE_SCHEMA = "public"
QUALIFIER = re.compile(r'(?<![\w"$.])(?:public|"public")\.(?=[\w"])')
# ALTER TABLE actions that keep the model as it is: carried as written.
CARRIED_ALTERS = {
    AlterTableType.AT_ClusterOn,
    AlterTableType.AT_SetStatistics,
    AlterTableType.AT_SetStorage,
    AlterTableType.AT_SetRelOptions,
    AlterTableType.AT_ReplicaIdentity,
    AlterTableType.AT_EnableRowSecurity,
    AlterTableType.AT_ForceRowSecurity,
    AlterTableType.AT_EnableTrig,
    AlterTableType.AT_DisableTrig,
    AlterTableType.AT_EnableAlwaysTrig,
    AlterTableType.AT_EnableReplicaTrig,
    AlterTableType.AT_SetOptions,
    AlterTableType.AT_SetCompression,
    AlterTableType.AT_ValidateConstraint,
}


def line_of(source: str, location: int) -> int:
    return source.count("\n", 0, max(location, 0)) + 1


def _without_meta_commands(source: str) -> tuple[str, list[int]]:
    """psql's backslash commands (\\connect, \\restrict, ...) blanked out, keeping the line numbers."""
    lines = source.split("\n")
    skipped = []
    in_string = False
    for number, line in enumerate(lines):
        if not in_string and line.lstrip().startswith("\\"):
            lines[number] = ""
            skipped.append(number + 1)
        # A meta-command only starts a line outside a literal: track $$ bodies, the usual multi-line literals.
        if line.count("$$") % 2:
            in_string = not in_string
    return "\n".join(lines), skipped


COPY_FROM_STDIN = re.compile(r"^\s*COPY\s.+\sFROM\s+stdin\s*;\s*$", re.I | re.S)
# COPY's text format: \N is null; backslash escapes as PostgreSQL reads them.
COPY_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|(.))")
COPY_CHARACTERS = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _without_copy_data(source: str) -> tuple[str, dict[int, str]]:
    """The data lines of each `COPY ... FROM stdin;` (pg_dump's rows) blanked out, keeping the line
    numbers, and by the line of their COPY statement."""
    lines = source.split("\n")
    blocks: dict[int, str] = {}
    number = 0
    while number < len(lines):
        if COPY_FROM_STDIN.match(lines[number]):
            start, data = number, []
            number += 1
            while number < len(lines) and lines[number].rstrip("\r") != "\\.":
                data.append(lines[number] + "\n")
                lines[number] = ""
                number += 1
            if number < len(lines):
                lines[number] = ""
            blocks[start + 1] = "".join(data)
        number += 1
    return "\n".join(lines), blocks


def _copy_field(text: str) -> str | None:
    if text == "\\N":
        return None

    def unescape(match: re.Match[str]) -> str:
        octal, hexadecimal, other = match.groups()
        if octal:
            return chr(int(octal, 8))
        if hexadecimal:
            return chr(int(hexadecimal, 16))
        return COPY_CHARACTERS.get(other, other)

    return COPY_ESCAPE.sub(unescape, text)


def read_sql(source: str, origin: str = "input", *, with_data: bool = False) -> Schema:
    """The schema `source` declares; with `with_data` also its rows (INSERT, COPY ... FROM stdin and a
    dump's setval()), to load through a data migration."""
    source, copy_blocks = _without_copy_data(source)
    cleaned, meta_lines = _without_meta_commands(source)
    try:
        statements = parse_sql(cleaned)
    except ParseError as error:
        location = error.args[1] if len(error.args) > 1 else 0
        raise SchemaError([f"{origin}:{line_of(cleaned, location)}: SQL syntax error: {error.args[0]}"]) from error
    reader = _Reader(cleaned, origin)
    reader.with_data, reader.copy_blocks = with_data, copy_blocks
    for line in meta_lines:
        reader.skip(line, "psql meta-commands (a psql client's, not the database's)")
    for raw in statements:
        reader.statement(raw)
    if reader.problems:
        raise SchemaError(reader.problems)
    return reader.schema()


def _deparse(node: Any) -> str:
    """A node as SQL, its names unqualified as the migration runs them."""
    return QUALIFIER.sub("", str(RawStream()(node)))


def _default(node: Any) -> str:
    """A default as PostgreSQL shows it where that matters: a sequence's as nextval('s'::regclass)."""
    return re.sub(r"nextval\(CAST\(('[^']+') AS regclass\)\)", r"nextval(\1::regclass)", _deparse(node))


def read_check(sql: str) -> Any:
    """A CHECK's condition, as schema.json gives it, parsed; ValueError saying why it is not one."""
    try:
        statements = parse_sql(f"ALTER TABLE probe ADD CHECK ({sql})")
    except ParseError as error:
        raise ValueError(f"SQL syntax error: {error.args[0]}") from error
    # One condition only: text such as `a > 0) NOT VALID, ADD CHECK (true` parses, as something else.
    stmt: Any = statements[0].stmt if len(statements) == 1 else None
    commands = stmt.cmds or () if isinstance(stmt, ast.AlterTableStmt) else ()
    constraint = commands[0].def_ if len(commands) == 1 else None
    if (
        not isinstance(constraint, ast.Constraint)
        or constraint.contype != ConstrType.CONSTR_CHECK
        or constraint.skip_validation
        or constraint.is_no_inherit
    ):
        raise ValueError("not a single condition")
    for node in _nodes(constraint.raw_expr):
        if isinstance(node, ast.SubLink):
            raise ValueError("a CHECK cannot hold a subquery")
        if isinstance(node, ast.ParamRef):
            raise ValueError("a CHECK cannot hold a parameter ($n)")
    return constraint.raw_expr


def check_text(expr: Any) -> str:
    return _deparse(expr)


def check_columns(expr: Any) -> list[str]:
    """The columns a condition names, each once, in order (a qualified name as written, dotted)."""
    found: list[str] = []
    for node in _nodes(expr):
        if isinstance(node, ast.ColumnRef):
            name = ".".join(_names(node.fields)) or "*"
            if name not in found:
                found.append(name)
    return found


def _names(nodes: Any) -> list[str]:
    return [str(n.sval) for n in nodes or () if isinstance(n, ast.String)]


def _unqualified(names: list[str]) -> list[str]:
    return names[1:] if len(names) > 1 and names[0] in (SOURCE_SCHEMA, "pg_catalog") else names


def _nodes(node: Any) -> list[Any]:
    """`node` and every node below it."""
    if isinstance(node, tuple | list):
        return [found for item in node for found in _nodes(item)]
    if not isinstance(node, ast.Node):
        return []
    return [node, *(found for name in node for found in _nodes(getattr(node, name)))]


class _Reader:
    def __init__(self, source: str, origin: str) -> None:
        self.source = source
        self.origin = origin
        self.problems: list[str] = []
        self.skipped: dict[str, list[int]] = defaultdict(list)
        self.tables: dict[str, Table] = {}
        self.statements: list[Statement] = []
        self.enums: dict[str, tuple[str, ...]] = {}
        self.domains: dict[str, ColumnType] = {}
        self.domain_bounds: dict[str, dict[str, int]] = {}
        self.extensions: list[str] = []
        self.views: dict[str, Table] = {}
        self.with_data = False
        self.copy_blocks: dict[int, str] = {}
        self.data: list[Rows] = []
        self.line = 0

    # --- bookkeeping ------------------------------------------------------------------------------

    @property
    def where(self) -> str:
        return f"{self.origin}:{self.line}: "

    def fail(self, message: str) -> None:
        self.problems.append(f"{self.where}{message}")

    def skip(self, line: int, reason: str) -> None:
        self.skipped[reason].append(line)

    def carry(self, raw: Any, kind: str, drop: str | None = None) -> None:
        start = raw.stmt_location or 0
        end = start + raw.stmt_len if raw.stmt_len else len(self.source)
        sql = QUALIFIER.sub("", self.source[start:end].strip().rstrip(";").strip())
        self.statements.append(Statement(sql, kind, drop))

    def schema(self) -> Schema:
        tables = list(self.tables.values())
        keys = {t.name: t.primary_key for t in tables}
        for table in tables:
            for fk in table.foreign_keys:  # REFERENCES t without columns means t's primary key
                fk.target_columns = fk.target_columns or list(keys.get(fk.target_table, []))
            for column in table.columns:  # a key from a sequence is the database's to choose, as serial
                if column.default and column.default.startswith("nextval(") and column.name in table.primary_key:
                    column.generated = column.generated or "serial"
        notes = [
            f"{self.origin}: skipped {len(lines)} statement(s), {reason}: line{'s' if len(lines) > 1 else ''} "
            + ", ".join(map(str, lines[:8]))
            + (", ..." if len(lines) > 8 else "")
            for reason, lines in self.skipped.items()
        ]
        views = [view for view in self.views.values() if view.name not in self.tables]
        schema = Schema(tables, self.statements, notes, views, dict(self.enums), dict(self.domains))
        schema.data = _load_order(tables, self.data)
        return schema

    # --- statements -------------------------------------------------------------------------------

    def statement(self, raw: Any) -> None:
        self.line = line_of(self.source, raw.stmt_location or 0)
        stmt: Any = raw.stmt
        for node in _nodes(stmt):
            if isinstance(node, ast.RangeVar) and node.schemaname not in (None, SOURCE_SCHEMA, "pg_catalog"):
                self.fail(
                    f"{node.schemaname}.{node.relname}: objects of schema {node.schemaname} cannot be carried; "
                    f"a service holds one schema (unqualified or {SOURCE_SCHEMA}. names)"
                )
                return
        handler = getattr(self, "on_" + type(stmt).__name__, None)
        if handler is None:
            name = _statement_name(stmt)
            self.fail(
                f"{'an' if name[0] in 'AEIOU' else 'a'} {name} statement cannot be carried into a service's migration"
            )
        else:
            handler(raw, stmt)

    def on_VariableSetStmt(self, raw: Any, stmt: Any) -> None:
        if stmt.name == "check_function_bodies":
            # A dump creates functions before the tables their bodies read: kept for the migration's transaction.
            value = ", ".join(_deparse(arg) for arg in stmt.args or ()) or "DEFAULT"
            self.statements.append(Statement(f"SET LOCAL check_function_bodies = {value}", "other"))
        else:
            self.skip(self.line, "SET of session settings (the migration runs with its own)")

    def on_SelectStmt(self, raw: Any, stmt: Any) -> None:
        calls = [n for n in _nodes(stmt) if isinstance(n, ast.FuncCall)]
        if stmt.fromClause is None and calls and all(_names(c.funcname)[-1] == "set_config" for c in calls):
            self.skip(self.line, "set_config of session settings (the migration runs with its own)")
        elif stmt.fromClause is None and calls and all(_names(c.funcname)[-1] == "setval" for c in calls):
            if self.with_data:
                self.data.append(Rows(None, sql=self.source_of(raw), where=self.where))
            else:
                self.skip(self.line, "setval of sequences (goes with the rows: loaded with --with-data)")
        else:
            self.fail("a SELECT statement cannot be carried into a service's migration")

    def on_TransactionStmt(self, raw: Any, stmt: Any) -> None:
        self.skip(self.line, "BEGIN/COMMIT (the migration runs in its own transaction)")

    def on_CreatedbStmt(self, raw: Any, stmt: Any) -> None:
        self.skip(self.line, "CREATE/DROP DATABASE (the service lives in the configured database)")

    on_DropdbStmt = on_CreatedbStmt

    def on_DropStmt(self, raw: Any, stmt: Any) -> None:
        self.skip(self.line, "DROP (the service's schema starts empty)")

    def on_InsertStmt(self, raw: Any, stmt: Any) -> None:
        if not self.with_data:
            self.skip(self.line, "INSERT/COPY of rows (loaded only with --with-data)")
            return
        name = stmt.relation.relname
        table = self.tables.get(name)
        values = stmt.selectStmt.valuesLists if stmt.selectStmt is not None else None
        if table is None:
            self.fail(f"INSERT INTO {name}: no table {name} was declared before this line")
        elif not values or stmt.returningClause or stmt.withClause:
            self.fail(f"INSERT INTO {name}: only rows given as VALUES are loaded (not INSERT ... SELECT, RETURNING)")
        else:
            columns = [target.name for target in stmt.cols] if stmt.cols else [c.name for c in table.columns]
            keys = self.row_keys(table, columns, [[_constant(value) for value in row] for row in values])
            if keys is not None:
                self.data.append(Rows(name, sql=self.source_of(raw), count=len(values), keys=keys, where=self.where))

    def on_CopyStmt(self, raw: Any, stmt: Any) -> None:
        block = self.copy_blocks.get(self.line)
        if not self.with_data:
            self.skip(self.line, "INSERT/COPY of rows (loaded only with --with-data)")
            return
        name = stmt.relation.relname if stmt.relation else ""
        table = self.tables.get(name)
        if block is None or not stmt.is_from or stmt.is_program or stmt.filename or stmt.options:
            self.fail("COPY: only COPY ... FROM stdin in text format, its rows following it, is loaded")
        elif table is None:
            self.fail(f"COPY {name}: no table {name} was declared before this line")
        else:
            columns = _names(stmt.attlist) or [c.name for c in table.columns]
            lines = block.splitlines()
            keys = self.row_keys(table, columns, [[_copy_field(f) for f in line.split("\t")] for line in lines])
            if keys is not None:
                self.data.append(Rows(name, columns=columns, copy=block, count=len(lines), keys=keys, where=self.where))

    def row_keys(self, table: Table, columns: list[str], rows: list[list[str | None]]) -> list[list[str]] | None:
        """Each row's primary key as text: what the downgrade removes exactly the rows loaded by."""
        missing = [key for key in table.primary_key if key not in columns]
        if missing:
            self.fail(
                f"rows of {table.name} without their key ({', '.join(missing)}): --with-data needs each row's key, "
                "so that the downgrade removes exactly the rows it loaded"
            )
            return None
        positions = [columns.index(key) for key in table.primary_key]
        keys = []
        for row in rows:
            key = [row[position] if position < len(row) else None for position in positions]
            if any(value is None for value in key):
                self.fail(f"a row of {table.name} whose key is not a constant: --with-data needs each row's key")
                return None
            keys.append([value for value in key if value is not None])
        return keys

    def source_of(self, raw: Any) -> str:
        start = raw.stmt_location or 0
        end = start + raw.stmt_len if raw.stmt_len else len(self.source)
        return QUALIFIER.sub("", self.source[start:end].strip().rstrip(";").strip())

    def on_AlterOwnerStmt(self, raw: Any, stmt: Any) -> None:
        self.skip(self.line, "ownership and privileges (the service's database role owns its schema)")

    on_GrantStmt = on_AlterOwnerStmt
    on_GrantRoleStmt = on_AlterOwnerStmt
    on_AlterDefaultPrivilegesStmt = on_AlterOwnerStmt

    def on_CreateSchemaStmt(self, raw: Any, stmt: Any) -> None:
        if stmt.schemaname == SOURCE_SCHEMA:
            self.skip(self.line, "the public schema itself (the service has its own)")
        else:
            self.fail(f"CREATE SCHEMA {stmt.schemaname}: a service holds exactly one schema, its own")

    def on_CommentStmt(self, raw: Any, stmt: Any) -> None:
        kind = ObjectType(stmt.objtype)
        if kind == ObjectType.OBJECT_SCHEMA:
            self.skip(self.line, "the public schema itself (the service has its own)")
            return
        names = _unqualified(_names(stmt.object) if isinstance(stmt.object, tuple) else [])
        if kind == ObjectType.OBJECT_TABLE and len(names) == 1 and names[0] in self.tables:
            self.tables[names[0]].comment = stmt.comment
        if kind == ObjectType.OBJECT_COLUMN and len(names) == 2 and names[0] in self.tables:
            for column in self.tables[names[0]].columns:
                if column.name == names[1]:
                    column.comment = stmt.comment
        self.carry(raw, "other")

    def on_CreateExtensionStmt(self, raw: Any, stmt: Any) -> None:
        self.extensions.append(stmt.extname)
        self.carry(raw, "extension", f'EXTENSION IF EXISTS "{stmt.extname}"')
        # WITH SCHEMA public: the extension's objects go to the service's schema, where its tables find them.
        self.statements[-1].sql = re.sub(r"\s+WITH\s+SCHEMA\s+\"?public\"?", "", self.statements[-1].sql, flags=re.I)

    def on_CreateEnumStmt(self, raw: Any, stmt: Any) -> None:
        name = _unqualified(_names(stmt.typeName))[-1]
        self.enums[name] = tuple(_names(stmt.vals))
        self.carry(raw, "type", f'TYPE IF EXISTS "{name}"')

    def on_AlterEnumStmt(self, raw: Any, stmt: Any) -> None:
        name = _unqualified(_names(stmt.typeName))[-1]
        if stmt.newVal and name in self.enums and not stmt.oldVal:
            self.enums[name] = (*self.enums[name], stmt.newVal)
            self.carry(raw, "other")
        else:
            self.fail(f"ALTER TYPE {name}: only ADD VALUE is carried")

    def on_CompositeTypeStmt(self, raw: Any, stmt: Any) -> None:
        self.carry(raw, "type", f'TYPE IF EXISTS "{stmt.typevar.relname}"')

    def on_CreateRangeStmt(self, raw: Any, stmt: Any) -> None:
        self.carry(raw, "type", f'TYPE IF EXISTS "{_unqualified(_names(stmt.typeName))[-1]}"')

    def on_CreateDomainStmt(self, raw: Any, stmt: Any) -> None:
        name = _unqualified(_names(stmt.domainname))[-1]
        base = self.column_type(stmt.typeName, f"domain {name}")
        if base is not None:
            self.domains[name] = ColumnType(**{**base.__dict__, "domain": name})
            # CHECK (VALUE >= 1901 AND ...) bounds every column of the domain, as a column's own CHECK does.
            probe = Table(name, columns=[Column("value", self.domains[name])])
            for constraint in stmt.constraints or ():
                if constraint.contype == ConstrType.CONSTR_CHECK:
                    carry_bound(probe, constraint.raw_expr)
            self.domain_bounds[name] = probe.columns[0].bounds
        self.carry(raw, "domain", f'DOMAIN IF EXISTS "{name}"')

    def on_CreateSeqStmt(self, raw: Any, stmt: Any) -> None:
        self.carry(raw, "sequence", f'SEQUENCE IF EXISTS "{stmt.sequence.relname}"')

    def on_AlterSeqStmt(self, raw: Any, stmt: Any) -> None:
        self.carry(raw, "other")

    def on_ViewStmt(self, raw: Any, stmt: Any) -> None:
        self.views[stmt.view.relname] = Table(stmt.view.relname, where=self.where)
        self.carry(raw, "view", f'VIEW IF EXISTS "{stmt.view.relname}"')

    def on_CreateTableAsStmt(self, raw: Any, stmt: Any) -> None:
        if ObjectType(stmt.objtype) != ObjectType.OBJECT_MATVIEW:
            self.fail("CREATE TABLE ... AS copies rows; declare the table with its columns instead")
            return
        self.carry(raw, "view", f'MATERIALIZED VIEW IF EXISTS "{stmt.into.rel.relname}"')

    def on_RefreshMatViewStmt(self, raw: Any, stmt: Any) -> None:
        self.carry(raw, "other")

    def on_CreateFunctionStmt(self, raw: Any, stmt: Any) -> None:
        name = _unqualified(_names(stmt.funcname))[-1]
        arguments = [
            _deparse(p.argType)
            for p in stmt.parameters or ()
            if p.mode
            in (
                FunctionParameterMode.FUNC_PARAM_IN,
                FunctionParameterMode.FUNC_PARAM_INOUT,
                FunctionParameterMode.FUNC_PARAM_VARIADIC,
                FunctionParameterMode.FUNC_PARAM_DEFAULT,
            )
        ]
        what = "PROCEDURE" if stmt.is_procedure else "FUNCTION"
        self.carry(raw, "function", QUALIFIER.sub("", f'{what} IF EXISTS "{name}"({", ".join(arguments)})'))

    def on_DefineStmt(self, raw: Any, stmt: Any) -> None:
        kind = ObjectType(stmt.kind)
        name = _unqualified(_names(stmt.defnames))[-1]
        if kind == ObjectType.OBJECT_AGGREGATE:
            parameters = stmt.args[0] if stmt.args and isinstance(stmt.args[0], tuple) else ()
            arguments = ", ".join(_deparse(p.argType) for p in parameters) or "*"
            self.carry(raw, "function", QUALIFIER.sub("", f'AGGREGATE IF EXISTS "{name}"({arguments})'))
        else:
            self.fail(f"CREATE {kind.name.removeprefix('OBJECT_')} {name} cannot be carried")

    def on_CreateTrigStmt(self, raw: Any, stmt: Any) -> None:
        if stmt.relation.relname in self.tables:
            self.tables[stmt.relation.relname].triggered = True
        self.carry(raw, "other")  # goes with its table

    def on_CreatePolicyStmt(self, raw: Any, stmt: Any) -> None:
        self.carry(raw, "other")  # goes with its table

    on_RuleStmt = on_CreatePolicyStmt

    def on_IndexStmt(self, raw: Any, stmt: Any) -> None:
        table = self.tables.get(stmt.relation.relname)
        if table is not None and stmt.idxname:
            parameters = stmt.indexParams or ()
            table.indexes.append(
                Index(
                    stmt.idxname,
                    [p.name or _deparse(p.expr) for p in parameters],
                    bool(stmt.unique),
                    [not p.name for p in parameters],
                    _deparse(stmt.whereClause) if stmt.whereClause else None,
                    stmt.accessMethod if stmt.accessMethod not in (None, "btree") else None,
                )
            )
        if not stmt.idxname:
            self.fail("CREATE INDEX without a name: name it, so the migration and the tables agree")
            return
        self.carry(raw, "other")

    def on_CreateStmt(self, raw: Any, stmt: Any) -> None:
        relation = stmt.relation
        table = Table(name=relation.relname, where=self.where)
        if relation.relpersistence == "t":
            self.fail(f"table {relation.relname}: temporary tables are not carried")
        if stmt.ofTypename:
            self.fail(f"table {relation.relname}: typed tables (OF type) are not supported")
        if stmt.inhRelations and not stmt.partbound:
            self.fail(f"table {relation.relname}: inheritance (INHERITS) is not supported; partitions are")
        if stmt.tablespacename:
            self.fail(f"table {relation.relname}: a tablespace ({stmt.tablespacename}) is not carried")
        if stmt.partbound:
            table.served = False  # a partition: its rows are read and written through its parent
        self.tables[table.name] = table
        checks: list[Any] = []
        for element in stmt.tableElts or ():
            if isinstance(element, ast.ColumnDef):
                self.column(table, element, checks)
            elif isinstance(element, ast.Constraint):
                self.constraint(table, element, None, checks)
            else:
                self.fail(f"table {relation.relname}: {type(element).__name__} is not supported")
        for expression in checks:
            carry_bound(table, expression)
        self.carry(raw, "table", f'TABLE IF EXISTS "{table.name}"')

    def on_AlterTableStmt(self, raw: Any, stmt: Any) -> None:
        name = stmt.relation.relname
        table = self.tables.get(name)
        kinds = {AlterTableType(cmd.subtype) for cmd in stmt.cmds}
        if kinds == {AlterTableType.AT_ChangeOwner}:
            self.on_AlterOwnerStmt(raw, stmt)
            return
        checks: list[Any] = []
        for cmd in stmt.cmds:
            kind = AlterTableType(cmd.subtype)
            column = next((c for c in table.columns if c.name == cmd.name), None) if table else None
            if kind in CARRIED_ALTERS:
                continue
            if table is None:
                self.fail(f"ALTER TABLE {name}: no table {name} was declared before this line")
            elif kind == AlterTableType.AT_AddConstraint:
                self.constraint(table, cmd.def_, None, checks)
            elif kind == AlterTableType.AT_ColumnDefault and column:
                column.default = _default(cmd.def_) if cmd.def_ else None
            elif kind == AlterTableType.AT_SetNotNull and column:
                column.nullable = False
            elif kind == AlterTableType.AT_AddColumn:
                self.column(table, cmd.def_, checks)
            elif kind == AlterTableType.AT_AttachPartition:
                partition = self.tables.get(cmd.def_.name.relname)
                if partition:
                    partition.served = False
            elif kind in (AlterTableType.AT_AddIdentity,) and column:
                self.constraint(table, cmd.def_, column, checks)
            else:
                self.fail(f"ALTER TABLE {name}: {kind.name.removeprefix('AT_')} is not carried")
        if table:
            for expression in checks:
                carry_bound(table, expression)
        self.carry(raw, "other")

    # --- tables -----------------------------------------------------------------------------------

    def column_type(self, type_name: Any, at: str) -> ColumnType | None:
        names = _unqualified(_names(type_name.names))
        name = names[-1] if names else ""
        modifiers = [getattr(m.val, "ival", None) for m in type_name.typmods or () if isinstance(m, ast.A_Const)]
        array = bool(type_name.arrayBounds)
        if type_name.pct_type or type_name.setof or len(names) > 1:
            shown = _deparse(type_name)
        elif name in SERIALS and not array:
            return ColumnType(SERIALS[name])
        elif name in self.enums:
            return ColumnType("enum", array=array, enum=name, labels=self.enums[name])
        elif name in self.domains:
            domain = self.domains[name]
            if array and domain.array:
                self.fail(f"{at}: an array of an array domain is not supported")
                return None
            return ColumnType(**{**domain.__dict__, "array": array or domain.array})
        elif name in TYPE_NAMES:
            kind = TYPE_NAMES[name]
            if kind in ("varchar", "char"):
                length = modifiers[0] if modifiers else (1 if kind == "char" else None)
                return ColumnType(kind, length=length, array=array)
            if kind == "numeric":
                precision = modifiers[0] if modifiers else None
                scale = modifiers[1] if len(modifiers) > 1 else (0 if modifiers else None)
                return ColumnType(kind, precision=precision, scale=scale, array=array)
            return ColumnType(kind, array=array)
        else:
            shown = _deparse(type_name)
            if self.extensions and len(names) == 1 and not type_name.pct_type and not type_name.setof:
                # Most likely an extension's type: the database knows it; the API carries its text form.
                return ColumnType("other", array=array, named=_deparse(ast.TypeName(names=type_name.names)))
        self.fail(f"{at}: type {shown} is not supported (supported: {SUPPORTED})")
        return None

    def column(self, table: Table, node: Any, checks: list[Any]) -> None:
        name = node.colname
        at = f"table {table.name}, column {name}"
        column = Column(name=name, type=ColumnType("text"), where=table.where)
        found = self.column_type(node.typeName, at)
        if found is not None:
            column.type = found
            for keyword, value in self.domain_bounds.get(found.domain or "", {}).items():
                column.bound(keyword, value)
        names = _unqualified(_names(node.typeName.names))
        if names and names[-1] in SERIALS:
            column.generated, column.nullable = "serial", False
            column.default = f"nextval('{table.name}_{name}_seq'::regclass)"
        table.columns.append(column)
        for constraint in node.constraints or ():
            self.constraint(table, constraint, column, checks)

    def constraint(self, table: Table, node: Any, column: Column | None, checks: list[Any]) -> None:
        kind = node.contype
        at = f"table {table.name}" + (f", column {column.name}" if column else "")
        columns = [column.name] if column else _names(node.keys)
        if kind == ConstrType.CONSTR_NOTNULL and column:
            column.nullable = False
        elif kind in (ConstrType.CONSTR_NULL, ConstrType.CONSTR_EXCLUSION):
            pass  # the database enforces an exclusion; a write breaking it is refused as a conflict
        elif kind in (ConstrType.CONSTR_ATTR_DEFERRABLE, ConstrType.CONSTR_ATTR_DEFERRED):
            if table.foreign_keys:
                table.foreign_keys[-1].deferrable = True
                table.foreign_keys[-1].initially_deferred |= kind == ConstrType.CONSTR_ATTR_DEFERRED
        elif kind in (ConstrType.CONSTR_ATTR_NOT_DEFERRABLE, ConstrType.CONSTR_ATTR_IMMEDIATE):
            pass
        elif kind == ConstrType.CONSTR_DEFAULT and column:
            column.default = _default(node.raw_expr)
        elif kind == ConstrType.CONSTR_IDENTITY and column:
            column.generated = "identity_always" if node.generated_when == "a" else "identity"
            column.nullable = False
        elif kind == ConstrType.CONSTR_GENERATED and column:
            column.generated = "computed"
            column.expression = _deparse(node.raw_expr)
        elif kind == ConstrType.CONSTR_PRIMARY:
            if table.primary_key:
                self.fail(f"{at}: a second primary key")
            table.primary_key = columns
            for declared in table.columns:
                if declared.name in columns:
                    declared.nullable = False
        elif kind == ConstrType.CONSTR_UNIQUE:
            table.uniques.append((columns, node.conname))
        elif kind == ConstrType.CONSTR_FOREIGN:
            columns = [column.name] if column else _names(node.fk_attrs)
            if node.pktable.schemaname not in (None, SOURCE_SCHEMA):
                self.fail(f"{at}: a foreign key to another schema ({node.pktable.schemaname}) cannot be carried")
            table.foreign_keys.append(
                ForeignKey(
                    columns,
                    node.pktable.relname,
                    _names(node.pk_attrs),
                    FK_ACTIONS.get(node.fk_del_action),
                    node.conname,
                    on_update=FK_ACTIONS.get(node.fk_upd_action),
                    deferrable=bool(node.deferrable),
                    initially_deferred=bool(node.initdeferred),
                )
            )
        elif kind == ConstrType.CONSTR_CHECK:
            table.checks.append(Check(_deparse(node.raw_expr), node.conname))
            checks.append(node.raw_expr)
        else:
            self.fail(f"{at}: constraint {ConstrType(kind).name} is not supported")


def type_of(formatted: str, schema: Schema) -> ColumnType:
    """A type as PostgreSQL's format_type() writes it (`numeric(5,2)`, `character varying[]`, an enum
    or domain of the input) -> the model's type; one the API does not know is carried as its text."""
    reader = _Reader("", "")
    reader.enums, reader.domains = dict(schema.enums), dict(schema.domains)
    try:
        (raw,) = parse_sql(f"CREATE TABLE probe (value {formatted})")
        statement: Any = raw.stmt
        found = reader.column_type(statement.tableElts[0].typeName, "probe")
    except (ParseError, ValueError):
        found = None
    if found is None or reader.problems:
        array = formatted.endswith("[]")
        return ColumnType("other", array=array, named=formatted.removesuffix("[]") if array else formatted)
    return found


def _constant(node: Any) -> str | None:
    """A constant's text (`7`, `'x'::text`, `-2`), or None for NULL, DEFAULT and expressions."""
    if isinstance(node, ast.TypeCast):
        return _constant(node.arg)
    if isinstance(node, ast.A_Const) and not node.isnull:
        value: Any = node.val
        for attribute in ("ival", "fval", "sval", "bsval"):
            if hasattr(value, attribute):
                return str(getattr(value, attribute))
        if hasattr(value, "boolval"):
            return "true" if value.boolval else "false"
    return None


def _load_order(tables: list[Table], data: list[Rows]) -> list[Rows]:
    """Rows of the tables others point to first (the migration has made every foreign key already, where
    a dump adds them after its rows), each table's rows in their order; setval() last."""
    edges = {t.name: {fk.target_table for fk in t.foreign_keys} - {t.name} for t in tables}
    order: list[str] = []
    pending = [t.name for t in tables]
    while pending:
        ready = next((name for name in pending if not edges[name] & set(pending)), pending[0])
        order.append(ready)
        pending.remove(ready)
    rank = {name: index for index, name in enumerate(order)}
    return sorted(data, key=lambda rows: rank.get(rows.table or "", len(rank)))


def _statement_name(stmt: Any) -> str:
    words = re.findall(r"[A-Z][a-z]*", type(stmt).__name__.removesuffix("Stmt"))
    return " ".join(words).upper()


def carry_bound(table: Table, expr: Any) -> None:
    """`n >= 0`, `0 < n`, `length(s) <= 200` and the like (joined by AND) become JSON Schema bounds
    of the column."""
    if isinstance(expr, ast.BoolExpr) and expr.boolop == BoolExprType.AND_EXPR:
        for argument in expr.args or ():
            carry_bound(table, argument)
        return
    if not isinstance(expr, ast.A_Expr) or expr.kind != 0 or not expr.name:
        return
    op = expr.name[-1].sval
    left: Any = expr.lexpr
    right: Any = expr.rexpr
    if isinstance(left, ast.A_Const) and not isinstance(right, ast.A_Const):
        left, right = right, left
        op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
    value = getattr(getattr(right, "val", None), "ival", None)
    if op not in ("<", "<=", ">", ">=") or not isinstance(value, int) or isinstance(value, bool):
        return
    length = isinstance(left, ast.FuncCall) and _names(left.funcname)[-1] in ("length", "char_length")
    target: Any = left.args[0] if length and left.args and len(left.args) == 1 else left
    fields: Any = getattr(target, "fields", None)
    if not isinstance(target, ast.ColumnRef) or not fields or len(fields) != 1:
        return
    name = getattr(fields[0], "sval", None)
    column = next((c for c in table.columns if c.name == name), None)
    if column is None or column.type.array or (column.type.name in ("text", "varchar")) != length:
        return
    if length or column.type.name in ("smallint", "integer", "bigint"):
        keyword = ("minLength", "maxLength") if length else ("minimum", "maximum")
        if op in (">", ">="):
            column.bound(keyword[0], max(value + (op == ">"), 0))
        else:
            column.bound(keyword[1], value - (op == "<"))
