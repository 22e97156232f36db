"""Demo adapter: loopback ports that are free right now (bind probes, SPEC §7 demo).

A probe closes its socket before the port is used, so another process could take
it in between; on a demo machine that race is rare and start-up then fails with
a clear bind error instead of a wrong result.
"""

from __future__ import annotations

import random
import socket

HOST = "127.0.0.1"


def _bindable(port: int, kind: socket.SocketKind, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST, *, udp_and_tcp: bool = True) -> int:
    """A port the OS picks for TCP that is also free for UDP (SIP listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if not udp_and_tcp or _bindable(port, socket.SOCK_DGRAM, host):
            return port
    raise OSError("no free loopback port for both UDP and TCP")


def free_port_range(
    count: int,
    rng: random.Random | None = None,
    host: str = HOST,
    low: int = 20000,
    high: int = 32000,
) -> tuple[int, int]:
    """An inclusive range of ``count`` UDP ports (starting even) that are all free now.

    Drawn below the usual Linux ephemeral range (32768-60999), so ports the OS hands
    out to other sockets rarely collide with it.
    """
    rng = rng or random.Random()
    for _ in range(100):
        first = rng.randrange(low, high - count) & ~1
        if all(_bindable(p, socket.SOCK_DGRAM, host) for p in range(first, first + count)):
            return first, first + count - 1
    raise OSError(f"no {count} consecutive free UDP ports on {host}")
