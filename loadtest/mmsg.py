"""Load harness: batched UDP I/O, sendmmsg/recvmmsg through ctypes over numpy buffers (Linux, IPv4).

Rules:
1. ``BatchSender`` keeps one packet buffer and one destination per stream slot; a
   send names the slots (numpy index array) and goes out in sendmmsg calls of at
   most 1024 messages. Nothing is copied per packet in Python.
2. ``BatchReceiver`` drains a socket with recvmmsg (MSG_DONTWAIT) into a fixed
   array of 512-byte slots, with the kernel's receive timestamp (SO_TIMESTAMPNS,
   CLOCK_REALTIME) per datagram, so the reader's polling delay never counts as latency.
3. Errors are counted, never raised out of a send or receive (EAGAIN ends a batch).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import socket

import numpy as np
import numpy.typing as npt

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
_libc.sendmmsg.restype = ctypes.c_int
_libc.recvmmsg.argtypes = [
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.c_uint,
    ctypes.c_int,
    ctypes.c_void_p,
]
_libc.recvmmsg.restype = ctypes.c_int

MSG_DONTWAIT = 0x40
MSG_TRUNC = 0x20
SO_TIMESTAMPNS = 35
UIO_MAXIOV = 1024
SLOT = 512
CONTROL = 64

# struct mmsghdr on x86_64/aarch64 (LP64): msghdr (56 bytes) + msg_len + padding.
MMSG = np.dtype(
    {
        "names": ["name", "namelen", "iov", "iovlen", "control", "controllen", "flags", "len"],
        "formats": ["<u8", "<u4", "<u8", "<u8", "<u8", "<u8", "<i4", "<u4"],
        "offsets": [0, 8, 16, 24, 32, 40, 48, 56],
        "itemsize": 64,
    }
)
IOVEC = np.dtype({"names": ["base", "len"], "formats": ["<u8", "<u8"], "itemsize": 16})

U8 = npt.NDArray[np.uint8]
Index = npt.NDArray[np.intp]


def sockaddr_in(host: str, port: int) -> bytes:
    """struct sockaddr_in (16 bytes): family in host order, port and address in network order."""
    return (
        socket.AF_INET.to_bytes(2, "little")
        + port.to_bytes(2, "big")
        + socket.inet_aton(host)
        + bytes(8)
    )


def big_buffers(sock: socket.socket, size: int = 8 << 20) -> None:
    """Large send and receive buffers (FORCE variants when privileged)."""
    for force, plain in ((33, socket.SO_RCVBUF), (32, socket.SO_SNDBUF)):
        for opt in (force, plain):
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, size)
                break
            except OSError:
                continue


class BatchSender:
    """Per-slot packet heads and destinations, plus an optional shared body per message:
    iovec 0 is the slot's ``head_len`` bytes of ``buf``, iovec 1 (when ``body_len``) points
    wherever ``body`` says (``set_bodies``), so payloads are never copied."""

    def __init__(
        self, sock: socket.socket, capacity: int, head_len: int, body_len: int = 0
    ) -> None:
        self.fd = sock.fileno()
        self.buf: U8 = np.zeros((capacity, head_len), np.uint8)
        self.addr: U8 = np.zeros((capacity, 16), np.uint8)
        parts = 2 if body_len else 1
        self.iov = np.zeros((capacity, parts), IOVEC)
        self.iov["base"][:, 0] = (
            self.buf.ctypes.data + np.arange(capacity, dtype=np.uint64) * head_len
        )
        self.iov["len"][:, 0] = head_len
        if body_len:
            self.iov["len"][:, 1] = body_len
        self.msgs = np.zeros(capacity, MMSG)
        self.msgs["name"] = self.addr.ctypes.data + np.arange(capacity, dtype=np.uint64) * 16
        self.msgs["namelen"] = 16
        stride = IOVEC.itemsize * parts
        self.msgs["iov"] = self.iov.ctypes.data + np.arange(capacity, dtype=np.uint64) * stride
        self.msgs["iovlen"] = parts
        self._scratch = np.zeros(capacity, MMSG)
        self.sent = 0
        self.errors = 0

    def set_bodies(self, slots: Index, addresses: npt.NDArray[np.uint64]) -> None:
        self.iov["base"][slots, 1] = addresses

    def set_destination(self, slot: int, host: str, port: int) -> None:
        self.addr[slot] = np.frombuffer(sockaddr_in(host, port), np.uint8)

    def send(self, slots: Index) -> int:
        """Send the packets of ``slots``; returns how many left (the rest are counted as errors)."""
        n = len(slots)
        if n == 0:
            return 0
        self._scratch[:n] = self.msgs[slots]
        base = self._scratch.ctypes.data
        done = 0
        while done < n:
            count = min(n - done, UIO_MAXIOV)
            ret = _libc.sendmmsg(self.fd, base + done * MMSG.itemsize, count, 0)
            if ret <= 0:
                err = ctypes.get_errno()
                if ret < 0 and err == 4:  # EINTR
                    continue
                self.errors += n - done
                break
            done += ret
        self.sent += done
        return done


class BatchReceiver:
    """recvmmsg into ``capacity`` fixed slots; ``drain()`` returns how many arrived."""

    def __init__(self, sock: socket.socket, capacity: int = 1024) -> None:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.fd = sock.fileno()
        self.capacity = capacity
        self.buf: U8 = np.zeros((capacity, SLOT), np.uint8)
        self.ctl: U8 = np.zeros((capacity, CONTROL), np.uint8)
        self.iov = np.zeros(capacity, IOVEC)
        self.iov["base"] = self.buf.ctypes.data + np.arange(capacity, dtype=np.uint64) * SLOT
        self.iov["len"] = SLOT
        self.msgs = np.zeros(capacity, MMSG)
        self.msgs["iov"] = self.iov.ctypes.data + np.arange(capacity, dtype=np.uint64) * 16
        self.msgs["iovlen"] = 1
        self.msgs["control"] = self.ctl.ctypes.data + np.arange(capacity, dtype=np.uint64) * CONTROL
        self.errors = 0
        self.truncated = 0

    def drain(self) -> int:
        """One recvmmsg (non-blocking): the number of datagrams now in slots 0..n-1."""
        self.msgs["controllen"] = CONTROL
        self.msgs["flags"] = 0
        ret = _libc.recvmmsg(self.fd, self.msgs.ctypes.data, self.capacity, MSG_DONTWAIT, None)
        if ret < 0:
            err = ctypes.get_errno()
            if err not in (11, 4):  # EAGAIN, EINTR
                self.errors += 1
            return 0
        if ret:
            self.truncated += int(np.count_nonzero(self.msgs["flags"][:ret] & MSG_TRUNC))
        return int(ret)

    def lengths(self, n: int) -> npt.NDArray[np.uint32]:
        return self.msgs["len"][:n].copy()

    def timestamps(self, n: int) -> npt.NDArray[np.float64]:
        """Kernel receive time (epoch seconds) per datagram; NaN where the cmsg is missing."""
        ctl = self.ctl[:n]
        level = ctl[:, 8:12].copy().view("<i4")[:, 0]
        kind = ctl[:, 12:16].copy().view("<i4")[:, 0]
        sec = ctl[:, 16:24].copy().view("<i8")[:, 0]
        nsec = ctl[:, 24:32].copy().view("<i8")[:, 0]
        ok = (
            (level == socket.SOL_SOCKET)
            & (kind == SO_TIMESTAMPNS)
            & (self.msgs["controllen"][:n] >= 32)
        )
        out = sec.astype(np.float64) + nsec.astype(np.float64) * 1e-9
        out[~ok] = np.nan
        return out


def process_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def udp_drops(port: int) -> int:
    """Kernel drop counter of the UDP socket bound to 127.0.0.1:``port`` (/proc/net/udp)."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1] == want:
                return int(parts[-1])
    return 0
