"""RTP relay engine: sockets per stream, one hold-back FIFO and its drain (SPEC §3). Adapter.

Rules:
1. Receive path (``datagram_received``, in ``pausegate.io.rtp_stream``): source check,
   RTP/RTCP validity, push onto the process-wide hold-back FIFO stamped with
   ``time.monotonic()``, drain what is due. Nothing awaits, logs, allocates timers or
   raises on peer data; outcomes are plain integer counters here, read by ``statistics()``.
2. Clock: ``time.monotonic()`` is the clock asyncio's ``loop.time()`` reads. uvloop's
   ``loop.time()`` reads the same CLOCK_MONOTONIC but cached per loop iteration at 1 ms
   resolution: stamping with it would date packets early and release them before their
   hold-back. ``now`` passed to the gate is the same clock, so gate maths stays exact.
3. Drain: the receive path drains once the FIFO head is ``DRAIN_BATCH_S`` overdue (so
   high packet rates drain in batches, not one call per packet); one ``loop.call_at``
   timer armed for the head's due time, without slack, only when none is armed covers
   quiet times. uvloop's timers have 1 ms resolution and may fire before the due time:
   the drain checks ``time.monotonic()``, sends nothing early and re-arms.
   A packet never leaves before arrival + hold-back. Each due packet goes through its
   stream's gate, then out of the egress socket connected to the recorder
   (``pausegate.io.rtp_stream`` rule 6); the bytes returned by the gate are sent as
   they are.
4. RTCP goes through the same FIFO to the recorder's RTCP address (its RTP address when
   the recorder muxes).
5. Forward-delay histogram: each drain batch is recorded once, at the delay of its
   oldest packet, weighted by the packets it sent (an upper bound; O(1) per batch).
6. A gate that raises (our bug) has its packet withheld and counted in
   ``gate_errors``; a send that raises (a full socket buffer, an ICMP error, a socket
   closed under us) is counted in ``socket_errors``. Erring towards silence keeps the
   one rule; the drain never stops half-way, so one stream's fault never stalls the
   others.
7. Ports: each stream takes two pairs (ingress, egress); a pair the OS refuses
   (EADDRINUSE, EACCES) is marked unusable and another is tried.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pausegate.gate.holdback import HoldbackFifo
from pausegate.io.rtp_stream import (
    Egress,
    IngressRtcp,
    IngressRtp,
    MediaStream,
    StreamGate,
    rtcp_valid,
)
from pausegate.io.udp import address_family, bind_udp_pair, raise_nofile_limit
from pausegate.rtp.ports import PortAllocator

__all__ = ["MediaEngine", "MediaStatistics", "MediaStream", "StreamGate", "raise_nofile_limit"]

Address = tuple[str, int]

TIMER_SLACK_S = 0.0  # rule 3: never early either way; slack only adds latency
DRAIN_BATCH_S = 0.0005
# Forward-delay buckets above the hold-back (seconds of lateness); the last bucket is +Inf.
LATENESS_BOUNDS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True, slots=True)
class MediaStatistics:
    """Plain counters of the media path (SPEC §6), read at scrape time."""

    rtp_forwarded: int
    rtp_dropped: int  # the gate returned None
    rtp_no_target: int  # recorder address unknown (not answered, on hold) or stream closed
    rtp_invalid: int
    rtp_wrong_source: int
    rtcp_forwarded: int
    rtcp_dropped: int
    rtcp_no_target: int
    rtcp_invalid: int
    rtcp_wrong_source: int
    from_recorder: int  # packets received on egress sockets (RTCP from the recorder), dropped
    gate_errors: int
    socket_errors: int
    held: int  # packets in the hold-back FIFO now
    streams: int  # open streams
    forward_delay_bounds_s: tuple[float, ...]  # upper bounds, arrival to send
    forward_delay_buckets: tuple[int, ...]  # per bucket, not cumulative; last is +Inf
    forward_delay_sum_s: float


def _factory(proto: asyncio.DatagramProtocol) -> Callable[[], asyncio.DatagramProtocol]:
    return lambda: proto


class MediaEngine:
    """All relayed streams of the process, one hold-back FIFO, one drain timer."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        bind_host: str,
        ports: PortAllocator,
        holdback_s: float,
        latch: bool,
        *,
        delay_bounds_s: Sequence[float] | None = None,
    ) -> None:
        self.loop = loop
        self.time = time.monotonic  # rule 2
        self.bind_host = bind_host
        self.ports = ports
        self.latch = latch
        self.holdback_s = holdback_s
        self.batch_horizon_s = holdback_s + DRAIN_BATCH_S
        self.family = address_family(bind_host)
        self._fifo: HoldbackFifo[MediaStream] = HoldbackFifo(holdback_s)
        self.queue = self._fifo.queue  # the hot path appends and pops inline
        self.timer: asyncio.TimerHandle | None = None
        self._waiters: list[tuple[float, asyncio.Future[None]]] = []
        self._calls: dict[str, list[MediaStream]] = {}
        self.rtp_forwarded = self.rtp_dropped = self.rtp_no_target = 0
        self.rtp_invalid = self.rtp_wrong_source = 0
        self.rtcp_forwarded = self.rtcp_dropped = self.rtcp_no_target = 0
        self.rtcp_invalid = self.rtcp_wrong_source = 0
        self.from_recorder = self.gate_errors = self.socket_errors = 0
        if delay_bounds_s is None:
            delay_bounds_s = [holdback_s + b for b in LATENESS_BOUNDS_S]
        self._delay_bounds = tuple(delay_bounds_s)
        self._delay_buckets = [0] * (len(self._delay_bounds) + 1)
        self._delay_sum_s = 0.0

    # -- receive-side helpers (cold) ---------------------------------------------------

    def count_invalid(self, rtcp: bool) -> None:
        if rtcp:
            self.rtcp_invalid += 1
        else:
            self.rtp_invalid += 1

    def count_wrong_source(self, rtcp: bool) -> None:
        if rtcp:
            self.rtcp_wrong_source += 1
        else:
            self.rtp_wrong_source += 1

    def sockaddr(self, addr: Address | None) -> Any:
        """An SDP address as this engine's sockets take it (numeric only, no DNS per packet)."""
        if addr is None:
            return None
        try:
            ip = ipaddress.ip_address(addr[0])
        except ValueError:
            return None  # not a numeric address: treated as unknown, packets counted
        if self.family == socket.AF_INET6:
            host = f"::ffff:{ip}" if ip.version == 4 else str(ip)
            return (host, addr[1], 0, 0)
        return (str(ip), addr[1]) if ip.version == 4 else None

    # -- the drain -------------------------------------------------------------------

    def receive_rtcp(self, s: MediaStream, data: bytes) -> None:
        """RTCP from telephony (own port or muxed): validated, then held back like RTP."""
        if not rtcp_valid(data):
            self.rtcp_invalid += 1
            return
        now = self.time()
        s.last_rtcp_at = now
        self.queue.append((now, s, data, True))
        self.drain(now)

    def arm(self) -> None:
        """Arm the one drain timer for the FIFO head's due time; only when none is armed."""
        q = self.queue
        if q and self.timer is None:
            self.timer = self.loop.call_at(
                q[0][0] + self.holdback_s + TIMER_SLACK_S, self._on_timer
            )

    def _on_timer(self) -> None:
        self.timer = None
        self.drain(self.time())

    def drain(self, now: float) -> None:
        """Send every packet due at ``now`` (arrival order); keep the timer armed."""
        q = self.queue
        limit = now - self.holdback_s
        popleft = q.popleft
        oldest = q[0][0] if q else now
        fwd = 0
        while q and q[0][0] <= limit:
            arrival, s, data, rtcp = popleft()
            if rtcp:
                self._send_rtcp(s, data, arrival, now)
                continue
            send = s.send_rtp
            if send is None:
                self.rtp_no_target += 1
                continue
            try:
                out = s.release_rtp(data, arrival, now)
            except Exception:
                self.gate_errors += 1
                continue
            if out is None:
                self.rtp_dropped += 1
                continue
            try:
                send(out)
            except Exception:  # full buffer, ICMP error, closed socket: count, keep draining
                self.socket_errors += 1
                continue
            fwd += 1
        if fwd:
            self.rtp_forwarded += fwd
            delay = now - oldest
            self._delay_buckets[bisect_left(self._delay_bounds, delay)] += fwd
            self._delay_sum_s += delay * fwd
        if self._waiters:
            self._wake_waiters()
        if q and self.timer is None:
            self.arm()

    def _send_rtcp(self, s: MediaStream, data: bytes, arrival: float, now: float) -> None:
        send = s.send_rtcp
        if send is None:
            self.rtcp_no_target += 1
            return
        try:
            out = s.gate.release_rtcp(data, arrival, now)
        except Exception:
            self.gate_errors += 1
            return
        if out is None:
            self.rtcp_dropped += 1
            return
        try:
            send(out)
        except Exception:
            self.socket_errors += 1
            return
        self.rtcp_forwarded += 1

    def _wake_waiters(self) -> None:
        fifo = self._fifo
        keep = []
        for last, fut in self._waiters:
            if fut.done():
                continue
            if fifo.has_left(last):
                fut.set_result(None)
            else:
                keep.append((last, fut))
        self._waiters = keep

    # -- streams and calls -----------------------------------------------------------

    async def open_stream(self, call_id: str, label: str, gate: StreamGate) -> MediaStream:
        """Bind ingress and egress RTP/RTCP pairs; raises ResourceExhausted."""
        s = MediaStream(self, call_id, label, gate)
        ingress = self._bind_pair()
        try:
            egress = self._bind_pair()
        except BaseException:
            self._discard(ingress)
            raise
        s.ingress_rtp_port, s.egress_rtp_port = ingress[0], egress[0]
        s.ingress_rtcp_port, s.egress_rtcp_port = ingress[0] + 1, egress[0] + 1
        protocols: list[asyncio.DatagramProtocol] = [
            IngressRtp(s),
            IngressRtcp(s),
            Egress(s),
            Egress(s),
        ]
        socks = [ingress[1], ingress[2], egress[1], egress[2]]
        try:
            for sock, proto in zip(socks, protocols, strict=True):
                transport, _ = await self.loop.create_datagram_endpoint(_factory(proto), sock=sock)
                s._transports.append(transport)
        except BaseException:
            s.close()
            for sock in socks[len(s._transports) :]:
                sock.close()
            now = self.time()
            self.ports.release(ingress[0], now)
            self.ports.release(egress[0], now)
            raise
        s._egress = (egress[1], egress[2])
        self._calls.setdefault(call_id, []).append(s)
        return s

    def _bind_pair(self) -> tuple[int, socket.socket, socket.socket]:
        return bind_udp_pair(self.ports, self.family, self.bind_host, self.time())

    def _discard(self, pair: tuple[int, socket.socket, socket.socket]) -> None:
        pair[1].close()
        pair[2].close()
        self.ports.release(pair[0], self.time())

    def close_call(self, call_id: str, now: float) -> None:
        """Close the call's sockets; its ports rest in quarantine. Held packets are dropped."""
        for s in self._calls.pop(call_id, ()):
            s.close()
            self.ports.release(s.ingress_rtp_port, now)
            self.ports.release(s.egress_rtp_port, now)
        if self._waiters:
            self._wake_waiters()

    async def wait_drained(self, call_id: str) -> None:
        """Return once every packet of the call received so far has left the hold-back."""
        streams = self._calls.get(call_id)
        if not streams:
            return
        last = max(max(s.last_rtp_at or -1.0, s.last_rtcp_at) for s in streams)
        if self._fifo.has_left(last):
            return
        fut: asyncio.Future[None] = self.loop.create_future()
        self._waiters.append((last, fut))
        await fut

    def last_activity(self, call_id: str) -> float | None:
        """Monotonic time of the call's last valid RTP packet, None before the first."""
        times = [s.last_rtp_at for s in self._calls.get(call_id, ()) if s.last_rtp_at is not None]
        return max(times) if times else None

    def close(self) -> None:
        """Close every stream (shutdown); pending waiters return."""
        for call_id in list(self._calls):
            self.close_call(call_id, self.time())
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for _, fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters = []

    def statistics(self) -> MediaStatistics:
        return MediaStatistics(
            rtp_forwarded=self.rtp_forwarded,
            rtp_dropped=self.rtp_dropped,
            rtp_no_target=self.rtp_no_target,
            rtp_invalid=self.rtp_invalid,
            rtp_wrong_source=self.rtp_wrong_source,
            rtcp_forwarded=self.rtcp_forwarded,
            rtcp_dropped=self.rtcp_dropped,
            rtcp_no_target=self.rtcp_no_target,
            rtcp_invalid=self.rtcp_invalid,
            rtcp_wrong_source=self.rtcp_wrong_source,
            from_recorder=self.from_recorder,
            gate_errors=self.gate_errors,
            socket_errors=self.socket_errors,
            held=len(self._fifo),
            streams=sum(len(v) for v in self._calls.values()),
            forward_delay_bounds_s=self._delay_bounds,
            forward_delay_buckets=tuple(self._delay_buckets),
            forward_delay_sum_s=self._delay_sum_s,
        )
