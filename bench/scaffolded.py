"""A scaffolded service's single-row read and single-row create against pgbench running the same SQL,
at 1 and 32 clients, all in one run on one fresh embedded PostgreSQL.

One run:
  1. copies the repository (its tracked and new files) into a temporary folder, commits it there, and
     runs `fountain scaffold bench_music --from-sql` on a Chinook-like `track` table (serial key,
     varchar, integer, numeric(10,2)): the service is exactly what a user gets;
  2. starts an embedded PostgreSQL in the same folder, migrates the service and starts ONE service
     process (`fountain serve bench_music --no-migrate --no-auth`, log level WARNING) from the copy;
  3. inserts `--seed` rows with one INSERT ... SELECT, then VACUUM ANALYZE, and checks that
     GET /v1/track/<id> answers the row;
  4. for each client count and `--repeats` rounds, measures for `--duration` seconds each, in an order
     that rotates from round to round: wrk GET /v1/track/<random seeded id>; pgbench `-M prepared` of
     the SELECT the service runs; wrk POST /v1/track; pgbench of the INSERT ... RETURNING the service
     runs. A warm-up of each comes first;
  5. prints medians (req/s, p50, p99) and the ratios service/pgbench, and writes everything to
     bench/results/scaffolded-<timestamp>.json;
  6. stops every process it started, also on Ctrl-C or an error, and deletes the folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crud import Wrk
from harness import (
    DATABASE,
    ROOT,
    WRK_HOWTO,
    Children,
    CpuMeter,
    Database,
    Pgbench,
    clients_list,
    find_wrk,
    fmt,
    free_port,
    machine_info,
    median,
    median_or_none,
    positive_int,
    print_table,
    run_guarded,
    tail,
    version_of,
    wait_ready,
    write_results,
)

SERVICE = "bench_music"
INPUT = """\
CREATE TABLE track (
    track_id serial PRIMARY KEY,
    name varchar(200) NOT NULL,
    composer varchar(220),
    milliseconds integer NOT NULL,
    unit_price numeric(10,2) NOT NULL
);
"""
COLLECTION = "/v1/track"
BODY = '{"name":"Bench track %d","composer":"Bench","milliseconds":200000,"unitPrice":"0.99"}'
COLUMNS = "track_id, name, composer, milliseconds, unit_price"
# What the service sends for each (SQLAlchemy's select(track).where(track_id = $1) and
# insert(track).values(...).returning(...)), as pgbench runs it.
PGBENCH_GET = f"\\set id random(1, :seeded)\nSELECT {COLUMNS} FROM {SERVICE}.track WHERE track_id = :id;\n"
PGBENCH_CREATE = (
    f"INSERT INTO {SERVICE}.track (name, composer, milliseconds, unit_price) "
    f"VALUES ('Bench track', 'Bench', 200000, 0.99) RETURNING {COLUMNS};\n"
)
TARGETS = ("service-get", "pgbench-get", "service-create", "pgbench-create")

EXAMPLE = """\
examples:
  make bench-scaffold                                          # 1 and 32 clients, 3 rounds of 5 s (about 4 min)
  .venv/bin/python bench/scaffolded.py --duration 10 --repeats 5
  .venv/bin/python bench/scaffolded.py --clients 1,8,32 --seed 100000

Needs wrk (Debian package `wrk`); run as root, the script installs it with apt-get when missing.
"""


@dataclass
class Run:
    target: str
    clients: int
    round: int
    duration_s: float
    requests: int
    requests_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    errors: dict[str, int]
    # CPU per answered request of the service process, and of PostgreSQL's backends serving it (None
    # for pgbench: its backends end with the run, and an ended process's CPU can no longer be read).
    # Unlike req/s, these hardly move with what else the machine runs.
    service_cpu_ms_per_request: float | None = None
    postgres_cpu_ms_per_request: float | None = None


@dataclass
class Summary:
    target: str
    clients: int
    requests_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    service_cpu_ms_per_request: float | None
    postgres_cpu_ms_per_request: float | None


@dataclass
class Ratio:
    operation: str  # get | create
    clients: int
    service_vs_pgbench: float


@dataclass
class Results:
    started_at: str
    machine: dict[str, Any]
    settings: dict[str, Any]
    runs: list[Run] = field(default_factory=list)
    summary: list[Summary] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    load_average: dict[str, list[float]] = field(default_factory=dict)


def copy_repository(target: Path) -> None:
    """The working tree (tracked and new files, not ignored ones) as a fresh committed repository, so
    that scaffolding there leaves this one as it is."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@fountain.coach", "-c", "commit.gpgsign=false"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run([*git, *command], cwd=target, check=True)


def in_copy(copy: Path, database: Database, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(copy), "FOUNTAIN_DATABASE_URL": database.url}
    done = subprocess.run([sys.executable, "-m", "fountain_cli.main", *args], cwd=copy, env=env, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"`fountain {' '.join(args)}` failed:\n{done.stdout.decode()}{done.stderr.decode()}")


def run(args: argparse.Namespace) -> int:
    wrk_path = find_wrk()
    if wrk_path is None:
        print(WRK_HOWTO, file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="fountain-bench-scaffolded-"))
    children = Children()
    server: Database | None = None
    results = Results(
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=machine_info(),
        settings={
            "clients": args.clients,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "repeats": args.repeats,
            "seeded": args.seed,
            "input": INPUT,
            "wrk": version_of([wrk_path, "--version"]),
        },
        load_average={"before": [round(x, 2) for x in os.getloadavg()]},
    )
    try:
        copy = workdir / "repo"
        copy.mkdir()
        print(f"[setup] copying the repository to {copy} ...", flush=True)
        copy_repository(copy)
        (workdir / "music.sql").write_text(INPUT)
        server = Database(workdir, DATABASE)
        print(f"[setup] fountain scaffold {SERVICE} --from-sql music.sql ...", flush=True)
        in_copy(copy, server, "scaffold", SERVICE, "--from-sql", str(workdir / "music.sql"))
        in_copy(copy, server, "db", "upgrade", SERVICE)
        server.sql(
            f"INSERT INTO {SERVICE}.track (name, composer, milliseconds, unit_price) "
            f"SELECT 'Track ' || g, 'Composer', 200000 + g, 0.99 FROM generate_series(1, {args.seed}) AS g"
        )
        server.sql(f"VACUUM ANALYZE {SERVICE}.track")
        port = free_port()
        log = workdir / "service.log"
        env = {
            **os.environ,
            "PYTHONPATH": str(copy),
            "FOUNTAIN_DATABASE_URL": server.url,
            "FOUNTAIN_LOG_LEVEL": "WARNING",
        }
        print(f"[setup] fountain serve {SERVICE} --port {port} --no-migrate --no-auth ...", flush=True)
        with log.open("wb") as service_log:
            service = children.start(
                # The service's own cost, as measured before keys were checked (loopback only).
                [
                    sys.executable,
                    "-m",
                    "fountain_cli.main",
                    "serve",
                    SERVICE,
                    "--port",
                    str(port),
                    "--no-migrate",
                    "--no-auth",
                ],
                env=env,
                cwd=copy,
                stdout=service_log,
                stderr=subprocess.STDOUT,
            )
        wait_ready(port, service, log)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{COLLECTION}/7", timeout=10) as response:
            row = json.loads(response.read())
        if row != {
            "trackId": 7,
            "name": "Track 7",
            "composer": "Composer",
            "milliseconds": 200007,
            "unitPrice": "0.99",
        }:
            raise RuntimeError(f"GET {COLLECTION}/7 answered {row}")

        wrk = Wrk(wrk_path, workdir, port, children)
        get_bench = Pgbench(workdir, server.socket_dir, "get.sql", PGBENCH_GET, children, args.pgbench_threads)
        create_bench = Pgbench(workdir, server.socket_dir, "create.sql", PGBENCH_CREATE, children, args.pgbench_threads)
        counter = [0]
        meter = CpuMeter(service.pid, server.server.get_pid())

        def measure(target: str, clients: int, duration: int, round_number: int) -> Run:
            counter[0] += 1
            if target.startswith("pgbench"):
                bench = get_bench if target == "pgbench-get" else create_bench
                outcome, _ = bench.run(clients, duration, {"seeded": str(args.seed)})
                return Run(
                    target,
                    clients,
                    round_number,
                    float(duration),
                    outcome["transactions"],
                    outcome["tps"],
                    outcome["p50_ms"],
                    outcome["p99_ms"],
                    {"failed": outcome["failed"]},
                )
            get_share = "100" if target == "service-get" else "0"
            script_args = [str(counter[0] * 10**12), "0", get_share, str(args.seed), "1", COLLECTION, BODY, "b"]
            before = meter.snapshot()
            outcome, _ = wrk.run(clients, duration, script_args)
            service_cpu, postgres_cpu = CpuMeter.delta(before, meter.snapshot())
            if service.poll() is not None:
                raise RuntimeError(f"the service exited with {service.returncode}:\n{tail(log)}")
            seconds = outcome["duration_us"] / 1e6
            errors = {k: int(v) for k, v in outcome["errors"].items()}
            answered = max(1, outcome["requests"] - errors["status"])
            return Run(
                target,
                clients,
                round_number,
                seconds,
                outcome["requests"],
                (outcome["requests"] - errors["status"]) / seconds,
                outcome["p50_us"] / 1000,
                outcome["p99_us"] / 1000,
                errors,
                1000 * service_cpu / answered,
                1000 * postgres_cpu / answered,
            )

        total = len(args.clients) * args.repeats * len(TARGETS)
        step = 0
        for clients in args.clients:
            if args.warmup:
                for target in TARGETS:
                    measure(target, clients, args.warmup, 0)
            for round_number in range(1, args.repeats + 1):
                shift = round_number % len(TARGETS)
                for target in TARGETS[shift:] + TARGETS[:shift]:
                    step += 1
                    print(f"[{step}/{total}] {target} clients={clients} round {round_number} ...", end=" ", flush=True)
                    result = measure(target, clients, args.duration, round_number)
                    results.runs.append(result)
                    bad = {k: v for k, v in result.errors.items() if v}
                    print(
                        f"{result.requests_per_s:,.0f}/s, p50 {fmt(result.p50_ms, 2)} ms"
                        + (f"  ERRORS {bad}" if bad else ""),
                        flush=True,
                    )
        results.load_average["after"] = [round(x, 2) for x in os.getloadavg()]
        summarise(results, args.clients)
        report(results)
        write_results(results, "scaffolded", args.output_dir)
        failed = sum(sum(r.errors.values()) for r in results.runs)
        return 1 if failed else 0
    finally:
        children.stop_all()
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def summarise(results: Results, clients_levels: list[int]) -> None:
    for clients in clients_levels:
        rates = {}
        for target in TARGETS:
            runs = [r for r in results.runs if r.target == target and r.clients == clients]
            rates[target] = median([r.requests_per_s for r in runs])
            results.summary.append(
                Summary(
                    target,
                    clients,
                    rates[target],
                    median_or_none([r.p50_ms for r in runs]),
                    median_or_none([r.p99_ms for r in runs]),
                    median_or_none([r.service_cpu_ms_per_request for r in runs]),
                    median_or_none([r.postgres_cpu_ms_per_request for r in runs]),
                )
            )
        for operation in ("get", "create"):
            ratio = rates[f"service-{operation}"] / rates[f"pgbench-{operation}"]
            results.ratios.append(Ratio(operation, clients, ratio))


def report(results: Results) -> None:
    print()
    print_table(
        ["target", "clients", "req/s (median)", "p50 ms", "p99 ms", "service CPU ms/req", "PostgreSQL CPU ms/req"],
        [
            [
                s.target,
                str(s.clients),
                f"{s.requests_per_s:,.0f}",
                fmt(s.p50_ms, 2),
                fmt(s.p99_ms, 2),
                fmt(s.service_cpu_ms_per_request, 3),
                fmt(s.postgres_cpu_ms_per_request, 3),
            ]
            for s in results.summary
        ],
    )
    print()
    print_table(
        ["operation", "clients", "service/pgbench"],
        [[r.operation, str(r.clients), f"{r.service_vs_pgbench:.2f}"] for r in results.ratios],
    )
    print(
        f"Load average (1, 5, 15 min) before the run {results.load_average['before']}, after it "
        f"{results.load_average['after']}."
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/scaffolded.py",
        description=(
            "Measure a scaffolded service's GET of one row and POST of one row (one process) against "
            "pgbench running the same SQL, at 1 and 32 clients."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--clients", type=clients_list, default=[1, 32], help="client counts (default: 1,32)")
    parser.add_argument("--duration", type=positive_int, default=5, help="seconds per measurement (default: 5)")
    parser.add_argument("--repeats", type=positive_int, default=3, help="rounds per client count (default: 3)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per target (default: 1)")
    parser.add_argument("--seed", type=positive_int, default=10000, help="rows inserted first (default: 10000)")
    parser.add_argument("--pgbench-threads", type=positive_int, default=2, help="pgbench -j at most (default: 2)")
    parser.add_argument("--output-dir", default=str(ROOT / "bench" / "results"), help="where the JSON goes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
