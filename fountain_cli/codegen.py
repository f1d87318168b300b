"""Specs to code: for each services/<name>, writes generated/ (models.py, api.py) from specs/<name>.yaml.

A stamp of the inputs (spec, templates, visitors, generator versions) makes an unchanged run a no-op;
`check` regenerates into a temporary folder and compares byte for byte.
"""

import contextlib
import filecmp
import hashlib
import os
import tempfile
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

from fountain_common.service import REPO_ROOT

TEMPLATES = REPO_ROOT / "codegen" / "templates"
VISITORS = REPO_ROOT / "codegen" / "visitors"
STAMP = ".codegen-stamp"
GENERATED = "generated"


def spec_for(service: str) -> Path:
    return REPO_ROOT / "specs" / f"{service}.yaml"


def output_for(service: str) -> Path:
    return REPO_ROOT / "services" / service / GENERATED


def input_stamp(spec: Path) -> str:
    digest = hashlib.sha256()
    for tool in ("fastapi-code-generator", "datamodel-code-generator", "black", "isort"):
        digest.update(f"{tool}=={version(tool)}\n".encode())
    for path in [spec, Path(__file__), *sorted(TEMPLATES.rglob("*")), *sorted(VISITORS.glob("*.py"))]:
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


def render(spec: Path, output_dir: Path) -> None:
    """Write models.py, api.py and __init__.py for `spec` into `output_dir`."""
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
    (output_dir / STAMP).write_text(input_stamp(spec) + "\n")


def generate(service: str, *, force: bool = False) -> bool:
    """Regenerate one service's code; False when its inputs have not changed since the last run."""
    spec, output_dir = spec_for(service), output_for(service)
    stamp = output_dir / STAMP
    if not force and stamp.exists() and stamp.read_text().strip() == input_stamp(spec):
        return False
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / GENERATED
        render(spec, fresh)
        output_dir.mkdir(parents=True, exist_ok=True)
        for old in output_dir.glob("*.py"):
            if not (fresh / old.name).exists():
                old.unlink()
        for new in fresh.iterdir():
            (output_dir / new.name).write_bytes(new.read_bytes())
    return True


def differences(service: str) -> list[str]:
    """Files of services/<service>/generated that differ from what the spec produces now."""
    output_dir = output_for(service)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / GENERATED
        render(spec_for(service), fresh)
        expected = {p.name for p in fresh.iterdir()}
        actual = {p.name for p in output_dir.iterdir() if p.is_file()} if output_dir.exists() else set()
        problems = [f"missing: {name}" for name in sorted(expected - actual)]
        problems += [f"not generated by the spec: {name}" for name in sorted(actual - expected)]
        problems += [
            f"differs: {name}"
            for name in sorted(expected & actual)
            if not filecmp.cmp(fresh / name, output_dir / name, shallow=False)
        ]
    return [f"services/{service}/{GENERATED}/{p.split(': ')[1]} ({p.split(':')[0]})" for p in problems]
