"""RecorderServer on real sockets: a SIPREC INVITE over TCP, RTP in, WAV + metadata out."""

from __future__ import annotations

import asyncio
import random
import struct
from pathlib import Path

import pytest
from tests.fixtures.sip import load
from tests.fixtures.sip.flows import TelUa
from tests.fixtures.sip.peers import HOST, TcpPeer, UdpPeer

from pausegate.calls.bodies import sdp_of
from pausegate.recorder.app import RecorderServer
from pausegate.sip.dialog import Dialog, local_via
from pausegate.sip.message import parse_request


def rtp(seq: int, ts: int, ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, ts, ssrc) + b"\xff" * 160


@pytest.mark.asyncio
async def test_siprec_recording_over_tcp(tmp_path: Path) -> None:
    low = random.randrange(30000, 40000, 2)
    server = RecorderServer((HOST, 0), HOST, tmp_path, (low, low + 20))
    await server.start()
    peer = await TcpPeer().open(server.port)
    try:
        invite = parse_request(load("sbc_siprec_invite.sip"), stream=True)
        peer.send(invite)
        ok = await peer.response(200)
        sd, _ = sdp_of(ok)
        assert sd is not None
        ports = [m.port for m in sd.media]
        assert all(low <= p <= low + 20 for p in ports)
        dialog = Dialog.as_uac(invite, ok)
        peer.send(
            dialog.create_ack(invite.cseq.seq, local_via("tcp", HOST, peer.port, "z9hG4bKa1"))
        )
        loop = asyncio.get_running_loop()
        sender, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=(HOST, 0)
        )
        for i in range(5):
            for port in ports:
                sender.sendto(rtp(i, 160 * i), (HOST, port))
            await asyncio.sleep(0.02)
        sender.close()
        await asyncio.sleep(0.05)
        peer.send(dialog.create_request("BYE", local_via("tcp", HOST, peer.port, "z9hG4bKb1")))
        await peer.response(200, "BYE")
        call_dir = server.finished[0]
        assert (call_dir / "metadata.xml").read_bytes().startswith(b"<?xml")
        assert len(list(call_dir.glob("*.wav"))) == 2
        assert server.active_calls == 0
    finally:
        await peer.close()
        await server.stop()


@pytest.mark.asyncio
async def test_plain_invite_cancel_and_options_over_udp(tmp_path: Path) -> None:
    low = random.randrange(30000, 40000, 2)
    server = RecorderServer((HOST, 0), HOST, tmp_path, (low, low + 20))
    await server.start()
    peer = await UdpPeer().open()
    try:
        peer.send(load("options_keepalive.sip"), server.port)
        await peer.response(200, "OPTIONS")
        ua = TelUa("rec-plain", host=HOST, port=peer.port)
        peer.send(ua.make_invite(), server.port)
        ok = await peer.response(200)
        peer.send(ua.confirm(ok), server.port)
        peer.send(ua.request("BYE"), server.port)
        await peer.response(200, "BYE")
        assert len(server.finished) == 1
    finally:
        peer.close()
        await server.stop()
