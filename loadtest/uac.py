"""Load harness: many SIPREC recording calls from one UDP socket (RFC 3261 UAC, RFC 7866 SRC).

Rules:
1. One INVITE per call: multipart/mixed with an SDP of two sendonly PCMU +
   telephone-event m-lines (``a=label:1`` and ``2``) that both name the
   generator's single RTP port, and RFC 7865 metadata naming the recorded call's
   sipSessionID and the agent; ``X-Agent-ID`` carries the agent too.
2. INVITE and BYE are retransmitted on Timer A/E (0.5 s doubling, 4 s cap) until a
   response (INVITE: a provisional stops it); a 2xx is ACKed, again on each
   retransmitted 2xx. Requests from pausegate get 200 (BYE, OPTIONS) or 501.
3. Unparseable datagrams are counted and dropped, never raised.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

from pausegate.errors import SipParseError
from pausegate.sip.headers import SipUri
from pausegate.sip.message import SipRequest, SipResponse, build_response, parse_message
from pausegate.siprec.multipart import BodyPart, SiprecError, build_multipart, split_siprec_body

Address = tuple[str, int]
T1_S = 0.5


class SetupFailed(Exception):
    """A call could not be set up (final status or timeout in the message)."""


def offer_sdp(host: str, port: int, session: int) -> bytes:
    lines = [
        "v=0",
        f"o=loadtest {session} 1 IN IP4 {host}",
        "s=loadtest",
        f"c=IN IP4 {host}",
        "t=0 0",
    ]
    for label in ("1", "2"):
        lines += [
            f"m=audio {port} RTP/AVP 0 101",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-15",
            "a=ptime:20",
            "a=sendonly",
            f"a=label:{label}",
        ]
    return ("\r\n".join(lines) + "\r\n").encode()


def metadata(session: str, agent: str, host: str) -> bytes:
    sid = base64.b64encode(uuid.UUID(session).bytes).decode()
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1">
  <datamode>complete</datamode>
  <session session_id="{sid}"><sipSessionID>{session};remote=00000000000000000000000000000000</sipSessionID></session>
  <participant participant_id="cDE="><nameID aor="sip:{agent}@{host}"/></participant>
  <participant participant_id="cDI="><nameID aor="sip:customer@{host}"/></participant>
  <stream stream_id="czE=" session_id="{sid}"><label>1</label></stream>
  <stream stream_id="czI=" session_id="{sid}"><label>2</label></stream>
  <participantstreamassoc participant_id="cDE="><send>czE=</send><recv>czI=</recv></participantstreamassoc>
  <participantstreamassoc participant_id="cDI="><send>czI=</send><recv>czE=</recv></participantstreamassoc>
</recording>
""".encode()  # noqa: E501


def answer_ports(body: bytes) -> list[Address]:
    """(host, port) of every m-line of an SDP answer, in order (port 0 for rejected)."""
    out: list[Address] = []
    session_host = "127.0.0.1"
    for raw in body.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("c=") and len(line.split()) == 3:
            if out:
                out[-1] = (line.split()[2], out[-1][1])
            else:
                session_host = line.split()[2]
        elif line.startswith("m="):
            field_ = line.split()[1].split("/")[0]
            out.append((session_host, int(field_) if field_.isdigit() else 0))
    return out


@dataclass(slots=True)
class _Dialog:
    call_id: str
    from_tag: str
    to_tag: str | None = None
    target: Address = ("127.0.0.1", 0)
    ack: bytes | None = None
    waiting: dict[str, asyncio.Future[SipResponse]] = field(default_factory=dict)
    provisional: set[str] = field(default_factory=set)


class Uac(asyncio.DatagramProtocol):
    """Every call of the generator; ``invite()`` and ``bye()`` are awaited per call."""

    def __init__(self, host: str, target: Address, rtp_port: int) -> None:
        self.host = host
        self.target = target
        self.rtp_port = rtp_port
        self.transport: asyncio.DatagramTransport | None = None
        self.dialogs: dict[str, _Dialog] = {}
        self.invalid = 0
        self.peer_byes = 0
        self._n = 0

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, 0))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            msg = parse_message(data)
        except SipParseError:
            self.invalid += 1
            return
        if isinstance(msg, SipRequest):
            if msg.method == "ACK":
                return
            if msg.method == "BYE":
                self.peer_byes += 1
            status = 200 if msg.method in ("BYE", "OPTIONS") else 501
            assert self.transport is not None
            self.transport.sendto(bytes(build_response(msg, status)), addr)
            return
        dialog = self.dialogs.get(msg.call_id)
        if dialog is None:
            return
        method = msg.cseq.method
        fut = dialog.waiting.get(method)
        if method == "INVITE" and msg.status >= 200 and (fut is None or fut.done()):
            if dialog.ack is not None and msg.status < 300:
                self._send(dialog.ack, dialog.target)  # a retransmitted 2xx
            return
        if fut is not None and not fut.done():
            if msg.status < 200:
                dialog.provisional.add(method)
            else:
                fut.set_result(msg)

    def _send(self, data: bytes, addr: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(data, addr)

    def _request(
        self,
        d: _Dialog,
        method: str,
        cseq: int,
        body: bytes = b"",
        content_type: str | None = None,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> SipRequest:
        self._n += 1
        uri = SipUri.parse(f"sip:srs@{self.target[0]}:{self.target[1]}")
        to = f"<sip:srs@{self.target[0]}:{self.target[1]}>"
        if d.to_tag is not None:
            to += f";tag={d.to_tag}"
        headers = [
            ("Via", f"SIP/2.0/UDP {self.host}:{self.port};branch=z9hG4bK-lt{self._n:x};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:src@{self.host}:{self.port}>;tag={d.from_tag}"),
            ("To", to),
            ("Call-ID", d.call_id),
            ("CSeq", f"{cseq} {method}"),
            ("Contact", f"<sip:src@{self.host}:{self.port}>;+sip.src"),
            ("User-Agent", "pausegate-loadtest"),
            *extra,
        ]
        if body:
            headers.append(("Content-Type", content_type or "application/sdp"))
        return SipRequest(tuple(headers), body, method, uri)

    async def _transact(self, d: _Dialog, req: SipRequest, timeout_s: float) -> SipResponse:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[SipResponse] = loop.create_future()
        method = req.cseq.method
        d.waiting[method] = fut
        d.provisional.discard(method)
        data = bytes(req)
        deadline = loop.time() + timeout_s
        interval = T1_S
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise SetupFailed(f"{method}: no final response within {timeout_s:.0f} s")
            if method not in d.provisional:
                self._send(data, d.target)
            try:
                return await asyncio.wait_for(asyncio.shield(fut), min(interval, left))
            except TimeoutError:
                interval = min(interval * 2, 4.0)

    async def invite(
        self, call_id: str, session: str, agent: str, tag: str, timeout_s: float = 8.0
    ) -> list[Address]:
        """Set up one call; returns the RTP address of each stream (labels 1, 2)."""
        d = _Dialog(call_id, tag, target=self.target)
        self.dialogs[call_id] = d
        sdp = offer_sdp(self.host, self.rtp_port, abs(hash(call_id)) % (1 << 31))
        parts = [
            BodyPart("application/sdp", sdp),
            BodyPart(
                "application/rs-metadata+xml",
                metadata(session, agent, self.host),
                {"Content-Disposition": "recording-session"},
            ),
        ]
        ctype, body = build_multipart(parts, f"lt-{tag}")
        req = self._request(d, "INVITE", 1, body, ctype, (("X-Agent-ID", agent),))
        resp = await self._transact(d, req, timeout_s)
        if resp.status >= 300:
            del self.dialogs[call_id]
            raise SetupFailed(f"INVITE answered {resp.status}")
        d.to_tag = resp.to.tag
        contact = resp.contact
        if contact is not None and contact.uri.port is not None:
            d.target = (contact.uri.host_no_brackets, contact.uri.port)
        d.ack = bytes(self._request(d, "ACK", 1))
        self._send(d.ack, d.target)
        try:
            answer, _ = split_siprec_body(resp.content_type or "application/sdp", resp.body)
        except SiprecError:
            answer = None
        ports = answer_ports(answer or b"")
        if len(ports) < 2 or any(p == 0 for _, p in ports[:2]):
            raise SetupFailed("answer SDP lacks two streams")
        return ports[:2]

    async def bye(self, call_id: str, timeout_s: float = 8.0) -> int:
        d = self.dialogs.get(call_id)
        if d is None:
            return 0
        try:
            resp = await self._transact(d, self._request(d, "BYE", 2), timeout_s)
            return resp.status
        finally:
            self.dialogs.pop(call_id, None)
