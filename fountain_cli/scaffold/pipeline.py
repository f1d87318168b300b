"""The steps of `fountain scaffold`: check everything first, then write the service, its spec, its
migration and its tests, and run the same code generation as `fountain codegen`. Any failure after
the first file is written removes what was written, so the repository is left as it was."""

import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fountain_cli.scaffold import code_writer
from fountain_cli.scaffold.json_reader import read_json
from fountain_cli.scaffold.model import Schema, SchemaError, check_schema, identifier_problems, with_owners
from fountain_cli.scaffold.spec_writer import render_spec

GENERATED_TREE = ["specs", "services", "kong", "docker-compose.yml"]
FIRST_PORT = 8101


class ScaffoldError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Plan:
    service: str
    host: str
    port: int
    schema: Schema
    files: dict[Path, str]  # new files, relative to the repository
    changed: dict[Path, str]  # existing files with their new content


DECLARED_SCHEMA = "schema.json"  # the copy of a schema.json input a scaffolded service keeps


def read_input(path: Path, kind: str, database_url: str | None = None, *, with_data: bool = False) -> Schema:
    """The input read and checked; `database_url` (default: the one `fountain db` uses) is where its
    views' columns are typed, when it has views."""
    if not path.is_file():
        raise ScaffoldError([f"{path}: no such file"])
    source = path.read_text(encoding="utf-8")
    if kind == "sql":
        from fountain_cli.scaffold.sql_reader import read_sql

        schema = read_sql(source, path.name, with_data=with_data)
    else:
        if with_data:
            raise ScaffoldError(["--with-data: schema.json declares no rows; it applies to SQL input"])
        schema = read_json(source, path.name)
    check_schema(schema)
    if schema.views:
        _type_views(schema, database_url)
    return schema


def _type_views(schema: Schema, database_url: str | None) -> None:
    """Read the views' columns from PostgreSQL (fountain_cli/scaffold/view_types.py)."""
    from sqlalchemy.exc import SQLAlchemyError

    from fountain_cli.scaffold.view_types import ViewError, read_view_columns, type_views
    from fountain_common.database import async_database_url
    from fountain_common.settings import get_settings

    try:
        url = database_url or async_database_url(get_settings())
        columns = read_view_columns(code_writer.migration_statements(schema), url)
    except ViewError as error:
        raise ScaffoldError([f"reading the views' columns: {error}"]) from error
    except (OSError, SQLAlchemyError) as error:  # no database to run them in
        raise ScaffoldError(
            [f"reading the views' columns needs a PostgreSQL (FOUNTAIN_DATABASE_URL, or the embedded one): {error}"]
        ) from error
    type_views(schema, columns)


def existing_services(root: Path) -> list[str]:
    return sorted(p.parent.name for p in (root / "services").glob("*/service.py"))


def next_port(root: Path) -> int:
    ports = [int(m) for p in (root / "services").glob("*/service.py") for m in re.findall(r"port=(\d+)", p.read_text())]
    return max(ports, default=FIRST_PORT - 1) + 1


def dirty_files(root: Path) -> list[str]:
    present = [p for p in GENERATED_TREE if (root / p).exists()]
    result = subprocess.run(
        ["git", "status", "--porcelain", "--", *present], cwd=root, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ScaffoldError([f"cannot read the git status of {root}: {result.stderr.strip()}"])
    return [line for line in result.stdout.splitlines() if line.strip()]


def name_problems(root: Path, service: str) -> list[str]:
    problems = identifier_problems(service, "service name")
    if service in existing_services(root):
        problems.append(f"service name: {service!r} exists already (services/{service}/)")
    else:
        for taken in (f"services/{service}", f"specs/{service}.yaml", f"tests/{service}"):
            if (root / taken).exists():
                problems.append(f"service name: {taken} exists already")
    return problems


def path_problems(root: Path, schema: Schema, own: str | None = None) -> list[str]:
    """A table whose path another service serves: the gateway tells them apart by host, but the
    merged OpenAPI document (`fountain export-openapi`) needs every path once. `own`: the service
    the schema is of, whose paths are its own."""
    import yaml

    from fountain_cli.scaffold.spec_writer import collection_path

    served = {}
    for spec in sorted((root / "specs").glob("*.yaml")):
        if spec.stem == own:
            continue
        for path in yaml.safe_load(spec.read_text(encoding="utf-8")).get("paths", {}):
            served[path] = spec.stem
    return [
        f"{table.where}table {table.name}: its path {collection_path(table)} is served by {served[collection_path(table)]} "
        "already; name the table differently"
        for table in schema.served
        if collection_path(table) in served
    ]


def with_independence(pyproject: str, service: str) -> str:
    """The import-linter independence contract of pyproject.toml, with the new service listed."""
    match = re.search(r'type = "independence"\nmodules = \[\n((?:    "[^"]+",\n)*)\]', pyproject)
    if match is None:
        raise ScaffoldError(["pyproject.toml: the import-linter independence contract was not found"])
    modules = match.group(1) + f'    "services.{service}",\n'
    return pyproject[: match.start(1)] + modules + pyproject[match.end(1) :]


def with_contract_settings(toml: str, service: str, schema: Schema) -> str:
    from fountain_cli.scaffold.model import pascal

    ids = [
        operation
        for t in schema.served
        for verb in ("create", "update", "upsert", "create{}Batch", "update{}Where", "delete{}Where")
        for operation in [verb.format(pascal(t.name)) if "{}" in verb else verb + pascal(t.name)]
    ]
    # A full-text filter's query can be malformed (rock &): 400 to a schema-valid list or change.
    ids += [
        f"{verb}{pascal(t.name)}{tail}"
        for t in schema.served
        if any(c.type.name == "tsvector" and not c.type.array for c in t.columns)
        for verb, tail in (("list", ""), ("delete", "Where"))
    ]
    # A date or time filter may name 29 February of a year that has none, which the pattern lets
    # through (it is checked later): 400 to a schema-valid list.
    ids += [
        f"list{pascal(t.name)}"
        for t in schema.served
        if any(c.type.name in ("date", "timestamp", "timestamptz") and not c.type.array for c in t.columns)
        and f"list{pascal(t.name)}" not in ids
    ]
    return (
        toml.rstrip("\n")
        + f"""

# {service}: a schema-valid row can still name a missing referenced row (400), repeat a unique
# value (409) or break a CHECK constraint (400); an upsert's rows must give the same fields, and a
# change or delete by filter names a filter or allRows=true (400), a full-text filter may not parse
# and a date filter may name 29 February of a year without one (400); those answers are right, and
# declared.
[[operations]]
include-operation-id = {ids!r}
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404", "409"]
""".replace("'", '"')
    )


def plan(
    root: Path,
    service: str,
    input_path: Path,
    kind: str,
    database_url: str | None = None,
    *,
    with_data: bool = False,
    auth: bool = False,
) -> Plan:
    problems = name_problems(root, service)
    dirty = dirty_files(root)
    if dirty:
        problems.append(
            "the generated tree (specs/ services/ kong/ docker-compose.yml) has uncommitted changes; commit or "
            "stash them first:\n  " + "\n  ".join(dirty)
        )
    try:
        schema = read_input(input_path, kind, database_url, with_data=with_data)
    except SchemaError as error:
        problems += error.problems
        schema = Schema([])
    if auth:
        problems += with_owners(schema)
    problems += path_problems(root, schema)
    if problems:
        raise ScaffoldError(problems)
    host = service.replace("_", "-") + ".fountain.coach"
    port = next_port(root)
    origin = input_path.name
    package = Path("services") / service
    files = {
        package / "__init__.py": "",
        package / "service.py": code_writer.render_service(service, host, port),
        package / "migrations" / "0001_initial_tables.py": code_writer.render_migration(service, schema, origin),
        **derived_files(service, host, port, schema, origin),
    }
    if schema.data:
        files[package / "migrations" / "0002_data.py"] = code_writer.render_data_migration(service, schema, origin)
        files[package / "migrations" / code_writer.DATA_FILE] = code_writer.render_data(schema)
    elif with_data:
        schema.notes.append(f"{origin}: --with-data, but the input holds no rows (INSERT or COPY ... FROM stdin)")
    if kind == "json":
        # The declared schema, kept as given: `fountain studio services/NAME` opens it.
        files[package / DECLARED_SCHEMA] = input_path.read_text(encoding="utf-8")
    changed = {
        Path("pyproject.toml"): with_independence((root / "pyproject.toml").read_text(), service),
        Path("schemathesis.toml"): with_contract_settings((root / "schemathesis.toml").read_text(), service, schema),
    }
    _check_spec(files[Path("specs") / f"{service}.yaml"], service, host)
    return Plan(service, host, port, schema, files, changed)


def derived_files(service: str, host: str, port: int, schema: Schema, origin: str) -> dict[Path, str]:
    """What the scaffold derives from the schema and writes again when it changes: the spec, the tables,
    the operations and the service's tests (the generated models and routes come from the spec)."""
    package = Path("services") / service
    files = {
        Path("specs") / f"{service}.yaml": render_spec(service, host, port, schema),
        package / "tables.py": code_writer.render_tables(service, schema, origin),
        package / "operations.py": code_writer.render_operations(service, schema),
    }
    for name, text in code_writer.render_tests(service, schema).items():
        files[Path("tests") / service / name] = text
    return files


def without_contract_settings(toml: str, service: str) -> str:
    """schemathesis.toml less the block `with_contract_settings` added for `service`."""
    block = re.compile(
        rf"\n\n# {re.escape(service)}: a schema-valid row .*?\n\[\[operations\]\]\n.*?expected-statuses = [^\n]*\n",
        re.S,
    )
    return block.sub("\n", toml, count=1)


def _check_spec(text: str, service: str, host: str) -> None:
    from fountain_cli.spec_rules import check_spec

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / f"{service}.yaml"
        spec.write_text(text)
        findings = check_spec(spec, host)
    if findings:
        raise ScaffoldError([f"the spec written for this input breaks a rule: {f}" for f in findings])


def run(command: list[str], root: Path) -> None:
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ScaffoldError([f"`{' '.join(command[2:])}` failed:\n{result.stdout}{result.stderr}".rstrip()])


def apply(root: Path, planned: Plan, step: Callable[[str], None]) -> None:
    """Write the plan, format the Python files, and generate the code; undo everything on failure."""
    originals = {path: (root / path).read_text() for path in planned.changed}
    written: list[Path] = []
    try:
        step(f"writing specs/{planned.service}.yaml, services/{planned.service}/ and tests/{planned.service}/")
        for path, text in planned.files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text)
            written.append(path)
        for path, text in planned.changed.items():
            (root / path).write_text(text)
        python_files = [str(p) for p in planned.files if p.suffix == ".py"]
        step("formatting the Python files (ruff)")
        run([sys.executable, "-m", "ruff", "format", "--quiet", "--no-cache", *python_files], root)
        run([sys.executable, "-m", "ruff", "check", "--quiet", "--no-cache", "--fix", *python_files], root)
        step(f"generating models and routers (fountain codegen {planned.service})")
        run([sys.executable, "-m", "fountain_cli.main", "codegen", planned.service], root)
    except BaseException:
        for path, text in originals.items():
            (root / path).write_text(text)
        for folder in (Path("services") / planned.service, Path("tests") / planned.service):
            _remove_tree(root / folder)
        for path in written:
            (root / path).unlink(missing_ok=True)
        raise


def _remove_tree(folder: Path) -> None:
    import shutil

    if folder.exists():
        shutil.rmtree(folder)
