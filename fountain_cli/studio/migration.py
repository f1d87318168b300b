"""The next Alembic migration of a scaffolded service, for the schema edited in the studio.

The service's migrations are applied to a throwaway database on an embedded PostgreSQL, and Alembic's
autogenerate compares what they made with the tables the edited schema declares, through the shared
migration environment (the service's own schema, version table and search path). Writing it puts the
revision in the service's migrations folder and writes again what the scaffold derives from the schema,
so the service serves what it now stores; nothing stays written when a step fails."""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.operations import ops
from alembic.script import Script, ScriptDirectory
from sqlalchemy import CheckConstraint, Column, MetaData, text, types
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from fountain_cli.scaffold.model import Schema
from fountain_cli.scaffold.pipeline import (
    DECLARED_SCHEMA,
    ScaffoldError,
    derived_files,
    run,
    with_contract_settings,
    without_contract_settings,
)
from fountain_cli.studio import document as schema_document
from fountain_common.embedded_postgres import embedded_url, ensure_server
from fountain_common.migrations import history_config


@dataclass
class MigrationPlan:
    service: str
    revision: str
    filename: str  # in the service's migrations folder
    script: str  # the revision's Python text, as it is written
    steps: list[str]  # each change, in plain words
    drops: list[str] = field(default_factory=list)  # the steps that lose data
    schema: Schema | None = None

    @property
    def empty(self) -> bool:
        return not self.steps


class ScratchDatabase:
    """Throwaway databases on an embedded PostgreSQL whose data lives in `data_dir` (a temporary folder
    of the studio's own unless given); each comparison gets a new database, dropped afterwards."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self._given = data_dir
        self._data_dir = data_dir

    def data_dir(self) -> Path:
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="fountain-studio-pg-"))
        return self._data_dir

    def create(self) -> tuple[str, str]:
        """(name, SQLAlchemy URL) of a new, empty database."""
        name = f"studio_{uuid.uuid4().hex[:12]}"
        return name, embedded_url(self.data_dir(), name)

    def drop(self, name: str) -> None:
        ensure_server(self.data_dir()).psql(f'DROP DATABASE IF EXISTS "{name}";')

    def close(self) -> None:
        """Stop the server and remove its data, when the folder is the studio's own."""
        if self._given is None and self._data_dir is not None:
            from fountain_common.embedded_postgres import stop_server

            stop_server(self._data_dir)
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None


def service_address(folder: Path) -> tuple[str, int]:
    """The host and port the service's service.py declares (the scaffold wrote them)."""
    text = (folder / "service.py").read_text(encoding="utf-8")
    host, port = re.search(r'host="([^"]+)"', text), re.search(r"port=(\d+)", text)
    if host is None or port is None:
        raise ScaffoldError([f"{folder / 'service.py'}: its host and port were not found"])
    return host.group(1), int(port.group(1))


def _next_revision(scripts: ScriptDirectory) -> str | None:
    """The scaffold numbers revisions 0001, 0002, ...; the next number, or Alembic's own id otherwise."""
    head = scripts.get_current_head()
    if head is None:
        return "0001"
    return str(int(head) + 1).zfill(len(head)) if head.isdigit() else None


def _walk(operations: Iterable[ops.MigrateOperation]) -> Iterable[ops.MigrateOperation]:
    for operation in operations:
        if isinstance(operation, ops.OpContainer):
            yield from _walk(operation.ops)
        else:
            yield operation


def _type_text(kind: Any) -> str:
    return str(kind.compile()) if kind is not None else "?"


def _width(kind: types.Integer) -> int:
    """Integer types by width (reflected ones are subclasses: BIGINT of BigInteger)."""
    return 3 if isinstance(kind, types.BigInteger) else 1 if isinstance(kind, types.SmallInteger) else 2


def _widens(old: Any, new: Any) -> bool:
    """Whether every value of type `old` is a value of type `new`."""
    if isinstance(old, types.Integer) and isinstance(new, types.Integer):
        return _width(new) >= _width(old)
    if isinstance(old, types.String) and isinstance(new, types.String):
        if isinstance(new, types.Text) or new.length is None:
            return True
        return old.length is not None and not isinstance(old, types.Text) and new.length >= old.length
    if isinstance(old, types.Numeric) and isinstance(new, types.Numeric):
        if new.precision is None:
            return True
        if old.precision is None:
            return False
        return (new.scale or 0) >= (old.scale or 0) and new.precision - (new.scale or 0) >= old.precision - (
            old.scale or 0
        )
    return False


def describe(operation: ops.MigrateOperation) -> tuple[str, bool]:
    """One change in plain words, and whether it loses data."""
    if isinstance(operation, ops.CreateTableOp):
        return f"create table {operation.table_name}", False
    if isinstance(operation, ops.DropTableOp):
        return f"drop table {operation.table_name} and every row in it", True
    if isinstance(operation, ops.AddColumnOp):
        return f"add column {operation.table_name}.{operation.column.name}", False
    if isinstance(operation, ops.DropColumnOp):
        return f"drop column {operation.table_name}.{operation.column_name} and its values", True
    if isinstance(operation, ops.AlterColumnOp):
        where = f"{operation.table_name}.{operation.column_name}"
        if operation.modify_type is not None:
            old, new = operation.existing_type, operation.modify_type
            narrowing = not _widens(old, new)
            change = f"change column {where} from {_type_text(old)} to {_type_text(new)}"
            return (
                (change + " (a value the new type cannot hold fails or is cut)", True)
                if narrowing
                else (
                    change,
                    False,
                )
            )
        if operation.modify_nullable is False:
            default = operation.modify_server_default or operation.existing_server_default
            if not default:
                return f"make column {where} required, with no default for the rows that have none", True
            return f"make column {where} required", False
        if operation.modify_nullable is True:
            return f"let column {where} be empty", False
        if operation.modify_server_default is not False:
            return f"change the default of column {where}", False
        if operation.modify_comment is not False:
            return f"change the description of column {where}", False
        return f"change column {where}", False
    if isinstance(operation, ops.CreateIndexOp):
        return f"create index {operation.index_name} on {operation.table_name}", False
    if isinstance(operation, ops.DropIndexOp):
        return f"drop index {operation.index_name}", False
    if isinstance(operation, ops.AddConstraintOp):
        constraint = operation.to_constraint()
        kind = type(constraint).__name__.removesuffix("Constraint").lower()
        table = getattr(constraint, "table", None)
        return f"add {kind} constraint {constraint.name or ''} on {table.name if table is not None else '?'}", False
    if isinstance(operation, ops.DropConstraintOp):
        return f"drop constraint {operation.constraint_name} of {operation.table_name}", False
    return type(operation).__name__.removesuffix("Op"), False


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def add_enum_types(script: ops.MigrationScript, existing: set[str]) -> tuple[list[str], list[str]]:
    """The enum types a new table or field uses that the database lacks: the scaffold's tables leave
    creating them to the migration (create_type=False), so the revision creates them first and its
    downgrade drops them last. Answers (the steps, in words; the problems: a field changed to a new
    enum type, which needs its values converted by hand)."""
    upgrade, downgrade = script.upgrade_ops, script.downgrade_ops
    assert upgrade is not None and downgrade is not None
    new: dict[str, list[str]] = {}
    problems = []
    for operation in _walk(upgrade.ops):
        if isinstance(operation, ops.CreateTableOp):
            columns = [(operation.table_name, c) for c in operation.columns if isinstance(c, Column)]
        elif isinstance(operation, ops.AddColumnOp):
            columns = [(operation.table_name, operation.column)]
        elif isinstance(operation, ops.AlterColumnOp) and isinstance(operation.modify_type, types.Enum):
            problems.append(
                f"table {operation.table_name}: field {operation.column_name}: changing a field to an enum type "
                "needs its values converted, which a migration from the studio does not do"
            )
            continue
        else:
            continue
        for _, column in columns:
            kind = column.type
            if isinstance(kind, types.Enum) and kind.name and kind.name not in existing:
                new.setdefault(kind.name, list(kind.enums))
    for name, labels in reversed(new.items()):
        upgrade.ops.insert(0, ops.ExecuteSQLOp(f"CREATE TYPE {name} AS ENUM ({', '.join(map(_sql_literal, labels))})"))
    downgrade.ops.extend(ops.ExecuteSQLOp(f"DROP TYPE {name}") for name in new)
    return [f"create enum type {name} ({', '.join(labels)})" for name, labels in new.items()], problems


def _declared_checks(metadata: MetaData) -> dict[tuple[str, str], str]:
    """(table, name) -> condition of each CHECK the edited tables declare (the scaffold names them all)."""
    return {
        (table.name, constraint.name): str(constraint.sqltext)
        for table in metadata.tables.values()
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint) and isinstance(constraint.name, str)
    }


def _condition(definition: str) -> str:
    """pg_get_constraintdef's `CHECK ((price >= 0))` -> `(price >= 0)`."""
    return definition.removesuffix(" NOT VALID").removeprefix("CHECK (").removesuffix(")")


def add_checks(
    bind: Connection, service: str, metadata: MetaData, script: ops.MigrationScript
) -> tuple[list[tuple[str, bool]], list[str]]:
    """Alembic's autogenerate does not compare CHECK constraints: those of the tables the database has
    and the schema keeps are compared here by name, and a condition by PostgreSQL's own text of it. A
    check gone is dropped first (before a column it names), a new one added last; the downgrade does
    the reverse. Answers the steps, in words, and the problems: a condition PostgreSQL refuses."""
    upgrade, downgrade = script.upgrade_ops, script.downgrade_ops
    assert upgrade is not None and downgrade is not None
    found = bind.execute(
        text(
            "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
            "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND k.contype = 'c' ORDER BY c.relname, k.conname"
        ),
        {"schema": service},
    )
    existing = {(table, name): definition for table, name, definition in found}
    tables = {
        row[0]
        for row in bind.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')"
            ),
            {"schema": service},
        )
    }
    kept = tables & {table.name for table in metadata.tables.values()}
    declared = {key: sql for key, sql in _declared_checks(metadata).items() if key[0] in kept}
    # Each declared condition as PostgreSQL writes it back, from a copy of its table that is undone:
    # one PostgreSQL refuses (a field compared with a value of another type) is a problem here.
    written: dict[tuple[str, str], str] = {}
    problems: list[str] = []
    for table, name in declared:
        probe = f"studio_probe_{table}"[:63]
        savepoint = bind.begin_nested()
        try:
            bind.execute(text(f'CREATE TEMP TABLE "{probe}" (LIKE "{service}"."{table}")'))
            bind.execute(text(f'ALTER TABLE "{probe}" ADD CONSTRAINT "{name}" CHECK ({declared[(table, name)]})'))
            written[(table, name)] = bind.execute(
                text(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = CAST(:t AS regclass) AND contype = 'c'"
                ),
                {"t": f'"{probe}"'},
            ).scalar_one()
        except DBAPIError as error:
            reason = str(getattr(error.orig, "args", [error])[0]).splitlines()[0]
            problems.append(f"table {table}: check {name}: PostgreSQL refuses it: {reason}")
        finally:
            savepoint.rollback()
    gone = [key for key in existing if key[0] in kept and (key not in declared or written.get(key) != existing[key])]
    new = sorted(key for key in declared if key not in existing or written.get(key) != existing[key])
    steps: list[tuple[str, bool]] = []
    if problems:
        return steps, problems
    for table, name in gone:
        upgrade.ops.insert(0, ops.DropConstraintOp(name, table, type_="check", schema=service))
        downgrade.ops.append(
            ops.CreateCheckConstraintOp(name, table, _condition(existing[(table, name)]), schema=service)
        )
        steps.append((f"drop check {name} of {table}: {_condition(existing[(table, name)])}", False))
    for table, name in new:
        upgrade.ops.append(ops.CreateCheckConstraintOp(name, table, declared[(table, name)], schema=service))
        downgrade.ops.insert(0, ops.DropConstraintOp(name, table, type_="check", schema=service))
        steps.append(
            (
                f"add check {name} on {table}: {declared[(table, name)]} (a row that breaks it fails the migration)",
                False,
            )
        )
    return steps, problems


def preview(
    root: Path, service: str, document: Any, scratch: ScratchDatabase, message: str | None = None
) -> MigrationPlan:
    """The next migration of `service` (in `root`) to the tables `document` declares; raises
    ScaffoldError with the problems when there is none to write."""
    folder = root / "services" / service
    schema = schema_document.parse(document, DECLARED_SCHEMA)
    _, port = service_address(folder)
    metadata = schema_document.definition(schema, service, port).metadata
    name, url = scratch.create()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            history = Path(tmp) / "migrations"
            shutil.copytree(folder / "migrations", history, ignore=shutil.ignore_patterns("__pycache__"))
            config = history_config(history, service, metadata, url)
            config.cmd_opts = argparse.Namespace(quiet=True)  # no "Generating ..." on the studio's console
            try:
                command.upgrade(config, "head")
            except Exception as error:  # a migration of the service's own that does not run
                raise ScaffoldError([f"services/{service}/migrations: applying them failed: {error}"]) from error
            described: list[tuple[str, bool]] = []
            refused: list[str] = []

            def inspect_changes(context: Any, revision: Any, directives: list[ops.MigrationScript]) -> None:
                upgrade = directives[0].upgrade_ops
                changes = list(_walk(upgrade.ops)) if upgrade is not None else []
                described.extend(describe(o) for o in changes)
                checks, check_problems = add_checks(context.bind, service, metadata, directives[0])
                described.extend(checks)
                refused.extend(check_problems)
                found = context.bind.execute(
                    text(
                        "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                        "WHERE n.nspname = :schema"
                    ),
                    {"schema": service},
                )
                if changes or checks:
                    created, problems = add_enum_types(directives[0], {row[0] for row in found})
                    described[:0] = [(words, False) for words in created]
                    refused.extend(problems)
                if not (changes or checks) or refused:
                    directives.clear()  # nothing to write
                elif message is None:
                    directives[0].message = _summary([words for words, _ in described])

            try:
                script = command.revision(
                    config,
                    message=message,
                    autogenerate=True,
                    rev_id=_next_revision(ScriptDirectory.from_config(config)),
                    process_revision_directives=inspect_changes,
                )
            except SQLAlchemyError as error:
                raise ScaffoldError([f"comparing the tables of {service}: {error}"]) from error
            if refused:
                raise ScaffoldError(refused)
            if not described or not isinstance(script, Script):
                raise ScaffoldError(
                    [f"services/{service}: its tables are as the schema declares them already; no migration to write"]
                )
            path = Path(script.path)
            _format(path, root)
            return MigrationPlan(
                service=service,
                revision=script.revision,
                filename=path.name,
                script=path.read_text(encoding="utf-8"),
                steps=[words for words, _ in described],
                drops=[words for words, loses in described if loses],
                schema=schema,
            )
    finally:
        scratch.drop(name)


def _summary(steps: list[str]) -> str:
    """The revision's message (its docstring's first line and its file name): what it changes."""
    words = "; ".join(steps)
    return words if len(words) <= 72 else f"{steps[0]} and {len(steps) - 1} more change(s)"


def _format(path: Path, root: Path) -> None:
    """As the repository's checks want it (the scaffold formats what it writes the same way)."""
    run([sys.executable, "-m", "ruff", "format", "--quiet", "--no-cache", str(path)], root)
    run([sys.executable, "-m", "ruff", "check", "--quiet", "--no-cache", "--fix", str(path)], root)


def write(root: Path, planned: MigrationPlan, declared_text: str, step: Any) -> list[str]:
    """Write the migration, the declared schema and what the scaffold derives from it; answers the
    files written (relative to `root`). Everything is put back as it was when a step fails."""
    assert planned.schema is not None
    service = planned.service
    folder = Path("services") / service
    host, port = service_address(root / folder)
    files = {
        folder / "migrations" / planned.filename: planned.script,
        folder / DECLARED_SCHEMA: declared_text,
        **derived_files(service, host, port, planned.schema, DECLARED_SCHEMA),
    }
    settings = Path("schemathesis.toml")
    files[settings] = with_contract_settings(
        without_contract_settings((root / settings).read_text(encoding="utf-8"), service), service, planned.schema
    )
    generated = root / folder / "generated"
    with tempfile.TemporaryDirectory() as tmp:
        kept = Path(tmp) / "generated"
        if generated.exists():
            shutil.copytree(generated, kept)
        originals = {path: (root / path).read_bytes() for path in files if (root / path).exists()}
        try:
            step(f"writing services/{service}/migrations/{planned.filename}, the schema, spec, tables and tests")
            for path, text in files.items():
                (root / path).parent.mkdir(parents=True, exist_ok=True)
                (root / path).write_text(text, encoding="utf-8")
            python_files = [str(p) for p in files if p.suffix == ".py"]
            step("formatting the Python files (ruff)")
            run([sys.executable, "-m", "ruff", "format", "--quiet", "--no-cache", *python_files], root)
            run([sys.executable, "-m", "ruff", "check", "--quiet", "--no-cache", "--fix", *python_files], root)
            step(f"generating models and routers (fountain codegen {service})")
            run([sys.executable, "-m", "fountain_cli.main", "codegen", service], root)
        except BaseException:
            for path in files:
                if path in originals:
                    (root / path).write_bytes(originals[path])
                else:
                    (root / path).unlink(missing_ok=True)
            if kept.exists():
                shutil.rmtree(generated, ignore_errors=True)
                shutil.copytree(kept, generated)
            raise
    return sorted(str(p) for p in files)


def unsaved_changes(root: Path, service: str) -> list[str]:
    """Uncommitted changes (git status lines) to the files a migration writes again: the declared schema
    aside, which Save writes."""
    paths = [f"services/{service}", f"specs/{service}.yaml", f"tests/{service}", "schemathesis.toml"]
    result = subprocess.run(
        ["git", "status", "--porcelain", "--", *paths], cwd=root, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ScaffoldError([f"cannot read the git status of {root}: {result.stderr.strip()}"])
    declared = f"services/{service}/{DECLARED_SCHEMA}"
    return [line for line in result.stdout.splitlines() if line.strip() and not line.endswith(declared)]
