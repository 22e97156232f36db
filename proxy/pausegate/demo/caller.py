"""Demo adapter: a synthetic SIP UAC over UDP that streams a CallScript as RTP (RFC 3261, RFC 3550).

Rules:
1. One INVITE offering PCMU/8000 and telephone-event/8000, sendonly (a
   recording fork only sends), plain or SIPREC (RFC 7866: multipart/mixed with
   the SDP, ``a=label:1``, and RFC 7865 metadata naming the recorded call by
   its Session-ID, which is then the key the commands use). The INVITE is
   retransmitted on Timer A (RFC 3261 §17.1.1.2) until a response, a 2xx is
   answered with ACK (re-sent for every 2xx retransmission), and BYE is
   retransmitted on Timer E until its final response.
2. RTP leaves from the port written in the offer (pausegate checks the source) on
   an absolute schedule: packet i at ``t0 + offset_i``, so a late wake-up never
   shifts later packets. The send log records, per audio packet, the epoch ms it
   actually left; its 20 ms of audio are taken as captured just before that.
3. Requests from the far end (BYE, OPTIONS) get a 200; anything unparseable is
   dropped and counted, never raised.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
import uuid
from dataclasses import dataclass
from typing import cast

from pausegate.demo.script import DTMF_PT, PCMU_PT, SAMPLES_PER_PACKET, CallScript, PacketKind
from pausegate.errors import SipParseError
from pausegate.rtp.packet import TS_MOD
from pausegate.sip.headers import SipUri
from pausegate.sip.message import SipRequest, SipResponse, build_response, parse_message
from pausegate.siprec.multipart import BodyPart, SiprecError, build_multipart, split_siprec_body

T1_S = 0.5
Address = tuple[str, int]


class CallFailed(Exception):
    """The demo call could not be set up or torn down (message says why)."""


@dataclass(frozen=True, slots=True)
class SendRecord:
    rtp_ts: int  # first sample
    rtp_ts_end: int  # just past the last sample: the audio that ends when the packet leaves
    sent_at_ms: float  # epoch


def offer_sdp(host: str, rtp_port: int, session_id: int, label: str | None = None) -> bytes:
    lines = [
        "v=0",
        f"o=pausegate-demo {session_id} 1 IN IP4 {host}",
        "s=pausegate demo call",
        f"c=IN IP4 {host}",
        "t=0 0",
        f"m=audio {rtp_port} RTP/AVP {PCMU_PT} {DTMF_PT}",
        f"a=rtpmap:{PCMU_PT} PCMU/8000",
        f"a=rtpmap:{DTMF_PT} telephone-event/8000",
        f"a=fmtp:{DTMF_PT} 0-15",
        "a=ptime:20",
        "a=sendonly",
    ]
    if label is not None:
        lines.append(f"a=label:{label}")
    return ("\r\n".join(lines) + "\r\n").encode()


def recording_metadata(session_uuid: str, agent_aor: str, label: str) -> bytes:
    """RFC 7865 metadata for one recorded call with one stream (the agent's side)."""
    session = base64.b64encode(uuid.UUID(session_uuid).bytes).decode()
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1">
  <datamode>complete</datamode>
  <session session_id="{session}">
    <sipSessionID>{session_uuid};remote=00000000000000000000000000000000</sipSessionID>
  </session>
  <participant participant_id="cGFydGljaXBhbnQx">
    <nameID aor="{agent_aor}"/>
  </participant>
  <stream stream_id="c3RyZWFtMQ==" session_id="{session}">
    <label>{label}</label>
  </stream>
  <participantstreamassoc participant_id="cGFydGljaXBhbnQx">
    <send>c3RyZWFtMQ==</send>
  </participantstreamassoc>
</recording>
""".encode()


def answer_address(body: bytes) -> Address:
    """The first audio stream's RTP address from an SDP answer (RFC 4566 c= and m=)."""
    host: str | None = None
    media_host: str | None = None
    port: int | None = None
    for raw in body.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("c=") and len(line.split()) == 3:
            if port is None:
                host = line.split()[2]
            elif media_host is None:
                media_host = line.split()[2]
        elif line.startswith("m=audio ") and port is None:
            field = line.split()[1].split("/")[0]
            if field.isdigit():
                port = int(field)
        elif line.startswith("m=") and port is not None:
            break
    addr = media_host or host
    if addr is None or port is None or port == 0:
        raise CallFailed("the answer SDP has no usable audio address")
    return addr, port


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.inbox: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue(maxsize=256)
        self.dropped = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        try:
            self.inbox.put_nowait((data, addr))
        except asyncio.QueueFull:
            self.dropped += 1


class SyntheticCaller:
    """Places one call to ``target`` and streams ``script`` to the address it answers."""

    def __init__(
        self,
        target: Address,
        script: CallScript,
        host: str = "127.0.0.1",
        rng: random.Random | None = None,
        to_user: str = "agent-demo",
        siprec: bool = False,
    ) -> None:
        self._target = target
        self._script = script
        self._host = host
        self._rng = rng or random.Random()
        self._to_user = to_user
        self.call_id = f"demo-{self._rng.getrandbits(48):012x}@{host}"
        self.siprec = siprec
        # SIPREC: the recorded call's Session-ID (RFC 7989), what an agent desktop knows.
        self.session_uuid = uuid.UUID(int=self._rng.getrandbits(128), version=4).hex
        self._from_tag = f"{self._rng.getrandbits(32):08x}"
        self._to_tag: str | None = None
        self._sip: _Endpoint | None = None
        self._rtp: _Endpoint | None = None
        self._remote_rtp: Address | None = None
        self._dialog_target: Address = target
        self._ack: bytes | None = None
        self.invalid_messages = 0
        self.send_log: list[SendRecord] = []
        self.peer_hung_up = False

    # -- set-up ----------------------------------------------------------------
    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        _, self._sip = await loop.create_datagram_endpoint(_Endpoint, local_addr=(self._host, 0))
        _, self._rtp = await loop.create_datagram_endpoint(_Endpoint, local_addr=(self._host, 0))

    def close(self) -> None:
        for ep in (self._sip, self._rtp):
            if ep is not None and ep.transport is not None:
                ep.transport.close()

    def _local(self, ep: _Endpoint | None) -> Address:
        assert ep is not None
        assert ep.transport is not None
        host, port = ep.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def _send_sip(self, data: bytes, addr: Address) -> None:
        assert self._sip is not None
        assert self._sip.transport is not None
        self._sip.transport.sendto(data, addr)

    @property
    def key(self) -> str:
        """The call key commands address: the Call-ID, or under SIPREC the Session-ID."""
        return self.session_uuid if self.siprec else self.call_id

    def _invite_body(self) -> tuple[str, bytes]:
        host, rtp_port = self._local(self._rtp)
        label = "1" if self.siprec else None
        sdp = offer_sdp(host, rtp_port, self._rng.getrandbits(31), label)
        if not self.siprec:
            return "application/sdp", sdp
        meta = recording_metadata(self.session_uuid, f"sip:{self._to_user}@{host}", "1")
        parts = [
            BodyPart("application/sdp", sdp),
            BodyPart(
                "application/rs-metadata+xml", meta, {"Content-Disposition": "recording-session"}
            ),
        ]
        return build_multipart(parts, f"demo-{self._rng.getrandbits(32):08x}")

    def _request(
        self,
        method: str,
        cseq: int,
        body: bytes = b"",
        content_type: str | None = None,
        branch: str | None = None,
    ) -> SipRequest:
        host, port = self._local(self._sip)
        uri = SipUri.parse(f"sip:{self._to_user}@{self._target[0]}:{self._target[1]}")
        to = f"<sip:{self._to_user}@{self._target[0]}:{self._target[1]}>"
        if self._to_tag is not None:
            to += f";tag={self._to_tag}"
        branch = branch or f"z9hG4bK-{self._rng.getrandbits(40):010x}"
        headers = [
            ("Via", f"SIP/2.0/UDP {host}:{port};branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:caller-demo@{host}:{port}>;tag={self._from_tag}"),
            ("To", to),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} {method}"),
            ("Contact", f"<sip:caller-demo@{host}:{port}>" + (";+sip.src" if self.siprec else "")),
            ("User-Agent", "pausegate-demo"),
        ]
        if body:
            headers.append(("Content-Type", content_type or "application/sdp"))
        return SipRequest(tuple(headers), body, method, uri)

    def _parse(self, data: bytes, addr: Address) -> SipResponse | None:
        """A response to handle, or None (requests are answered here, garbage counted)."""
        try:
            msg = parse_message(data)
        except SipParseError:
            self.invalid_messages += 1
            return None
        if isinstance(msg, SipRequest):
            self._answer_request(msg, addr)
            return None
        return msg

    def _drain_sip(self) -> None:
        """While streaming: answer requests (a BYE ends the stream) and re-ACK 2xx."""
        assert self._sip is not None
        while not self._sip.inbox.empty():
            msg = self._parse(*self._sip.inbox.get_nowait())
            invite_2xx = msg is not None and msg.cseq.method == "INVITE" and msg.status < 300
            if invite_2xx and self._ack is not None:
                self._send_sip(self._ack, self._dialog_target)

    async def _next_sip(self, deadline: float) -> SipResponse | None:
        """The next parseable SIP message before ``deadline`` (loop time), or None."""
        assert self._sip is not None
        loop = asyncio.get_running_loop()
        while (left := deadline - loop.time()) > 0:
            try:
                data, addr = await asyncio.wait_for(self._sip.inbox.get(), left)
            except TimeoutError:
                return None
            msg = self._parse(data, addr)
            if msg is not None:
                return msg
        return None

    def _answer_request(self, req: SipRequest, addr: Address) -> None:
        if req.method == "ACK":
            return
        if req.method == "BYE" and req.call_id == self.call_id:
            self.peer_hung_up = True
        status = 200 if req.method in ("BYE", "OPTIONS") else 501
        self._send_sip(bytes(build_response(req, status)), addr)

    async def _transact(self, req: SipRequest, timeout_s: float) -> SipResponse:
        """Send ``req`` until a final response arrives (Timer A/E doubling, capped at 4 s)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        data = bytes(req)
        interval = T1_S
        provisional = False
        self._send_sip(data, self._dialog_target)
        next_send = loop.time() + interval
        while loop.time() < deadline:
            msg = await self._next_sip(min(deadline, next_send))
            if msg is None:
                if not provisional and loop.time() >= next_send:
                    self._send_sip(data, self._dialog_target)
                    interval = min(interval * 2, 4.0)
                next_send = loop.time() + interval
                continue
            if msg.call_id != self.call_id:
                continue
            if msg.cseq.method != req.method or msg.cseq.seq != req.cseq.seq:
                if msg.cseq.method == "INVITE" and msg.status < 300 and self._ack:
                    self._send_sip(self._ack, self._dialog_target)  # a retransmitted 2xx
                continue
            if msg.status < 200:
                provisional = req.method == "INVITE"
                continue
            return msg
        raise CallFailed(f"no final response to {req.method} within {timeout_s:.0f} s")

    async def wait_call_up(self, timeout_s: float = 8.0) -> Address:
        """INVITE, wait for 2xx, ACK; returns where the RTP goes."""
        if self._sip is None:
            await self.open()
        content_type, body = self._invite_body()
        invite = self._request("INVITE", 1, body, content_type)
        resp = await self._transact(invite, timeout_s)
        if resp.status >= 300:
            # RFC 3261 §17.1.1.3: the client transaction ACKs a non-2xx final response,
            # on the INVITE's branch, with the response's To tag.
            self._to_tag = resp.to.tag
            ack = self._request("ACK", 1, branch=invite.branch)
            self._send_sip(bytes(ack), self._dialog_target)
            raise CallFailed(f"pausegate answered the INVITE with {resp.status} {resp.reason}")
        self._to_tag = resp.to.tag
        contact = resp.contact
        if contact is not None and contact.uri.port is not None:
            self._dialog_target = (contact.uri.host_no_brackets, contact.uri.port)
        try:
            sdp, _ = split_siprec_body(resp.content_type or "application/sdp", resp.body)
        except SiprecError:
            sdp = None
        self._remote_rtp = answer_address(sdp or b"")
        ack = self._request("ACK", 1)
        self._ack = bytes(ack)
        self._send_sip(self._ack, self._dialog_target)
        return self._remote_rtp

    # -- media -----------------------------------------------------------------
    async def stream(self, t0: float) -> list[SendRecord]:
        """Send every scheduled packet at ``t0 + offset`` (loop time); returns the send log."""
        assert self._rtp is not None
        assert self._rtp.transport is not None
        assert self._remote_rtp is not None, "call is not up"
        loop = asyncio.get_running_loop()
        transport, dest = self._rtp.transport, self._remote_rtp
        for packet in self._script.packets:
            delay = t0 + packet.offset_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._drain_sip()
            if self.peer_hung_up:
                break
            transport.sendto(packet.data, dest)
            if packet.kind is PacketKind.AUDIO:
                end = (packet.rtp_ts + SAMPLES_PER_PACKET) % TS_MOD
                self.send_log.append(SendRecord(packet.rtp_ts, end, time.time() * 1000.0))
        return self.send_log

    # -- tear-down -------------------------------------------------------------
    async def hang_up(self, timeout_s: float = 8.0) -> int:
        """BYE and wait for its final response; returns the status (0 if the peer hung up)."""
        if self.peer_hung_up:
            return 0
        resp = await self._transact(self._request("BYE", 2), timeout_s)
        return resp.status
