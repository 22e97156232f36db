"""SIP over UDP and TCP on one port (RFC 3261 §18). Adapter: sockets only, decides nothing.

Rules:
1. Every datagram and every framed TCP message goes to ``on_data`` unparsed; the
   core parses, counts and answers garbage. Nothing raises out of
   ``datagram_received``/``data_received``.
2. TCP is framed by Content-Length (``StreamFramer``); a stream that cannot be
   framed is counted and its connection closed (there is no next message to find).
3. Responses to a TCP request go back on the same connection (``Target.conn_id``);
   our own requests reuse an open connection to the address, else connect.
4. A message that cannot be sent (connect refused, connection gone) is reported to
   ``on_send_failed`` so the transaction layer can fail fast (§18.1.1, §18.2.2).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

from pausegate.errors import SipParseError
from pausegate.sip.framer import StreamFramer
from pausegate.sip.layer import Target, Transport
from pausegate.sip.message import SipMessage

log = logging.getLogger(__name__)

OnData = Callable[[bytes, Target, bool], None]  # (data, source, stream)
OnSendFailed = Callable[[SipMessage], None]
Spawn = Callable[[Coroutine[Any, Any, None]], None]
CONNECT_TIMEOUT_S = 5.0
MAX_TCP_CONNECTIONS = 1024


@dataclass(slots=True)
class TransportStatistics:
    udp_datagrams: int = 0
    tcp_messages: int = 0
    tcp_framing_errors: int = 0
    tcp_connections: int = 0
    send_failures: int = 0


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: SipTransport) -> None:
        self.owner = owner
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.owner.stats.udp_datagrams += 1
        if data.strip(b"\r\n") == b"":
            return  # CRLF keep-alive (RFC 5626 §4.4.1)
        self.owner.on_data(data, Target(Transport.UDP, (str(addr[0]), int(addr[1]))), False)

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP UDP socket error: %s", exc)


class _Tcp(asyncio.Protocol):
    def __init__(self, owner: SipTransport, conn_id: int) -> None:
        self.owner = owner
        self.conn_id = conn_id
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = (str(peer[0]), int(peer[1])) if peer else ("", 0)
        self.owner.register(self)

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.framer.feed(data)
        except SipParseError as exc:
            self.owner.stats.tcp_framing_errors += 1
            log.info("closing SIP TCP connection: %s", exc)
            if self.transport is not None:
                self.transport.close()
            return
        source = Target(Transport.TCP, self.peer, self.conn_id)
        for message in messages:
            self.owner.stats.tcp_messages += 1
            self.owner.on_data(message, source, True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.unregister(self)

    def write(self, data: bytes) -> bool:
        if self.transport is None or self.transport.is_closing():
            return False
        self.transport.write(data)
        return True


class SipTransport:
    """One SIP port: a UDP socket and a TCP listener, plus our outgoing TCP connections."""

    def __init__(self, on_data: OnData, on_send_failed: OnSendFailed, spawn: Spawn) -> None:
        self.on_data = on_data
        self.on_send_failed = on_send_failed
        self.spawn = spawn
        self.stats = TransportStatistics()
        self._udp: _Udp | None = None
        self._server: asyncio.Server | None = None
        self._conns: dict[int, _Tcp] = {}
        self._by_addr: dict[tuple[str, int], int] = {}
        self._connecting: dict[tuple[str, int], list[tuple[SipMessage, bytes]]] = {}
        self._ids = itertools.count(1)
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        """Bind UDP, then TCP on the same port (port 0 picks one). Returns the port."""
        loop = asyncio.get_running_loop()
        udp_transport, self._udp = await loop.create_datagram_endpoint(
            lambda: _Udp(self), local_addr=(host, port)
        )
        self.port = int(udp_transport.get_extra_info("sockname")[1])
        try:
            self._server = await loop.create_server(
                lambda: _Tcp(self, next(self._ids)), host, self.port, reuse_address=True
            )
        except OSError:
            udp_transport.close()
            raise
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns.values()):
            if conn.transport is not None:
                conn.transport.close()
        if self._udp is not None and self._udp.transport is not None:
            self._udp.transport.close()
        if self._server is not None:
            await self._server.wait_closed()

    def register(self, conn: _Tcp) -> None:
        if len(self._conns) >= MAX_TCP_CONNECTIONS and conn.transport is not None:
            conn.transport.close()
            return
        self._conns[conn.conn_id] = conn
        self._by_addr[conn.peer] = conn.conn_id
        self.stats.tcp_connections += 1

    def unregister(self, conn: _Tcp) -> None:
        self._conns.pop(conn.conn_id, None)
        if self._by_addr.get(conn.peer) == conn.conn_id:
            del self._by_addr[conn.peer]

    @property
    def tcp_connections(self) -> int:
        return len(self._conns)

    # -- sending ------------------------------------------------------------------------------
    def send(self, message: SipMessage, target: Target) -> None:
        data = bytes(message)
        if target.transport is Transport.UDP:
            if self._udp is None or self._udp.transport is None:
                self._failed(message)
                return
            self._udp.transport.sendto(data, target.addr)
            return
        conn = self._conns.get(target.conn_id) if target.conn_id is not None else None
        if conn is None:
            conn_id = self._by_addr.get(target.addr)
            conn = self._conns.get(conn_id) if conn_id is not None else None
        if conn is not None and conn.write(data):
            return
        if target.addr in self._connecting:
            self._connecting[target.addr].append((message, data))
            return
        self._connecting[target.addr] = [(message, data)]
        self.spawn(self._connect(target.addr))

    async def _connect(self, addr: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        conn: _Tcp | None = None
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(lambda: _Tcp(self, next(self._ids)), addr[0], addr[1]),
                CONNECT_TIMEOUT_S,
            )
            conn = proto
        except (OSError, TimeoutError) as exc:
            log.info("SIP TCP connect to %s:%d failed: %s", addr[0], addr[1], exc)
        queued = self._connecting.pop(addr, [])
        for message, data in queued:
            if conn is None or not conn.write(data):
                self._failed(message)

    def _failed(self, message: SipMessage) -> None:
        self.stats.send_failures += 1
        self.on_send_failed(message)
