"""Is the address `fountain serve` is asked to listen on free? Checked before the database starts,
so a busy port is reported at once instead of after the migrations."""

import errno
import socket


def _can_listen(host: str, port: int) -> bool:
    """True when a server could listen on host:port now; OSError when the host is not usable at all."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
        0
    ]
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn does: a port whose old connections linger in TIME_WAIT can be listened on.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def busy_port_message(host: str, port: int, service: str | None = None) -> str | None:
    """Why the server cannot listen on host:port, with what to do instead; None when it can."""
    try:
        if _can_listen(host, port):
            return None
    except (OSError, OverflowError) as error:
        return f"Cannot listen on {host}:{port}: {error}."
    free = next((p for p in range(port + 1, min(port + 50, 65536)) if _safe_can_listen(host, p)), None)
    other = free or "<port>"
    advice = f"make run PORT={other}  or  fountain serve --port {other}"
    if service is not None:
        advice = f"fountain serve {service} --port {other}"
    return f"Port {port} on {host} is already in use (another fountain serve?). Pick another port: {advice}"


def _safe_can_listen(host: str, port: int) -> bool:
    try:
        return _can_listen(host, port)
    except OSError:
        return False
