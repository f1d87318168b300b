"""How long Story Factory takes to assemble a story of 10, 100 and 1,000 lines, at 1 and 8 concurrent
readers, with every service in a process of its own as docker-compose runs them.

One run:
  1. starts an embedded PostgreSQL in a new temporary folder, migrates every schema, and starts one
     `fountain serve <service>` process per service (log level WARNING), each told where the others
     are (FOUNTAIN_<SERVICE>_URL), so every call between services is a real HTTP request;
  2. seeds one script per size through the public APIs: sections of `--lines-per-section` lines, each
     line naming its own action, spoken word and context (the worst case for Story Factory: every id
     of every kind is distinct) and one of 12 characters;
  3. for each size and reader count, after a warm-up, runs `--repeats` rounds of `--duration` seconds
     in which each reader asks GET /v1/stories?scriptId=... again and again; every answer is checked
     (200, the expected number of story elements in order 1..N);
  4. prints medians over the rounds (p50 and p95 latency, stories/s), the time per line, the time of
     Core Script's content read alone (the first of the two round trips of an assembly), and the
     ratios between sizes: with batched reads, ten times the lines must cost at most about ten times
     the time (ratio <= 10 means no worse than linear); writes bench/results/story-<timestamp>.json;
  5. imports a feature-length Fountain screenplay (`--import-file`, Big Fish: 191 scenes, 1,669
     elements) `--imports` times through POST /v2/stories, each a new story, and reports the median
     time and the requests between services per import (the `fountain_upstream_requests` counters of
     every service, read before and after); then reads the last one back as Fountain (GET
     /v2/stories/{id}/fountain) at 1 reader for `--duration` seconds, `--repeats` rounds, and reports
     the median p50 and the CPU time each service process spent per read (user + system, from
     /proc through psutil, before and after each round): on a machine others load too, CPU per read
     moves far less than wall-clock time;
  6. stops every process it started, also on Ctrl-C or an error.

`--only-import` skips steps 2-4. `--only-readback` also imports just once (no import timings) and
measures the read-back alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from harness import (
    ROOT,
    Children,
    Database,
    fmt,
    fountain_command,
    free_port,
    machine_info,
    median,
    percentile,
    positive_int,
    print_table,
    run_guarded,
    wait_ready,
    write_results,
)

SERVICES = ("central_sequence", "character", "session_context", "core_script", "story_factory")
IMPORT_FILE = ROOT / "tests" / "story_factory" / "screenplays" / "Big-Fish.fountain"
_UPSTREAM_COUNTER = re.compile(r"^fountain_upstream_requests_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)
CHARACTERS = 12


@dataclass
class Measurement:
    lines: int
    readers: int
    rounds: list[dict[str, float]] = field(default_factory=list)
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    stories_per_s: float = 0.0
    ms_per_line: float = 0.0


@dataclass
class Results:
    machine: dict[str, Any]
    settings: dict[str, Any]
    seed_seconds: float = 0.0
    measurements: list[Measurement] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    # size -> median ms of Core Script's content read alone: the first of the two round trips
    content_read_ms: dict[int, float] = field(default_factory=dict)
    imports: dict[str, Any] = field(default_factory=dict)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000", help="story sizes in lines, comma-separated")
    parser.add_argument("--readers", default="1,8", help="concurrent readers, comma-separated")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per round (default 5)")
    parser.add_argument("--repeats", type=positive_int, default=3, help="rounds per measurement (default 3)")
    parser.add_argument("--lines-per-section", type=positive_int, default=20)
    parser.add_argument("--output-dir", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--import-file", default=str(IMPORT_FILE), help="the screenplay to import (Fountain)")
    parser.add_argument("--imports", type=positive_int, default=5, help="imports to time (default 5)")
    parser.add_argument("--only-import", action="store_true", help="measure the import and its read-back only")
    parser.add_argument(
        "--only-readback",
        action="store_true",
        help="import the screenplay once, untimed, and measure its read-back as Fountain only",
    )
    args = parser.parse_args()
    if args.only_readback:
        args.only_import, args.imports = True, 1
    args.sizes = [positive_int(part) for part in args.sizes.split(",")]
    args.readers = [positive_int(part) for part in args.readers.split(",")]
    return args


def start_services(database: Database, workdir: Path, children: Children) -> tuple[dict[str, str], dict[str, int]]:
    """Every service in a process of its own; answers their URLs and process ids by service name."""
    fountain = fountain_command()
    ports = {name: free_port() for name in SERVICES}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    pids: dict[str, int] = {}
    env = {
        **os.environ,
        "FOUNTAIN_DATABASE_URL": database.url,
        "FOUNTAIN_LOG_LEVEL": "WARNING",
        **{f"FOUNTAIN_{name.upper()}_URL": url for name, url in urls.items() if name != "story_factory"},
    }
    print("[setup] fountain db upgrade (every service) ...", flush=True)
    migrate = subprocess.run([fountain, "db", "upgrade"], env=env, cwd=ROOT, capture_output=True, text=True)
    if migrate.returncode != 0:
        raise RuntimeError(f"migration failed:\n{migrate.stdout}\n{migrate.stderr}")
    for name in SERVICES:
        log = workdir / f"{name}.log"
        with log.open("wb") as out:
            process = children.start(
                [fountain, "serve", name, "--port", str(ports[name]), "--no-migrate", "--no-auth"],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_ready(ports[name], process, log)
        pids[name] = process.pid
        print(f"[setup] {name} ready on {urls[name]} (pid {process.pid})", flush=True)
    return urls, pids


async def post(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(url, json=body)
    if response.status_code != 201:
        raise RuntimeError(f"POST {url} answered {response.status_code}: {response.text}")
    created: dict[str, Any] = response.json()
    return created


async def seed_story(urls: dict[str, str], lines: int, per_section: int, characters: list[int]) -> int:
    """One script of `lines` lines through the public APIs; answers its id."""
    limit = asyncio.Semaphore(16)

    async def bounded(coroutine: Any) -> Any:
        async with limit:
            return await coroutine

    async with httpx.AsyncClient(timeout=60) as client:
        script = await post(client, f"{urls['core_script']}/v2/scripts", {"title": f"A story of {lines} lines"})
        script_id = script["scriptId"]
        actions = await asyncio.gather(
            *(
                bounded(post(client, f"{urls['character']}/v2/actions", {"description": f"Action {i}."}))
                for i in range(lines)
            )
        )
        spoken = await asyncio.gather(
            *(
                bounded(post(client, f"{urls['character']}/v2/spokenWords", {"text": f"Line {i}."}))
                for i in range(lines)
            )
        )
        # One context per character and session: a session per run of CHARACTERS lines.
        sessions = await asyncio.gather(
            *(
                bounded(post(client, f"{urls['session_context']}/v2/sessions", {"userId": 1}))
                for _ in range(-(-lines // len(characters)))
            )
        )
        contexts = await asyncio.gather(
            *(
                bounded(
                    post(
                        client,
                        f"{urls['session_context']}/v2/sessions/{sessions[i // len(characters)]['sessionId']}/contexts",
                        {"characterId": characters[i % len(characters)], "data": {"mood": f"mood {i}"}},
                    )
                )
                for i in range(lines)
            )
        )
        sections = [
            await post(client, f"{urls['core_script']}/v2/scripts/{script_id}/sections", {"title": f"Scene {n + 1}"})
            for n in range(-(-lines // per_section))
        ]

        async def fill(section_index: int) -> None:
            heading_id = sections[section_index]["headingId"]
            for i in range(section_index * per_section, min(lines, (section_index + 1) * per_section)):
                await post(
                    client,
                    f"{urls['core_script']}/v2/scripts/{script_id}/sections/{heading_id}/lines",
                    {
                        "characterId": characters[i % len(characters)],
                        "actionId": actions[i]["actionId"],
                        "spokenWordId": spoken[i]["spokenWordId"],
                        "contextId": contexts[i]["contextId"],
                    },
                )

        # Sections fill one after another (a line insert locks its script), lines in order.
        for index in range(len(sections)):
            await fill(index)
        return int(script_id)


async def read_for(url: str, script_id: int, lines: int, readers: int, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def reader(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.get(f"{url}/v1/stories", params={"scriptId": script_id})
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"GET /v1/stories answered {response.status_code}: {response.text[:500]}")
            story = response.json()["story"]
            if [element["sequence"] for element in story] != list(range(1, lines + 1)):
                raise RuntimeError(f"the story of {lines} lines came back with {len(story)} elements or out of order")

    limits = httpx.Limits(max_connections=readers, max_keepalive_connections=readers)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(reader(client) for _ in range(readers)))
    return latencies, len(latencies)


def content_read_ms(core_script_url: str, script_id: int, calls: int = 20) -> float:
    """Median time of GET /v2/scripts/{id}/content alone, one call at a time."""
    timings = []
    with httpx.Client(timeout=60) as client:
        for _ in range(calls):
            started = time.perf_counter()
            client.get(f"{core_script_url}/v2/scripts/{script_id}/content").raise_for_status()
            timings.append(time.perf_counter() - started)
    return median(timings) * 1000


def requests_between_services(urls: dict[str, str]) -> int:
    """Every HTTP attempt any service has made to another so far (their /metrics counters)."""
    with httpx.Client(timeout=30) as client:
        texts = [client.get(f"{url}/metrics").text for url in urls.values()]
    return int(sum(float(value) for text in texts for value in _UPSTREAM_COUNTER.findall(text)))


def import_screenplay(urls: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """Import the screenplay `args.imports` times, each a new story; the last one is read back."""
    screenplay = Path(args.import_file).read_bytes()
    timings: list[float] = []
    calls: list[int] = []
    body: dict[str, Any] = {}
    with httpx.Client(timeout=120) as client:
        for _ in range(args.imports):
            before = requests_between_services(urls)
            started = time.perf_counter()
            response = client.post(
                f"{urls['story_factory']}/v2/stories",
                content=screenplay,
                headers={"content-type": "text/plain; charset=utf-8"},
            )
            timings.append(time.perf_counter() - started)
            if response.status_code != 201:
                raise RuntimeError(f"POST /v2/stories answered {response.status_code}: {response.text[:500]}")
            calls.append(requests_between_services(urls) - before)
            body = response.json()
    return {
        "file": Path(args.import_file).name,
        "script_id": int(body["scriptId"]),
        "sections": body["sectionCount"],
        "lines": body["lineCount"],
        "characters": body["characterCount"],
        "import_median_s": median(timings),
        "import_seconds": timings,
        "requests_between_services": calls,
    }


def _cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds each service process has used so far, and all PostgreSQL processes
    together (`postgres`: the postmaster and its children, the backends)."""
    used = {}
    for name, pid in pids.items():
        if name == "postgres":
            postmaster = psutil.Process(pid)
            used[name] = 0.0
            for process in [postmaster, *postmaster.children()]:
                with contextlib.suppress(psutil.Error):
                    used[name] += sum(process.cpu_times()[:2])
            continue
        times = psutil.Process(pid).cpu_times()
        used[name] = times.user + times.system
    return used


def measure_readback(
    urls: dict[str, str], pids: dict[str, int], script_id: int, args: argparse.Namespace
) -> dict[str, Any]:
    """GET /v2/stories/{id}/fountain at 1 reader: a warm-up, then `args.repeats` rounds of
    `args.duration` seconds, each with its p50, p95 and CPU milliseconds per read of every process."""
    url = f"{urls['story_factory']}/v2/stories/{script_id}/fountain"
    rounds: list[dict[str, Any]] = []
    with httpx.Client(timeout=120) as client:
        warm_until = time.perf_counter() + min(2.0, args.duration)
        while time.perf_counter() < warm_until:
            client.get(url).raise_for_status()
        for _ in range(args.repeats):
            read: list[float] = []
            before = _cpu_seconds(pids)
            deadline = time.perf_counter() + args.duration
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                client.get(url).raise_for_status()
                read.append(time.perf_counter() - started)
            after = _cpu_seconds(pids)
            ordered = sorted(read)
            cpu_ms = {name: (after[name] - before[name]) * 1000 / len(read) for name in pids}
            rounds.append(
                {
                    "p50_ms": percentile(ordered, 50) * 1000,
                    "p95_ms": percentile(ordered, 95) * 1000,
                    "reads": len(read),
                    "cpu_ms_per_read": cpu_ms,
                    "services_cpu_ms_per_read": sum(ms for name, ms in cpu_ms.items() if name != "postgres"),
                }
            )
    return {
        "fountain_read_p50_ms": median([r["p50_ms"] for r in rounds]),
        "fountain_read_p95_ms": median([r["p95_ms"] for r in rounds]),
        "cpu_ms_per_read": {name: median([r["cpu_ms_per_read"][name] for r in rounds]) for name in pids},
        "services_cpu_ms_per_read": median([r["services_cpu_ms_per_read"] for r in rounds]),
        "rounds": rounds,
    }


def measure(url: str, script_id: int, lines: int, readers: int, args: argparse.Namespace) -> Measurement:
    result = Measurement(lines=lines, readers=readers)
    asyncio.run(read_for(url, script_id, lines, readers, min(2.0, args.duration)))  # warm-up
    for _ in range(args.repeats):
        latencies, count = asyncio.run(read_for(url, script_id, lines, readers, args.duration))
        ordered = sorted(latencies)
        result.rounds.append(
            {
                "p50_ms": percentile(ordered, 50) * 1000,
                "p95_ms": percentile(ordered, 95) * 1000,
                "stories_per_s": count / args.duration,
            }
        )
    result.p50_ms = median([r["p50_ms"] for r in result.rounds])
    result.p95_ms = median([r["p95_ms"] for r in result.rounds])
    result.stories_per_s = median([r["stories_per_s"] for r in result.rounds])
    result.ms_per_line = result.p50_ms / lines
    return result


def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="fountain-bench-story-"))
    children = Children()
    database: Database | None = None
    results = Results(machine=machine_info(), settings={k: v for k, v in vars(args).items() if k != "output_dir"})
    try:
        database = Database(workdir / "pg", "fountain_bench")
        urls, pids = start_services(database, workdir, children)
        started = time.perf_counter()

        async def seed_all() -> dict[int, int]:
            async with httpx.AsyncClient(timeout=60) as client:
                characters = [
                    (
                        await post(
                            client, f"{urls['character']}/v2/characters", {"name": f"Person {i}", "description": ""}
                        )
                    )["characterId"]
                    for i in range(CHARACTERS)
                ]
            return {size: await seed_story(urls, size, args.lines_per_section, characters) for size in args.sizes}

        if args.only_import:
            args.sizes = []
        print(f"[seed] stories of {', '.join(map(str, args.sizes))} lines through the public APIs ...", flush=True)
        scripts = asyncio.run(seed_all())
        results.seed_seconds = time.perf_counter() - started
        print(f"[seed] done in {results.seed_seconds:.1f} s", flush=True)

        for size in args.sizes:
            results.content_read_ms[size] = content_read_ms(urls["core_script"], scripts[size])
            for readers in args.readers:
                print(f"[run] {size} lines, {readers} reader(s): {args.repeats} x {args.duration:g} s ...", flush=True)
                results.measurements.append(measure(urls["story_factory"], scripts[size], size, readers, args))

        rows = [
            [
                str(m.lines),
                str(m.readers),
                fmt(m.p50_ms, 2),
                fmt(m.p95_ms, 2),
                fmt(m.stories_per_s),
                fmt(m.ms_per_line, 3),
            ]
            for m in results.measurements
        ]
        print()
        if rows:
            print_table(["lines", "readers", "p50 ms", "p95 ms", "stories/s", "ms/line (p50)"], rows)
        print()
        for size, ms in results.content_read_ms.items():
            print(f"Core Script content of {size} lines read alone: {ms:.2f} ms (median of 20)")
        by_key = {(m.lines, m.readers): m for m in results.measurements}
        print()
        for readers in args.readers:
            for small, large in zip(args.sizes, args.sizes[1:], strict=False):
                ratio = by_key[(large, readers)].p50_ms / by_key[(small, readers)].p50_ms
                name = f"p50({large})/p50({small}) at {readers} reader(s)"
                results.ratios[name] = ratio
                print(f"{name}: {ratio:.2f} for {large / small:g}x the lines")
        print(f"\n[import] {Path(args.import_file).name} x {args.imports}, then read back as Fountain ...", flush=True)
        imported = import_screenplay(urls, args)
        if not args.only_readback:
            print(
                f"import of {imported['file']} ({imported['sections']} scenes, {imported['lines']} elements, "
                f"{imported['characters']} characters): median {imported['import_median_s']:.2f} s, "
                f"requests between services per import: {imported['requests_between_services']}"
            )
        print(f"[read-back] {args.repeats} x {args.duration:g} s at 1 reader ...", flush=True)
        readback = measure_readback(urls, {**pids, "postgres": database.server.get_pid()}, imported["script_id"], args)
        results.imports = {**imported, **readback}
        print(
            f"read back as Fountain at 1 reader: p50 {readback['fountain_read_p50_ms']:.1f} ms, "
            f"p95 {readback['fountain_read_p95_ms']:.1f} ms (medians of {args.repeats} rounds)"
        )
        cpu = readback["cpu_ms_per_read"]
        print(
            f"CPU per read: {readback['services_cpu_ms_per_read']:.1f} ms in all services, PostgreSQL apart ("
            + ", ".join(f"{name} {ms:.1f}" for name, ms in cpu.items())
            + ")"
        )
        write_results(results, "story", args.output_dir)
        return 0
    finally:
        children.stop_all()
        if database is not None:
            database.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run_guarded(run, parse_args()))
