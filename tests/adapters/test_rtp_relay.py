"""MediaEngine on real UDP sockets on 127.0.0.1: hold-back, source check, RTCP, drain, ports."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
import pytest_asyncio

from pausegate.errors import ResourceExhausted
from pausegate.io.rtp_transport import MediaEngine, MediaStream, raise_nofile_limit
from pausegate.rtp.ports import PortAllocator

HOST = "127.0.0.1"
HOLDBACK_S = 0.1
WAIT_S = 5.0


class PassThroughGate:
    """Forwards every packet unchanged and remembers (arrival, now) of each release."""

    def __init__(self) -> None:
        self.released: list[tuple[float, float]] = []

    def release_rtp(self, data: bytes, arrival: float, now: float) -> bytes | None:
        self.released.append((arrival, now))
        return data

    def release_rtcp(self, data: bytes, arrival: float, now: float) -> bytes | None:
        self.released.append((arrival, now))
        return data


class BrokenGate(PassThroughGate):
    def release_rtp(self, data: bytes, arrival: float, now: float) -> bytes | None:
        raise RuntimeError("bug")


class Peer(asyncio.DatagramProtocol):
    """A UDP endpoint on 127.0.0.1 that queues what it receives with its arrival time."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Any, float]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait((data, addr, time.monotonic()))

    @property
    def addr(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return host, port

    def send(self, data: bytes, port: int) -> float:
        assert self.transport is not None
        t = time.monotonic()
        self.transport.sendto(data, (HOST, port))
        return t

    async def recv(self) -> tuple[bytes, Any, float]:
        return await asyncio.wait_for(self.queue.get(), WAIT_S)

    async def nothing_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.queue.get(), seconds)
        except TimeoutError:
            return True
        return False


Peers = tuple[Peer, Peer, Peer]


async def make_peer(port: int = 0) -> Peer:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_datagram_endpoint(Peer, local_addr=(HOST, port))
    return proto


def rtp(seq: int, ts: int = 0, ssrc: int = 0x11223344, pt: int = 0, payload: bytes = b"") -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, ts, ssrc) + (payload or bytes([seq & 0xFF]) * 160)


def rtcp_sr(ssrc: int = 0x11223344) -> bytes:
    # SR with no report blocks: length 6 words after the first (RFC 3550 §6.4.1)
    return struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, 1, 2, 3, 4, 5)


async def held(engine: MediaEngine, n: int) -> None:
    """Let the loop read n packets into the hold-back (bounded)."""
    async with asyncio.timeout(WAIT_S):
        while engine.statistics().held < n:  # noqa: ASYNC110 - polls a plain counter
            await asyncio.sleep(0.005)


def port_range(pairs: int) -> tuple[int, int]:
    low = random.randrange(20000, 29000, 2)
    return low, low + 2 * pairs - 1


@pytest_asyncio.fixture
async def peers() -> AsyncIterator[tuple[Peer, Peer, Peer]]:
    """(telephony, recorder RTP, recorder RTCP)."""
    made = [await make_peer() for _ in range(3)]
    yield made[0], made[1], made[2]
    for p in made:
        assert p.transport is not None
        p.transport.close()


@pytest_asyncio.fixture
async def engine() -> AsyncIterator[MediaEngine]:
    low, high = port_range(64)
    eng = MediaEngine(asyncio.get_running_loop(), HOST, PortAllocator(low, high, 30.0),
                      HOLDBACK_S, latch=False)  # fmt: skip
    yield eng
    eng.close()


async def wired(
    engine: MediaEngine,
    peers: tuple[Peer, Peer, Peer],
    gate: PassThroughGate | None = None,
    call_id: str = "c1",
) -> MediaStream:
    tel, rec, rec_rtcp = peers
    stream = await engine.open_stream(call_id, "0", gate or PassThroughGate())
    stream.set_source(tel.addr, None, rtcp_mux=True)
    stream.set_target(rec.addr, rec_rtcp.addr, rtcp_mux=False)
    return stream


@pytest.mark.asyncio
async def test_packets_leave_after_the_hold_back_unchanged_and_in_order(
    engine: MediaEngine, peers: Peers
) -> None:
    tel, rec, _ = peers
    gate = PassThroughGate()
    stream = await wired(engine, peers, gate)
    # CSRCs, marker, extension and padding all pass through byte for byte
    header = struct.pack("!BBHIIII", 0x80 | 0x20 | 0x10 | 2, 0x80 | 8, 7, 99, 5, 1, 2)
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\x10\x22\x00\x00"
    fancy = header + extension + b"\x55" * 160 + b"\x00\x00\x03"
    sent = [rtp(i, i * 160) for i in range(5)] + [fancy]
    sent_at = []
    for data in sent:
        sent_at.append(tel.send(data, stream.ingress_rtp_port))
        await asyncio.sleep(0.02)
    got = [await rec.recv() for _ in sent]
    assert [g[0] for g in got] == sent
    assert all(g[1][1] == stream.egress_rtp_port for g in got)
    for (_, _, received_at), t in zip(got, sent_at, strict=True):
        assert received_at - t >= HOLDBACK_S
    assert all(now - arrival >= HOLDBACK_S for arrival, now in gate.released)
    stats = engine.statistics()
    assert stats.rtp_forwarded == len(sent)
    assert sum(stats.forward_delay_buckets) == len(sent)
    assert stats.forward_delay_sum_s >= HOLDBACK_S * len(sent)
    assert engine.last_activity("c1") is not None
    assert engine.last_activity("unknown") is None


@pytest.mark.asyncio
async def test_malformed_packets_are_counted_and_the_loop_lives(
    engine: MediaEngine, peers: Peers
) -> None:
    _, rec, rec_rtcp = peers
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # asyncio does not send b""
    raw.bind((HOST, 0))
    stream = await engine.open_stream("c1", "0", PassThroughGate())
    stream.set_source(raw.getsockname(), None, rtcp_mux=True)
    stream.set_target(rec.addr, rec_rtcp.addr, rtcp_mux=False)
    bad = [
        b"",
        b"\x80",
        b"\x00" * 20,  # version 0
        b"\x8f" + b"\x00" * 15,  # 15 CSRCs in 16 bytes
        b"\x90" + b"\x00" * 11 + b"\x00\x00\x00\x09",  # extension overruns
        b"\xa0" + b"\x00" * 11 + b"\x00\x00\x00\x40",  # padding overruns
    ]
    for data in bad:
        raw.sendto(data, (HOST, stream.ingress_rtp_port))
    raw.sendto(rtp(1), (HOST, stream.ingress_rtp_port))
    raw.close()
    data, _, _ = await rec.recv()
    assert data == rtp(1)
    stats = engine.statistics()
    # b"\x80" is too short to be RTCP and too short for RTP; it is invalid RTP
    assert stats.rtp_invalid == len(bad)
    assert stats.rtp_forwarded == 1


@pytest.mark.asyncio
async def test_wrong_source_is_dropped_and_counted(engine: MediaEngine, peers: Peers) -> None:
    tel, rec, _ = peers
    stream = await wired(engine, peers)
    stranger = await make_peer()
    try:
        stranger.send(rtp(1), stream.ingress_rtp_port)
        stranger.send(rtcp_sr(), stream.ingress_rtcp_port)
        tel.send(rtp(2), stream.ingress_rtp_port)
        data, _, _ = await rec.recv()
        assert data == rtp(2)
        stats = engine.statistics()
        assert stats.rtp_wrong_source == 1
        assert stats.rtcp_wrong_source == 1
        assert stats.rtp_forwarded == 1
    finally:
        assert stranger.transport is not None
        stranger.transport.close()


@pytest.mark.asyncio
async def test_latching_takes_the_first_packets_source(peers: Peers) -> None:
    tel, rec, rec_rtcp = peers
    low, high = port_range(8)
    loop = asyncio.get_running_loop()
    eng = MediaEngine(loop, HOST, PortAllocator(low, high, 30.0), HOLDBACK_S, latch=True)
    other = await make_peer()
    try:
        stream = await eng.open_stream("c", "0", PassThroughGate())
        stream.set_source(("127.0.0.1", 9), None, rtcp_mux=False)  # SDP says something else
        stream.set_target(rec.addr, rec_rtcp.addr, rtcp_mux=False)
        tel.send(b"\x00garbage-is-not-latched", stream.ingress_rtp_port)
        tel.send(rtp(1), stream.ingress_rtp_port)  # latches tel
        other.send(rtp(2), stream.ingress_rtp_port)  # wrong source now
        tel.send(rtp(3), stream.ingress_rtp_port)
        assert (await rec.recv())[0] == rtp(1)
        assert (await rec.recv())[0] == rtp(3)
        other.send(rtcp_sr(), stream.ingress_rtcp_port)  # RTCP latches on its own
        assert (await rec_rtcp.recv())[0] == rtcp_sr()
        stats = eng.statistics()
        assert (stats.rtp_invalid, stats.rtp_wrong_source, stats.rtp_forwarded) == (1, 1, 2)
        # a new SDP address re-opens the latch
        stream.set_source(("127.0.0.1", 11), None, rtcp_mux=False)
        other.send(rtp(4), stream.ingress_rtp_port)
        assert (await rec.recv())[0] == rtp(4)
    finally:
        eng.close()
        assert other.transport is not None
        other.transport.close()


@pytest.mark.asyncio
async def test_separate_rtcp_is_relayed_to_the_recorders_rtcp_port(
    engine: MediaEngine, peers: Peers
) -> None:
    tel, rec, rec_rtcp = peers
    stream = await engine.open_stream("c1", "0", PassThroughGate())
    tel_rtcp = await make_peer()
    try:
        stream.set_source(tel.addr, tel_rtcp.addr, rtcp_mux=False)
        stream.set_target(rec.addr, rec_rtcp.addr, rtcp_mux=False)
        t = tel_rtcp.send(rtcp_sr(), stream.ingress_rtcp_port)
        tel_rtcp.send(b"\x80\xc8\x00\x09short", stream.ingress_rtcp_port)  # length overruns
        data, addr, received_at = await rec_rtcp.recv()
        assert data == rtcp_sr()
        assert addr[1] == stream.egress_rtcp_port
        assert received_at - t >= HOLDBACK_S
        stats = engine.statistics()
        assert (stats.rtcp_forwarded, stats.rtcp_invalid) == (1, 1)
    finally:
        assert tel_rtcp.transport is not None
        tel_rtcp.transport.close()


@pytest.mark.asyncio
async def test_muxed_rtcp_in_and_out(engine: MediaEngine, peers: Peers) -> None:
    tel, rec, rec_rtcp = peers
    stream = await wired(engine, peers)  # ingress muxed, recorder not: RTCP to rec_rtcp
    tel.send(rtcp_sr(), stream.ingress_rtp_port)
    data, addr, _ = await rec_rtcp.recv()
    assert (data, addr[1]) == (rtcp_sr(), stream.egress_rtcp_port)
    stream.set_target(rec.addr, None, rtcp_mux=True)  # recorder muxes too
    tel.send(rtcp_sr(7), stream.ingress_rtp_port)
    tel.send(rtp(1), stream.ingress_rtp_port)
    got = [await rec.recv(), await rec.recv()]
    assert [g[0] for g in got] == [rtcp_sr(7), rtp(1)]
    assert all(g[1][1] == stream.egress_rtp_port for g in got)
    # RTCP from the recorder to the egress sockets is read and dropped
    assert rec.transport is not None
    assert rec_rtcp.transport is not None
    rec.transport.sendto(rtcp_sr(), (HOST, stream.egress_rtp_port))
    rec_rtcp.transport.sendto(rtcp_sr(), (HOST, stream.egress_rtcp_port))
    tel.send(rtp(2), stream.ingress_rtp_port)
    await rec.recv()
    stats = engine.statistics()
    assert stats.from_recorder == 2
    assert (stats.rtcp_forwarded, stats.rtp_forwarded) == (2, 2)


@pytest.mark.asyncio
async def test_no_target_drops_and_counts(engine: MediaEngine, peers: Peers) -> None:
    tel, rec, rec_rtcp = peers
    stream = await engine.open_stream("c1", "0", PassThroughGate())
    stream.set_source(tel.addr, None, rtcp_mux=True)
    tel.send(rtp(1), stream.ingress_rtp_port)
    tel.send(rtcp_sr(), stream.ingress_rtp_port)
    await held(engine, 2)
    await engine.wait_drained("c1")
    stream.set_target(rec.addr, rec_rtcp.addr, rtcp_mux=False)
    tel.send(rtp(2), stream.ingress_rtp_port)
    assert (await rec.recv())[0] == rtp(2)
    stats = engine.statistics()
    assert (stats.rtp_no_target, stats.rtcp_no_target, stats.rtp_forwarded) == (1, 1, 1)


@pytest.mark.asyncio
async def test_wait_drained_returns_when_held_packets_have_left(
    engine: MediaEngine, peers: Peers
) -> None:
    tel, rec, _ = peers
    stream = await wired(engine, peers)
    await engine.wait_drained("c1")  # nothing held: returns at once
    await engine.wait_drained("nobody")
    for i in range(5):
        tel.send(rtp(i), stream.ingress_rtp_port)
    await held(engine, 5)
    await asyncio.wait_for(engine.wait_drained("c1"), WAIT_S)
    stats = engine.statistics()
    assert (stats.held, stats.rtp_forwarded) == (0, 5)
    assert [(await rec.recv())[0] for _ in range(5)] == [rtp(i) for i in range(5)]


@pytest.mark.asyncio
async def test_a_raising_gate_withholds_and_counts(engine: MediaEngine, peers: Peers) -> None:
    tel, rec, _ = peers
    bad = await wired(engine, peers, BrokenGate(), call_id="bad")
    good = await wired(engine, peers, call_id="good")
    tel.send(rtp(1), bad.ingress_rtp_port)
    tel.send(rtp(2), good.ingress_rtp_port)
    assert (await rec.recv())[0] == rtp(2)
    assert engine.statistics().gate_errors == 1


@pytest.mark.asyncio
async def test_close_call_closes_sockets_and_quarantines_ports() -> None:
    low, high = port_range(4)
    ports = PortAllocator(low, high, 30.0)
    eng = MediaEngine(asyncio.get_running_loop(), HOST, ports, HOLDBACK_S, latch=False)
    try:
        first = await eng.open_stream("a", "0", PassThroughGate())
        used = {first.ingress_rtp_port, first.egress_rtp_port}
        assert {first.ingress_rtcp_port, first.egress_rtcp_port} == {p + 1 for p in used}
        assert eng.statistics().streams == 1
        eng.close_call("a", asyncio.get_running_loop().time())
        await asyncio.sleep(0)  # transports close their sockets on the next loop turn
        await asyncio.sleep(0)
        assert eng.statistics().streams == 0
        assert ports.allocated_pairs == 0
        assert ports.free_pairs(asyncio.get_running_loop().time()) == 2
        # the sockets are gone: the ports can be bound again by anyone
        for p in used:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((HOST, p))
            s.close()
        second = await eng.open_stream("b", "0", PassThroughGate())
        assert {second.ingress_rtp_port, second.egress_rtp_port}.isdisjoint(used)
        with pytest.raises(ResourceExhausted):
            await eng.open_stream("c", "0", PassThroughGate())
        assert ports.allocated_pairs == 2  # the failed open returned what it took
    finally:
        eng.close()


@pytest.mark.asyncio
async def test_a_port_held_by_someone_else_is_skipped() -> None:
    low, high = port_range(3)
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind((HOST, low + 1))  # the RTCP port of the first pair
    ports = PortAllocator(low, high, 30.0)
    eng = MediaEngine(asyncio.get_running_loop(), HOST, ports, HOLDBACK_S, latch=False)
    try:
        stream = await eng.open_stream("a", "0", PassThroughGate())
        assert low not in (stream.ingress_rtp_port, stream.egress_rtp_port)
    finally:
        eng.close()
        blocker.close()


def test_raise_nofile_limit_returns_the_soft_limit() -> None:
    import resource

    limit = raise_nofile_limit()
    assert limit == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert limit >= 256


@pytest.mark.asyncio
async def test_a_repeated_wrong_source_is_counted_each_time_until_sdp_names_it(
    engine: MediaEngine, peers: Peers
) -> None:
    _, rec, _ = peers
    stream = await wired(engine, peers)
    stranger = await make_peer()
    try:
        for i in range(3):
            stranger.send(rtp(i), stream.ingress_rtp_port)
        await stranger_counted(engine, 3)
        stream.set_source(stranger.addr, None, rtcp_mux=True)  # re-INVITE: now it is the source
        stranger.send(rtp(9), stream.ingress_rtp_port)
        assert (await rec.recv())[0] == rtp(9)
        assert engine.statistics().rtp_wrong_source == 3
    finally:
        assert stranger.transport is not None
        stranger.transport.close()


async def stranger_counted(engine: MediaEngine, n: int) -> None:
    async with asyncio.timeout(WAIT_S):
        while engine.statistics().rtp_wrong_source < n:  # noqa: ASYNC110 - polls a plain counter
            await asyncio.sleep(0.005)


@pytest.mark.asyncio
async def test_rtcp_on_the_rtp_port_is_rtcp_even_without_mux(
    engine: MediaEngine, peers: Peers
) -> None:
    tel, _, rec_rtcp = peers
    stream = await wired(engine, peers)
    stream.set_source(tel.addr, None, rtcp_mux=False)
    tel.send(rtcp_sr(3), stream.ingress_rtp_port)
    data, addr, _ = await rec_rtcp.recv()
    assert (data, addr[1]) == (rtcp_sr(3), stream.egress_rtcp_port)
    assert engine.statistics().rtcp_forwarded == 1


@pytest.mark.asyncio
async def test_relay_over_ipv6_loopback() -> None:
    loop = asyncio.get_running_loop()
    low, high = port_range(4)
    eng = MediaEngine(loop, "::1", PortAllocator(low, high, 30.0), HOLDBACK_S, latch=False)
    made = []
    try:
        for _ in range(2):
            _, p = await loop.create_datagram_endpoint(Peer, local_addr=("::1", 0))
            made.append(p)
        tel, rec = made
        stream = await eng.open_stream("v6", "0", PassThroughGate())
        stream.set_source(("0:0:0:0:0:0:0:1", tel.addr[1]), None, rtcp_mux=True)  # long form
        stream.set_target(("::1", rec.addr[1]), None, rtcp_mux=True)
        assert tel.transport is not None
        tel.transport.sendto(rtp(1), ("::1", stream.ingress_rtp_port))
        tel.transport.sendto(rtp(2), ("::1", stream.ingress_rtp_port))
        assert [(await rec.recv())[0] for _ in range(2)] == [rtp(1), rtp(2)]
        assert eng.statistics().rtp_wrong_source == 0
    finally:
        eng.close()
        for p in made:
            assert p.transport is not None
            p.transport.close()


@pytest.mark.asyncio
async def test_close_call_with_packets_held_drops_them_and_wakes_waiters(
    engine: MediaEngine, peers: Peers
) -> None:
    tel, rec, _ = peers
    stream = await wired(engine, peers)
    for i in range(3):
        tel.send(rtp(i), stream.ingress_rtp_port)
    await held(engine, 3)
    waiter = asyncio.ensure_future(engine.wait_drained("c1"))
    await asyncio.sleep(0)
    assert not waiter.done()
    engine.close_call("c1", asyncio.get_running_loop().time())
    await asyncio.wait_for(waiter, WAIT_S)  # the held packets still leave the FIFO
    assert await rec.nothing_within(HOLDBACK_S / 2)
    stats = engine.statistics()
    assert (stats.rtp_forwarded, stats.rtp_no_target, stats.held) == (0, 3, 0)
    assert engine.last_activity("c1") is None  # the call is gone


@pytest.mark.asyncio
async def test_a_new_recorder_address_takes_the_next_packets(
    engine: MediaEngine, peers: Peers
) -> None:
    # Egress sockets are connected to the recorder (rtp_stream rule 6): a re-INVITE that
    # moves the recorder reconnects them, and the recorder's RTCP from the new address is
    # still heard (counted and dropped).
    tel, rec, rec_rtcp = peers
    stream = await wired(engine, peers)
    tel.send(rtp(1), stream.ingress_rtp_port)
    assert (await rec.recv())[0] == rtp(1)
    moved, moved_rtcp = await make_peer(), await make_peer()
    try:
        stream.set_target(moved.addr, moved_rtcp.addr, rtcp_mux=False)
        tel.send(rtp(2), stream.ingress_rtp_port)
        tel.send(rtcp_sr(), stream.ingress_rtcp_port)
        assert (await moved.recv())[0] == rtp(2)
        assert (await moved_rtcp.recv())[0] == rtcp_sr()
        assert await rec.nothing_within(HOLDBACK_S * 2)
        moved.send(rtcp_sr(), stream.egress_rtp_port)
        async with asyncio.timeout(WAIT_S):
            while engine.statistics().from_recorder < 1:  # noqa: ASYNC110 - a plain counter
                await asyncio.sleep(0.005)
        stream.set_target(rec.addr, None, rtcp_mux=True)  # back, and muxed now
        tel.send(rtp(3), stream.ingress_rtp_port)
        tel.send(rtcp_sr(), stream.ingress_rtcp_port)
        got = {(await rec.recv())[0] for _ in range(2)}
        assert got == {rtp(3), rtcp_sr()}
        assert rec_rtcp.queue.empty()
    finally:
        for p in (moved, moved_rtcp):
            assert p.transport is not None
            p.transport.close()


@pytest.mark.asyncio
async def test_a_recorder_that_went_away_costs_counted_errors_not_the_loop(
    engine: MediaEngine, peers: Peers
) -> None:
    # A connected UDP socket hears the ICMP port-unreachable of a closed recorder port:
    # the next send (or the loop's read) fails. Counted; the other streams carry on.
    tel, rec, _ = peers
    gone = await make_peer()
    gone_addr = gone.addr
    assert gone.transport is not None
    gone.transport.close()
    lost = await engine.open_stream("lost", "0", PassThroughGate())
    lost.set_source(tel.addr, None, rtcp_mux=True)
    lost.set_target(gone_addr, None, rtcp_mux=True)
    alive = await wired(engine, peers, call_id="alive")
    for i in range(6):
        tel.send(rtp(i), lost.ingress_rtp_port)
        tel.send(rtp(100 + i), alive.ingress_rtp_port)
        await asyncio.sleep(0.01)
    got = [(await rec.recv())[0] for _ in range(6)]
    assert got == [rtp(100 + i) for i in range(6)]
    stats = engine.statistics()
    assert stats.socket_errors >= 1  # the ICMP errors, seen by a send or the loop's read
    assert stats.rtp_forwarded >= 6
