"""One relayed stream: its four sockets' protocols and source check (SPEC §3 media). Adapter.

Rules:
1. Ingress RTP/RTCP protocols run the receive path of ``pausegate.io.rtp_transport``
   (rule 1 there): source check, validity, push onto the engine's FIFO, drain.
2. The source check compares the socket address with the exact tuple last accepted;
   only a mismatch takes the cold path, which latches (``latch``: first valid packet)
   or learns the socket's spelling of the SDP address (IPv4-mapped, IPv6 scope).
3. The RTP fast path accepts exactly what ``check_rtp`` accepts: ``0x80`` in byte 0
   (v2, no padding, extension or CSRCs) with 12+ bytes needs no further check.
4. Packet types 192-223 on the RTP port are RTCP (RFC 5761 §4), whether or not rtcp-mux
   was negotiated: an SBC that muxes unasked is still relayed right, and RTP cannot use
   those values once muxed. Anything the recorder sends to egress sockets is dropped.
5. A source that was just rejected is rejected again without the cold path's parsing,
   so a flood from a wrong address costs no more than a forwarded packet.
6. Egress sockets are connected to the recorder's address once it is known (and again
   when a re-INVITE moves it) and the drain sends with the socket's own ``send``: no
   address conversion in the loop's transport nor a route lookup in the kernel per
   packet (measured 1.3 us less per packet than ``transport.sendto(data, addr)``). The
   loop's transport still reads the socket (the recorder's RTCP, counted and dropped);
   a connected socket hears only the recorder. A send the OS refuses (a full buffer, an
   ICMP error from a recorder that went away) is counted, never retried.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from pausegate.errors import RtpError
from pausegate.rtp.packet import check_rtp

if TYPE_CHECKING:
    from pausegate.io.rtp_transport import MediaEngine

Address = tuple[str, int]
Sender = Callable[[bytes], object]


class StreamGate(Protocol):
    """What the media path calls when a packet leaves the hold-back (pausegate.gate)."""

    def release_rtp(self, data: bytes, arrival: float, now: float) -> bytes | None: ...

    def release_rtcp(self, data: bytes, arrival: float, now: float) -> bytes | None: ...


def rtcp_valid(data: bytes) -> bool:
    """RFC 3550 §6.4/A.2: v2 packets with types 192-223 whose lengths tile the datagram."""
    n = len(data)
    i = 0
    while i + 4 <= n:
        if data[i] >> 6 != 2 or not 192 <= data[i + 1] <= 223:
            return False
        i += 4 + 4 * int.from_bytes(data[i + 2 : i + 4], "big")
    return i == n and n >= 8


def _same_host_port(addr: Any, want: Address) -> bool:
    """Cold path: compare a socket address with an SDP address (IPv4-mapped, scopes)."""
    if addr[1] != want[1]:
        return False
    if addr[0] == want[0]:
        return True
    try:
        got = ipaddress.ip_address(str(addr[0]).split("%", 1)[0])
        exp = ipaddress.ip_address(want[0])
    except ValueError:
        return False
    if isinstance(got, ipaddress.IPv6Address) and got.ipv4_mapped is not None:
        got = got.ipv4_mapped
    if isinstance(exp, ipaddress.IPv6Address) and exp.ipv4_mapped is not None:
        exp = exp.ipv4_mapped
    return got == exp


class MediaStream:
    """One relayed stream: ingress pair from telephony, egress pair to the recorder."""

    __slots__ = (
        "_egress",
        "_latch_rtcp",
        "_latch_rtp",
        "_rejected",
        "_sdp_rtcp",
        "_sdp_rtp",
        "_transports",
        "call_id",
        "closed",
        "dst_rtcp",
        "dst_rtp",
        "egress_rtcp_port",
        "egress_rtp_port",
        "engine",
        "gate",
        "ingress_rtcp_port",
        "ingress_rtp_port",
        "label",
        "last_rtcp_at",
        "last_rtp_at",
        "mux_in",
        "release_rtp",
        "send_rtcp",
        "send_rtp",
        "src_rtcp",
        "src_rtp",
    )

    def __init__(self, engine: MediaEngine, call_id: str, label: str, gate: StreamGate) -> None:
        self.engine = engine
        self.call_id = call_id
        self.label = label
        self.gate = gate
        self.release_rtp = gate.release_rtp  # bound once: the drain calls it per packet
        self.ingress_rtp_port = self.ingress_rtcp_port = 0
        self.egress_rtp_port = self.egress_rtcp_port = 0
        self._transports: list[asyncio.DatagramTransport] = []
        self._egress: tuple[socket.socket, socket.socket] | None = None
        self.send_rtp: Sender | None = None  # rule 6; None: no target, packets counted
        self.send_rtcp: Sender | None = None
        self.src_rtp: Any = None  # exact socket-address form once matched or latched
        self.src_rtcp: Any = None
        self._sdp_rtp: Address | None = None
        self._sdp_rtcp: Address | None = None
        self._latch_rtp = self._latch_rtcp = engine.latch
        self.mux_in = False
        self.dst_rtp: Any = None
        self.dst_rtcp: Any = None
        self.last_rtp_at: float | None = None
        self.last_rtcp_at = -1.0
        self._rejected: Any = None  # (address, rtcp_port) last refused by the source check
        self.closed = False

    def set_source(self, rtp: Address | None, rtcp: Address | None, rtcp_mux: bool) -> None:
        """Telephony's addresses from SDP; with latch, the first packet decides instead."""
        if rtcp is None and rtp is not None and not rtcp_mux:
            rtcp = (rtp[0], rtp[1] + 1)
        if rtcp_mux:
            rtcp = rtp
        self.mux_in = rtcp_mux
        self._rejected = None
        if self.engine.latch:
            if rtp != self._sdp_rtp:
                self.src_rtp, self._latch_rtp = None, True
            if rtcp != self._sdp_rtcp:
                self.src_rtcp, self._latch_rtcp = None, True
        else:
            self.src_rtp, self.src_rtcp = rtp, rtcp
        self._sdp_rtp, self._sdp_rtcp = rtp, rtcp

    def set_target(self, rtp: Address | None, rtcp: Address | None, rtcp_mux: bool) -> None:
        """The recorder's addresses from its answer; None: due packets are dropped, counted."""
        if self.closed:
            return
        if rtcp is None and rtp is not None and not rtcp_mux:
            rtcp = (rtp[0], rtp[1] + 1)
        self.dst_rtp = self.engine.sockaddr(rtp)
        self.dst_rtcp = self.engine.sockaddr(rtp if rtcp_mux else rtcp)
        if self._egress is None:
            return
        rtp_sock, rtcp_sock = self._egress
        self.send_rtp = _sender(rtp_sock, self.dst_rtp)
        self.send_rtcp = self.send_rtp if rtcp_mux else _sender(rtcp_sock, self.dst_rtcp)

    def accept(self, addr: Any, data: bytes, rtcp_port: bool) -> bool:
        """Cold path of the source check: latch, or learn the socket's form of the SDP address."""
        if self._rejected is not None and self._rejected == (addr, rtcp_port):
            self.engine.count_wrong_source(rtcp_port)
            return False
        latching = self._latch_rtcp if rtcp_port else self._latch_rtp
        if latching:
            ok = rtcp_valid(data) if rtcp_port else _rtp_or_rtcp_valid(data)
            if not ok:
                self.engine.count_invalid(rtcp_port)
                return False
        else:
            want = self._sdp_rtcp if rtcp_port else self._sdp_rtp
            if want is None or not _same_host_port(addr, want):
                self._rejected = (addr, rtcp_port)
                self.engine.count_wrong_source(rtcp_port)
                return False
        if rtcp_port:
            self.src_rtcp, self._latch_rtcp = addr, False
        else:
            self.src_rtp, self._latch_rtp = addr, False
        return True

    def close(self) -> None:
        self.closed = True
        self.dst_rtp = self.dst_rtcp = None
        self.send_rtp = self.send_rtcp = None
        for t in self._transports:
            t.close()


def _sender(sock: socket.socket, dst: Any) -> Sender | None:
    """Rule 6: connect the egress socket to ``dst`` and send with ``send``; if the OS
    refuses the connect, fall back to ``sendto`` with the address."""
    if dst is None:
        return None
    try:
        sock.connect(dst)
    except OSError:
        return lambda data: sock.sendto(data, dst)
    return sock.send


def _rtp_or_rtcp_valid(data: bytes) -> bool:
    if len(data) >= 2 and 192 <= data[1] <= 223:
        return rtcp_valid(data)
    try:
        check_rtp(data)
    except RtpError:
        return False
    return True


class IngressRtp(asyncio.DatagramProtocol):
    """Telephony's RTP port: the hot path (rule 3), RTCP too when muxed (rule 4)."""

    __slots__ = ("_s",)

    def __init__(self, stream: MediaStream) -> None:
        self._s = stream

    def datagram_received(self, data: bytes, addr: Any) -> None:
        s = self._s
        if addr != s.src_rtp and not s.accept(addr, data, False):
            return
        if len(data) < 12 or data[0] != 0x80 or 192 <= data[1] <= 223:
            if len(data) >= 2 and 192 <= data[1] <= 223:
                s.engine.receive_rtcp(s, data)
                return
            try:
                check_rtp(data)
            except RtpError:
                s.engine.rtp_invalid += 1
                return
        e = s.engine
        now = e.time()
        s.last_rtp_at = now
        q = e.queue
        q.append((now, s, data, False))
        if q[0][0] <= now - e.batch_horizon_s:
            e.drain(now)
        elif e.timer is None:
            e.arm()

    def error_received(self, exc: Exception) -> None:
        self._s.engine.socket_errors += 1


class IngressRtcp(IngressRtp):
    """Telephony's RTCP port."""

    __slots__ = ()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        s = self._s
        if addr != s.src_rtcp and not s.accept(addr, data, True):
            return
        s.engine.receive_rtcp(s, data)


class Egress(IngressRtp):
    """The recorder-facing sockets: whatever arrives (its RTCP) is counted and dropped."""

    __slots__ = ()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._s.engine.from_recorder += 1
