"""SIP transactions as literal state tables (RFC 3261 §17, RFC 6026 Accepted state). Core.

Rules:
1. Each kind has a table ``(state, input) -> (next state, actions)``. A network
   input missing from the table is a peer's protocol error: counted and ignored.
   A TU input missing from it is our bug: ``TransactionStateError``.
2. Timers are deadlines in monotonic seconds; ``handle_timer(now)`` fires the expired
   ones. Over a reliable transport the retransmission timers A, E, G never start and
   the wait timers D, I, J, K are zero (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).
3. Server INVITE: a 2xx moves to Accepted (RFC 6026 §7.1), where this object also
   retransmits the 2xx for the TU with timer G's backoff until the ACK arrives
   (§13.3.1.4); no ACK within timer L (64*T1) reports a timeout. An ACK moves it to
   Confirmed until L ends, so retransmitted INVITEs are absorbed, not new calls.
4. Client INVITE: a 2xx moves to Accepted (RFC 6026 §8.4); retransmitted 2xx are
   passed to the TU (which re-sends its ACK) until timer M ends.
5. A server INVITE transaction answers 100 Trying as soon as it is created (§17.2.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from pausegate.errors import PausegateError
from pausegate.sip.message import SipMessage, SipRequest, SipResponse, build_response
from pausegate.sip.tx_tables import (
    INITIAL_STATE,
    RETRANSMIT_TIMER,
    START_TIMER,
    TABLES,
    TU_INPUTS,
    A,
    Act,
    In,
    S,
    TxInput,
    TxKind,
    TxState,
)

__all__ = [
    "TABLES",
    "TU_INPUTS",
    "Act",
    "TimerConfig",
    "Transaction",
    "TransactionStateError",
    "TxInput",
    "TxKind",
    "TxOutput",
    "TxState",
    "ack_for_non_2xx",
    "response_input",
]


class TransactionStateError(PausegateError):
    """The TU asked a transaction for something its state does not allow (our bug)."""


@dataclass(frozen=True, slots=True)
class TimerConfig:
    t1_s: float = 0.5
    t2_s: float = 4.0
    t4_s: float = 5.0

    def initial(self, timer: TxInput, reliable: bool) -> float | None:
        """Duration of ``timer`` when started, ``None`` when it does not run."""
        t1, t4 = self.t1_s, self.t4_s
        match timer:
            case In.TIMER_A | In.TIMER_E | In.TIMER_G:
                return None if reliable else t1
            case In.TIMER_B | In.TIMER_F | In.TIMER_H | In.TIMER_L | In.TIMER_M:
                return 64 * t1
            case In.TIMER_D:
                return 0.0 if reliable else max(32.0, 64 * t1)
            case In.TIMER_I | In.TIMER_K:
                return 0.0 if reliable else t4
            case In.TIMER_J:
                return 0.0 if reliable else 64 * t1
        raise TransactionStateError(f"{timer} is not a timer")


@dataclass(frozen=True, slots=True)
class TxOutput:
    """What one transition asks of the layer: messages to send and TU notifications."""

    send: tuple[SipMessage, ...] = ()
    to_tu: tuple[SipMessage, ...] = ()  # responses (client) or a 2xx ACK (server)
    timed_out: bool = False
    transport_error: bool = False
    terminated: bool = False

    def __add__(self, other: TxOutput) -> TxOutput:
        return TxOutput(
            self.send + other.send,
            self.to_tu + other.to_tu,
            self.timed_out or other.timed_out,
            self.transport_error or other.transport_error,
            self.terminated or other.terminated,
        )


def response_input(status: int, *, tu: bool) -> TxInput:
    if status < 200:
        return In.TU_1XX if tu else In.R1XX
    if status < 300:
        return In.TU_2XX if tu else In.R2XX
    return In.TU_3XX_6XX if tu else In.R3XX_6XX


class Transaction:
    """One client or server transaction; the request is the one that created it."""

    def __init__(
        self, kind: TxKind, request: SipRequest, reliable: bool, timers: TimerConfig, now: float
    ) -> None:
        self.kind = kind
        self.request = request
        self.reliable = reliable
        self.timers = timers
        self.state = INITIAL_STATE[kind]
        self.last_response: SipResponse | None = None
        self.deadlines: dict[TxInput, float] = {}
        self._interval: float = timers.t1_s
        self.protocol_errors = 0
        self._started_at = now

    # -- creation ----------------------------------------------------------------------
    def start(self, now: float) -> TxOutput:
        """Client: send the request and arm A/B or E/F. Server INVITE: answer 100 Trying."""
        match self.kind:
            case TxKind.INVITE_CLIENT | TxKind.NON_INVITE_CLIENT:
                retransmit = RETRANSMIT_TIMER[self.kind]
                bound = In.TIMER_B if self.kind is TxKind.INVITE_CLIENT else In.TIMER_F
                self._arm(retransmit, now)
                self._arm(bound, now)
                return TxOutput(send=(self.request,))
            case TxKind.INVITE_SERVER:
                return self.send_response(build_response(self.request, 100), now)
            case TxKind.NON_INVITE_SERVER:
                return TxOutput()

    # -- inputs --------------------------------------------------------------------------
    def receive(self, msg: SipMessage, now: float) -> TxOutput:
        """A matched message from the network (response for clients, request for servers)."""
        if isinstance(msg, SipResponse):
            if self.kind not in (TxKind.INVITE_CLIENT, TxKind.NON_INVITE_CLIENT):
                self.protocol_errors += 1
                return TxOutput()
            return self._step(response_input(msg.status, tu=False), now, msg)
        inp = In.ACK if msg.method == "ACK" else In.REQUEST
        return self._step(inp, now, msg)

    def send_response(self, response: SipResponse, now: float) -> TxOutput:
        """The TU's response (server transactions)."""
        if self.kind not in (TxKind.INVITE_SERVER, TxKind.NON_INVITE_SERVER):
            raise TransactionStateError("a client transaction cannot send a response")
        return self._step(response_input(response.status, tu=True), now, response)

    def transport_error(self, now: float) -> TxOutput:
        return self._step(In.TRANSPORT_ERROR, now, None)

    def handle_timer(self, now: float) -> TxOutput:
        out = TxOutput()
        while self.state is not S.TERMINATED:
            due = [t for t, d in self.deadlines.items() if d <= now]
            if not due:
                break
            timer = min(due, key=lambda t: self.deadlines[t])
            del self.deadlines[timer]
            out = out + self._step(timer, now, None)
        return out

    def next_deadline(self) -> float | None:
        return min(self.deadlines.values()) if self.deadlines else None

    @property
    def terminated(self) -> bool:
        return self.state is S.TERMINATED

    # -- machinery -------------------------------------------------------------------------
    def _step(self, inp: TxInput, now: float, msg: SipMessage | None) -> TxOutput:
        entry = TABLES[self.kind].get((self.state, inp))
        if entry is None:
            if inp in TU_INPUTS:
                raise TransactionStateError(f"{self.kind} in {self.state} cannot take {inp}")
            self.protocol_errors += 1
            return TxOutput()
        next_state, actions = entry
        send: list[SipMessage] = []
        to_tu: list[SipMessage] = []
        timed_out = transport_error = False
        for act in actions:
            match act:
                case A.RESEND_REQUEST:
                    send.append(self.request)
                case A.SEND_RESPONSE:
                    assert isinstance(msg, SipResponse)
                    self.last_response = msg
                    send.append(msg)
                case A.RESEND_RESPONSE:
                    if self.last_response is not None:
                        send.append(self.last_response)
                case A.SEND_ACK:
                    assert isinstance(msg, SipResponse)
                    send.append(ack_for_non_2xx(self.request, msg))
                case A.PASS_RESPONSE | A.PASS_ACK:
                    assert msg is not None
                    to_tu.append(msg)
                case A.REPORT_TIMEOUT:
                    timed_out = True
                case A.REPORT_TRANSPORT_ERROR:
                    transport_error = True
                case A.BACKOFF:
                    self._backoff(inp, now)
                case A.STOP_RETRANSMIT:
                    for timer in (In.TIMER_A, In.TIMER_E, In.TIMER_G):
                        self.deadlines.pop(timer, None)
                case A.STOP_TIMEOUT:
                    self.deadlines.pop(In.TIMER_B, None)
                    self.deadlines.pop(In.TIMER_F, None)
                case (
                    A.START_D | A.START_G | A.START_H | A.START_I | A.START_J | A.START_K
                    | A.START_L | A.START_M
                ):  # fmt: skip
                    self._arm(START_TIMER[act], now)
        self.state = next_state
        if next_state is S.TERMINATED:
            self.deadlines.clear()
        out = TxOutput(tuple(send), tuple(to_tu), timed_out, transport_error, self.terminated)
        if any(d <= now for d in self.deadlines.values()):
            out = out + self.handle_timer(now)  # zero-length timers over reliable transports
        return out

    def _arm(self, timer: TxInput, now: float) -> None:
        duration = self.timers.initial(timer, self.reliable)
        if duration is None:
            return
        if timer in (In.TIMER_A, In.TIMER_E, In.TIMER_G):
            self._interval = duration
        self.deadlines[timer] = now + duration

    def _backoff(self, timer: TxInput, now: float) -> None:
        """§17.1.1.2 (A doubles), §17.1.2.2 (E doubles up to T2), §17.2.1 (G up to T2)."""
        self._interval *= 2
        if timer is not In.TIMER_A:
            self._interval = min(self._interval, self.timers.t2_s)
        if timer is In.TIMER_E and self.state is S.PROCEEDING:
            self._interval = self.timers.t2_s
        self.deadlines[timer] = now + self._interval


def ack_for_non_2xx(invite: SipRequest, response: SipResponse) -> SipRequest:
    """The ACK a client INVITE transaction sends for a 3xx-6xx (§17.1.1.3)."""
    headers: list[tuple[str, str]] = [("Via", invite.get_all("Via")[0])]
    headers.append(("Max-Forwards", "70"))
    headers.append(("From", invite.get("From") or ""))
    headers.append(("To", response.get("To") or ""))
    headers.append(("Call-ID", invite.call_id))
    headers.append(("CSeq", f"{invite.cseq.seq} ACK"))
    headers.extend(("Route", r) for r in invite.get_all("Route"))
    return SipRequest(tuple(headers), b"", "ACK", invite.uri)
