"""The recording B2BUA: telephony-facing SRS, recorder-facing client (SPEC §2, RFC 3261/7866). Core.

Rules:
1. Sans-IO: messages, hook results and ``now`` in, ``Effect`` lists out; the adapter
   runs the effects (``pausegate.io.sip_service``). Peer garbage is counted and
   answered (400 where a response can be addressed), never raised.
2. Telephony gets its 200 only after the recorder answered and the media knows
   where to send (``MediaAnswered`` comes before the 200 in the effect list).
3. The BYE to the recorder leaves after ``TeardownMedia`` has completed
   (``media_released``), so the recording keeps its last held-back moments.
4. A re-offer from telephony changes the media first (``UpdateMedia``), then the
   recorder is re-offered; telephony's 200 waits for the recorder's answer. A pure
   session refresh is answered at once with our unchanged SDP.
5. One re-INVITE to the recorder at a time: a telephony re-offer meanwhile gets 491
   (glare); a second telephony re-offer while one is pending gets 500 + Retry-After
   (§14.2). A 491 from the recorder is retried after 2.1 s (§14.1, Call-ID owner).
"""

from __future__ import annotations

import enum
import re

from pausegate.calls.bodies import SDP_CONTENT_TYPE
from pausegate.calls.hooks import CallLog, Effect, SendMessage, TeardownMedia
from pausegate.calls.model import LocalStream
from pausegate.calls.recorder_leg import RecorderLeg
from pausegate.calls.requests import Local, error_headers, ok_headers, unsupported_tags
from pausegate.calls.settings import B2buaSettings, SipStatistics, counted_method
from pausegate.calls.sip_call import Call, CallEvent, CallState
from pausegate.calls.telephony_leg import TelephonyLeg
from pausegate.errors import SipParseError
from pausegate.sip.dialog import Dialog, NewToken, dialog_id_of_request
from pausegate.sip.headers import SipUri
from pausegate.sip.layer import (
    AckReceived,
    LayerEvent,
    RequestReceived,
    ResponseReceived,
    Send,
    StrayResponse,
    Target,
    TransactionFailed,
    TransactionLayer,
    TxKey,
    client_key,
)
from pausegate.sip.message import (
    SipMessage,
    SipRequest,
    best_effort_error,
    build_response,
    parse_message,
)
from pausegate.sip.transaction import TimerConfig

__all__ = ["B2bua", "B2buaSettings", "SipStatistics"]

IN_DIALOG_ONLY = frozenset({"BYE", "UPDATE", "INFO", "PRACK"})


class Leg(enum.StrEnum):
    TELEPHONY = "telephony"
    RECORDER = "recorder"


class B2bua:
    """Every recorded call of one pausegate instance, both legs."""

    def __init__(
        self,
        settings: B2buaSettings,
        *,
        local_port: int,
        new_token: NewToken,
        session_seed: int = 0,
    ) -> None:
        self.settings = settings
        self.local = Local(settings.advertise, local_port, settings.user_agent)
        self.new_token = new_token
        self.layer = TransactionLayer(TimerConfig(settings.t1_s, settings.t2_s, settings.t4_s))
        self.recorder_uri = SipUri.parse(settings.recorder_uri)
        self.agent_pattern = (
            re.compile(settings.agent_aor_pattern) if settings.agent_aor_pattern else None
        )
        self.calls: dict[str, Call] = {}
        self.rec = RecorderLeg(self)
        self.tel = TelephonyLeg(self)
        self.by_invite_key: dict[TxKey, str] = {}
        self.timed: set[str] = set()  # calls that may have a deadline of their own
        self._session_seed = session_seed
        self._draining = False
        self._messages: dict[tuple[str, str], int] = {}
        self.parse_errors = 0
        self.sdp_errors = 0
        self.siprec_errors = 0
        self.calls_total = 0
        self.calls_rejected = 0

    # -- adapter API -------------------------------------------------------------------------
    def receive_data(
        self, data: bytes, source: Target, now: float, *, stream: bool = False
    ) -> list[Effect]:
        """One datagram or framed stream message; garbage is counted and answered 400."""
        try:
            msg = parse_message(data, stream=stream)
        except SipParseError as exc:
            self.parse_errors += 1
            reply = best_effort_error(data, 400, "Bad Request")
            if reply is None:
                return []
            self._count(reply)
            return [
                CallLog("", None, "rejected", f"malformed request: {exc}"),
                SendMessage(reply, source),
            ]
        return self.receive(msg, source, now)

    def receive(self, msg: SipMessage, source: Target, now: float) -> list[Effect]:
        self._count(msg)
        try:
            events = self.layer.receive(msg, source, now)
        except SipParseError:
            self.parse_errors += 1
            return []
        return self.process(events, now)

    def media_ready(self, call_id: str, local: list[LocalStream], now: float) -> list[Effect]:
        call = self.calls.get(call_id)
        if call is None:
            return [TeardownMedia(call_id)]
        call.local = tuple(local)
        if call.state is CallState.CANCELLING:
            call.advance(CallEvent.MEDIA_READY)
            call.bye_recorder = False
            return [TeardownMedia(call_id)]
        call.advance(CallEvent.MEDIA_READY)
        return [self.log_call(call, "recorder_inviting"), *self.rec.invite(call, now)]

    def media_failed(self, call_id: str, now: float) -> list[Effect]:
        """setup_call raised (ResourceExhausted or otherwise): 503 with Retry-After."""
        call = self.calls.get(call_id)
        if call is None:
            return []
        out: list[Effect] = []
        if call.state is CallState.MEDIA_SETUP:
            out += self.respond(call.invite_key, call.invite, 503)
            self.calls_rejected += 1
        call.advance(CallEvent.MEDIA_FAILED)
        return [*out, *self.end(call, "no media resources")]

    def media_released(self, call_id: str, now: float) -> list[Effect]:
        call = self.calls.get(call_id)
        if call is None or call.state is not CallState.TERMINATING:
            return []
        call.advance(CallEvent.MEDIA_RELEASED)
        if call.bye_recorder and call.rec_dialog is not None:
            return self.rec.bye(call, now)
        call.advance(CallEvent.RECORDER_BYE_DONE)
        return self.end(call, call.hangup_reason)

    def terminate_call(self, call_id: str, reason: str, now: float) -> list[Effect]:
        """End a call from our side (RTP inactivity, shutdown): BYE both legs, teardown."""
        call = self.calls.get(call_id)
        if call is None:
            return []
        if call.state in (CallState.MEDIA_SETUP, CallState.RECORDER_INVITING):
            return self.tel.abandon(call, 503, reason, now)
        return self.hangup(call, reason, bye_telephony=True, bye_recorder=True, now=now)

    def signal_recorder(self, call_id: str, paused: bool, now: float) -> list[Effect]:
        """SIPREC ``behaviour=signal``: tell the recorder (a=inactive / a=sendonly)."""
        call = self.calls.get(call_id)
        if call is None:
            return []
        call.want_inactive = paused
        call.signal_failed = None
        return self.rec.maybe_signal(call, now)

    def begin_drain(self) -> None:
        self._draining = True

    @property
    def draining(self) -> bool:
        return self._draining

    def active_calls(self) -> int:
        return len(self.calls)

    def handle_timer(self, now: float) -> list[Effect]:
        out = self.process(self.layer.handle_timer(now), now)
        for call_id in list(self.timed):
            call = self.calls.get(call_id)
            deadline = call.next_deadline() if call is not None else None
            if call is None or deadline is None:
                self.timed.discard(call_id)
            elif deadline <= now:
                out += self.rec.handle_timer(call, now)
        return out

    def next_deadline(self) -> float | None:
        """The earliest transaction or call deadline; calls with one are in ``timed``."""
        times: list[float] = []
        for call_id in list(self.timed):
            call = self.calls.get(call_id)
            deadline = call.next_deadline() if call is not None else None
            if deadline is None:
                self.timed.discard(call_id)
            else:
                times.append(deadline)
        layer = self.layer.next_deadline()
        if layer is not None:
            times.append(layer)
        return min(times) if times else None

    def send_failed(self, message: SipMessage, now: float) -> list[Effect]:
        """The transport could not send ``message`` (TCP connect refused, ...)."""
        if isinstance(message, SipRequest) and message.method != "ACK":
            return self.process(self.layer.transport_error(client_key(message), now), now)
        return []

    def statistics(self) -> SipStatistics:
        return SipStatistics(
            dict(self._messages),
            self.parse_errors,
            len(self.calls),
            self.calls_total,
            self.calls_rejected,
            len(self.layer),
            self.sdp_errors,
            self.siprec_errors,
        )

    # -- shared helpers (also used by RecorderLeg) ----------------------------------------
    def process(self, events: list[LayerEvent], now: float) -> list[Effect]:
        out: list[Effect] = []
        for event in events:
            match event:
                case Send(message, target):
                    self._count(message)
                    out.append(SendMessage(message, target))
                case RequestReceived(request, key, source):
                    out += self._on_request_guarded(request, key, source, now)
                case ResponseReceived(response, key):
                    out += self.rec.on_response(response, key, now)
                case AckReceived(ack, _):
                    out += self._on_ack(ack, now)
                case StrayResponse(response):
                    out += self.rec.on_stray(response, now)
                case TransactionFailed(key, request, _):
                    out += self._on_failed(key, request, now)
        return out

    def send_request(self, request: SipRequest, target: Target, now: float) -> list[Effect]:
        return self.process(self.layer.send_request(request, target, now), now)

    def respond(
        self,
        key: TxKey,
        request: SipRequest,
        status: int,
        *,
        to_tag: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        now: float = 0.0,
    ) -> list[Effect]:
        if headers is None:
            headers = error_headers(self.local, status, request)
        tag = to_tag if to_tag is not None else (self.new_token() if status > 100 else None)
        response = build_response(request, status, to_tag=tag, headers=headers, body=body)
        return self.process(self.layer.send_response(key, response, now), now)

    def respond_ok(
        self,
        key: TxKey,
        request: SipRequest,
        source: Target,
        *,
        to_tag: str | None = None,
        sdp: bytes | None = None,
        now: float = 0.0,
    ) -> list[Effect]:
        ct = SDP_CONTENT_TYPE if sdp is not None else None
        headers = ok_headers(self.local, request, source.transport, content_type=ct)
        return self.respond(
            key, request, 200, to_tag=to_tag, headers=headers, body=sdp or b"", now=now
        )

    def next_session_id(self) -> int:
        self._session_seed += 1
        return self._session_seed

    def _count(self, msg: SipMessage) -> None:
        if isinstance(msg, SipRequest):
            key = (counted_method(msg.method), "request")
        else:
            try:
                method = msg.cseq.method
            except SipParseError:
                method = "other"
            key = (counted_method(method), str(msg.status))
        self._messages[key] = self._messages.get(key, 0) + 1

    def log_call(self, call: Call, state: str, detail: str = "") -> CallLog:
        return CallLog(call.call_id, call.identity.agent, state, detail)

    # -- requests ---------------------------------------------------------------------------
    def _on_request_guarded(
        self, req: SipRequest, key: TxKey, source: Target, now: float
    ) -> list[Effect]:
        """A header parsed lazily (Require, To, ...) may turn out malformed: 400, never raise."""
        try:
            return self._on_request(req, key, source, now)
        except SipParseError:
            self.parse_errors += 1
        try:
            return self.respond(key, req, 400, now=now)
        except SipParseError:  # not even a response can be built; the transaction times out
            return []

    def _on_request(self, req: SipRequest, key: TxKey, source: Target, now: float) -> list[Effect]:
        if req.method == "CANCEL":
            return self.tel.on_cancel(req, key, now)
        if unsupported_tags(req):
            return self.respond(key, req, 420, now=now)
        mf = req.get("Max-Forwards")
        if mf is not None and int(mf) == 0 and req.method != "OPTIONS":
            return self.respond(key, req, 483, now=now)
        if req.to.tag is not None:
            return self._in_dialog(req, key, source, now)
        match req.method:
            case "INVITE":
                return self.tel.on_invite(req, key, source, now)
            case "OPTIONS":
                return self.respond_ok(key, req, source, now=now)
            case m if m in IN_DIALOG_ONLY:
                return self.respond(key, req, 481, now=now)
            case _:
                return self.respond(key, req, 405, now=now)

    def _in_dialog(self, req: SipRequest, key: TxKey, source: Target, now: float) -> list[Effect]:
        found = self._find_dialog(req)
        if found is None:
            return self.respond(key, req, 481, now=now)
        call, leg, dialog = found
        if not dialog.check_remote_request(req):
            return self.respond(key, req, 500, to_tag=dialog.local_tag, now=now)
        tag = dialog.local_tag
        match req.method:
            case "BYE":
                out = self.respond_ok(key, req, source, to_tag=tag, now=now)
                telephony = leg is Leg.TELEPHONY
                return out + self.hangup(
                    call,
                    f"BYE from {leg}",
                    bye_telephony=not telephony,
                    bye_recorder=telephony,
                    now=now,
                )
            case "INVITE" | "UPDATE" if leg is Leg.TELEPHONY:
                return self.tel.reoffer(call, req, key, source, now)
            case "INVITE" | "UPDATE":
                return self.rec.on_reoffer(call, req, key, source, now)
            case "OPTIONS" | "INFO":
                return self.respond_ok(key, req, source, to_tag=tag, now=now)
            case _:
                return self.respond(key, req, 405, to_tag=tag, now=now)

    def _find_dialog(self, req: SipRequest) -> tuple[Call, Leg, Dialog] | None:
        did = dialog_id_of_request(req)
        call = self.calls.get(req.call_id)
        if call is not None and call.tel_dialog is not None and call.tel_dialog.id == did:
            return call, Leg.TELEPHONY, call.tel_dialog
        call = self.rec.call_of(req.call_id)
        if call is not None and call.rec_dialog is not None and call.rec_dialog.id == did:
            return call, Leg.RECORDER, call.rec_dialog
        return None

    def _on_ack(self, ack: SipRequest, now: float) -> list[Effect]:
        found = self._find_dialog(ack)
        if found is None:
            return []
        call, leg, _ = found
        if leg is Leg.TELEPHONY and call.state is CallState.ANSWERED:
            call.advance(CallEvent.TELEPHONY_ACK)
            return [self.log_call(call, "established"), *self.rec.maybe_signal(call, now)]
        return []

    def _on_failed(self, key: TxKey, request: SipRequest, now: float) -> list[Effect]:
        call_id = self.by_invite_key.get(key)
        if call_id is not None:
            call = self.calls.get(call_id)
            if call is not None and call.state is CallState.ANSWERED:
                return self.hangup(call, "no ACK", bye_telephony=True, bye_recorder=True, now=now)
            return []
        return self.rec.on_failed(key, request, now)

    # -- ending ---------------------------------------------------------------------------------
    def hangup(
        self, call: Call, reason: str, *, bye_telephony: bool, bye_recorder: bool, now: float
    ) -> list[Effect]:
        if call.state is CallState.RECORDER_INVITING:
            return self.tel.abandon(call, 503, reason, now)
        if not call.can(CallEvent.HANGUP):
            return []
        call.advance(CallEvent.HANGUP)
        call.hangup_reason = reason
        call.bye_recorder = bye_recorder
        out: list[Effect] = [self.log_call(call, "terminating", reason)]
        out += self.rec.drop_pending(call, now)
        if bye_telephony and call.tel_dialog is not None:
            bye = call.tel_dialog.create_request(
                "BYE", self.local.via(call.source.transport, self.new_token)
            )
            target = self.rec.telephony_target(call)
            self.rec.track(bye, call, "tel_bye")
            out += self.send_request(bye, target, now)
        out.append(TeardownMedia(call.call_id))
        return out

    def end(self, call: Call, reason: str) -> list[Effect]:
        """Forget an ended call (its last log line)."""
        self.calls.pop(call.call_id, None)
        self.by_invite_key.pop(call.invite_key, None)
        self.rec.forget(call)
        return [self.log_call(call, "ended", reason)]
