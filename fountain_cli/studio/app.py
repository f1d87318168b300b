"""The studio's web server: the page, its assets, and a small JSON API over the scaffold pipeline.
The working schema lives in memory until saved; saving writes the one schema.json and nothing else."""

import json
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles

from fountain_cli.exports import DIALECTS
from fountain_cli.scaffold.json_reader import FIELD_TYPES
from fountain_cli.scaffold.model import SchemaError, identifier_problems
from fountain_cli.scaffold.pipeline import DECLARED_SCHEMA, ScaffoldError, apply, next_port, plan, read_input
from fountain_cli.studio import document as schema_document
from fountain_cli.studio import migration
from fountain_cli.studio.assist import AssistError, AssistSettings, changes, off_problem, propose

STATIC = Path(__file__).parent / "static"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEFAULT_SERVICE = "new_service"


@dataclass
class Studio:
    save_to: Path  # the schema.json that Save writes
    root: Path  # the repository a scaffold writes into
    document: Any = field(default_factory=lambda: json.loads(json.dumps(schema_document.EMPTY)))
    opened: str | None = None  # the file the studio opened, if any
    left_out: list[str] = field(default_factory=list)  # what a SQL input held that schema.json cannot
    assist: AssistSettings | None = None  # the AI assist's endpoint; None when it is off
    service: str | None = None  # the scaffolded service whose declared schema was opened, if one was
    # Where a service's migrations are applied to compare its tables with the edited schema.
    scratch: migration.ScratchDatabase = field(default_factory=migration.ScratchDatabase)

    @property
    def origin(self) -> str:
        return self.save_to.name

    def problems(self, document: Any | None = None) -> list[str]:
        """The problems `fountain scaffold` would report, this repository's taken paths included."""
        document = self.document if document is None else document
        return schema_document.problems_of(document, self.origin, self.root, self.service)

    def text(self) -> str:
        """The working schema as Save writes it."""
        return json.dumps(self.document, indent=2, ensure_ascii=False) + "\n"

    def file_problems(self) -> list[str]:
        """What keeps the document from being a schema.json at all: a path another service of this
        repository serves does not, so such a schema can still be saved."""
        try:
            schema_document.parse(self.document, self.origin)
        except SchemaError as error:
            return error.problems
        return []


def open_studio(source: Path | None, save_to: Path | None, root: Path) -> Studio:
    """The studio over `source` (a schema.json, a SQL file, a scaffolded service's folder, or None for
    an empty schema). A SQL input is saved beside it as <name>.schema.json unless `save_to` says
    otherwise; a service's declared schema.json is saved where it is."""
    if source is None:
        return Studio(save_to or Path("schema.json").resolve(), root)
    if source.is_dir():
        return _open_service(source, save_to, root)
    if source.suffix.lower() == ".sql":
        try:
            schema = read_input(source, "sql")
        except (SchemaError, ScaffoldError) as error:
            raise ScaffoldError(error.problems) from error
        document, left_out = schema_document.sql_to_document(schema)
        target = save_to or source.with_name(source.stem + ".schema.json")
        return Studio(target, root, document, str(source), [*schema.notes, *left_out])
    target = save_to or source
    if not source.exists():
        return Studio(target, root, opened=None)
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ScaffoldError([f"{source}: {error}"]) from error
    return Studio(target, root, document, str(source))


def _open_service(folder: Path, save_to: Path | None, root: Path) -> Studio:
    """A scaffolded service's folder: the schema.json it was scaffolded from, which the scaffold keeps."""
    declared = folder / DECLARED_SCHEMA
    if not (folder / "service.py").is_file():
        raise ScaffoldError([f"{folder}: not a service folder (it has no service.py)"])
    if not declared.is_file():
        raise ScaffoldError(
            [
                f"{folder}: no declared schema ({DECLARED_SCHEMA}); the scaffold keeps one for a service scaffolded "
                "--from-json. Open the SQL file or schema.json it was scaffolded from instead."
            ]
        )
    studio = open_studio(declared, save_to, root)
    studio.service = folder.name
    return studio


def _problem(status: int, title: str, problems: list[str]) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": "\n".join(problems),
        "problems": problems,
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def create_app(studio: Studio, allowed_hosts: tuple[str, ...] = LOOPBACK) -> FastAPI:
    """`allowed_hosts`: the names the page may be reached by; another Host (a DNS rebinding) is refused,
    as is a change sent from a page of another origin, since the studio writes files and has no login."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        studio.scratch.close()

    app = FastAPI(title="FountainAI schema studio", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def same_origin_only(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        host = request.headers.get("host", "")
        if "*" not in allowed_hosts and urlsplit(f"//{host}").hostname not in allowed_hosts:
            return _problem(403, "Refused", [f"host {host!r}: the studio answers {', '.join(allowed_hosts)} only"])
        origin = request.headers.get("origin")
        if request.method not in ("GET", "HEAD") and origin is not None and urlsplit(origin).netloc != host:
            return _problem(403, "Refused", [f"origin {origin!r}: changes are taken from the studio's own page only"])
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [f"{'/'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
        return _problem(400, "The request could not be read", problems)

    def service_or_problem(service: str) -> JSONResponse | None:
        problems = identifier_problems(service, "service name")
        return _problem(422, "The service name is not usable", problems) if problems else None

    def checked(service: str) -> Any:
        """The working schema, parsed, or the problem+json answer saying why it cannot be previewed."""
        refused = service_or_problem(service)
        if refused is not None:
            return refused
        problems = studio.problems()
        if problems:
            return _problem(422, "The schema has problems", problems)
        return schema_document.parse(studio.document, studio.origin)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/schema")
    async def get_schema() -> dict[str, Any]:
        return {
            "document": studio.document,
            "opened": studio.opened,
            "saveTo": str(studio.save_to),
            "leftOut": studio.left_out,
            "problems": studio.problems(),
            "fieldTypes": sorted(FIELD_TYPES),
            "dialects": list(DIALECTS),
            "assist": studio.assist is not None,
            "service": studio.service,
        }

    @app.put("/api/schema")
    async def put_schema(document: Annotated[Any, Body()]) -> dict[str, Any]:
        studio.document = document
        return {"problems": studio.problems()}

    @app.post("/api/validate")
    async def validate(document: Annotated[Any, Body()]) -> dict[str, Any]:
        return {"problems": studio.problems(document)}

    @app.post("/api/assist", response_model=None)
    async def assist(request: Annotated[dict[str, Any], Body()]) -> dict[str, Any] | JSONResponse:
        """A proposed schema.json for the change described, with its problems and what it changes;
        the working schema stays as it is until the page sends the proposal back as an edit."""
        if studio.assist is None:
            error = off_problem()
            return _problem(error.status, error.title, error.problems)
        instruction = request.get("instruction")
        if not isinstance(instruction, str) or not instruction.strip():
            return _problem(400, "The request could not be read", ["instruction: the change, described in words"])
        try:
            proposal = await propose(studio.assist, studio.document, instruction.strip())
        except AssistError as error:
            return _problem(error.status, error.title, error.problems)
        return {
            "proposal": proposal,
            "problems": studio.problems(proposal),
            "changes": changes(studio.document, proposal),
        }

    @app.get("/api/preview/openapi", response_model=None)
    async def preview_openapi(service: str = DEFAULT_SERVICE) -> PlainTextResponse | JSONResponse:
        schema = checked(service)
        if isinstance(schema, JSONResponse):
            return schema
        text = schema_document.openapi(schema, service, next_port(studio.root))
        return PlainTextResponse(text, media_type="application/yaml")

    @app.get("/api/preview/ddl", response_model=None)
    async def preview_ddl(dialect: str = "postgresql", service: str = DEFAULT_SERVICE) -> Any:
        if dialect not in DIALECTS:
            return _problem(400, "Unknown dialect", [f"dialect {dialect!r}: one of {', '.join(DIALECTS)}"])
        schema = checked(service)
        if isinstance(schema, JSONResponse):
            return schema
        return PlainTextResponse(schema_document.ddl(schema, service, next_port(studio.root), dialect))

    @app.get("/api/preview/er", response_model=None)
    async def preview_er(service: str = DEFAULT_SERVICE) -> PlainTextResponse | JSONResponse:
        schema = checked(service)
        if isinstance(schema, JSONResponse):
            return schema
        return PlainTextResponse(schema_document.mermaid(schema, service, next_port(studio.root)))

    @app.post("/api/save")
    async def save() -> Any:
        problems = studio.file_problems()
        if problems:
            return _problem(422, f"Nothing was written. {len(problems)} problem(s)", problems)
        text = studio.text()
        try:
            studio.save_to.parent.mkdir(parents=True, exist_ok=True)
            studio.save_to.write_text(text, encoding="utf-8")
        except OSError as error:
            return _problem(500, "Nothing was written", [f"{studio.save_to}: {error.strerror or error}"])
        return {"saved": str(studio.save_to)}

    def migration_plan(request: dict[str, Any]) -> migration.MigrationPlan | JSONResponse:
        """The next migration of the opened service, or the problem+json answer saying why there is none."""
        if studio.service is None:
            return _problem(
                409,
                "No service is open",
                ["a migration is written for a scaffolded service: open it with `fountain studio services/NAME`"],
            )
        message = request.get("message")
        if message is not None and (not isinstance(message, str) or not message.strip()):
            return _problem(400, "The request could not be read", ["message: words saying what the migration does"])
        problems = studio.problems()
        if problems:
            return _problem(422, "The schema has problems", problems)
        try:
            return migration.preview(
                studio.root, studio.service, studio.document, studio.scratch, message.strip() if message else None
            )
        except ScaffoldError as error:
            return _problem(422, "No migration to write", error.problems)

    def plan_answer(planned: migration.MigrationPlan) -> dict[str, Any]:
        return {
            "service": planned.service,
            "revision": planned.revision,
            "file": f"services/{planned.service}/migrations/{planned.filename}",
            "script": planned.script,
            "steps": planned.steps,
            "drops": planned.drops,
        }

    # One comparison or write at a time: a write must not interleave with another's files.
    migrating = threading.Lock()

    @app.post("/api/migration/preview")
    def migration_preview(request: Annotated[dict[str, Any] | None, Body()] = None) -> Any:
        """The script of the opened service's next migration to the working schema, and what it drops."""
        with migrating:
            planned = migration_plan(request or {})
        return planned if isinstance(planned, JSONResponse) else plan_answer(planned)

    @app.post("/api/migration/write")
    def migration_write(request: Annotated[dict[str, Any] | None, Body()] = None) -> Any:
        """Write the migration, the declared schema and what the scaffold derives from it; a migration
        that drops anything is written only with confirm_drops: true."""
        request = request or {}
        confirm = request.get("confirm_drops", False)
        if not isinstance(confirm, bool):
            return _problem(400, "The request could not be read", ["confirm_drops: true or false"])
        with migrating:
            return write_planned(request, confirm)

    def write_planned(request: dict[str, Any], confirm: bool) -> Any:
        planned = migration_plan(request)
        if isinstance(planned, JSONResponse):
            return planned
        if planned.drops and not confirm:
            return _problem(
                409,
                f"Nothing was written. The migration loses data in {len(planned.drops)} step(s); "
                "confirm them (confirm_drops: true) to write it",
                planned.drops,
            )
        steps: list[str] = []
        try:
            dirty = migration.unsaved_changes(studio.root, planned.service)
            if dirty:
                return _problem(
                    409,
                    "Nothing was written. Files the migration writes again have uncommitted changes",
                    [f"commit or stash them first: {line.strip()}" for line in dirty],
                )
            files = migration.write(studio.root, planned, studio.text(), steps.append)
        except ScaffoldError as error:
            return _problem(422, f"Nothing was written. {len(error.problems)} problem(s)", error.problems)
        except OSError as error:
            return _problem(500, "Nothing was written", [f"{error.filename}: {error.strerror or error}"])
        return {
            **plan_answer(planned),
            "files": files,
            "steps_taken": steps,
            "next": f"fountain db upgrade {planned.service}",
        }

    @app.post("/api/scaffold")
    def scaffold(request: Annotated[dict[str, Any], Body()]) -> Any:
        service = request.get("service")
        if not isinstance(service, str):
            return _problem(400, "The request could not be read", ["service: a string naming the new service"])
        steps: list[str] = []
        # The scaffold reads a file: the working schema, under the name Save gives it.
        with tempfile.TemporaryDirectory() as folder:
            source = Path(folder) / studio.origin
            # As Save would write it: the scaffolded service keeps this text as its declared schema.
            source.write_text(studio.text(), encoding="utf-8")
            try:
                planned = plan(studio.root, service, source, "json")
                apply(studio.root, planned, steps.append)
            except ScaffoldError as error:
                return _problem(422, f"Nothing was written. {len(error.problems)} problem(s)", error.problems)
        return {
            "service": service,
            "host": planned.host,
            "port": planned.port,
            "tables": [t.name for t in planned.schema.served],
            "files": sorted(str(p) for p in [*planned.files, *planned.changed]),
            "steps": steps,
            "next": f"fountain db upgrade {service} && fountain serve {service}",
        }

    return app
