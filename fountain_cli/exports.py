"""`fountain export-ddl`, `export-openapi` and `export-docs`: the services' tables, contracts and
documentation in the forms other tools read. Every output is deterministic: the same repository
gives the same bytes."""

import copy
import json
import re
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import yaml
from sqlalchemy import BLANK_SCHEMA, JSON, Column, Integer, MetaData, Table, Uuid, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.schema import CheckConstraint, CreateIndex, CreateSchema, CreateTable, DefaultClause, UniqueConstraint

from fountain_cli import registry
from fountain_cli.db import selected_services
from fountain_common.service import REPO_ROOT, ServiceDefinition

DIALECTS: dict[str, Dialect] = {
    name: make_url(f"{name}://").get_dialect()() for name in ("postgresql", "sqlite", "mssql")
}
# PostgreSQL functions in server defaults, as the other dialects write them (None: no default there).
PORTABLE_DEFAULTS: dict[str, dict[str, str | None]] = {
    "sqlite": {"now()": "CURRENT_TIMESTAMP", "gen_random_uuid()": None, "current_date": "CURRENT_DATE"},
    "mssql": {
        "now()": "SYSDATETIMEOFFSET()",
        "gen_random_uuid()": "NEWID()",
        "current_date": "CAST(GETDATE() AS DATE)",
    },
}

ServiceArg = Annotated[
    Optional[str],
    typer.Argument(help="One service (e.g. central_sequence); all of them when left out.", show_default=False),
]


# --- DDL -------------------------------------------------------------------------------------------


def _default_sql(column: Column[Any]) -> str | None:
    default = column.server_default
    if not isinstance(default, DefaultClause):
        return None
    arg = default.arg
    if isinstance(arg, str):
        return arg
    return str(arg.compile(dialect=DIALECTS["postgresql"])) if hasattr(arg, "compile") else None


CAST = re.compile(r"::[a-z_]+( [a-z]+)*")
# PostgreSQL's JSON functions (a JSONB column's shape): no other dialect has them under these names.
POSTGRES_JSON = re.compile(r"\bjsonb?_[a-z_]+\(")
NUM_NONNULLS = re.compile(r"num_nonnulls\(([a-z_][a-z0-9_]*(?:\s*,\s*[a-z_][a-z0-9_]*)*)\)")


def unportable_reason(sql: str, service: ServiceDefinition, dialect: str) -> str | None:
    """Why a CHECK cannot be written in `dialect`, or None when it can."""
    if re.search(rf"\b{re.escape(service.schema)}\.[a-z_][a-z0-9_]*\(", sql):
        return "calls a function that a migration creates; it is not part of the models"
    if dialect != "postgresql" and POSTGRES_JSON.search(sql):
        return f"uses PostgreSQL's JSON functions, which {dialect} does not have"
    return None


def portable_check(sql: str, service: ServiceDefinition, dialect: str) -> str | None:
    """A CHECK as `dialect` writes it, or None when it cannot be written there (`unportable_reason`)."""
    if unportable_reason(sql, service, dialect) is not None:
        return None
    if dialect == "postgresql":
        return sql
    sql = CAST.sub("", sql)
    sql = NUM_NONNULLS.sub(
        lambda m: (
            "(" + " + ".join(f"CASE WHEN {a.strip()} IS NULL THEN 0 ELSE 1 END" for a in m.group(1).split(",")) + ")"
        ),
        sql,
    )
    return sql.replace("char_length(", "LEN(" if dialect == "mssql" else "length(")


def portable_metadata(service: ServiceDefinition, dialect: str) -> tuple[MetaData, list[str]]:
    """The service's tables as `dialect` can hold them, and the constraints left out (each named
    with the reason). Outside PostgreSQL: JSONB as JSON, PostgreSQL UUID as the generic Uuid,
    PostgreSQL defaults and casts rewritten or dropped, no schema on SQLite, no deferrable unique
    constraints."""
    keep_schema = dialect != "sqlite"
    metadata = MetaData(schema=service.schema if keep_schema else None)
    schema: Any = service.schema if keep_schema else None
    referred: Any = service.schema if keep_schema else BLANK_SCHEMA
    omitted: list[str] = []
    for table in service.metadata.sorted_tables:
        copied = table.to_metadata(metadata, schema=schema, referred_schema_fn=lambda *_: referred)
        for constraint in sorted(copied.constraints, key=lambda c: str(c.name)):
            if isinstance(constraint, CheckConstraint):
                written = portable_check(str(constraint.sqltext), service, dialect)
                if written is None:
                    copied.constraints.remove(constraint)
                    reason = unportable_reason(str(constraint.sqltext), service, dialect)
                    omitted.append(f"{table.name}: CHECK {constraint.name or ''} ({constraint.sqltext}) {reason}")
                else:
                    constraint.sqltext = text(written)
            elif isinstance(constraint, UniqueConstraint) and dialect != "postgresql":
                constraint.deferrable = None
                constraint.initially = None
        if dialect == "postgresql":
            continue
        for column in copied.columns:
            if isinstance(column.type, postgresql.JSONB):
                column.type = JSON()
            elif isinstance(column.type, postgresql.UUID):
                column.type = Uuid()
            default = _default_sql(column)
            if default is not None:
                key = CAST.sub("", default.strip().lower())
                replacement = PORTABLE_DEFAULTS[dialect].get(key, CAST.sub("", default))
                column.server_default = DefaultClause(text(replacement)) if replacement else None
            if dialect == "sqlite" and column.primary_key and column.autoincrement is True:
                column.type = Integer()  # only INTEGER PRIMARY KEY numbers rows by itself in SQLite
    return metadata, omitted


def ddl_statements(service: ServiceDefinition, dialect: str) -> list[str]:
    """CREATE statements (schema, tables in dependency order, indexes) for one service."""
    target = DIALECTS[dialect]
    metadata, _ = portable_metadata(service, dialect)
    statements = []
    if dialect != "sqlite":
        statements.append(
            str(CreateSchema(service.schema, if_not_exists=dialect == "postgresql").compile(dialect=target))
        )
    tables: list[Table] = list(metadata.sorted_tables)
    for table in tables:
        statements.append(str(CreateTable(table).compile(dialect=target)).strip())
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            statements.append(str(CreateIndex(index).compile(dialect=target)).strip())
    return statements


def render_ddl(names: list[str], dialect: str) -> str:
    parts = []
    for name in names:
        parts.append(f"-- {name}: tables of services/{name}/tables.py, for {dialect}")
        for note in portable_metadata(registry.load_service(name), dialect)[1]:
            parts.append(f"-- left out: {note}")
        parts += [statement + ";" for statement in ddl_statements(registry.load_service(name), dialect)]
    return "\n\n".join(parts) + "\n"


def _write(output: Path | None, content: str) -> None:
    if output is None:
        typer.echo(content, nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(content, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


def export_ddl(
    service: ServiceArg = None,
    dialect: Annotated[str, typer.Option(help="postgresql, sqlite or mssql.")] = "postgresql",
    output: Annotated[Optional[Path], typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """CREATE statements for the tables of one service, or of all, in an SQL dialect.

    Example: fountain export-ddl central_sequence --dialect sqlite
    """
    if dialect not in DIALECTS:
        typer.secho(f"Unknown dialect {dialect!r}; choose one of {', '.join(DIALECTS)}.", fg="red", err=True)
        raise typer.Exit(2)
    _write(output, render_ddl(selected_services(service), dialect))


# --- one OpenAPI document ------------------------------------------------------------------------

COMPONENT_REF = re.compile(r"^#/components/([A-Za-z]+)/(.+)$")
METHODS = ("get", "put", "post", "delete", "patch")
PIPE = "\\|"  # a | inside a Markdown table cell


def _prefix(service: str) -> str:
    return "".join(part.capitalize() for part in service.split("_"))


def _renamed(node: Any, prefix: str, operation_ids: dict[str, str]) -> Any:
    """A copy of `node` with component $refs and link operationIds renamed for the merged document."""
    if isinstance(node, dict):
        result = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and (match := COMPONENT_REF.match(value)):
                result[key] = f"#/components/{match.group(1)}/{prefix}{match.group(2)}"
            elif key == "operationId" and isinstance(value, str):
                result[key] = operation_ids.get(value, value)
            else:
                result[key] = _renamed(value, prefix, operation_ids)
        return result
    if isinstance(node, list):
        return [_renamed(item, prefix, operation_ids) for item in node]
    return copy.copy(node)


def _load_spec(service: ServiceDefinition) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(service.spec_path.read_text(encoding="utf-8"))
    return loaded


def merged_openapi() -> dict[str, Any]:
    """Every service's API in one OpenAPI 3.1 document. Each path carries its service's host as
    `servers`; component names get the service's name as prefix; an operationId used by more than
    one service gets it too. The probes (/health, /ready) belong to each process, not to the API,
    and are left out."""
    services = registry.all_services()
    specs = {s.name: _load_spec(s) for s in services}
    seen: dict[str, int] = {}
    for spec in specs.values():
        for path, item in spec.get("paths", {}).items():
            if path.startswith(("/v1/", "/v2/")):
                for method in METHODS:
                    if method in item:
                        seen[item[method]["operationId"]] = seen.get(item[method]["operationId"], 0) + 1
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "FountainAI API",
            "version": "1.0.0",
            "description": "Every FountainAI service in one document; each path names its service's host. "
            + " ".join(f"{spec['info']['title']} {spec['info']['version']}." for spec in specs.values()),
        },
        "servers": [{"url": f"https://{s.host}", "description": specs[s.name]["info"]["title"]} for s in services],
        "tags": [],
        "paths": {},
        "components": {},
    }
    owners: dict[str, str] = {}
    for service in services:
        spec, prefix = specs[service.name], _prefix(service.name)
        operation_ids = {
            item[method]["operationId"]: prefix
            + item[method]["operationId"][:1].upper()
            + item[method]["operationId"][1:]
            for item in spec.get("paths", {}).values()
            for method in METHODS
            if method in item and seen.get(item[method]["operationId"], 0) > 1
        }
        title = spec["info"]["title"]
        document["tags"].append({"name": title, "description": f"https://{service.host} ({service.name})"})
        for path, item in spec.get("paths", {}).items():
            if not path.startswith(("/v1/", "/v2/")):
                continue
            if path in owners:
                raise ValueError(f"path {path} is served by both {owners[path]} and {service.name}")
            owners[path] = service.name
            renamed = _renamed(item, prefix, operation_ids)
            for method in METHODS:
                if method in renamed:
                    renamed[method]["tags"] = [title, *renamed[method].get("tags", [])]
            document["paths"][path] = {"servers": [{"url": f"https://{service.host}"}], **renamed}
        for kind, entries in spec.get("components", {}).items():
            bucket = document["components"].setdefault(kind, {})
            for name, value in entries.items():
                bucket[prefix + name] = _renamed(value, prefix, operation_ids)
    versions = sorted(
        {tag for item in document["paths"].values() for m in METHODS if m in item for tag in item[m]["tags"][1:]}
    )
    document["tags"] += [{"name": v, "description": f"API version {v}."} for v in versions]
    return document


def render_openapi(document: dict[str, Any], fmt: str) -> str:
    if fmt == "yaml":

        class NoAliases(yaml.SafeDumper):
            def ignore_aliases(self, data: Any) -> bool:
                return True

        return yaml.dump(document, Dumper=NoAliases, sort_keys=False, allow_unicode=True, width=120)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def export_openapi(
    output: Annotated[
        Optional[Path], typer.Option(help="Write to this file (.yaml/.yml for YAML, else JSON) instead of stdout.")
    ] = None,
    gpt_action: Annotated[
        Optional[str],
        typer.Option(
            "--gpt-action",
            metavar="SERVICE",
            help="Instead: one service's /v2 as a GPT Action imports it (at most 30 operations, the apikey "
            "header, its public host as the one server); the operations left out are named on stderr.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """One OpenAPI 3.1 document of every service and version, each path with its service's host.

    What a gateway portal reads. Example: fountain export-openapi --output fountain.json

    For a GPT Action: fountain export-openapi --gpt-action character --output character-action.json
    """
    from openapi_spec_validator import validate

    if gpt_action is not None:
        from fountain_cli.gpt_action import gpt_action_document

        service = selected_services(gpt_action)[0]
        action, left_out = gpt_action_document(service)
        validate(action)
        if left_out:
            typer.echo(f"left out (a GPT Action takes at most 30 operations): {', '.join(left_out)}", err=True)
        _write(
            output,
            render_openapi(action, "yaml" if output is not None and output.suffix in (".yaml", ".yml") else "json"),
        )
        return
    try:
        document = merged_openapi()
    except ValueError as error:
        typer.secho(f"Cannot merge the specs: {error}.", fg="red", err=True)
        raise typer.Exit(1) from error
    validate(document)
    fmt = "yaml" if output is not None and output.suffix in (".yaml", ".yml") else "json"
    _write(output, render_openapi(document, fmt))


# --- Markdown documentation ----------------------------------------------------------------------


def _mermaid_type(column: Column[Any]) -> str:
    compiled = str(column.type.compile(dialect=DIALECTS["postgresql"])).lower()
    return re.sub(r"[^a-z0-9]+", "_", compiled).strip("_")


def er_diagram(metadata: MetaData) -> list[str]:
    lines = ["```mermaid", "erDiagram"]
    tables = sorted(metadata.tables.values(), key=lambda t: t.name)
    for table in tables:
        unique = {c.name for con in table.constraints if isinstance(con, UniqueConstraint) for c in con.columns}
        lines.append(f"    {table.name} {{")
        for column in table.columns:
            keys = [
                k
                for k, on in (
                    ("PK", column.primary_key),
                    ("FK", bool(column.foreign_keys)),
                    ("UK", column.name in unique),
                )
                if on
            ]
            null = "" if column.nullable is False or column.primary_key else ' "nullable"'
            lines.append(f"        {_mermaid_type(column)} {column.name} {','.join(keys)}{null}".rstrip())
        lines.append("    }")
    for table in tables:
        for fk in sorted(table.foreign_keys, key=lambda f: f.parent.name):
            # A parent row has at most one child when the foreign key column is unique by itself.
            alone = [[c.name for c in con.columns] for con in table.constraints if isinstance(con, UniqueConstraint)]
            alone.append([c.name for c in table.primary_key.columns])
            child_side = "o|" if [fk.parent.name] in alone else "o{"
            parent = "||" if fk.parent.nullable is False else "|o"
            lines.append(f'    {fk.column.table.name} {parent}--{child_side} {table.name} : "{fk.parent.name}"')
    lines.append("```")
    return lines


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                op = item[method]
                rows.append(
                    (method.upper(), path, op.get("operationId", ""), " ".join(str(op.get("summary", "")).split()))
                )
    return rows


# How Story Factory assembles a story (services/story_factory/assembly.py): first the script's content,
# whose headings carry their sequence numbers (Core Script takes them from Central Sequence) and whose
# lines carry their positions and the ids of their parts; then every part at once, one request per
# kind and chunk of ids, never one per line. Each operation must exist in its service's spec, so the
# diagram follows the specs.
STORY_SCRIPT: tuple[str, str, str, str] = (
    "core_script",
    "getScriptContent",
    "",
    "the script, its section headings and story lines in one snapshot, in story order",
)
STORY_PARTS: list[tuple[str, str, str, str]] = [
    ("character", "searchCharacters", "?ids=...&limit=500", "the characters the lines name"),
    ("character", "searchActions", "?ids=...&limit=500", "their actions"),
    ("character", "searchSpokenWords", "?ids=...&limit=500", "their spoken words"),
    ("session_context", "listContexts", "?contextId=...&limit=100", "the contexts the lines name"),
]


def story_sequence_diagram(services: dict[str, ServiceDefinition], specs: dict[str, dict[str, Any]]) -> list[str]:
    def where(service: str, operation_id: str) -> str:
        for path, item in specs[service].get("paths", {}).items():
            for method in METHODS:
                if item.get(method, {}).get("operationId") == operation_id:
                    return f"{method.upper()} {path}"
        raise ValueError(f"specs/{service}.yaml has no operation {operation_id}, which the story diagram names")

    factory = specs["story_factory"]
    get_story = where("story_factory", "getFullStory")
    reads = [STORY_SCRIPT, *STORY_PARTS]
    participants = ["story_factory"] + list(dict.fromkeys(s for s, _, _, _ in reads))
    lines = ["```mermaid", "sequenceDiagram", "    actor client as Client"]
    for name in participants:
        lines.append(f"    participant {name} as {specs[name]['info']['title']}<br/>{services[name].host}")
    lines.append(f"    client->>story_factory: {get_story}?scriptId=1 (getFullStory)")
    lines.append(f"    Note over story_factory: {factory['info']['title'].removesuffix(' API')} keeps no story data")
    service, operation_id, query, what = STORY_SCRIPT
    lines.append(f"    story_factory->>{service}: {where(service, operation_id)}{query} ({operation_id})")
    lines.append(f"    {service}-->>story_factory: {what}")
    lines.append("    Note over story_factory: one request per kind for all the ids the lines name, concurrently")
    lines.append("    par")
    for index, (service, operation_id, query, what) in enumerate(STORY_PARTS):
        if index:
            lines.append("    and")
        lines.append(f"        story_factory->>{service}: {where(service, operation_id)}{query} ({operation_id})")
        lines.append(f"        {service}-->>story_factory: {what}")
    lines.append("    end")
    lines.append("    story_factory->>story_factory: sections by sequence number, lines by position: elements 1..N")
    lines.append("    story_factory-->>client: 200 FullStory: sections and story in sequence order")
    lines.append("```")
    return lines


def service_doc(
    service: ServiceDefinition, services: dict[str, ServiceDefinition], specs: dict[str, dict[str, Any]]
) -> str:
    spec = specs[service.name]
    info = spec["info"]
    lines = [
        f"# {info['title']}",
        "",
        "<!-- Written by `fountain export-docs` from the spec and the tables; do not edit by hand. -->",
        "",
        " ".join(str(info.get("description", "")).split()),
        "",
        "| | |",
        "|---|---|",
        f"| service | `{service.name}` (services/{service.name}/, PostgreSQL schema `{service.schema}`) |",
        f"| public host | https://{service.host} |",
        f"| local port | {service.port} (`fountain serve {service.name}`) |",
        f"| contract | specs/{service.name}.yaml, version {info['version']} |",
        "",
        "## Endpoints",
        "",
        "| method | path | operationId | summary |",
        "|---|---|---|---|",
    ]
    lines += [f"| {m} | `{p}` | `{o}` | {s.replace('|', PIPE)} |" for m, p, o, s in _operations(spec)]
    lines += ["", "## Tables", ""]
    if service.metadata.tables:
        lines += er_diagram(service.metadata)
    else:
        lines.append("This service keeps no tables.")
    if service.name == "story_factory" and all(s in services for s, _, _, _ in [STORY_SCRIPT, *STORY_PARTS]):
        lines += ["", "## How a story is assembled", ""]
        lines += story_sequence_diagram(services, specs)
    return "\n".join(lines) + "\n"


def render_docs(names: list[str]) -> dict[str, str]:
    services = {s.name: s for s in registry.all_services()}
    specs = {name: _load_spec(s) for name, s in services.items()}
    documents = {f"{name}.md": service_doc(services[name], services, specs) for name in names}
    if len(names) > 1:
        index = ["# FountainAI services", "", "| service | host | local port |", "|---|---|---|"]
        index += [f"| [{specs[n]['info']['title']}]({n}.md) | {services[n].host} | {services[n].port} |" for n in names]
        documents["README.md"] = "\n".join(index) + "\n"
    return documents


def export_docs(
    service: ServiceArg = None,
    output: Annotated[Path, typer.Option(help="Folder to write the Markdown files into.")] = REPO_ROOT
    / "docs"
    / "services",
) -> None:
    """Markdown docs per service: endpoints, a Mermaid ER diagram of its tables, and for Story Factory
    how a story is assembled. Example: fountain export-docs --output /tmp/docs
    """
    names = selected_services(service)
    try:
        documents = render_docs(names)
    except ValueError as error:
        typer.secho(f"Cannot write the docs: {error}.", fg="red", err=True)
        raise typer.Exit(1) from error
    output.mkdir(parents=True, exist_ok=True)
    for index, (name, content) in enumerate(sorted(documents.items()), start=1):
        (output / name).write_text(content, encoding="utf-8")
        typer.echo(f"[{index}] {output / name}")
