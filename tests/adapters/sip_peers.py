"""Test peers on 127.0.0.1: a UDP/TCP SIP client, fake MediaHooks."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from pausegate.calls.model import LocalStream, StreamAnswer, StreamOffer
from pausegate.errors import ResourceExhausted
from pausegate.gate.events import CallIdentity
from pausegate.sip.framer import StreamFramer
from pausegate.sip.message import SipMessage, SipRequest, SipResponse, parse_message

HOST = "127.0.0.1"
TIMEOUT_S = 5.0


@dataclass
class FakeHooks:
    """MediaHooks returning fixed ports; records every call."""

    exhausted: bool = False
    setups: list[CallIdentity] = field(default_factory=list)
    answers: list[tuple[str, Sequence[StreamAnswer]]] = field(default_factory=list)
    updates: list[str] = field(default_factory=list)
    teardowns: list[str] = field(default_factory=list)

    async def setup_call(
        self, call: CallIdentity, streams: Sequence[StreamOffer]
    ) -> Sequence[LocalStream]:
        if self.exhausted:
            raise ResourceExhausted("no ports")
        self.setups.append(call)
        return [
            LocalStream(41000 + 4 * i, 41001 + 4 * i, 41002 + 4 * i, 41003 + 4 * i)
            for i in range(len(streams))
        ]

    def recorder_answered(self, call_id: str, answers: Sequence[StreamAnswer]) -> None:
        self.answers.append((call_id, answers))

    def update_call(self, call_id: str, streams: Sequence[StreamOffer]) -> None:
        self.updates.append(call_id)

    async def teardown_call(self, call_id: str) -> None:
        await asyncio.sleep(0)
        self.teardowns.append(call_id)


class _Proto(asyncio.DatagramProtocol):
    def __init__(self, inbox: asyncio.Queue[SipMessage]) -> None:
        self.inbox = inbox

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.inbox.put_nowait(parse_message(data))


class UdpPeer:
    def __init__(self) -> None:
        self.inbox: asyncio.Queue[SipMessage] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    async def open(self) -> UdpPeer:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: _Proto(self.inbox), local_addr=(HOST, 0)
        )
        self.port = self.transport.get_extra_info("sockname")[1]
        return self

    def send(self, msg: SipMessage | bytes, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(bytes(msg), (HOST, port))

    async def next(self, pred=lambda m: True) -> SipMessage:
        while True:
            msg = await asyncio.wait_for(self.inbox.get(), TIMEOUT_S)
            if pred(msg):
                return msg

    async def response(self, status: int, method: str = "INVITE") -> SipResponse:
        msg = await self.next(
            lambda m: isinstance(m, SipResponse) and m.status == status and m.cseq.method == method
        )
        assert isinstance(msg, SipResponse)
        return msg

    async def request(self, method: str) -> SipRequest:
        msg = await self.next(lambda m: isinstance(m, SipRequest) and m.method == method)
        assert isinstance(msg, SipRequest)
        return msg

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class TcpPeer:
    def __init__(self) -> None:
        self.inbox: asyncio.Queue[SipMessage] = asyncio.Queue()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    async def open(self, port: int) -> TcpPeer:
        self.reader, self.writer = await asyncio.open_connection(HOST, port)
        self.port = self.writer.get_extra_info("sockname")[1]
        self._task = asyncio.get_running_loop().create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.reader is not None
        framer = StreamFramer()
        while data := await self.reader.read(65536):
            for raw in framer.feed(data):
                self.inbox.put_nowait(parse_message(raw, stream=True))

    def send(self, msg: SipMessage | bytes) -> None:
        assert self.writer is not None
        self.writer.write(bytes(msg))

    next = UdpPeer.next
    response = UdpPeer.response
    request = UdpPeer.request

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.writer is not None:
            self.writer.close()
