"""Mutation testing of the core logic with mutmut (configured in pyproject.toml, [tool.mutmut]), and
the score of each module it mutates (docs/mutation.md).

    python -m tests.mutation run ['fountain_common.etags.*' ...]  # mutmut run, then the scores
    python -m tests.mutation scores [--survivors]                 # the scores of the mutants run so far

`run` starts one embedded PostgreSQL under var/mutation/<its process id>/ for the whole run with one database per
worker (--workers, default 1), migrates them once and hands them to the tests (FOUNTAIN_TEST_DATABASE_URLS), so a
mutant's tests neither start a server nor migrate; the tests of each mutant hold a database of their own while they
run (tests/conftest.py).
Results are kept in mutants/: a run goes on where the last one stopped. Named patterns run the matching
mutants not yet checked (with --again: all matching ones, e.g. after a test was added).

A mutant counts as killed when a test failed (or timed out) with it in place; the score is killed over
checked mutants. Mutants not yet run (a run over some modules only) are counted apart, not as survivors.
"""

import argparse
import fnmatch
import json
import os
import shutil
import signal
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

from fountain_common.embedded_postgres import embedded_url, stop_server
from tests.conftest import migrate

KILLED = {1, 3, -24, 24, 36, 152, 255}  # a test failed, or the mutant hung until mutmut's timeout
SURVIVED = {0}
NOT_RUN = {None}


def modules(root: Path) -> list[str]:
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mutmut"]
    return list(config["only_mutate"])


def outcomes(root: Path, module: str) -> dict[str, int | None]:
    meta = root / "mutants" / (module + ".meta")
    if not meta.exists():
        return {}
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    return codes


def selected(root: Path, patterns: list[str], again: bool) -> list[str]:
    """The mutants to name to mutmut: those matching `patterns` (not yet checked, unless `again`).
    mutmut reruns every mutant it is given by name, and runs those not yet checked when given none."""
    if not patterns or again or not (root / "mutants").exists():
        return patterns
    known = {name: code for module in modules(root) for name, code in outcomes(root, module).items()}
    matching = [name for name in known if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)]
    if not known:
        return patterns
    return [name for name in matching if known[name] is None]


def run(root: Path, patterns: list[str], again: bool, workers: int) -> int:
    """mutmut run over the mutants matching `patterns` (all when empty), `workers` mutants at a time,
    each against a database of its own."""
    mutants = selected(root, patterns, again)
    if patterns and not mutants:
        print("Every matching mutant was checked already (--again runs them once more).")
        return 0
    data_dir = root / "var" / "mutation" / str(os.getpid())  # runs over other modules may go on beside it
    # Stopped from outside (SIGTERM), still stop the database server below, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        urls = [embedded_url(data_dir, f"fountain_mutation_{slot}") for slot in range(1, workers + 1)]
        for url in urls:
            migrate(url)
        # The tests of a mutant take the first database no other mutant holds (tests/conftest.py).
        env = {
            **os.environ,
            "FOUNTAIN_TEST_DATABASE_URLS": " ".join(urls),
            "FOUNTAIN_TEST_DATABASE_LOCKS": str(data_dir),
        }
        mutmut = Path(sys.executable).parent / "mutmut"
        command = [str(mutmut), "run", "--max-children", str(workers), *mutants]
        return subprocess.run(command, cwd=root, env=env).returncode
    finally:
        stop_server(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def scores(root: Path, list_survivors: bool) -> None:
    total: Counter[str] = Counter()
    print(f"{'module':<42} {'killed':>7} {'survived':>9} {'other':>6} {'not run':>8} {'score':>7}")
    for module in modules(root):
        counts: Counter[str] = Counter()
        survivors = []
        for name, code in outcomes(root, module).items():
            if code in KILLED:
                counts["killed"] += 1
            elif code in SURVIVED:
                counts["survived"] += 1
                survivors.append(name)
            elif code in NOT_RUN:
                counts["not run"] += 1
            else:  # no test reached it, suspicious, ...: not killed
                counts["other"] += 1
                survivors.append(f"{name} (exit code {code})")
        total.update(counts)
        checked = counts["killed"] + counts["survived"] + counts["other"]
        score = f"{100 * counts['killed'] / checked:6.1f}%" if checked else "     -"
        print(
            f"{module:<42} {counts['killed']:>7} {counts['survived']:>9} {counts['other']:>6} "
            f"{counts['not run']:>8} {score:>7}"
        )
        if list_survivors:
            for name in survivors:
                print(f"    survived: {name}")
    checked = total["killed"] + total["survived"] + total["other"]
    score = f"{100 * total['killed'] / checked:6.1f}%" if checked else "     -"
    print(
        f"{'all':<42} {total['killed']:>7} {total['survived']:>9} {total['other']:>6} {total['not run']:>8} {score:>7}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_command = commands.add_parser("run", help="run mutmut (all mutants, or those named), then print the scores")
    run_command.add_argument("mutants", nargs="*", help="mutant name patterns, e.g. 'fountain_common.etags.*'")
    run_command.add_argument("--again", action="store_true", help="run the matching mutants checked already too")
    run_command.add_argument(
        "--workers", type=int, default=1, help="mutants run at once, each with a database of its own (default 1)"
    )
    scores_command = commands.add_parser("scores", help="print the score of each module from the last runs")
    scores_command.add_argument("--survivors", action="store_true", help="list every mutant that survived")
    args = parser.parse_args()
    root = Path.cwd()
    status = 0
    if args.command == "run":
        status = run(root, args.mutants, args.again, args.workers)
    scores(root, list_survivors=args.command == "scores" and args.survivors)
    return status


if __name__ == "__main__":
    sys.exit(main())
