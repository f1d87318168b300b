"""Read-heavy and write-heavy load on the resource services (Character Management, Session and Context),
at 1 and 32 clients, through one service process on a fresh embedded PostgreSQL.

One run, per service:
  1. starts an embedded PostgreSQL in a new temporary folder, migrates the service, and starts ONE
     service process (`fountain serve <service> --no-migrate --no-auth`, log level WARNING);
  2. seeds `--seed` resources through the service's own /v2 POST, so reads hit a table of that size;
  3. for each mix (read-heavy, write-heavy) and client count, after a warm-up, runs wrk `--repeats`
     times for `--duration` seconds. Each request is drawn from the mix: a page of the list
     (`limit=50` at a random offset), one resource by a random seeded id, or a create (a new
     Idempotency-Key each, as a careful client sends);
  4. prints medians (requests/s, p50, p99), the ratio of 32-client to 1-client throughput and the
     service's peak RSS; writes everything to bench/results/crud-<timestamp>.json;
  5. checks that nothing was lost or doubled: every create claims its Idempotency-Key in the same
     transaction that inserts the row, so the table must hold exactly the seeded rows plus one row per
     claimed key; and no request may have failed;
  6. stops every process it started, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import (
    DATABASE,
    ROOT,
    WRK_HOWTO,
    Children,
    Database,
    RssSampler,
    clients_list,
    find_wrk,
    fmt,
    machine_info,
    median,
    migrate_and_serve,
    positive_int,
    print_table,
    run_guarded,
    tail,
    version_of,
    wait_with_cpu,
    write_results,
)

EXAMPLE = """\
examples:
  make bench-crud                                          # both services, 1 and 32 clients, 10 s x 3
  .venv/bin/python bench/crud.py --service character --duration 5 --repeats 3
  .venv/bin/python bench/crud.py --clients 1,8,32 --seed 10000

Needs wrk (Debian package `wrk`); run as root, the script installs it with apt-get when missing.
"""


@dataclass(frozen=True)
class Resource:
    """The /v2 collection a service's benchmark drives, and how to make a new member of it."""

    service: str
    collection: str  # e.g. /v2/characters; members are <collection>/<id>
    id_field: str  # the id in a created resource's JSON
    table: str  # schema-qualified, for the nothing-lost check
    body: str  # a Lua format string with one %d: the new resource's number


RESOURCES = {
    "character": Resource(
        service="character",
        collection="/v2/characters",
        id_field="characterId",
        table="character.characters",
        body='{"name":"Bench character %d","description":"A character made by the benchmark."}',
    ),
    "session_context": Resource(
        service="session_context",
        collection="/v2/sessions",
        id_field="sessionId",
        table="session_context.sessions",
        body='{"userId":%d,"context":"Made by the benchmark."}',
    ),
}

# Shares of each request kind, in percent.
MIXES = {
    "read-heavy": {"list": 45, "get": 45, "create": 10},
    "write-heavy": {"list": 10, "get": 10, "create": 80},
}


WRK_SCRIPT = r"""
-- One request per call, drawn from the mix: a list page, one seeded resource, or a create.
-- Arguments: run base, list%, get%, seeded count, first id, collection, body format, key prefix.
-- (`thread_index` is a global each thread gets from setup(); a chunk-level local of the same name
-- would shadow it in every thread.)
local next_thread = 0

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  counter = tonumber(args[1]) + thread_index * 1000000000
  list_share = tonumber(args[2])
  get_share = tonumber(args[3])
  seeded = tonumber(args[4])
  first_id = tonumber(args[5])
  collection = args[6]
  body_format = args[7]
  key_prefix = args[8]
  math.randomseed(counter)
end

local json = { ["Content-Type"] = "application/json" }

function request()
  local draw = math.random(100)
  if draw <= list_share then
    local offset = math.random(0, math.max(0, seeded - 50))
    return wrk.format("GET", string.format("%s?limit=50&offset=%d", collection, offset))
  elseif draw <= list_share + get_share then
    return wrk.format("GET", string.format("%s/%d", collection, first_id + math.random(0, seeded - 1)))
  end
  counter = counter + 1
  local headers = { ["Content-Type"] = "application/json",
                    ["Idempotency-Key"] = string.format("%s-%.0f", key_prefix, counter) }
  return wrk.format("POST", collection, headers, string.format(body_format, counter % 1000000000))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%.1f,"p99_us":%.1f,'
    .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass
class Run:
    service: str
    mix: str
    clients: int
    repeat: int
    duration_s: float
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    wrk_cpu_pct: float


@dataclass
class Summary:
    service: str
    mix: str
    clients: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    scaling_vs_1_client: float | None


@dataclass
class Results:
    started_at: str
    machine: dict[str, Any]
    settings: dict[str, Any]
    runs: list[Run] = field(default_factory=list)
    summary: list[Summary] = field(default_factory=list)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    nothing_lost: dict[str, Any] = field(default_factory=dict)


class Wrk:
    def __init__(self, wrk: str, workdir: Path, port: int, children: Children) -> None:
        self.wrk = wrk
        self.script = workdir / "mix.lua"
        self.script.write_text(WRK_SCRIPT)
        self.output = workdir / "wrk.out"
        self.url = f"http://127.0.0.1:{port}"
        self.children = children

    def run(self, clients: int, duration: int, script_args: list[str]) -> tuple[dict[str, Any], float]:
        args = [self.wrk, *f"-t 1 -c {clients} -d {duration}s --timeout 10s".split(), "-s", str(self.script)]
        args += [self.url, "--", *script_args]
        with self.output.open("wb") as out:
            proc = self.children.start(args, stdout=out, stderr=subprocess.STDOUT)
            cpu = wait_with_cpu(proc)
        text = self.output.read_text(errors="replace")
        match = re.search(r"^BENCH_RESULT (\{.*\})$", text, re.MULTILINE)
        if proc.returncode != 0 or match is None:
            raise RuntimeError(f"wrk failed (exit {proc.returncode}):\n{text}")
        return json.loads(match.group(1)), cpu


def seed(port: int, resource: Resource, count: int) -> list[int]:
    """Create `count` resources through the API; answers their ids."""
    import httpx

    ids: list[int] = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for n in range(1, count + 1):
            body = json.loads(resource.body.replace("%d", str(n)))
            response = client.post(resource.collection, json=body)
            if response.status_code != 201:
                raise RuntimeError(f"seeding {resource.collection} failed: {response.status_code} {response.text}")
            ids.append(int(response.json()[resource.id_field]))
            if n % 500 == 0 or n == count:
                print(f"\r[setup] seeded {n}/{count} {resource.collection}", end="", flush=True)
    print(flush=True)
    return ids


def bench_service(
    args: argparse.Namespace, resource: Resource, wrk_path: str, results: Results, step: list[int], total: int
) -> None:
    workdir = Path(tempfile.mkdtemp(prefix=f"fountain-bench-{resource.service}-"))
    children = Children()
    server: Database | None = None
    sampler: RssSampler | None = None
    try:
        print(f"[setup] {resource.service}: embedded PostgreSQL in {workdir} ...", flush=True)
        server = Database(workdir, DATABASE)
        sql = server.sql
        service, port, log = migrate_and_serve(resource.service, server, workdir, children)

        ids = seed(port, resource, args.seed)
        if ids != list(range(ids[0], ids[0] + len(ids))):
            raise RuntimeError("seeded ids are not consecutive; the get requests could miss")
        sampler = RssSampler(service.pid)
        sampler.start()
        wrk = Wrk(wrk_path, workdir, port, children)
        run_number = 0

        def measure(mix: str, clients: int, duration: int) -> tuple[dict[str, Any], float]:
            nonlocal run_number
            run_number += 1
            shares = MIXES[mix]
            sql(f"ANALYZE {resource.table}")
            outcome, cpu = wrk.run(
                clients,
                duration,
                [
                    str(run_number * 10**12),
                    str(shares["list"]),
                    str(shares["get"]),
                    str(len(ids)),
                    str(ids[0]),
                    resource.collection,
                    resource.body,
                    f"bench-{run_number}",
                ],
            )
            if service.poll() is not None:
                raise RuntimeError(f"the service exited with {service.returncode}:\n{tail(log)}")
            return outcome, cpu

        for mix in MIXES:
            for clients in args.clients:
                if args.warmup:
                    measure(mix, clients, args.warmup)
                for repeat in range(1, args.repeats + 1):
                    step[0] += 1
                    print(
                        f"[{step[0]}/{total}] {resource.service} {mix} clients={clients} repeat {repeat} ...",
                        end=" ",
                        flush=True,
                    )
                    outcome, cpu = measure(mix, clients, args.duration)
                    duration_s = outcome["duration_us"] / 1e6
                    errors = {k: int(v) for k, v in outcome["errors"].items()}
                    run = Run(
                        service=resource.service,
                        mix=mix,
                        clients=clients,
                        repeat=repeat,
                        duration_s=duration_s,
                        requests=outcome["requests"],
                        requests_per_s=(outcome["requests"] - errors["status"]) / duration_s,
                        p50_ms=outcome["p50_us"] / 1000,
                        p99_ms=outcome["p99_us"] / 1000,
                        errors=errors,
                        wrk_cpu_pct=100 * cpu / duration_s,
                    )
                    results.runs.append(run)
                    bad = {k: v for k, v in errors.items() if v}
                    print(
                        f"{run.requests_per_s:,.0f} req/s, p50 {run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms"
                        + (f"  ERRORS {bad}" if bad else ""),
                        flush=True,
                    )

        sampler.stop()
        results.peak_rss_mb[resource.service] = max(sampler.peak, sampler.sample()) / 2**20
        # One statement, so both counts come from one snapshot: creates wrk abandoned when its time was
        # up may still be committing.
        schema = resource.table.split(".")[0]
        rows, keys = (
            int(n)
            for n in sql(
                f"SELECT (SELECT count(*) FROM {resource.table}), "
                f"(SELECT count(*) FROM {schema}.idempotency_keys WHERE key LIKE 'bench-%')"
            ).split("|")
        )
        failed = sum(sum(r.errors.values()) for r in results.runs if r.service == resource.service)
        results.nothing_lost[resource.service] = {
            "seeded": len(ids),
            "created_with_a_key": keys,
            "rows_after": rows,
            "failed_requests": failed,
        }
    finally:
        if sampler is not None:
            sampler.stop()
        children.stop_all()
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def summarise(results: Results) -> None:
    keys = sorted(
        {(r.service, r.mix, r.clients) for r in results.runs}, key=lambda k: (k[0], list(MIXES).index(k[1]), k[2])
    )
    rates: dict[tuple[str, str, int], float] = {}
    for service, mix, clients in keys:
        runs = [r for r in results.runs if (r.service, r.mix, r.clients) == (service, mix, clients)]
        rates[(service, mix, clients)] = median([r.requests_per_s for r in runs])
        one = rates.get((service, mix, 1))
        results.summary.append(
            Summary(
                service=service,
                mix=mix,
                clients=clients,
                requests_per_s=rates[(service, mix, clients)],
                p50_ms=median([r.p50_ms for r in runs]),
                p99_ms=median([r.p99_ms for r in runs]),
                scaling_vs_1_client=rates[(service, mix, clients)] / one if one else None,
            )
        )


def run(args: argparse.Namespace) -> int:
    wrk = find_wrk()
    if wrk is None:
        print(WRK_HOWTO, file=sys.stderr)
        return 2
    services = [RESOURCES[name] for name in args.service]
    total = len(services) * len(MIXES) * len(args.clients) * args.repeats
    results = Results(
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=machine_info(),
        settings={
            "services": args.service,
            "clients": args.clients,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "repeats": args.repeats,
            "seeded": args.seed,
            "mixes": MIXES,
            "wrk": version_of([wrk, "--version"]),
        },
    )
    print(
        f"Resource services benchmark: {', '.join(args.service)}; mixes {', '.join(MIXES)}; clients "
        f"{', '.join(map(str, args.clients))}; {args.duration} s x {args.repeats} after a {args.warmup} s warm-up; "
        f"{args.seed} seeded rows; {os.cpu_count()} CPUs.",
        flush=True,
    )
    step = [0]
    for resource in services:
        bench_service(args, resource, wrk, results, step, total)
    summarise(results)

    print()
    print(f"Medians of {args.repeats} runs of {args.duration} s each (one service process, wrk -t1):")
    print_table(
        ["service", "mix", "clients", "req/s", "p50 ms", "p99 ms", "x 1 client"],
        [
            [
                s.service,
                s.mix,
                str(s.clients),
                fmt(s.requests_per_s, 0),
                fmt(s.p50_ms, 2),
                fmt(s.p99_ms, 2),
                fmt(s.scaling_vs_1_client, 2),
            ]
            for s in results.summary
        ],
    )
    print()
    ok = True
    for service, check in results.nothing_lost.items():
        expected = check["seeded"] + check["created_with_a_key"]
        fine = check["failed_requests"] == 0 and check["rows_after"] == expected
        ok = ok and fine
        print(
            f"{service}: peak RSS {results.peak_rss_mb[service]:.1f} MB; rows {check['rows_after']} = "
            f"{check['seeded']} seeded + {check['created_with_a_key']} created (one per Idempotency-Key): "
            f"{'OK' if fine else 'MISMATCH'}; failed requests {check['failed_requests']}"
        )
    write_results(results, "crud", args.output_dir)
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/crud.py",
        description=(
            "Measure Character Management and Session and Context under a read-heavy mix (list pages and "
            "single reads, 10% creates) and a write-heavy one (80% creates), at several client counts, "
            "each service as one process on a fresh embedded PostgreSQL."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--service",
        type=lambda text: [part for part in text.split(",") if part],
        default=list(RESOURCES),
        help=f"comma-separated services (default: {','.join(RESOURCES)})",
    )
    parser.add_argument("--clients", type=clients_list, default=[1, 32], help="client counts (default: 1,32)")
    parser.add_argument("--duration", type=positive_int, default=10, help="seconds per measurement (default: 10)")
    parser.add_argument("--repeats", type=positive_int, default=3, help="measurements per case (default: 3)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per case (default: 2)")
    parser.add_argument("--seed", type=positive_int, default=2000, help="resources created first (default: 2000)")
    parser.add_argument("--output-dir", default=str(ROOT / "bench" / "results"), help="where the JSON goes")
    args = parser.parse_args(argv)
    unknown = [name for name in args.service if name not in RESOURCES]
    if unknown:
        parser.error(f"unknown service {', '.join(unknown)}; choose from {', '.join(RESOURCES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
