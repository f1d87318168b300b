"""`make` on a fresh Debian or Ubuntu, where python3 comes without ensurepip (the python3-venv package)
so `python3 -m venv` fails: the Makefile installs python3-venv when it can, then makes its tools.

The fresh machine's python3 is a stand-in first on PATH whose `-m venv` fails as Debian's does until
python3-venv is "installed"; the install command is replaced by one that marks it installed, so
nothing is installed on this machine."""

import os
import shutil
import subprocess
from pathlib import Path

from fountain_common.service import REPO_ROOT

DEBIAN_VENV_ERROR = (
    "The virtual environment was not created successfully because ensurepip is not\n"
    "available.  On Debian/Ubuntu systems, you need to install the python3-venv\n"
    "package using the following command."
)


def without_ensurepip(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose python3 cannot make a venv until the returned marker file exists."""
    real = shutil.which("python3")
    assert real is not None
    installed = tmp_path / "python3-venv-installed"
    stand_in = tmp_path / "bin" / "python3"
    stand_in.parent.mkdir()
    stand_in.write_text(
        "#!/bin/sh\n"
        f'if [ "$1 $2" = "-m venv" ] && [ ! -e {installed} ]; then\n'
        '  mkdir -p "$3"\n'  # Debian's venv leaves the half-made folder behind
        f"  cat >&2 <<'EOF'\n{DEBIAN_VENV_ERROR}\nEOF\n"
        "  exit 1\n"
        "fi\n"
        f'exec {real} "$@"\n'
    )
    stand_in.chmod(0o755)
    env = {**os.environ, "PATH": f"{stand_in.parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MAKEFLAGS", None)
    return env, installed


def make_tools(tmp_path: Path, env: dict[str, str], *variables: str) -> subprocess.CompletedProcess[str]:
    tools = tmp_path / "tools"
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO_ROOT), f"TOOLS={tools}", *variables, f"{tools}/bin/uv"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_ensurepip_python3_venv_is_installed_and_the_tools_made(tmp_path: Path) -> None:
    env, installed = without_ensurepip(tmp_path)
    made = make_tools(tmp_path, env, "CAN_INSTALL_PACKAGES=yes", f"INSTALL_PYTHON_VENV=touch {installed}")
    assert made.returncode == 0, made.stdout + made.stderr
    assert "installing python3-venv" in made.stdout
    assert installed.exists()
    uv = subprocess.run([str(tmp_path / "tools" / "bin" / "uv"), "--version"], capture_output=True, text=True)
    assert uv.returncode == 0 and uv.stdout.startswith("uv ")


def test_without_ensurepip_and_no_way_to_install_the_error_says_what_to_install(tmp_path: Path) -> None:
    env, _ = without_ensurepip(tmp_path)
    made = make_tools(tmp_path, env, "CAN_INSTALL_PACKAGES=")
    assert made.returncode != 0
    assert "install python3-venv" in made.stderr
    assert not (tmp_path / "tools").exists()  # no half-made folder that a second run would take as done
