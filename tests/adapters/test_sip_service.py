"""SipService on real UDP/TCP sockets, with a RecorderServer as the recorder (SPEC §2)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from tests.fixtures.sip.flows import TelUa
from tests.fixtures.sip.peers import HOST, FakeHooks, TcpPeer, UdpPeer

from pausegate.calls.b2bua import B2buaSettings
from pausegate.io.sip_service import SipService
from pausegate.recorder.app import RecorderServer
from pausegate.sip.message import SipResponse


def rtp_range() -> tuple[int, int]:
    low = random.randrange(20000, 30000, 2)
    return low, low + 40


@pytest_asyncio.fixture
async def recorder(tmp_path: Path) -> AsyncIterator[RecorderServer]:
    server = RecorderServer((HOST, 0), HOST, tmp_path / "rec", rtp_range())
    await server.start()
    yield server
    await server.stop()


def make_service(recorder_uri: str, hooks: FakeHooks, **kw: object) -> SipService:
    base: dict[str, object] = dict(
        listen=(HOST, 0),
        advertise=HOST,
        recorder_uri=recorder_uri,
        agent_header=None,
        key_header="X-Interaction-ID",
        agent_aor_pattern=None,
        max_calls=10,
        t1_s=0.05,
    )
    base.update(kw)
    return SipService(B2buaSettings(**base), hooks)  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def service(recorder: RecorderServer) -> AsyncIterator[tuple[SipService, FakeHooks]]:
    hooks = FakeHooks()
    svc = make_service(f"sip:rec@{HOST}:{recorder.port}", hooks)
    await svc.start()
    yield svc, hooks
    await svc.stop()


@pytest.mark.asyncio
async def test_udp_call_through_recorder(
    service: tuple[SipService, FakeHooks], recorder: RecorderServer
) -> None:
    svc, hooks = service
    peer = await UdpPeer().open()
    try:
        ua = TelUa("udp-call-1", host=HOST, port=peer.port)
        peer.send(ua.make_invite(extra=[("X-Interaction-ID", "INT-9")]), svc.port)
        await peer.response(100)
        ok = await peer.response(200)
        assert b"c=IN IP4 127.0.0.1" in ok.body
        assert b"m=audio 41000 " in ok.body
        peer.send(ua.confirm(ok), svc.port)
        assert hooks.setups[0].keys == ("udp-call-1", "INT-9")
        assert hooks.answers
        assert hooks.answers[0][1][0].rtp is not None
        assert recorder.active_calls == 1
        peer.send(ua.request("BYE"), svc.port)
        await peer.response(200, "BYE")
        assert await svc.wait_idle(5.0)
        assert hooks.teardowns == ["udp-call-1"]
        assert recorder.active_calls == 0
        assert len(recorder.finished) == 1
        stats = svc.statistics()
        assert stats.messages[("INVITE", "request")] >= 2
        assert stats.messages[("BYE", "200")] >= 2
    finally:
        peer.close()


@pytest.mark.asyncio
async def test_tcp_call_and_bye_from_pausegate(
    service: tuple[SipService, FakeHooks], recorder: RecorderServer
) -> None:
    svc, _ = service
    peer = await TcpPeer().open(svc.port)
    try:
        ua = TelUa("tcp-call-1", transport="TCP", host=HOST, port=peer.port)
        peer.send(ua.make_invite())
        ok = await peer.response(200)
        peer.send(ua.confirm(ok))
        svc.terminate_call("tcp-call-1", "rtp inactivity")
        bye = await peer.request("BYE")
        from pausegate.sip.message import build_response

        peer.send(build_response(bye, 200))
        assert await svc.wait_idle(5.0)
        assert recorder.active_calls == 0
    finally:
        await peer.close()


@pytest.mark.asyncio
async def test_garbage_is_answered_or_dropped(service: tuple[SipService, FakeHooks]) -> None:
    svc, _ = service
    peer = await UdpPeer().open()
    try:
        peer.send(b"\x00\x01garbage", svc.port)
        bad = (
            b"INVITE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKq\r\n"
            b"From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: bad-1\r\nCSeq: 1 BYE\r\n\r\n"
            % peer.port
        )
        peer.send(bad, svc.port)
        resp = await peer.next()
        assert isinstance(resp, SipResponse)
        assert resp.status == 400
        assert svc.statistics().parse_errors == 2
    finally:
        peer.close()


@pytest.mark.asyncio
async def test_recorder_unreachable_gives_503(recorder: RecorderServer) -> None:
    hooks = FakeHooks()
    dead = UdpPeer()
    await dead.open()  # a socket that never answers
    svc = make_service(f"sip:rec@{HOST}:{dead.port}", hooks, t1_s=0.01)
    await svc.start()
    peer = await UdpPeer().open()
    try:
        ua = TelUa("dead-rec", host=HOST, port=peer.port)
        peer.send(ua.make_invite(), svc.port)
        resp = await peer.response(503)
        assert resp.get("Retry-After") is not None
        assert await svc.wait_idle(5.0)
        assert hooks.teardowns == ["dead-rec"]
    finally:
        peer.close()
        dead.close()
        await svc.stop()


@pytest.mark.asyncio
async def test_recorder_over_tcp(recorder: RecorderServer) -> None:
    hooks = FakeHooks()
    svc = make_service(f"sip:rec@{HOST}:{recorder.port};transport=tcp", hooks)
    await svc.start()
    peer = await UdpPeer().open()
    try:
        ua = TelUa("rec-tcp", host=HOST, port=peer.port)
        peer.send(ua.make_invite(), svc.port)
        ok = await peer.response(200)
        peer.send(ua.confirm(ok), svc.port)
        peer.send(ua.request("BYE"), svc.port)
        await peer.response(200, "BYE")
        assert await svc.wait_idle(5.0)
        assert len(recorder.finished) == 1
    finally:
        peer.close()
        await svc.stop()


@pytest.mark.asyncio
async def test_tcp_recorder_refusing_connections_gives_503_fast() -> None:
    hooks = FakeHooks()
    closed = UdpPeer()
    await closed.open()  # nothing listens on TCP at this port
    svc = make_service(f"sip:rec@{HOST}:{closed.port};transport=tcp", hooks, t1_s=0.5)
    await svc.start()
    peer = await UdpPeer().open()
    try:
        ua = TelUa("rec-refused", host=HOST, port=peer.port)
        peer.send(ua.make_invite(), svc.port)
        resp = await peer.response(503)  # well before Timer B (32 s)
        assert resp.get("Retry-After") is not None
    finally:
        peer.close()
        closed.close()
        await svc.stop()


@pytest.mark.asyncio
async def test_cancel_drain_and_no_ports(service: tuple[SipService, FakeHooks]) -> None:
    svc, hooks = service
    peer = await UdpPeer().open()
    try:
        hooks.exhausted = True
        ua = TelUa("no-ports", host=HOST, port=peer.port)
        peer.send(ua.make_invite(), svc.port)
        assert (await peer.response(503)).get("Retry-After") is not None
        hooks.exhausted = False
        svc.begin_drain()
        ua2 = TelUa("draining", host=HOST, port=peer.port)
        peer.send(ua2.make_invite(), svc.port)
        await peer.response(503)
        assert svc.active_calls() == 0
        peer.send(ua2.cancel(), svc.port)
        await peer.response(200, "CANCEL")  # matched, but the INVITE was already answered
    finally:
        peer.close()


@pytest.mark.asyncio
async def test_unframeable_tcp_stream_is_closed_and_keepalives_ignored(
    service: tuple[SipService, FakeHooks],
) -> None:
    import asyncio

    svc, _ = service
    peer = await UdpPeer().open()
    reader, writer = await asyncio.open_connection(HOST, svc.port)
    try:
        peer.send(b"\r\n\r\n", svc.port)  # RFC 5626 keep-alive: no answer, no error
        writer.write(
            b"\r\n\r\nOPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKz\r\n\r\n"
        )
        assert await asyncio.wait_for(reader.read(), 5.0) == b""  # closed: cannot frame it
        assert svc.statistics().parse_errors == 1
        assert svc.core.statistics().calls_active == 0
    finally:
        writer.close()
        peer.close()
