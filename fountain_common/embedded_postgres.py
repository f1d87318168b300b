"""An embedded PostgreSQL (the pgserver wheel) so that running FountainAI needs nothing installed by hand.

pgserver starts as root or not, shares one server between processes that open the same data folder,
and stops it when the last of them exits.
"""

import threading
import warnings
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_servers: dict[Path, Any] = {}


def ensure_server(data_dir: Path) -> Any:
    """Start (or join) the server whose data lives in `data_dir`/pgdata."""
    with warnings.catch_warnings():
        # pgserver keeps its lock under the runtime dir; where none is set it falls back to /tmp.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pgserver

    pgdata = (data_dir / "pgdata").resolve()
    with _lock:
        if pgdata not in _servers:
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            _servers[pgdata] = pgserver.get_server(pgdata, cleanup_mode="stop")
        return _servers[pgdata]


def embedded_url(data_dir: Path, database: str) -> str:
    """A SQLAlchemy URL to `database` on the embedded server, created on first use."""
    server = ensure_server(data_dir)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    socket_dir = server.get_uri().split("host=", 1)[1]
    return f"postgresql+asyncpg://postgres@/{database}?host={socket_dir}"


def stop_server(data_dir: Path) -> None:
    """Stop the server of `data_dir` if this process started or joined it (it stops when its last
    user lets go)."""
    pgdata = (data_dir / "pgdata").resolve()
    with _lock:
        server = _servers.pop(pgdata, None)
    if server is not None:
        server.cleanup()
