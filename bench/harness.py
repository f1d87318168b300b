"""What every FountainAI benchmark shares: child processes that are always stopped, an embedded
PostgreSQL with a service process on it, CPU and memory meters, wrk, medians and tables."""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "fountain_bench"  # the throwaway database every benchmark creates
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402  (after the path set-up: the project's venv provides it)

# --------------------------------------------------------------------------------------------------
# Child processes: every one is registered and stopped at exit, whatever the exit.


class Children:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        # A new session: a Ctrl-C in the terminal reaches only this script, which then stops the
        # children in order (load generator, service) before the database.
        proc = subprocess.Popen(args, start_new_session=True, **kwargs)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            stop_process(proc)
        self.procs.clear()


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.returncode is not None:
        return
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    try:
        proc.terminate()
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)
    except ProcessLookupError:
        pass
    for child in descendants:
        with contextlib.suppress(psutil.Error):
            child.kill()


def wait_with_cpu(proc: subprocess.Popen[bytes]) -> float:
    """Wait for `proc` to end; answers the CPU seconds (user + system) it used."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


class Terminated(Exception):
    pass


def on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated(f"signal {signum}")


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


class RssSampler(threading.Thread):
    """Samples the RSS of a process and its descendants every `interval` seconds."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.window_peak = 0
        self._stop_event = threading.Event()

    def sample(self) -> int:
        try:
            procs = [self.process, *self.process.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def run(self) -> None:
        while not self._stop_event.is_set():
            rss = self.sample()
            self.peak = max(self.peak, rss)
            self.window_peak = max(self.window_peak, rss)
            self._stop_event.wait(self.interval)

    def start_window(self) -> None:
        self.window_peak = self.sample()

    def stop(self) -> None:
        self._stop_event.set()


class CpuMeter:
    """CPU seconds used by the service process and by all PostgreSQL processes between two points."""

    def __init__(self, service_pid: int, postmaster_pid: int) -> None:
        self.service = psutil.Process(service_pid)
        self.postmaster = psutil.Process(postmaster_pid)

    @staticmethod
    def _cpu(proc: psutil.Process) -> float:
        times = proc.cpu_times()
        return float(times.user + times.system)

    def snapshot(self) -> tuple[float, dict[int, float]]:
        service = self._cpu(self.service)
        postgres: dict[int, float] = {}
        for proc in [self.postmaster, *self.postmaster.children()]:
            with contextlib.suppress(psutil.Error):
                postgres[proc.pid] = self._cpu(proc)
        return service, postgres

    @staticmethod
    def delta(before: tuple[float, dict[int, float]], after: tuple[float, dict[int, float]]) -> tuple[float, float]:
        # A PostgreSQL backend that started during the interval counts from zero; one that ended
        # during it is lost (the runs keep their connections open, so that is rare and small).
        postgres = sum(cpu - before[1].get(pid, 0.0) for pid, cpu in after[1].items())
        return after[0] - before[0], postgres


@dataclass
class LoadResult:
    requests: int
    ok: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    cpu_s: float


def find_wrk() -> str | None:
    found = shutil.which("wrk")
    if found:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is not installed: installing the Debian package with `apt-get install -y wrk` ...", flush=True)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        if subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], **quiet).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], **quiet)
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], **quiet)
        return shutil.which("wrk")
    return None


WRK_HOWTO = (
    "wrk is not installed and this script cannot install it (it installs it only when running as root "
    "with apt-get). Install it with `sudo apt-get install wrk` (Debian/Ubuntu), `brew install wrk` (macOS) "
    "or from https://github.com/wg/wrk, then run the benchmark again."
)


def postgres_tool(name: str) -> str:
    """The PostgreSQL client tool shipped with pgserver (same version as the server), else the system's."""
    try:
        from pgserver._commands import POSTGRES_BIN_PATH

        candidate = Path(POSTGRES_BIN_PATH) / name
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if not found:
        raise SystemExit(
            f"{name} not found: it ships with pgserver (a dependency of the project) or with postgresql-client."
        )
    return found


# --------------------------------------------------------------------------------------------------
# The run


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fountain_command() -> str:
    beside = Path(sys.executable).parent / "fountain"
    return str(beside if beside.exists() else ROOT / ".venv" / "bin" / "fountain")


def wait_ready(port: int, service: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise RuntimeError(f"the service exited with {service.returncode} before it was ready:\n{tail(log)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the service did not answer GET /ready with 200 within {timeout:.0f} s:\n{tail(log)}")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def version_of(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except OSError:
        return "?"
    return (result.stdout or result.stderr).strip().splitlines()[0] if (result.stdout or result.stderr) else "?"


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print(" | ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def median_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return median(present) if present else None


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def clients_list(text: str) -> list[int]:
    try:
        levels = [positive_int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"a comma-separated list of client counts, e.g. 1,8,32 ({error})") from error
    if not levels:
        raise argparse.ArgumentTypeError("at least one client count")
    return levels


def run_guarded(run: Any, args: argparse.Namespace) -> int:
    """`run(args)` with SIGTERM/SIGHUP turned into a clean stop and every ending reported in one line
    (the benchmark's own `finally` stops what it started)."""
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGHUP, on_sigterm)
    try:
        return int(run(args))
    except KeyboardInterrupt:
        print("\nInterrupted: every process this benchmark started has been stopped.", file=sys.stderr)
        return 130
    except Terminated as stop:
        print(f"\nStopped by {stop}: every process this benchmark started has been stopped.", file=sys.stderr)
        return 143
    except (RuntimeError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", None)
        print(f"\nBenchmark failed: {error}" + (f"\n{detail}" if detail else ""), file=sys.stderr)
        return 1


class Database:
    """A fresh embedded PostgreSQL in `workdir`, with one database, and psql on its unix socket."""

    def __init__(self, workdir: Path, database: str) -> None:
        from fountain_common.embedded_postgres import embedded_url, ensure_server

        self.database = database
        self.url = embedded_url(workdir, database)
        self.server = ensure_server(workdir)
        self.socket_dir = self.url.split("host=", 1)[1]
        self.psql = postgres_tool("psql")

    def sql(self, query: str) -> str:
        """Run one statement; answers psql's unaligned output."""
        command = [self.psql, "-h", self.socket_dir, "-U", "postgres", "-d", self.database, "-At"]
        done = subprocess.run(
            [*command, "-v", "ON_ERROR_STOP=1", "-c", query], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def stop(self) -> None:
        self.server.cleanup()  # this process is the server's only user


def migrate_and_serve(
    service: str, database: Database, workdir: Path, children: Children
) -> tuple[subprocess.Popen[bytes], int, Path]:
    """`fountain db upgrade SERVICE`, then ONE `fountain serve SERVICE` process on a free port with
    access logs off; answers it once GET /ready says 200, with its port and log file."""
    env = {**os.environ, "FOUNTAIN_DATABASE_URL": database.url, "FOUNTAIN_LOG_LEVEL": "WARNING"}
    fountain = fountain_command()
    print(f"[setup] fountain db upgrade {service} ...", flush=True)
    migrate = subprocess.run([fountain, "db", "upgrade", service], env=env, cwd=ROOT, capture_output=True, text=True)
    if migrate.returncode != 0:
        raise RuntimeError(f"migration failed:\n{migrate.stdout}\n{migrate.stderr}")
    port = free_port()
    log = workdir / f"{service}.log"
    print(f"[setup] fountain serve {service} --port {port} --no-migrate --no-auth ...", flush=True)
    with log.open("wb") as service_log:
        process = children.start(
            [fountain, "serve", service, "--port", str(port), "--no-migrate", "--no-auth"],
            env=env,
            cwd=ROOT,
            stdout=service_log,
            stderr=subprocess.STDOUT,
        )
    wait_ready(port, process, log)
    print(f"[setup] {service} ready on http://127.0.0.1:{port} (pid {process.pid})", flush=True)
    return process, port, log


def write_results(results: Any, name: str, output_dir: str) -> Path:
    """Every figure of a run, as JSON, to `output_dir`/<name>-<timestamp>.json; answers the file."""
    from dataclasses import asdict
    from datetime import datetime

    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(asdict(results), indent=2) + "\n")
    print(f"Results written to {out}")
    return out


class Pgbench:
    """pgbench running a script of ours against the benchmark database over its unix socket, with
    p50/p99 from its per-transaction log: the database's own figure beside a service's."""

    def __init__(
        self, workdir: Path, socket_dir: str, script_name: str, script: str, children: Children, max_threads: int
    ) -> None:
        self.pgbench = postgres_tool("pgbench")
        self.script = workdir / script_name
        self.script.write_text(script)
        self.logdir = workdir / "pgbench-logs"
        self.logdir.mkdir(exist_ok=True)
        self.output = workdir / "pgbench.out"
        self.socket_dir = socket_dir
        self.children = children
        self.max_threads = max_threads

    def run(self, clients: int, duration: int, variables: dict[str, str] | None = None) -> tuple[dict[str, Any], float]:
        """One measurement: its figures, and the CPU seconds pgbench itself used."""
        threads = max(1, min(self.max_threads, clients))
        for old in self.logdir.iterdir():
            old.unlink()
        prefix = self.logdir / "tx"
        args = [self.pgbench, *f"-n -M prepared -c {clients} -j {threads} -T {duration}".split()]
        args += ["-f", str(self.script)]
        for name, value in (variables or {}).items():
            args += ["-D", f"{name}={value}"]
        args += ["-l", "--log-prefix", str(prefix), "-h", self.socket_dir, "-U", "postgres", DATABASE]
        with self.output.open("wb") as out:
            proc = self.children.start(args, stdout=out, stderr=subprocess.STDOUT, cwd=self.logdir)
            cpu = wait_with_cpu(proc)
        text = self.output.read_text(errors="replace")
        tps = re.search(r"^tps = ([\d.]+)", text, re.MULTILINE)
        processed = re.search(r"number of transactions actually processed: (\d+)", text)
        if proc.returncode != 0 or tps is None or processed is None:
            raise RuntimeError(f"pgbench failed (exit {proc.returncode}):\n{text}")
        failed = re.search(r"number of failed transactions: (\d+)", text)
        latencies: list[float] = []
        for path in glob.glob(f"{prefix}.*"):
            with open(path) as log:
                for line in log:
                    parts = line.split()
                    # client_id transaction_no time(us) script_no time_epoch time_us
                    if len(parts) >= 3 and parts[2].isdigit():
                        latencies.append(int(parts[2]) / 1000)
        latencies.sort()
        return {
            "transactions": int(processed.group(1)),
            "tps": float(tps.group(1)),
            "threads": threads,
            "failed": int(failed.group(1)) if failed else 0,
            "p50_ms": percentile(latencies, 50) if latencies else None,
            "p99_ms": percentile(latencies, 99) if latencies else None,
        }, cpu
