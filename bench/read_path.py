"""The read path: `GET /v2/characters/{id}` of Character Management against a minimal FastAPI + asyncpg
app serving the same read, and against pgbench running the same SELECT, at 1 and 32 clients, all in
one run on one fresh embedded PostgreSQL.

One run:
  1. starts an embedded PostgreSQL in a new temporary folder, migrates Character Management and starts
     ONE service process (`fountain serve character --no-migrate --no-auth`, log level WARNING), as crud.py does;
  2. seeds `--seed` characters through the service's own POST /v2/characters, then VACUUM ANALYZE and
     CHECKPOINT: from then on the table only is read;
  3. starts the minimal app (bench/minimal_read_app.py) under the same uvicorn settings (one worker,
     no access log) with an asyncpg pool as large as the service's pool, and checks that both answer
     the same JSON and ETag for the same ids;
  4. for each client count: a warm-up of each of the three, then `--repeats` rounds; in each round the
     service, the minimal app and pgbench are measured in turn for `--duration` seconds each (the order
     rotates from round to round). HTTP load: wrk -t1 with crud.py's script, every request a GET of a
     random seeded id. pgbench: `-M prepared`, the same SELECT with a random seeded id;
  5. prints medians (req/s, p50, p99, CPU) and the ratios service/minimal and service/pgbench, and
     writes everything to bench/results/read_path-<timestamp>.json;
  6. stops every process it started, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from crud import RESOURCES, Wrk, seed
from harness import (
    DATABASE,
    ROOT,
    WRK_HOWTO,
    Children,
    CpuMeter,
    Database,
    Pgbench,
    RssSampler,
    clients_list,
    find_wrk,
    fmt,
    free_port,
    machine_info,
    median,
    median_or_none,
    migrate_and_serve,
    positive_int,
    print_table,
    run_guarded,
    tail,
    version_of,
    wait_ready,
    write_results,
)

RESOURCE = RESOURCES["character"]
PATH = RESOURCE.collection  # /v2/characters; the reads go to /v2/characters/<id>
TARGETS = ("service", "minimal", "pgbench")
MINIMAL_APP = Path(__file__).resolve().parent / "minimal_read_app.py"

# The statement both HTTP sides run (the service builds it with SQLAlchemy: select(characters)
# .where(characters.c.id == :id)); pgbench runs it with a random seeded id.
SELECT = 'SELECT id, name, description, revision, created_at, updated_at FROM "character".characters WHERE id = '

EXAMPLE = """\
examples:
  make bench-read                                              # 1 and 32 clients, 5 rounds of 4 s (about 2.5 min)
  .venv/bin/python bench/read_path.py --duration 10 --repeats 5
  .venv/bin/python bench/read_path.py --clients 1,8,32 --seed 10000

Needs wrk (Debian package `wrk`); run as root, the script installs it with apt-get when missing.
"""


@dataclass
class Run:
    target: str  # service | minimal | pgbench
    clients: int
    round: int
    duration_s: float
    requests: int
    requests_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    errors: dict[str, int]
    process_cpu_pct: float | None  # the HTTP server process (None for pgbench)
    process_cpu_ms_per_request: float | None  # its CPU per answered request: less sensitive to other load
    # PostgreSQL's backends serving the HTTP side (None for pgbench: its backends end with the run,
    # and the CPU of a process that has ended can no longer be read).
    postgres_cpu_pct: float | None
    load_cpu_pct: float  # wrk or pgbench
    # PostgreSQL sessions opened during an HTTP run (pg_stat_database.sessions, +-1): a pool that
    # opens and closes connections under load instead of keeping them. None for pgbench.
    db_sessions_opened: int | None = None


@dataclass
class Summary:
    target: str
    clients: int
    requests_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    process_cpu_pct: float | None
    process_cpu_ms_per_request: float | None
    postgres_cpu_pct: float | None
    load_cpu_pct: float
    db_sessions_opened: int | None


@dataclass
class Ratio:
    clients: int
    service_vs_minimal: float  # ratio of the medians of req/s
    service_vs_pgbench: float
    minimal_vs_pgbench: float
    service_vs_minimal_per_round: float  # median over rounds of the ratio within each round
    service_vs_pgbench_per_round: float
    service_cpu_per_request_vs_minimal: float  # service CPU ms/request / minimal app's: > 1 costs more


@dataclass
class Results:
    started_at: str
    machine: dict[str, Any]
    settings: dict[str, Any]
    parity: dict[str, Any] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    summary: list[Summary] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    # 1, 5 and 15-minute load averages before and after: other work on the machine lowers every figure.
    load_average: dict[str, list[float]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# pgbench


def pgbench_script(first_id: int, last_id: int) -> str:
    return f"-- One read of a random seeded character per transaction.\n\\set id random({first_id}, {last_id})\n{SELECT}:id;\n"


# --------------------------------------------------------------------------------------------------
# The minimal app


def start_minimal_app(
    database: Database, pool_size: int, workdir: Path, children: Children
) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    log = workdir / "minimal.log"
    env = {**os.environ, "MINIMAL_DATABASE_URL": database.url, "MINIMAL_POOL_SIZE": str(pool_size)}
    print(f"[setup] minimal FastAPI + asyncpg app (pool {pool_size}) --port {port} ...", flush=True)
    with log.open("wb") as app_log:
        process = children.start(
            [sys.executable, str(MINIMAL_APP), "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=app_log,
            stderr=subprocess.STDOUT,
        )
    wait_ready(port, process, log)
    print(f"[setup] minimal app ready on http://127.0.0.1:{port} (pid {process.pid})", flush=True)
    return process, port, log


def fetch(port: int, path: str) -> tuple[int, Any, str | None]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.status, json.loads(response.read()), response.headers.get("etag")


def check_parity(service_port: int, minimal_port: int, ids: list[int]) -> dict[str, Any]:
    """Both must answer the same body and ETag for the same ids, or the comparison means nothing."""
    sample = sorted({ids[0], ids[len(ids) // 2], ids[-1]})
    for item_id in sample:
        service = fetch(service_port, f"{PATH}/{item_id}")
        minimal = fetch(minimal_port, f"{PATH}/{item_id}")
        if service != minimal:
            raise RuntimeError(
                f"the minimal app does not answer what the service answers for {PATH}/{item_id}:\n"
                f"  service: {service}\n  minimal: {minimal}"
            )
    return {"ids_compared": sample, "same_body_and_etag": True, "example": service[1], "etag": service[2]}


def service_pool_size() -> dict[str, int]:
    """The pool the service process will have: its settings read from the same environment."""
    from fountain_common.settings import Settings

    settings = Settings(_env_file=ROOT / ".env")
    return {"pool_size": settings.pool_size, "pool_overflow": settings.pool_overflow}


def package_versions() -> dict[str, str]:
    versions = {}
    for name in ("fastapi", "starlette", "uvicorn", "pydantic", "sqlalchemy", "asyncpg", "uvloop", "httptools"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


# --------------------------------------------------------------------------------------------------
# The run


def run(args: argparse.Namespace) -> int:
    wrk_path = find_wrk()
    if wrk_path is None:
        print(WRK_HOWTO, file=sys.stderr)
        return 2
    pool = service_pool_size()
    rounds_total = len(args.clients) * args.repeats * len(TARGETS)
    print(
        f"Read path benchmark: GET {PATH}/{{id}} of Character Management vs a minimal FastAPI + asyncpg app vs "
        f"pgbench; clients {', '.join(map(str, args.clients))}; {args.repeats} rounds of {args.duration} s after a "
        f"{args.warmup} s warm-up; {args.seed} seeded characters; {os.cpu_count()} CPUs.",
        flush=True,
    )

    load_before = [round(x, 2) for x in os.getloadavg()]
    if load_before[0] > 0.5:
        print(
            f"Note: the 1-minute load average is {load_before[0]:.2f} before the run: other work on this machine "
            "will share the CPU with the benchmark.",
            flush=True,
        )
    workdir = Path(tempfile.mkdtemp(prefix="fountain-bench-read-"))
    children = Children()
    server: Database | None = None
    samplers: dict[str, RssSampler] = {}
    try:
        print(f"[setup] embedded PostgreSQL in {workdir} ...", flush=True)
        server = Database(workdir, DATABASE)
        sql = server.sql
        service, service_port, service_log = migrate_and_serve(RESOURCE.service, server, workdir, children)

        ids = seed(service_port, RESOURCE, args.seed)
        if ids != list(range(ids[0], ids[0] + len(ids))):
            raise RuntimeError("seeded ids are not consecutive; the reads could miss")
        sql(f"VACUUM ANALYZE {RESOURCE.table}")
        sql("CHECKPOINT")

        minimal, minimal_port, minimal_log = start_minimal_app(server, pool["pool_size"], workdir, children)
        postmaster = server.server.get_pid()
        processes = {"service": (service, service_log), "minimal": (minimal, minimal_log)}
        meters = {name: CpuMeter(proc.pid, postmaster) for name, (proc, _) in processes.items()}
        for name, (proc, _) in processes.items():
            samplers[name] = RssSampler(proc.pid)
            samplers[name].start()
        wrks = {
            "service": Wrk(wrk_path, workdir, service_port, children),
            "minimal": Wrk(wrk_path, workdir, minimal_port, children),
        }
        script = pgbench_script(ids[0], ids[-1])
        pgbench = Pgbench(workdir, server.socket_dir, "read.sql", script, children, args.pgbench_threads)

        results = Results(
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            machine=machine_info(),
            settings={
                "clients": args.clients,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "repeats": args.repeats,
                "seeded": len(ids),
                "request": f"GET {PATH}/<random seeded id>",
                "service_command": f"fountain serve {RESOURCE.service} --port {service_port} --no-migrate --no-auth",
                "minimal_command": f"python bench/minimal_read_app.py --port {minimal_port}",
                "service_pool": pool,
                "minimal_pool": {"min_size": pool["pool_size"], "max_size": pool["pool_size"]},
                "wrk": version_of([wrk_path, "--version"]),
                "wrk_threads": 1,
                "pgbench": version_of([pgbench.pgbench, "--version"]),
                "pgbench_threads_max": args.pgbench_threads,
                "pgbench_script": script,
                "postgres": sql("SHOW server_version"),
                "packages": package_versions(),
            },
        )
        results.load_average["before"] = load_before
        results.parity = check_parity(service_port, minimal_port, ids)
        print(f"[setup] same JSON and ETag from both apps for ids {results.parity['ids_compared']}", flush=True)

        def db_sessions() -> int:
            return int(sql(f"SELECT sessions FROM pg_stat_database WHERE datname = '{DATABASE}'"))

        def check_alive() -> None:
            for name, (proc, log) in processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"the {name} process exited with {proc.returncode}:\n{tail(log)}")

        def measure(target: str, clients: int, duration: int, round_number: int) -> Run:
            if target == "pgbench":
                outcome, load_cpu = pgbench.run(clients, duration)
                return Run(
                    target=target,
                    clients=clients,
                    round=round_number,
                    duration_s=float(duration),
                    requests=outcome["transactions"],
                    requests_per_s=outcome["tps"],
                    p50_ms=outcome["p50_ms"],
                    p99_ms=outcome["p99_ms"],
                    errors={"failed": outcome["failed"]},
                    process_cpu_pct=None,
                    process_cpu_ms_per_request=None,
                    postgres_cpu_pct=None,
                    load_cpu_pct=100 * load_cpu / duration,
                )
            meter = meters[target]
            sessions_before = db_sessions()
            before = meter.snapshot()
            outcome, load_cpu = wrks[target].run(
                clients,
                duration,
                # crud.py's script with 0 % list pages, 100 % reads of one seeded id, 0 % creates.
                ["1", "0", "100", str(len(ids)), str(ids[0]), PATH, RESOURCE.body, "read"],
            )
            process_cpu, postgres_cpu = CpuMeter.delta(before, meter.snapshot())
            sessions_opened = db_sessions() - sessions_before - 1  # less the psql that read the count
            check_alive()
            duration_s = outcome["duration_us"] / 1e6
            errors = {k: int(v) for k, v in outcome["errors"].items()}
            answered = outcome["requests"] - errors["status"]
            return Run(
                target=target,
                clients=clients,
                round=round_number,
                duration_s=duration_s,
                requests=outcome["requests"],
                requests_per_s=answered / duration_s,
                p50_ms=outcome["p50_us"] / 1000,
                p99_ms=outcome["p99_us"] / 1000,
                errors=errors,
                process_cpu_pct=100 * process_cpu / duration_s,
                process_cpu_ms_per_request=1000 * process_cpu / answered if answered else None,
                postgres_cpu_pct=100 * postgres_cpu / duration_s,
                load_cpu_pct=100 * load_cpu / duration_s,
                db_sessions_opened=sessions_opened,
            )

        step = 0
        for clients in args.clients:
            if args.warmup > 0:
                print(f"[clients={clients}] warm-up: {args.warmup} s each of {', '.join(TARGETS)} ...", flush=True)
                for target in TARGETS:
                    measure(target, clients, args.warmup, 0)
            for round_number in range(1, args.repeats + 1):
                # Rotate the order, so that no side always runs first (or right after pgbench).
                shift = (round_number - 1) % len(TARGETS)
                for target in TARGETS[shift:] + TARGETS[:shift]:
                    step += 1
                    print(
                        f"[{step}/{rounds_total}] clients={clients} round {round_number}/{args.repeats}: {target:8} ...",
                        end=" ",
                        flush=True,
                    )
                    result = measure(target, clients, args.duration, round_number)
                    results.runs.append(result)
                    bad = {k: v for k, v in result.errors.items() if v}
                    print(
                        f"{result.requests_per_s:,.0f} req/s, p50 {fmt(result.p50_ms, 2)} ms, "
                        f"p99 {fmt(result.p99_ms, 2)} ms" + (f"  ERRORS {bad}" if bad else ""),
                        flush=True,
                    )

        results.load_average["after"] = [round(x, 2) for x in os.getloadavg()]
        for name, sampler in samplers.items():
            sampler.stop()
            results.peak_rss_mb[name] = max(sampler.peak, sampler.sample()) / 2**20
        summarise(results, args.clients)
        report(results, args)
        write_results(results, "read_path", args.output_dir)
        failed = sum(sum(r.errors.values()) for r in results.runs)
        if failed:
            print(f"{failed} requests or transactions failed: exit status 1", file=sys.stderr)
        return 0 if failed == 0 else 1
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for sampler in samplers.values():
            sampler.stop()
        children.stop_all()
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def summarise(results: Results, clients_levels: list[int]) -> None:
    for clients in clients_levels:
        rates: dict[str, float] = {}
        for target in TARGETS:
            runs = [r for r in results.runs if r.target == target and r.clients == clients]
            rates[target] = median([r.requests_per_s for r in runs])
            results.summary.append(
                Summary(
                    target=target,
                    clients=clients,
                    requests_per_s=rates[target],
                    p50_ms=median_or_none([r.p50_ms for r in runs]),
                    p99_ms=median_or_none([r.p99_ms for r in runs]),
                    process_cpu_pct=median_or_none([r.process_cpu_pct for r in runs]),
                    process_cpu_ms_per_request=median_or_none([r.process_cpu_ms_per_request for r in runs]),
                    postgres_cpu_pct=median_or_none([r.postgres_cpu_pct for r in runs]),
                    load_cpu_pct=median([r.load_cpu_pct for r in runs]),
                    db_sessions_opened=(
                        None if target == "pgbench" else int(median([r.db_sessions_opened or 0 for r in runs]))
                    ),
                )
            )
        cpu = {s.target: s.process_cpu_ms_per_request for s in results.summary if s.clients == clients}
        by_round: dict[int, dict[str, float]] = {}
        for r in results.runs:
            if r.clients == clients:
                by_round.setdefault(r.round, {})[r.target] = r.requests_per_s
        results.ratios.append(
            Ratio(
                clients=clients,
                service_vs_minimal=rates["service"] / rates["minimal"],
                service_vs_pgbench=rates["service"] / rates["pgbench"],
                minimal_vs_pgbench=rates["minimal"] / rates["pgbench"],
                service_vs_minimal_per_round=median([x["service"] / x["minimal"] for x in by_round.values()]),
                service_vs_pgbench_per_round=median([x["service"] / x["pgbench"] for x in by_round.values()]),
                service_cpu_per_request_vs_minimal=(cpu["service"] or 0) / (cpu["minimal"] or 1),
            )
        )


def report(results: Results, args: argparse.Namespace) -> None:
    names = {"service": "service", "minimal": "minimal app", "pgbench": "pgbench"}
    print()
    print(
        f"Medians of {args.repeats} rounds of {args.duration} s (req/s for pgbench: transactions/s; "
        f"CPU in % of one core, {os.cpu_count()} cores):"
    )
    print_table(
        [
            "clients",
            "target",
            "req/s",
            "p50 ms",
            "p99 ms",
            "server CPU %",
            "CPU ms/req",
            "PostgreSQL CPU %",
            "load gen CPU %",
            "DB sessions opened",
        ],
        [
            [
                str(s.clients),
                names[s.target],
                fmt(s.requests_per_s, 0),
                fmt(s.p50_ms, 2),
                fmt(s.p99_ms, 2),
                fmt(s.process_cpu_pct, 0),
                fmt(s.process_cpu_ms_per_request, 3),
                fmt(s.postgres_cpu_pct, 0),
                fmt(s.load_cpu_pct, 0),
                "-" if s.db_sessions_opened is None else str(s.db_sessions_opened),
            ]
            for s in results.summary
        ],
    )
    print()
    print(
        "Throughput ratios (of the medians; in brackets the median of the ratios within each round), and the "
        "service's CPU per request over the minimal app's:"
    )
    print_table(
        ["clients", "service/minimal", "service/pgbench", "minimal/pgbench", "CPU per request service/minimal"],
        [
            [
                str(r.clients),
                f"{r.service_vs_minimal:.2f} ({r.service_vs_minimal_per_round:.2f})",
                f"{r.service_vs_pgbench:.2f} ({r.service_vs_pgbench_per_round:.2f})",
                f"{r.minimal_vs_pgbench:.2f}",
                f"{r.service_cpu_per_request_vs_minimal:.2f}",
            ]
            for r in results.ratios
        ],
    )
    print()
    print(
        "Peak RSS: "
        + ", ".join(f"{names[name]} {mb:.1f} MB" for name, mb in results.peak_rss_mb.items())
        + f". Pools: service {results.settings['service_pool']}, minimal app {results.settings['minimal_pool']}."
    )
    print(
        f"Load average (1, 5, 15 min) before the run {results.load_average['before']}, after it "
        f"{results.load_average['after']}; the benchmark itself keeps about 2 cores busy."
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/read_path.py",
        description=(
            "Measure GET /v2/characters/{id} of Character Management (one process) against a minimal "
            "FastAPI + asyncpg app reading the same row and against pgbench running the same SELECT."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--clients", type=clients_list, default=[1, 32], help="client counts (default: 1,32)")
    parser.add_argument("--duration", type=positive_int, default=4, help="seconds per measurement (default: 4)")
    parser.add_argument("--repeats", type=positive_int, default=5, help="rounds per client count (default: 5)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="seconds of warm-up per side and client count (default: 1)"
    )
    parser.add_argument("--seed", type=positive_int, default=1000, help="characters created first (default: 1000)")
    parser.add_argument("--pgbench-threads", type=positive_int, default=2, help="pgbench -j at most (default: 2)")
    parser.add_argument("--output-dir", default=str(ROOT / "bench" / "results"), help="where the JSON goes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
