"""CREATE TABLE statements in PostgreSQL syntax -> the neutral schema model, through PostgreSQL's own
parser (pglast). Anything the model cannot carry faithfully is refused, naming the line."""

from typing import Any

from pglast import ast, parse_sql
from pglast.enums.parsenodes import ConstrType
from pglast.parser import ParseError
from pglast.stream import RawStream

from fountain_cli.scaffold.model import Check, Column, ColumnType, ForeignKey, Schema, SchemaError, Table

# PostgreSQL's internal type names (after the parser's normalisation) -> the model's types.
TYPE_NAMES = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "text": "text",
    "varchar": "varchar",
    "bool": "boolean",
    "uuid": "uuid",
    "timestamptz": "timestamptz",
    "date": "date",
}
SERIALS = {
    "smallserial": "smallint",
    "serial": "integer",
    "serial4": "integer",
    "bigserial": "bigint",
    "serial8": "bigint",
}
FK_ACTIONS = {"a": None, "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
# Defaults that are constants or the clock: anything else (another column, a sequence, a function
# of the row) would not mean the same once the API writes the rows.
DEFAULT_FUNCTIONS = {"now", "gen_random_uuid", "current_timestamp", "current_date"}


def line_of(source: str, location: int) -> int:
    return source.count("\n", 0, max(location, 0)) + 1


def read_sql(source: str, origin: str = "input") -> Schema:
    try:
        statements = parse_sql(source)
    except ParseError as error:
        location = error.args[1] if len(error.args) > 1 else 0
        raise SchemaError([f"{origin}:{line_of(source, location)}: SQL syntax error: {error.args[0]}"]) from error
    tables: list[Table] = []
    problems: list[str] = []
    for raw in statements:
        where = f"{origin}:{line_of(source, raw.stmt_location or 0)}: "
        stmt: Any = raw.stmt
        if not isinstance(stmt, ast.CreateStmt):
            problems.append(f"{where}only CREATE TABLE statements are read; found {type(stmt).__name__}")
            continue
        reader = _TableReader(stmt, where, source)
        tables.append(reader.table)
        problems += reader.problems
    if problems:
        raise SchemaError(problems)
    # REFERENCES t without a column means t's primary key.
    keys = {t.name: t.primary_key[0] for t in tables if len(t.primary_key) == 1}
    for table in tables:
        for fk in table.foreign_keys:
            fk.target_column = fk.target_column or keys.get(fk.target_table, "")
    return Schema(tables)


def _deparse(node: Any) -> str:
    return str(RawStream()(node))


def _names(nodes: Any) -> list[str]:
    return [n.sval for n in nodes or ()]


class _TableReader:
    def __init__(self, stmt: Any, where: str, source: str) -> None:
        self.problems: list[str] = []
        self.source = source
        relation = stmt.relation
        self.table = Table(name=relation.relname, where=where)
        self.check_expressions: list[Any] = []
        if relation.schemaname:
            self.fail(
                f"table {relation.relname}: a schema name ({relation.schemaname}) is not carried; "
                "the service's own schema holds its tables"
            )
        if stmt.inhRelations or stmt.partspec or stmt.ofTypename:
            self.fail(f"table {relation.relname}: inheritance, partitions and typed tables are not supported")
        if relation.relpersistence != "p":
            self.fail(f"table {relation.relname}: temporary and unlogged tables are not carried")
        if stmt.options or stmt.tablespacename or stmt.accessMethod:
            self.fail(f"table {relation.relname}: storage options, tablespaces and access methods are not carried")
        for element in stmt.tableElts or ():
            if isinstance(element, ast.ColumnDef):
                self.column(element)
            elif isinstance(element, ast.Constraint):
                self.constraint(element, None)
            else:
                self.fail(f"table {relation.relname}: {type(element).__name__} is not supported")
        for expression in self.check_expressions:
            self.carry_bound(expression)

    def fail(self, message: str) -> None:
        self.problems.append(f"{self.table.where}{message}")

    def column(self, node: Any) -> None:
        name = node.colname
        at = f"table {self.table.name}, column {name}"
        type_names = [n for n in _names(node.typeName.names) if n != "pg_catalog"]
        type_name = type_names[-1] if type_names else ""
        modifiers: list[int] = [
            getattr(m.val, "ival", 0) for m in node.typeName.typmods or () if isinstance(m, ast.A_Const)
        ]
        column = Column(name=name, type=ColumnType("text"), where=self.table.where)
        if node.collClause:
            self.fail(f"{at}: a collation is not carried")
        if node.typeName.arrayBounds:
            self.fail(f"{at}: array types are not supported")
        elif type_name in SERIALS:
            column.type, column.generated, column.nullable = ColumnType(SERIALS[type_name]), "serial", False
        elif type_name == "varchar":
            column.type = ColumnType("varchar", modifiers[0] if modifiers else None)
        elif type_name in TYPE_NAMES and not modifiers:
            column.type = ColumnType(TYPE_NAMES[type_name])
        elif type_name == "timestamp":
            self.fail(f"{at}: timestamp without time zone is not carried; use timestamptz")
        else:
            shown = _deparse(node.typeName)
            self.fail(
                f"{at}: type {shown} is not supported (supported: smallint, integer, bigint, serial, "
                "bigserial, text, varchar(n), boolean, uuid, timestamptz, date)"
            )
        self.table.columns.append(column)
        for constraint in node.constraints or ():
            self.constraint(constraint, column)

    def constraint(self, node: Any, column: Column | None) -> None:
        kind = node.contype
        at = f"table {self.table.name}" + (f", column {column.name}" if column else "")
        columns = [column.name] if column else _names(node.keys)
        if node.deferrable or node.initdeferred:
            self.fail(f"{at}: deferrable constraints are not supported")
        if node.nulls_not_distinct or node.skip_validation or node.is_no_inherit:
            self.fail(f"{at}: NULLS NOT DISTINCT, NOT VALID and NO INHERIT are not carried")
        if kind == ConstrType.CONSTR_NOTNULL and column:
            column.nullable = False
        elif kind == ConstrType.CONSTR_NULL:
            pass
        elif kind == ConstrType.CONSTR_DEFAULT and column:
            self.default(node.raw_expr, column, at)
        elif kind == ConstrType.CONSTR_IDENTITY and column:
            column.generated = "identity_always" if node.generated_when == "a" else "identity"
            column.nullable = False
            if node.options:
                self.fail(f"{at}: identity sequence options are not carried")
        elif kind == ConstrType.CONSTR_PRIMARY:
            if self.table.primary_key:
                self.fail(f"{at}: a second primary key")
            self.table.primary_key = columns
            for name in columns:
                for declared in self.table.columns:
                    if declared.name == name:
                        declared.nullable = False
            self.named(node, "pkey")
        elif kind == ConstrType.CONSTR_UNIQUE:
            self.table.uniques.append((columns, node.conname))
        elif kind == ConstrType.CONSTR_FOREIGN:
            self.foreign_key(node, columns, at)
        elif kind == ConstrType.CONSTR_CHECK:
            self.table.checks.append(Check(_deparse(node.raw_expr), node.conname))
            self.check_expressions.append(node.raw_expr)
        else:
            self.fail(f"{at}: constraint {ConstrType(kind).name} is not supported")

    def carry_bound(self, expr: Any) -> None:
        """`n >= 0`, `0 < n`, `length(s) <= 200` and the like become JSON Schema bounds of the column."""
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
        column = next((c for c in self.table.columns if c.name == name), None)
        if column is None or (column.type.name in ("text", "varchar")) != length:
            return
        if length or column.type.name in ("smallint", "integer", "bigint"):
            keyword = ("minLength", "maxLength") if length else ("minimum", "maximum")
            if op in (">", ">="):
                column.bound(keyword[0], max(value + (op == ">"), 0))
            else:
                column.bound(keyword[1], value - (op == "<"))

    def named(self, node: Any, suffix: str) -> None:
        if node.conname and node.conname != f"{self.table.name}_{suffix}":
            self.fail(f"table {self.table.name}: the primary key name {node.conname} is not carried")

    def default(self, expr: Any, column: Column, at: str) -> None:
        sql = _deparse(expr)
        kinds = set(_node_kinds(expr))
        functions = set(_function_names(expr))
        if "ColumnRef" in kinds or "SubLink" in kinds or not functions <= DEFAULT_FUNCTIONS:
            self.fail(f"{at}: default {sql} is not a constant, now() or gen_random_uuid(); it cannot be carried")
        else:
            column.default = sql

    def foreign_key(self, node: Any, columns: list[str], at: str) -> None:
        targets = _names(node.pk_attrs)
        if len(columns) != 1 or len(targets) > 1:
            self.fail(f"{at}: foreign keys of several columns are not supported")
            return
        if node.pktable.schemaname:
            self.fail(f"{at}: a foreign key to another schema ({node.pktable.schemaname}) cannot be carried")
        if node.fk_upd_action not in ("a", "\x00", ""):
            self.fail(f"{at}: ON UPDATE actions are not carried")
        target_table = node.pktable.relname
        target_column = targets[0] if targets else ""
        self.table.foreign_keys.append(
            ForeignKey(columns[0], target_table, target_column, FK_ACTIONS.get(node.fk_del_action), node.conname)
        )


def _nodes(node: Any) -> list[Any]:
    """`node` and every node below it."""
    if isinstance(node, tuple | list):
        return [found for item in node for found in _nodes(item)]
    if not isinstance(node, ast.Node):
        return []
    return [node, *(found for name in node for found in _nodes(getattr(node, name)))]


def _node_kinds(node: Any) -> list[str]:
    return [type(n).__name__ for n in _nodes(node)]


def _function_names(node: Any) -> list[str]:
    return [_names(n.funcname)[-1].lower() for n in _nodes(node) if isinstance(n, ast.FuncCall)]
