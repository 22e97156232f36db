"""UDP socket helpers for the media sockets: bind even/odd pairs, buffers, fd limit. Adapter.

Rules:
1. ``bind_udp_pair`` binds RTP (even) and RTCP (odd) non-blocking sockets on a pair from
   the allocator; a pair the OS refuses (EADDRINUSE, EACCES) is marked unusable and
   another is tried, a bounded number of times.
2. Socket buffers are enlarged to ``SOCKET_BUFFER_BYTES`` best effort (the kernel caps
   them at net.core.rmem_max / wmem_max).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import resource
import socket

from pausegate.errors import ResourceExhausted
from pausegate.rtp.ports import PortAllocator

SOCKET_BUFFER_BYTES = 1 << 20
MAX_BIND_ATTEMPTS = 64


def raise_nofile_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit (4 sockets per stream)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def address_family(host: str) -> socket.AddressFamily:
    """AF_INET6 for an IPv6 literal, else AF_INET."""
    try:
        v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        v6 = False
    return socket.AF_INET6 if v6 else socket.AF_INET


def bind_udp_pair(
    ports: PortAllocator, family: socket.AddressFamily, host: str, now: float
) -> tuple[int, socket.socket, socket.socket]:
    """Allocate a pair and bind non-blocking UDP sockets on it (port, port + 1).

    A pair the OS refuses (EADDRINUSE, EACCES) is marked unusable and another is tried;
    raises ResourceExhausted when none is left or none binds.
    """
    attempts = min(MAX_BIND_ATTEMPTS, max(1, ports.free_pairs(now)))
    for _ in range(attempts):
        port = ports.allocate(now)
        socks: list[socket.socket] = []
        try:
            for p in (port, port + 1):
                sock = socket.socket(family, socket.SOCK_DGRAM)
                socks.append(sock)
                for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                    # best effort: the kernel caps it at net.core.[rw]mem_max
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER_BYTES)
                sock.bind((host, p))
                sock.setblocking(False)
        except OSError as exc:
            for sock in socks:
                sock.close()
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                ports.mark_unusable(port)
                continue
            ports.release(port, now)
            raise
        return port, socks[0], socks[1]
    raise ResourceExhausted("no bindable RTP port pair")
