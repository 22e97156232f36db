"""The SIP transaction layer: matching, creation and timers of transactions (RFC 3261 §17). Core.

Rules:
1. Responses match a client transaction by top Via branch and CSeq method
   (§17.1.3); requests match a server transaction by branch, sent-by and method,
   with ACK matching INVITE (§17.2.3). A CANCEL is its own server transaction.
2. An ACK that matches no transaction is a 2xx ACK: it is handed to the accepted
   INVITE server transaction of the same Call-ID, CSeq number and From tag (which
   stops its 2xx retransmissions) and always reported to the TU as ``AckReceived``.
3. A 2xx to INVITE that matches no transaction is a retransmission after the
   transaction ended: reported as ``StrayResponse`` so the TU can re-send its ACK.
   Any other unmatched response is dropped and counted (§18.1.2).
4. Output is an ordered list of events: ``Send`` for the transport, the rest for the TU.
5. Timers cost O(log n): every transaction's next deadline sits in one heap, updated
   after each of its transitions, so thousands of lingering transactions (timer L/M)
   do not slow down each message.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from dataclasses import dataclass, replace

from pausegate.sip.headers import Via
from pausegate.sip.message import SipMessage, SipRequest, SipResponse
from pausegate.sip.transaction import TimerConfig, Transaction, TxKind, TxOutput


class Transport(enum.StrEnum):
    UDP = "udp"
    TCP = "tcp"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a message goes or came from; ``conn_id`` names a TCP connection, if any."""

    transport: Transport
    addr: tuple[str, int]
    conn_id: int | None = None

    @property
    def reliable(self) -> bool:
        return self.transport is Transport.TCP


TxKey = tuple[str, str, str]  # (branch, sent-by or "", method)


@dataclass(frozen=True, slots=True)
class Send:
    message: SipMessage
    target: Target


@dataclass(frozen=True, slots=True)
class RequestReceived:
    request: SipRequest
    key: TxKey
    source: Target


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    response: SipResponse
    key: TxKey


@dataclass(frozen=True, slots=True)
class AckReceived:
    ack: SipRequest
    source: Target


@dataclass(frozen=True, slots=True)
class StrayResponse:
    response: SipResponse


@dataclass(frozen=True, slots=True)
class TransactionFailed:
    """Timeout (B, F, H, L) or transport error of a transaction the TU owns."""

    key: TxKey
    request: SipRequest
    timeout: bool  # False: transport error


LayerEvent = (
    Send | RequestReceived | ResponseReceived | AckReceived | StrayResponse | (TransactionFailed)
)

_DialogAckKey = tuple[str, int, str]  # (Call-ID, CSeq number, From tag)


def server_key(request: SipRequest) -> TxKey:
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    host, port = via.sent_by
    branch = via.branch or f"{request.call_id}/{request.cseq.seq}/{request.from_.tag}"
    return branch, f"{host}:{port}", method


def stamp_received(request: SipRequest, source: Target) -> SipRequest:
    """§18.2.1 and RFC 3581: note in the top Via where the request really came from
    (``received`` when the host differs, ``rport`` when asked for; RFC 3581 §4: with
    ``rport``, ``received`` is added even when it equals the sent-by host)."""
    values = request.get_all("Via")
    via = Via.parse(values[0])
    host, port = source.addr
    stamped = via
    asked = via.param("rport") == ""
    if asked:
        stamped = stamped.with_param("rport", str(port))
    via_host = via.host[1:-1] if via.host.startswith("[") else via.host
    if via_host != host or asked:
        stamped = stamped.with_param("received", host)
    if stamped is via:
        return request
    vias = [str(stamped), *values[1:]]
    headers = [h for h in request.headers if h[0] != "Via"]
    return replace(request, headers=(*(("Via", v) for v in vias), *headers))


def response_target(request: SipRequest, source: Target) -> Target:
    """Where responses go (§18.2.2, RFC 3581): UDP back to the source address; TCP on the
    same connection, or, when it is gone, a new one to the top Via's sent-by."""
    if not source.reliable:
        return source
    via = request.top_via
    host = via.host[1:-1] if via.host.startswith("[") else via.host
    return Target(source.transport, (host, via.port or 5060), source.conn_id)


def client_key(msg: SipMessage) -> TxKey:
    return msg.top_via.branch or "", "", msg.cseq.method


class TransactionLayer:
    """Every live transaction of one SIP endpoint."""

    def __init__(self, timers: TimerConfig | None = None) -> None:
        self.timers = timers or TimerConfig()
        self._txs: dict[TxKey, tuple[Transaction, Target]] = {}
        # Timers: one heap of (deadline, seq, key), stale entries skipped lazily; _due
        # holds each live transaction's current next deadline (rule 5).
        self._heap: list[tuple[float, int, TxKey]] = []
        self._due: dict[TxKey, float] = {}
        self._seq = itertools.count()
        self._accepted: dict[_DialogAckKey, TxKey] = {}
        self.stray_responses = 0
        self.protocol_errors = 0

    # -- network input ---------------------------------------------------------------------
    def receive(self, msg: SipMessage, source: Target, now: float) -> list[LayerEvent]:
        if isinstance(msg, SipResponse):
            return self._receive_response(msg, now)
        msg = stamp_received(msg, source)
        key = server_key(msg)
        found = self._txs.get(key)
        if found is not None:
            tx, target = found
            return self._events(key, tx, target, tx.receive(msg, now))
        if msg.method == "ACK":
            return self._receive_2xx_ack(msg, source, now)
        kind = TxKind.INVITE_SERVER if msg.method == "INVITE" else TxKind.NON_INVITE_SERVER
        tx = Transaction(kind, msg, source.reliable, self.timers, now)
        target = response_target(msg, source)
        self._txs[key] = (tx, target)
        events: list[LayerEvent] = [RequestReceived(msg, key, source)]
        return self._events(key, tx, target, tx.start(now)) + events

    def _receive_response(self, msg: SipResponse, now: float) -> list[LayerEvent]:
        key = client_key(msg)
        found = self._txs.get(key)
        if found is None:
            if msg.cseq.method == "INVITE" and 200 <= msg.status < 300:
                return [StrayResponse(msg)]
            self.stray_responses += 1
            return []
        tx, target = found
        return self._events(key, tx, target, tx.receive(msg, now))

    def _receive_2xx_ack(self, ack: SipRequest, source: Target, now: float) -> list[LayerEvent]:
        dkey = (ack.call_id, ack.cseq.seq, ack.from_.tag or "")
        key = self._accepted.pop(dkey, None)
        found = self._txs.get(key) if key is not None else None
        if key is not None and found is not None:
            tx, target = found
            events = self._events(key, tx, target, tx.receive(ack, now))
            if any(isinstance(e, AckReceived) for e in events):
                return events
        return [AckReceived(ack, source)]

    # -- TU input ------------------------------------------------------------------------
    def send_request(self, request: SipRequest, target: Target, now: float) -> list[LayerEvent]:
        """Start a client transaction (or, for ACK, send it without one: §17.1.1.3)."""
        if request.method == "ACK":
            return [Send(request, target)]
        key = client_key(request)
        kind = TxKind.INVITE_CLIENT if request.method == "INVITE" else TxKind.NON_INVITE_CLIENT
        tx = Transaction(kind, request, target.reliable, self.timers, now)
        self._txs[key] = (tx, target)
        return self._events(key, tx, target, tx.start(now))

    def send_response(self, key: TxKey, response: SipResponse, now: float) -> list[LayerEvent]:
        """Answer through the server transaction ``key`` (ignored when it has ended)."""
        found = self._txs.get(key)
        if found is None:
            return []
        tx, target = found
        if tx.kind is TxKind.INVITE_SERVER and 200 <= response.status < 300:
            req = tx.request
            self._accepted[(req.call_id, req.cseq.seq, req.from_.tag or "")] = key
        return self._events(key, tx, target, tx.send_response(response, now))

    def transport_error(self, key: TxKey, now: float) -> list[LayerEvent]:
        found = self._txs.get(key)
        if found is None:
            return []
        tx, target = found
        return self._events(key, tx, target, tx.transport_error(now))

    def server_transaction(self, key: TxKey) -> Transaction | None:
        found = self._txs.get(key)
        return found[0] if found is not None else None

    def find_invite_for_cancel(self, cancel: SipRequest) -> TxKey | None:
        """The INVITE server transaction a CANCEL targets (§9.2), if still alive."""
        branch, sent_by, _ = server_key(cancel)
        key = (branch, sent_by, "INVITE")
        return key if key in self._txs else None

    # -- timers ----------------------------------------------------------------------------
    def handle_timer(self, now: float) -> list[LayerEvent]:
        events: list[LayerEvent] = []
        while self._heap and self._heap[0][0] <= now:
            deadline, _, key = heapq.heappop(self._heap)
            if self._due.get(key) != deadline:
                continue  # stale: the transaction moved its deadline or ended
            del self._due[key]
            found = self._txs.get(key)
            if found is not None:
                tx, target = found
                events.extend(self._events(key, tx, target, tx.handle_timer(now)))
        return events

    def next_deadline(self) -> float | None:
        while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._txs)

    def _events(
        self, key: TxKey, tx: Transaction, target: Target, out: TxOutput
    ) -> list[LayerEvent]:
        events: list[LayerEvent] = [Send(m, target) for m in out.send]
        for m in out.to_tu:
            if isinstance(m, SipResponse):
                events.append(ResponseReceived(m, key))
            else:
                events.append(AckReceived(m, target))
        if out.timed_out or out.transport_error:
            events.append(TransactionFailed(key, tx.request, out.timed_out))
        if not tx.terminated:
            deadline = tx.next_deadline()
            if deadline is None:
                self._due.pop(key, None)
            elif self._due.get(key) != deadline:
                self._due[key] = deadline
                heapq.heappush(self._heap, (deadline, next(self._seq), key))
        else:
            self._due.pop(key, None)
            self.protocol_errors += tx.protocol_errors
            del self._txs[key]
            if tx.kind is TxKind.INVITE_SERVER:
                req = tx.request
                self._accepted.pop((req.call_id, req.cseq.seq, req.from_.tag or ""), None)
        return events
