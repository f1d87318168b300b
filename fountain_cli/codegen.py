"""Specs to code: for each services/<name>, writes generated/ (models.py, api.py) from specs/<name>.yaml,
and generated/clients/ with a typed client of every service it calls (codegen/clients.yaml).

A stamp of the inputs (specs, templates, visitors, generator versions) makes an unchanged run a no-op;
`check` regenerates into a temporary folder and compares byte for byte.
"""

import contextlib
import filecmp
import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml

from fountain_common.service import REPO_ROOT

CODEGEN = REPO_ROOT / "codegen"
TEMPLATES = CODEGEN / "templates"
CLIENT_TEMPLATES = CODEGEN / "client_templates"
VISITORS = CODEGEN / "visitors"
CLIENTS = CODEGEN / "clients.yaml"
STAMP = ".codegen-stamp"
GENERATED = "generated"


def callees_of(service: str) -> list[str]:
    """The services `service` calls, each of which it gets a typed client of."""
    calls: dict[str, list[str]] = yaml.safe_load(CLIENTS.read_text()) or {}
    return list(calls.get(service, []))


def spec_for(service: str) -> Path:
    return REPO_ROOT / "specs" / f"{service}.yaml"


def output_for(service: str) -> Path:
    return REPO_ROOT / "services" / service / GENERATED


def input_stamp(spec: Path, callees: Sequence[str] = ()) -> str:
    digest = hashlib.sha256()
    for tool in ("fastapi-code-generator", "datamodel-code-generator", "black", "isort"):
        digest.update(f"{tool}=={version(tool)}\n".encode())
    inputs = [spec, *(spec_for(callee) for callee in callees), Path(__file__)]
    inputs += [*sorted(TEMPLATES.rglob("*")), *sorted(CLIENT_TEMPLATES.rglob("*")), *sorted(VISITORS.glob("*.py"))]
    for path in inputs:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@contextlib.contextmanager
def _in_repo_root() -> Iterator[None]:
    # The code formatter reads its settings from the working directory: pin it for identical output.
    previous = Path.cwd()
    os.chdir(REPO_ROOT)
    try:
        yield
    finally:
        os.chdir(previous)


@contextlib.contextmanager
def _json_types() -> Iterator[None]:
    """Generate models that take JSON's own types only: "12" or true is no integer, 12 no string.

    Integers become fountain_common.json_types.JsonInt (JSON Schema's integer: 12 and 12.0, not
    "12"); strings and booleans become pydantic's strict types. fastapi-code-generator's parser
    accepts these settings, but its generate_code() does not pass them: a subclass supplies them.
    """
    from datamodel_code_generator.enums import StrictTypes
    from datamodel_code_generator.imports import Import
    from datamodel_code_generator.model.pydantic_v2.types import DataTypeManager
    from datamodel_code_generator.types import Types
    from fastapi_code_generator import cli
    from fastapi_code_generator.parser import OpenAPIParser

    class JsonTypeManager(DataTypeManager):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            json_int = self.data_type.from_import(Import.from_full_path("fountain_common.json_types.JsonInt"))
            for integer in (Types.integer, Types.int32, Types.int64):
                self.type_map[integer] = json_int

    class JsonParser(OpenAPIParser):  # type: ignore[misc]  # the generator is untyped
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["strict_types"] = [StrictTypes.str, StrictTypes.bool]
            kwargs["data_type_manager_type"] = JsonTypeManager
            super().__init__(*args, **kwargs)

    original = cli.OpenAPIParser
    cli.OpenAPIParser = JsonParser
    try:
        yield
    finally:
        cli.OpenAPIParser = original


def _generate_code(spec: Path, output_dir: Path) -> None:
    import warnings

    from fastapi_code_generator.cli import generate_code

    output_dir.mkdir(parents=True, exist_ok=True)
    with _in_repo_root(), _json_types(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        generate_code(
            input_name=spec.name,
            input_text=spec.read_text(encoding="utf-8"),
            encoding="utf-8",
            output_dir=output_dir,
            template_dir=TEMPLATES,
            custom_visitors=sorted(VISITORS.glob("*.py")),
            disable_timestamp=True,
            use_annotated=True,
        )


def _visitor() -> Any:
    """The visitor module the router templates use: the same operation data serves the clients."""
    location = importlib.util.spec_from_file_location("fountain_operations", VISITORS / "fountain_operations.py")
    assert location is not None and location.loader is not None
    module = importlib.util.module_from_spec(location)
    location.loader.exec_module(module)
    return module


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def render_client(caller: str, callee: str, clients_dir: Path) -> None:
    """clients/<callee>_models.py (the callee's models) and clients/<callee>.py (its typed client)."""
    import black
    import jinja2

    with tempfile.TemporaryDirectory() as tmp:
        _generate_code(spec_for(callee), Path(tmp))
        shutil.copyfile(Path(tmp) / "models.py", clients_dir / f"{callee}_models.py")
    spec = yaml.safe_load(spec_for(callee).read_text(encoding="utf-8"))
    operations = _visitor().operations(spec)
    for op in operations:
        op["client_result"] = op["response_model"] or "None"
    hints = [h for op in operations if not op["common"] for h in (op["body"], op["client_result"]) if h]
    models = sorted({name for hint in hints for name in re.findall(r"[A-Z]\w*", hint)} - {"List", "None"})
    caller_spec = yaml.safe_load(spec_for(caller).read_text(encoding="utf-8"))
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(CLIENT_TEMPLATES), keep_trailing_newline=True)
    code = environment.get_template("client.jinja2").render(
        title=spec["info"]["title"],
        caller_title=caller_spec["info"]["title"],
        callee=callee,
        class_name=f"{_pascal(callee)}Client",
        models=models,
        operations=operations,
    )
    (clients_dir / f"{callee}.py").write_text(black.format_str(code, mode=black.Mode()))


def render(spec: Path, output_dir: Path, callees: Sequence[str] = ()) -> None:
    """Write models.py, api.py and __init__.py for `spec` into `output_dir`, and a typed client of
    each service in `callees` into output_dir/clients/."""
    _generate_code(spec, output_dir)
    if callees:
        clients_dir = output_dir / "clients"
        clients_dir.mkdir(exist_ok=True)
        (clients_dir / "__init__.py").write_text('"""Typed clients of the services this one calls (generated)."""\n')
        for callee in callees:
            render_client(spec.stem, callee, clients_dir)
    (output_dir / STAMP).write_text(input_stamp(spec, callees) + "\n")


def _files(folder: Path) -> set[str]:
    """The generated files below `folder`, as paths relative to it."""
    if not folder.exists():
        return set()
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def generate(service: str, *, force: bool = False) -> bool:
    """Regenerate one service's code; False when its inputs have not changed since the last run."""
    spec, output_dir, callees = spec_for(service), output_for(service), callees_of(service)
    stamp = output_dir / STAMP
    if not force and stamp.exists() and stamp.read_text().strip() == input_stamp(spec, callees):
        return False
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / GENERATED
        render(spec, fresh, callees)
        output_dir.mkdir(parents=True, exist_ok=True)
        new_files = _files(fresh)
        for old in _files(output_dir) - new_files:
            (output_dir / old).unlink()
        for new in sorted(new_files):
            (output_dir / new).parent.mkdir(parents=True, exist_ok=True)
            (output_dir / new).write_bytes((fresh / new).read_bytes())
    return True


def differences(service: str) -> list[str]:
    """Files of services/<service>/generated that differ from what the spec produces now."""
    output_dir = output_for(service)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / GENERATED
        render(spec_for(service), fresh, callees_of(service))
        expected = _files(fresh)
        actual = _files(output_dir)
        problems = [f"missing: {name}" for name in sorted(expected - actual)]
        problems += [f"not generated by the spec: {name}" for name in sorted(actual - expected)]
        problems += [
            f"differs: {name}"
            for name in sorted(expected & actual)
            if not filecmp.cmp(fresh / name, output_dir / name, shallow=False)
        ]
    return [f"services/{service}/{GENERATED}/{p.split(': ')[1]} ({p.split(':')[0]})" for p in problems]
