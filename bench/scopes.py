"""Benchmark of numbering scopes: what inserting and moving in one story costs as the system grows,
and whether writers of different stories wait on each other.

One run, on a fresh embedded PostgreSQL with ONE Central Sequence process (`fountain serve
central_sequence --no-migrate --no-auth`, log level WARNING):
  1. for each system size (10^4, 10^5 and 10^6 elements by default), fills the database up to that
     many elements, in stories of 200 (scopes story-1, story-2, ...), then with one client:
     - inserts a new element at position 1 of a random story (`POST /v2/scopes/{story}/elements`
       with sequenceNumber 1: every element of that story shifts), `--requests` times;
     - moves an element from the end of a random story to position 1 (`POST .../move`), as often;
     - runs pgbench for `--duration` s on the statements the service runs for the insert (lock the
       scope's row, shift its elements, count, insert), the database's own cost beside the service's;
  2. at the largest size, 32 writers (wrk) insert at position 1 for `--duration` s: spread over all
     stories, then all on one story, while psql samples how many backends wait on a lock;
  3. prints median and p99 latencies, the ratio of the largest size's medians to the smallest's (flat
     is 1.0), the writers' throughput and lock waits, checks that every story holds 1..n exactly once,
     and writes everything to bench/results/scopes-<timestamp>.json;
  4. stops every process it started, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import (
    DATABASE,
    WRK_HOWTO,
    Children,
    Database,
    Pgbench,
    find_wrk,
    fmt,
    machine_info,
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
STORY_SIZE = 200
TARGET_RATIO = 1.5  # median at the largest size / median at the smallest, for insert and move
WRITERS = 32

EXAMPLE = """\
examples:
  make bench-scopes                                            # 10^4, 10^5, 10^6 elements
  .venv/bin/python bench/scopes.py --sizes 10000,100000 --requests 100 --duration 5

Needs wrk (Debian package `wrk`) for the 32-writer part; run as root, the script installs it with
apt-get when missing.
"""

# pgbench: what the service runs for an insert at position 1 (store.insert_element), one transaction
# each, in a random story. :eid walks a block of ids of its own per client.
PGBENCH_INSERT = """\
\\set story random(1, :stories)
\\set n :n + 1
\\set eid :client_id * 100000000 + :n
BEGIN;
SELECT id AS sid, last_value AS last FROM central_sequence.scopes WHERE owner = '' AND name = 'story-' || CAST(:story AS text) FOR UPDATE \\gset
SELECT id FROM central_sequence.elements WHERE scope_id = :sid AND element_type = 'pgbench' AND element_id = :eid;
UPDATE central_sequence.elements SET sequence_number = sequence_number + 1, revision = revision + 1, updated_at = now()
  WHERE scope_id = :sid AND sequence_number BETWEEN 1 AND :last;
UPDATE central_sequence.scopes SET last_value = :last + 1 WHERE id = :sid;
INSERT INTO central_sequence.elements (scope_id, element_type, element_id, sequence_number)
  VALUES (:sid, 'pgbench', :eid, 1);
END;
"""

WRK_WRITERS = r"""
-- POST /v2/scopes/story-K/elements at position 1; K random among args[1] stories, or 1 with args[2]
-- == "one". Element types are per run (args[3]) and thread, ids per thread: every request is new.
-- (`thread_index` is a global each thread gets from setup(); a chunk-level local of the same name
-- would shadow it in every thread.)
local next_thread = 0
local threads = {}
function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end
statuses = ""
function response(status, headers, body)
  if status ~= 201 then statuses = statuses .. status .. " " .. body:sub(1, 160) .. "\n" end
end
function init(args)
  stories = tonumber(args[1]); one = args[2] == "one"; run = args[3]; counter = 0
  math.randomseed(thread_index * 7919 + 17)
end
local headers = { ["Content-Type"] = "application/json" }
function request()
  counter = counter + 1
  local story = one and 1 or math.random(1, stories)
  return wrk.format("POST", "/v2/scopes/story-" .. story .. "/elements", headers,
    string.format('{"elementType":"w%s_%d","elementId":%d,"sequenceNumber":1}', run, thread_index, counter))
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do io.write(thread:get("statuses")) end
  local e = summary.errors
  io.write(string.format('BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%.1f,"p99_us":%.1f,'
    .. '"errors":%d}\n', summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass
class SizeResult:
    elements: int
    stories: int
    insert_p50_ms: float
    insert_p99_ms: float
    move_p50_ms: float
    move_p99_ms: float
    pgbench_insert_p50_ms: float | None
    pgbench_insert_tps: float


@dataclass
class WritersResult:
    spread: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    lock_waiters_mean: float
    lock_waiters_max: int


@dataclass
class Results:
    started_at: str
    machine: dict[str, Any]
    settings: dict[str, Any]
    sizes: list[SizeResult] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    writers: list[WritersResult] = field(default_factory=list)
    invariant: dict[str, Any] = field(default_factory=dict)


class Client:
    """One keep-alive HTTP/1.1 connection: the figures are the service's, not a client library's."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, path: str, body: dict[str, Any]) -> float:
        """Send one POST; answers its latency in ms, failing on any answer but 200/201."""
        payload = json.dumps(body)
        started = time.perf_counter()
        self.connection.request("POST", path, payload, {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        answer = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status not in (200, 201):
            raise RuntimeError(f"POST {path} answered {response.status}: {answer[:300]!r}")
        return elapsed


def fill(database: Database, stories_before: int, stories_after: int) -> None:
    """Stories stories_before+1 .. stories_after, each holding `line` 1..200 numbered 1..200."""
    database.sql(
        "INSERT INTO central_sequence.scopes (name, last_value) "
        f"SELECT 'story-' || k, {STORY_SIZE} FROM generate_series({stories_before + 1}, {stories_after}) k"
    )
    database.sql(
        "INSERT INTO central_sequence.elements (scope_id, element_type, element_id, sequence_number) "
        f"SELECT s.id, 'line', n, n FROM generate_series({stories_before + 1}, {stories_after}) k "
        "JOIN central_sequence.scopes s ON s.name = 'story-' || k "
        f"CROSS JOIN generate_series(1, {STORY_SIZE}) n"
    )
    database.sql("VACUUM ANALYZE central_sequence.elements")
    database.sql("VACUUM ANALYZE central_sequence.scopes")
    database.sql("CHECKPOINT")


class LockSampler:
    """psql asking every 0.1 s how many backends wait on a lock, while it runs."""

    def __init__(self, database: Database, workdir: Path, children: Children) -> None:
        self.database, self.children = database, children
        self.output = workdir / "locks.out"

    def __enter__(self) -> LockSampler:
        query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \\watch 0.1\n"
        command = [self.database.psql, "-h", self.database.socket_dir, "-U", "postgres", "-d", DATABASE, "-At"]
        with self.output.open("wb") as out:
            self.proc = self.children.start(command, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT)
        assert self.proc.stdin is not None
        self.proc.stdin.write(query.encode())
        self.proc.stdin.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.samples = [int(line) for line in self.output.read_text().split() if line.isdigit()]


def run_writers(
    wrk: str, port: int, stories: int, one: bool, run_id: str, duration: int, workdir: Path, children: Children
) -> dict[str, Any]:
    script = workdir / "writers.lua"
    script.write_text(WRK_WRITERS)
    args = [wrk, "-t", "2", "-c", str(WRITERS), "-d", f"{duration}s", "--timeout", "30s", "-s", str(script)]
    args += [f"http://127.0.0.1:{port}", "--", str(stories), "one" if one else "all", run_id]
    output = workdir / "wrk.out"
    with output.open("wb") as out:
        proc = children.start(args, stdout=out, stderr=subprocess.STDOUT)
        wait_with_cpu(proc)
    text = output.read_text(errors="replace")
    match = re.search(r"^BENCH_RESULT (\{.*\})$", text, re.MULTILINE)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}):\n{text}")
    return dict(json.loads(match.group(1)))


def run(args: argparse.Namespace) -> int:
    sizes = sorted(args.sizes)
    print(
        f"Numbering scopes benchmark: {', '.join(f'{s:,}' for s in sizes)} elements in stories of {STORY_SIZE}; "
        f"{args.requests} inserts and moves per size; pgbench and writers {args.duration} s.",
        flush=True,
    )
    wrk = find_wrk()
    if wrk is None:
        print(f"NOTE: {WRK_HOWTO}\nNOTE: the 32-writer part is skipped.", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="fountain-bench-scopes-"))
    children = Children()
    database: Database | None = None
    try:
        print(f"[setup] embedded PostgreSQL in {workdir} ...", flush=True)
        database = Database(workdir, DATABASE)
        service, port, log = migrate_and_serve(SERVICE, database, workdir, children)
        pgbench = Pgbench(workdir, database.socket_dir, "insert.sql", PGBENCH_INSERT, children, 1)
        results = Results(
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            machine=machine_info(),
            settings={
                "sizes": sizes,
                "story_size": STORY_SIZE,
                "requests": args.requests,
                "duration_s": args.duration,
                "postgres": database.sql("SHOW server_version"),
                "pgbench": version_of([pgbench.pgbench, "--version"]),
                "wrk": version_of([wrk, "--version"]) if wrk else None,
                "pgbench_script": PGBENCH_INSERT,
            },
        )
        rng = random.Random(42)
        stories = 0
        moved: dict[int, int] = {}  # story -> moves made there: each moves another element from the end
        fresh_id = 0
        for size in sizes:
            wanted = size // STORY_SIZE
            print(f"[fill] {wanted * STORY_SIZE:,} elements in {wanted:,} stories ...", flush=True)
            fill(database, stories, wanted)
            stories = wanted
            if service.poll() is not None:
                raise RuntimeError(f"the service exited with {service.returncode}:\n{tail(log)}")
            client = Client(port)  # a new connection: the server closed the idle one during the fill
            inserts, moves = [], []
            for _ in range(args.requests):
                fresh_id += 1
                story = rng.randint(1, stories)
                body = {"elementType": "bench", "elementId": fresh_id, "sequenceNumber": 1}
                inserts.append(client.post(f"/v2/scopes/story-{story}/elements", body))
                story = rng.randint(1, stories)
                moved[story] = moved.get(story, 0) + 1
                element = f"/v2/scopes/story-{story}/elements/line/{STORY_SIZE + 1 - moved[story]}"
                moves.append(client.post(f"{element}/move", {"sequenceNumber": 1}))
            figures, _ = pgbench.run(1, args.duration, {"stories": str(stories), "n": str(size)})
            inserts.sort()
            moves.sort()
            row = SizeResult(
                elements=size,
                stories=stories,
                insert_p50_ms=percentile(inserts, 50),
                insert_p99_ms=percentile(inserts, 99),
                move_p50_ms=percentile(moves, 50),
                move_p99_ms=percentile(moves, 99),
                pgbench_insert_p50_ms=figures["p50_ms"],
                pgbench_insert_tps=figures["tps"],
            )
            results.sizes.append(row)
            print(
                f"[{size:,}] insert p50 {row.insert_p50_ms:.2f} ms, move p50 {row.move_p50_ms:.2f} ms, "
                f"pgbench insert p50 {fmt(row.pgbench_insert_p50_ms, 2)} ms",
                flush=True,
            )
        first, last = results.sizes[0], results.sizes[-1]
        results.ratios = {
            "insert": last.insert_p50_ms / first.insert_p50_ms,
            "move": last.move_p50_ms / first.move_p50_ms,
            "pgbench_insert": (last.pgbench_insert_p50_ms or 0) / (first.pgbench_insert_p50_ms or 1),
        }

        if wrk is not None:
            for one in (False, True):
                label = "one story" if one else f"{stories:,} stories"
                print(f"[writers] {WRITERS} writers at position 1, {label}, {args.duration} s ...", flush=True)
                with LockSampler(database, workdir, children) as locks:
                    data = run_writers(
                        wrk, port, stories, one, "one" if one else "all", args.duration, workdir, children
                    )
                results.writers.append(
                    WritersResult(
                        spread=label,
                        requests_per_s=data["requests"] / (data["duration_us"] / 1e6),
                        p50_ms=data["p50_us"] / 1000,
                        p99_ms=data["p99_us"] / 1000,
                        errors=data["errors"],
                        lock_waiters_mean=sum(locks.samples) / max(1, len(locks.samples)),
                        lock_waiters_max=max(locks.samples, default=0),
                    )
                )

        # Every story holds 1..n exactly once, and its counter says n.
        broken = database.sql(
            "SELECT count(*) FROM (SELECT s.id FROM central_sequence.scopes s "
            "JOIN central_sequence.elements e ON e.scope_id = s.id GROUP BY s.id, s.last_value "
            "HAVING count(*) <> s.last_value OR min(e.sequence_number) <> 1 OR max(e.sequence_number) <> s.last_value "
            "OR count(DISTINCT e.sequence_number) <> count(*)) broken"
        )
        total = int(database.sql("SELECT count(*) FROM central_sequence.elements"))
        results.invariant = {"elements": total, "stories_broken": int(broken), "ok": broken == "0"}

        print()
        print(f"One client; medians (p99) of {args.requests} requests per size; pgbench {args.duration} s.")
        print_table(
            ["elements", "stories", "insert at 1 ms", "move to 1 ms", "pgbench insert ms", "pgbench tx/s"],
            [
                [
                    f"{r.elements:,}",
                    f"{r.stories:,}",
                    f"{r.insert_p50_ms:.2f} ({r.insert_p99_ms:.2f})",
                    f"{r.move_p50_ms:.2f} ({r.move_p99_ms:.2f})",
                    fmt(r.pgbench_insert_p50_ms, 2),
                    f"{r.pgbench_insert_tps:,.0f}",
                ]
                for r in results.sizes
            ],
        )
        print(
            f"Ratio {last.elements:,} / {first.elements:,} elements (medians; flat is 1.0, target <= {TARGET_RATIO}): "
            f"insert {results.ratios['insert']:.2f}, move {results.ratios['move']:.2f}, "
            f"pgbench insert {results.ratios['pgbench_insert']:.2f}"
        )
        if results.writers:
            print(
                f"\n{WRITERS} writers inserting at position 1, {args.duration} s each, at {last.elements:,} elements:"
            )
            print_table(
                ["writers on", "req/s", "p50 ms", "p99 ms", "errors", "backends waiting on a lock (mean / max)"],
                [
                    [
                        w.spread,
                        f"{w.requests_per_s:,.0f}",
                        f"{w.p50_ms:.1f}",
                        f"{w.p99_ms:.1f}",
                        str(w.errors),
                        f"{w.lock_waiters_mean:.2f} / {w.lock_waiters_max}",
                    ]
                    for w in results.writers
                ],
            )
        print(
            f"\nInvariant: {total:,} elements, every story numbered 1..n exactly once: "
            + ("yes" if results.invariant["ok"] else f"NO ({broken} stories broken)")
        )
        write_results(results, "scopes", args.output_dir)
        met = all(v <= TARGET_RATIO for k, v in results.ratios.items() if k != "pgbench_insert")
        return 0 if results.invariant["ok"] and met else 1
    finally:
        children.stop_all()
        if database is not None:
            database.stop()


def sizes_list(text: str) -> list[int]:
    sizes = [positive_int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    if not sizes or any(size < STORY_SIZE for size in sizes):
        raise argparse.ArgumentTypeError(f"a comma-separated list of element counts, each at least {STORY_SIZE}")
    return sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Central Sequence numbering cost as the system grows, and writers of different stories.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", type=sizes_list, default=[10_000, 100_000, 1_000_000], help="elements in the system")
    parser.add_argument("--requests", type=positive_int, default=300, help="inserts and moves per size (default 300)")
    parser.add_argument("--duration", type=positive_int, default=10, help="seconds of pgbench and of each writers run")
    parser.add_argument("--output-dir", default=str(Path(__file__).parent / "results"), help="where the JSON goes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
