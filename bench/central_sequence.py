"""Benchmark of the Central Sequence Service: number allocations over HTTP against PostgreSQL's own
limit for the same SQL (pgbench), on a fresh embedded PostgreSQL.

One run:
  1. starts an embedded PostgreSQL in a new temporary folder, migrates it, and starts ONE service
     process (`fountain serve central_sequence --no-migrate --no-auth`, log level WARNING);
  2. for each number of concurrent clients (1, 8, 32 by default), after a short warm-up, alternates
     `--repeats` times: wrk sending `POST /v1/sequence` for a new element each request, then pgbench
     running the service's allocation statement (batching._NUMBER_BATCH) for one new element each
     transaction, over the server's unix socket;
  3. prints the medians, the service's peak RSS and whether the project's targets are met, and
     writes everything to bench/results/central_sequence-<timestamp>.json;
  4. checks that the database holds the numbers 1..N, each exactly once;
  5. stops every process it started, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import (
    DATABASE,
    ROOT,
    WRK_HOWTO,
    Children,
    CpuMeter,
    Database,
    LoadResult,
    Pgbench,
    RssSampler,
    clients_list,
    find_wrk,
    fmt,
    machine_info,
    median,
    median_or_none,
    migrate_and_serve,
    percentile,
    positive_int,
    print_table,
    run_guarded,
    tail,
    version_of,
    wait_with_cpu,
    write_results,
)

SERVICE = "central_sequence"
TARGET_CLIENTS = 32
TARGET_RATIO = 0.5  # HTTP allocations/s at 32 clients >= half of pgbench's tx/s
TARGET_RSS_MB = 150.0  # peak RSS of the one service process
ID_STRIDE = 1_000_000_000  # ids per wrk thread / pgbench client within one run
RUN_STRIDE = 1_000_000_000_000  # ids per run: every run (warm-ups included) gets its own block

EXAMPLE = """\
examples:
  make bench                                              # defaults: 1, 8, 32 clients, 10 s, 3 repeats
  .venv/bin/python bench/central_sequence.py --duration 5 --repeats 3
  .venv/bin/python bench/central_sequence.py --clients 32 --duration 20 --repeats 5

Needs wrk (Debian package `wrk`); run as root, the script installs it with apt-get when missing.
Without it, `--load-generator python` uses a slower asyncio client (said so in the output).
"""


# --------------------------------------------------------------------------------------------------
# Measurements


@dataclass
class HttpRun:
    clients: int
    repeat: int
    load_generator: str
    duration_s: float
    allocations: int
    allocations_per_s: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    service_cpu_pct: float  # of one core
    postgres_cpu_pct: float
    load_generator_cpu_pct: float
    service_peak_rss_mb: float


@dataclass
class PgbenchRun:
    clients: int
    repeat: int
    threads: int
    duration_s: float
    transactions: int
    tps: float
    p50_ms: float | None
    p99_ms: float | None
    failed: int
    postgres_cpu_pct: float
    pgbench_cpu_pct: float


@dataclass
class Summary:
    clients: int
    http_allocations_per_s: float
    http_p50_ms: float
    http_p99_ms: float
    pgbench_tps: float
    pgbench_p50_ms: float | None
    pgbench_p99_ms: float | None
    ratio: float
    service_cpu_pct: float
    postgres_cpu_pct_http: float
    load_generator_cpu_pct: float
    service_peak_rss_mb: float


@dataclass
class Results:
    started_at: str
    machine: dict[str, Any]
    settings: dict[str, Any]
    http_runs: list[HttpRun] = field(default_factory=list)
    pgbench_runs: list[PgbenchRun] = field(default_factory=list)
    summary: list[Summary] = field(default_factory=list)
    service_peak_rss_mb: float = 0.0
    targets: dict[str, Any] = field(default_factory=dict)
    invariant: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# The load generators


WRK_SCRIPT = r"""
-- POST /v1/sequence for a NEW element each request: the ids of one run start at the run's base
-- (first script argument), each wrk thread has its own block of ids, and a per-thread counter walks it.
-- (`thread_index` is a global each thread gets from setup(); a chunk-level local of the same name
-- would shadow it in every thread.)
local next_thread = 0

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  counter = tonumber(args[1]) + thread_index * tonumber(args[2])
end

local headers = { ["Content-Type"] = "application/json" }

function request()
  counter = counter + 1
  return wrk.format("POST", "/v1/sequence", headers,
    string.format('{"elementType":"bench","elementId":%.0f}', counter))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%.1f,"p99_us":%.1f,"mean_us":%.1f,"max_us":%.1f,'
    .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


class WrkLoad:
    name = "wrk"

    def __init__(self, wrk: str, workdir: Path, port: int, max_threads: int, children: Children) -> None:
        self.wrk = wrk
        self.script = workdir / "allocate.lua"
        self.script.write_text(WRK_SCRIPT)
        self.output = workdir / "wrk.out"
        self.url = f"http://127.0.0.1:{port}"
        self.max_threads = max_threads
        self.children = children

    def threads_for(self, clients: int) -> int:
        threads = max(1, min(self.max_threads, clients))
        while clients % threads:  # wrk gives each thread connections / threads connections
            threads -= 1
        return threads

    def run(self, clients: int, duration: int, base: int) -> LoadResult:
        threads = self.threads_for(clients)
        args = [self.wrk, *f"-t {threads} -c {clients} -d {duration}s --timeout 10s".split(), "-s", str(self.script)]
        args += [self.url, "--", str(base), str(ID_STRIDE)]  # init(args) in the Lua script gets these two
        with self.output.open("wb") as out:
            proc = self.children.start(args, stdout=out, stderr=subprocess.STDOUT)
            cpu = wait_with_cpu(proc)
        text = self.output.read_text(errors="replace")
        match = re.search(r"^BENCH_RESULT (\{.*\})$", text, re.MULTILINE)
        if proc.returncode != 0 or match is None:
            raise RuntimeError(f"wrk failed (exit {proc.returncode}):\n{text}")
        data = json.loads(match.group(1))
        errors = {k: int(v) for k, v in data["errors"].items()}
        return LoadResult(
            requests=data["requests"],
            ok=data["requests"] - errors["status"],
            duration_s=data["duration_us"] / 1e6,
            p50_ms=data["p50_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            errors=errors,
            cpu_s=cpu,
        )


class PythonLoad:
    """Fallback when wrk cannot be had: asyncio keep-alive connections speaking plain HTTP/1.1. It runs
    in this process and costs far more CPU per request than wrk, so on 2 cores it takes CPU from the
    service and the figures are lower bounds."""

    name = "python-asyncio"

    def __init__(self, port: int) -> None:
        self.port = port

    async def _run(self, clients: int, duration: int, base: int) -> tuple[list[float], int, int, float]:
        latencies: list[float] = []
        failures = 0
        status_errors = 0
        stop_at = time.perf_counter() + duration
        port = self.port

        async def client(index: int) -> None:
            nonlocal failures, status_errors
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            element_id = base + index * ID_STRIDE
            try:
                while time.perf_counter() < stop_at:
                    element_id += 1
                    body = b'{"elementType":"bench","elementId":%d}' % element_id
                    request = (
                        b"POST /v1/sequence HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (port, len(body), body)
                    )
                    started = time.perf_counter()
                    writer.write(request)
                    head = await reader.readuntil(b"\r\n\r\n")
                    found = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                    if found is None:
                        raise RuntimeError(f"response without Content-Length: {head!r}")
                    await reader.readexactly(int(found.group(1)))
                    latencies.append(time.perf_counter() - started)
                    if head[9:12] != b"201":
                        status_errors += 1
            except (OSError, asyncio.IncompleteReadError):
                failures += 1
            finally:
                writer.close()

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        return latencies, status_errors, failures, time.perf_counter() - started

    def run(self, clients: int, duration: int, base: int) -> LoadResult:
        before = resource.getrusage(resource.RUSAGE_SELF)
        latencies, status_errors, failures, elapsed = asyncio.run(self._run(clients, duration, base))
        after = resource.getrusage(resource.RUSAGE_SELF)
        latencies.sort()
        return LoadResult(
            requests=len(latencies),
            ok=len(latencies) - status_errors,
            duration_s=elapsed,
            p50_ms=percentile(latencies, 50) * 1000,
            p99_ms=percentile(latencies, 99) * 1000,
            errors={"connection": failures, "status": status_errors},
            cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        )


# --------------------------------------------------------------------------------------------------
# pgbench


def pgbench_script() -> str:
    """The service's allocation statement (batching._NUMBER_BATCH), word for word, numbering one new
    element per transaction: PostgreSQL's own limit for numbering one element at a time. Each client
    walks its own block of ids (`:client_id`), so every transaction numbers a new element. (Under
    load the service numbers the requests that arrive together in one statement, so its HTTP figure
    can pass this one.)"""
    from services.central_sequence.batching import _NUMBER_BATCH

    statement = textwrap.dedent(_NUMBER_BATCH.text).strip()
    statement = statement.replace(":types", "ARRAY[:element_type_value]").replace(":ids", "ARRAY[:eid]")
    # /v1 numbers in the scope `default`, of no account when the service checks no identity (--no-auth)
    statement = statement.replace(":scope", "'default'").replace(":owner", "''")
    return (
        "-- One allocation per transaction: the service's statement (batching._NUMBER_BATCH) for one element.\n"
        "\\set n :n + 1\n"
        f"\\set eid :base + :client_id * {ID_STRIDE} + :n\n"
        f"{statement};\n"
    )


def run(args: argparse.Namespace) -> int:
    clients_levels = args.clients
    total_steps = len(clients_levels) * args.repeats * 2
    print(
        f"Central Sequence Service benchmark: clients {', '.join(map(str, clients_levels))}; "
        f"{args.duration} s per measurement after a {args.warmup} s warm-up; {args.repeats} repeats; "
        f"{os.cpu_count()} CPUs.",
        flush=True,
    )

    if args.load_generator in ("auto", "wrk"):
        wrk = find_wrk()
        if wrk is None and args.load_generator == "wrk":
            print(WRK_HOWTO, file=sys.stderr)
            return 2
        if wrk is None:
            print(
                f"NOTE: {WRK_HOWTO}\nNOTE: falling back to the built-in asyncio client, which competes with "
                "the service for the CPU: the HTTP figures are LOWER BOUNDS.",
                flush=True,
            )
    else:
        wrk = None

    workdir = Path(tempfile.mkdtemp(prefix="fountain-bench-"))
    children = Children()
    server: Database | None = None
    sampler: RssSampler | None = None
    try:
        print(f"[setup] embedded PostgreSQL in {workdir} ...", flush=True)
        server = Database(workdir, DATABASE)
        socket_dir, sql = server.socket_dir, server.sql
        service, port, log = migrate_and_serve(SERVICE, server, workdir, children)

        sampler = RssSampler(service.pid)
        sampler.start()
        cpu = CpuMeter(service.pid, server.server.get_pid())
        load: WrkLoad | PythonLoad = (
            WrkLoad(wrk, workdir, port, args.wrk_threads, children) if wrk else PythonLoad(port)
        )
        pgbench = Pgbench(workdir, socket_dir, "allocate.sql", pgbench_script(), children, args.pgbench_threads)

        results = Results(
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            machine=machine_info(),
            settings={
                "clients": clients_levels,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "repeats": args.repeats,
                "load_generator": load.name,
                "load_generator_version": version_of([wrk, "--version"]) if wrk else "built-in",
                "wrk_threads_max": args.wrk_threads,
                "pgbench_threads_max": args.pgbench_threads,
                "analyze_before_each_measurement": not args.no_analyze,
                "pgbench": version_of([pgbench.pgbench, "--version"]),
                "postgres": sql("SHOW server_version"),
                "pgbench_script": pgbench_script(),
                "service_command": f"fountain serve {SERVICE} --port {port} --no-migrate",
            },
        )

        run_number = 0
        answered = {"http": 0, "pgbench": 0}  # warm-ups included, for the accounting at the end

        def next_base() -> int:
            nonlocal run_number
            run_number += 1
            return run_number * RUN_STRIDE

        def check_service() -> None:
            if service.poll() is not None:
                raise RuntimeError(f"the service exited with {service.returncode}:\n{tail(log)}")

        def settle() -> None:
            # Fresh statistics before each measurement, as autovacuum keeps them in a long-running
            # deployment (its first pass comes only after a minute): the ANALYZE also makes the service
            # plan its prepared statements again for the table as it is now, not as it was when empty.
            if not args.no_analyze:
                sql("ANALYZE central_sequence.elements")
            sql("CHECKPOINT")

        def measure_http(clients: int, duration: int) -> tuple[LoadResult, float, float, float]:
            settle()
            sampler.start_window()
            before = cpu.snapshot()
            result = load.run(clients, duration, next_base())
            answered["http"] += result.ok
            after = cpu.snapshot()
            check_service()
            service_cpu, postgres_cpu = CpuMeter.delta(before, after)
            return result, service_cpu, postgres_cpu, sampler.window_peak / 2**20

        def measure_pgbench(clients: int, duration: int) -> tuple[dict[str, Any], float, float]:
            settle()
            before = cpu.snapshot()
            outcome, pgbench_cpu = pgbench.run(
                clients, duration, {"base": str(next_base()), "n": "0", "element_type_value": "pgbench"}
            )
            answered["pgbench"] += outcome["transactions"]
            after = cpu.snapshot()
            _, postgres_cpu = CpuMeter.delta(before, after)
            return outcome, postgres_cpu, pgbench_cpu

        step = 0
        for clients in clients_levels:
            if args.warmup > 0:
                print(
                    f"[clients={clients}] warm-up: {load.name} {args.warmup} s, pgbench {args.warmup} s ...", flush=True
                )
                measure_http(clients, args.warmup)
                measure_pgbench(clients, args.warmup)
            for repeat in range(1, args.repeats + 1):
                step += 1
                print(
                    f"[{step}/{total_steps}] clients={clients} repeat {repeat}/{args.repeats}: HTTP via {load.name} ...",
                    end=" ",
                    flush=True,
                )
                result, service_cpu, postgres_cpu, peak = measure_http(clients, args.duration)
                http = HttpRun(
                    clients=clients,
                    repeat=repeat,
                    load_generator=load.name,
                    duration_s=result.duration_s,
                    allocations=result.ok,
                    allocations_per_s=result.ok / result.duration_s,
                    p50_ms=result.p50_ms,
                    p99_ms=result.p99_ms,
                    errors=result.errors,
                    service_cpu_pct=100 * service_cpu / result.duration_s,
                    postgres_cpu_pct=100 * postgres_cpu / result.duration_s,
                    load_generator_cpu_pct=100 * result.cpu_s / result.duration_s,
                    service_peak_rss_mb=peak,
                )
                results.http_runs.append(http)
                bad = {k: v for k, v in result.errors.items() if v}
                print(
                    f"{http.allocations_per_s:,.0f} alloc/s, p50 {http.p50_ms:.2f} ms, p99 {http.p99_ms:.2f} ms"
                    + (f"  ERRORS {bad}" if bad else ""),
                    flush=True,
                )

                step += 1
                print(
                    f"[{step}/{total_steps}] clients={clients} repeat {repeat}/{args.repeats}: pgbench ...",
                    end=" ",
                    flush=True,
                )
                outcome, postgres_cpu, pgbench_cpu = measure_pgbench(clients, args.duration)
                pg = PgbenchRun(
                    clients=clients,
                    repeat=repeat,
                    threads=outcome["threads"],
                    duration_s=args.duration,
                    transactions=outcome["transactions"],
                    tps=outcome["tps"],
                    p50_ms=outcome["p50_ms"],
                    p99_ms=outcome["p99_ms"],
                    failed=outcome["failed"],
                    postgres_cpu_pct=100 * postgres_cpu / args.duration,
                    pgbench_cpu_pct=100 * pgbench_cpu / args.duration,
                )
                results.pgbench_runs.append(pg)
                print(
                    f"{pg.tps:,.0f} tx/s, p50 {fmt(pg.p50_ms, 2)} ms, p99 {fmt(pg.p99_ms, 2)} ms"
                    + (f"  FAILED {pg.failed}" if pg.failed else ""),
                    flush=True,
                )

        sampler.stop()
        results.service_peak_rss_mb = max(sampler.peak, sampler.sample()) / 2**20

        for clients in clients_levels:
            https = [r for r in results.http_runs if r.clients == clients]
            pgs = [r for r in results.pgbench_runs if r.clients == clients]
            http_rate = median([r.allocations_per_s for r in https])
            tps = median([r.tps for r in pgs])
            results.summary.append(
                Summary(
                    clients=clients,
                    http_allocations_per_s=http_rate,
                    http_p50_ms=median([r.p50_ms for r in https]),
                    http_p99_ms=median([r.p99_ms for r in https]),
                    pgbench_tps=tps,
                    pgbench_p50_ms=median_or_none([r.p50_ms for r in pgs]),
                    pgbench_p99_ms=median_or_none([r.p99_ms for r in pgs]),
                    ratio=http_rate / tps if tps else float("nan"),
                    service_cpu_pct=median([r.service_cpu_pct for r in https]),
                    postgres_cpu_pct_http=median([r.postgres_cpu_pct for r in https]),
                    load_generator_cpu_pct=median([r.load_generator_cpu_pct for r in https]),
                    service_peak_rss_mb=max(r.service_peak_rss_mb for r in https),
                )
            )

        # The invariant: the elements hold exactly the numbers 1..N, each once.
        count, maximum, distinct, minimum, counter = (
            int(v or 0)
            for v in sql(
                "SELECT count(*), max(sequence_number), count(DISTINCT sequence_number), min(sequence_number), "
                "(SELECT last_value FROM central_sequence.scopes WHERE owner = '' AND name = 'default') "
                "FROM central_sequence.elements"
            ).split("|")
        )
        invariant_ok = count == maximum == distinct == counter and (count == 0 or minimum == 1)
        # Every answered request and every pgbench transaction must have numbered a NEW element (a
        # repeated id would be answered from the existing row, a cheaper path). The service may also
        # have numbered a few elements whose answers wrk dropped when a run's time was up.
        by_type = dict(
            (line.split("|")[0], int(line.split("|")[1]))
            for line in sql("SELECT element_type, count(*) FROM central_sequence.elements GROUP BY 1").splitlines()
            if line
        )
        new_each_time = by_type.get("pgbench", 0) == answered["pgbench"] and by_type.get("bench", 0) >= answered["http"]
        results.invariant = {
            "elements": count,
            "max": maximum,
            "distinct": distinct,
            "min": minimum,
            "counter": counter,
            "ok": invariant_ok,
            "http_answered": answered["http"],
            "http_elements": by_type.get("bench", 0),
            "pgbench_transactions": answered["pgbench"],
            "pgbench_elements": by_type.get("pgbench", 0),
            "every_allocation_new": new_each_time,
        }

        target_row = next((s for s in results.summary if s.clients == TARGET_CLIENTS), None)
        ratio_met = None if target_row is None else target_row.ratio >= TARGET_RATIO
        rss_met = results.service_peak_rss_mb < TARGET_RSS_MB
        results.targets = {
            "ratio_at_32_clients": {
                "target": f">= {TARGET_RATIO}",
                "value": target_row.ratio if target_row else None,
                "met": ratio_met,
            },
            "service_peak_rss_mb": {
                "target": f"< {TARGET_RSS_MB:.0f}",
                "value": results.service_peak_rss_mb,
                "met": rss_met,
            },
        }

        # The report
        print()
        note = "" if load.name == "wrk" else "  (asyncio fallback client: HTTP figures are lower bounds)"
        print(f"Medians of {args.repeats} runs of {args.duration} s each; HTTP load from {load.name}{note}.")
        print_table(
            ["clients", "HTTP alloc/s", "p50 ms", "p99 ms", "pgbench tx/s", "ratio HTTP/pgbench"],
            [
                [
                    str(s.clients),
                    fmt(s.http_allocations_per_s, 0),
                    fmt(s.http_p50_ms, 2),
                    fmt(s.http_p99_ms, 2),
                    fmt(s.pgbench_tps, 0),
                    f"{s.ratio:.2f}",
                ]
                for s in results.summary
            ],
        )
        print()
        print(
            "Where the CPU went during the HTTP runs (% of one core; the machine has "
            f"{os.cpu_count()} cores), and pgbench's own latency:"
        )
        print_table(
            ["clients", "service CPU %", "PostgreSQL CPU %", f"{load.name} CPU %", "pgbench p50 ms", "pgbench p99 ms"],
            [
                [
                    str(s.clients),
                    fmt(s.service_cpu_pct, 0),
                    fmt(s.postgres_cpu_pct_http, 0),
                    fmt(s.load_generator_cpu_pct, 0),
                    fmt(s.pgbench_p50_ms, 2),
                    fmt(s.pgbench_p99_ms, 2),
                ]
                for s in results.summary
            ],
        )
        print()
        print(f"Service peak RSS: {results.service_peak_rss_mb:.1f} MB")
        if target_row is None:
            print(
                f"Target HTTP >= {TARGET_RATIO:.0%} of pgbench at {TARGET_CLIENTS} clients: not measured (no run at {TARGET_CLIENTS} clients)"
            )
        else:
            print(
                f"Target HTTP >= {TARGET_RATIO:.0%} of pgbench at {TARGET_CLIENTS} clients: "
                f"{'MET' if ratio_met else 'NOT MET'} (ratio {target_row.ratio:.2f})"
            )
        print(
            f"Target service RSS < {TARGET_RSS_MB:.0f} MB: {'MET' if rss_met else 'NOT MET'} "
            f"(peak {results.service_peak_rss_mb:.1f} MB)"
        )
        print(
            f"Invariant, numbers 1..N each exactly once: {'OK' if invariant_ok else 'VIOLATED'} "
            f"(elements {count}, distinct numbers {distinct}, min {minimum}, max {maximum}, counter {counter})"
        )
        print(
            f"Every allocation numbered a new element: {'yes' if new_each_time else 'NO'} "
            f"(pgbench: {answered['pgbench']} transactions, {by_type.get('pgbench', 0)} elements; "
            f"HTTP: {answered['http']} answers, {by_type.get('bench', 0)} elements)"
        )

        write_results(results, "central_sequence", args.output_dir)
        return 0 if invariant_ok and new_each_time else 1
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if sampler is not None:
            sampler.stop()
        children.stop_all()
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/central_sequence.py",
        description=(
            "Measure the Central Sequence Service's number allocations (POST /v1/sequence, a new element "
            "each request) through HTTP at several client counts, against pgbench running the same SQL "
            "on the same fresh embedded PostgreSQL, and check that the numbers stay 1..N without gaps "
            "or duplicates."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=positive_int, default=10, help="seconds per measurement (default: 10)")
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=3,
        help="measurements per configuration; medians are reported (default: 3)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="seconds of warm-up per client count, for each side (default: 2; 0 for none)",
    )
    parser.add_argument(
        "--clients", type=clients_list, default=[1, 8, 32], help="comma-separated client counts (default: 1,8,32)"
    )
    parser.add_argument(
        "--load-generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="HTTP load generator: wrk (installed with apt-get as root when missing), the built-in asyncio "
        "client, or auto: wrk if it can be had, else the asyncio client (default: auto)",
    )
    parser.add_argument(
        "--wrk-threads",
        type=positive_int,
        default=1,
        help="wrk threads at most (default: 1; one thread drives 32 connections easily and leaves the other core to the service and PostgreSQL)",
    )
    parser.add_argument("--pgbench-threads", type=positive_int, default=2, help="pgbench -j at most (default: 2)")
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="do not ANALYZE the elements table before each measurement (shows how the service fares while "
        "its prepared statements keep the plans they got when the table was empty)",
    )
    parser.add_argument(
        "--output-dir",
        default=str(ROOT / "bench" / "results"),
        help="where the JSON results go (default: bench/results)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
