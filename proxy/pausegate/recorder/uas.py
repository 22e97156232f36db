"""The reference recorder's SIP side: a recording UAS (RFC 3261, RFC 7866 SRS). Core, sans-IO.

Rules:
1. An INVITE (plain SDP or SIPREC multipart) opens one sink stream per audio
   m-line with a supported codec; the 200 answers each recvonly at its port, with
   every offered codec accepted; other m-lines are rejected with port 0.
2. A re-INVITE/UPDATE is answered at the same ports (its SDP and metadata are
   passed to the sink again); it cannot add or remove streams (488).
3. BYE and CANCEL close the call's recording (``CloseRecording``), and so does a
   200 that is never ACKed; OPTIONS is 200.
4. Bad peer input is counted and answered (400/488/481), never raised.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Mapping
from dataclasses import dataclass

from pausegate.calls.bodies import Offer, parse_offer
from pausegate.calls.hooks import SendMessage
from pausegate.calls.model import LocalStream
from pausegate.calls.requests import SUPPORTED, Local, error_headers, ok_headers
from pausegate.errors import RemoteError, SipParseError
from pausegate.sdp.negotiation import UnsupportedMedia, build_answer
from pausegate.sip.dialog import Dialog, NewToken, dialog_id_of_request
from pausegate.sip.layer import (
    AckReceived,
    LayerEvent,
    RequestReceived,
    Send,
    Target,
    TransactionFailed,
    TransactionLayer,
    TxKey,
)
from pausegate.sip.message import (
    SipRequest,
    SipResponse,
    best_effort_error,
    build_response,
    parse_message,
)
from pausegate.sip.transaction import TimerConfig
from pausegate_codecs.registry import Codec


@dataclass(frozen=True, slots=True)
class OpenRecording:
    """Open one sink stream per (label, codecs); then ``streams_ready`` or ``streams_failed``."""

    call_id: str
    streams: tuple[tuple[str, Mapping[int, Codec]], ...]
    sdp_offer: str
    metadata: bytes | None


@dataclass(frozen=True, slots=True)
class UpdateRecording:
    call_id: str
    sdp_offer: str
    metadata: bytes | None


@dataclass(frozen=True, slots=True)
class CloseRecording:
    call_id: str


UasEffect = SendMessage | OpenRecording | UpdateRecording | CloseRecording


class UasState(enum.StrEnum):
    OPENING = "opening"
    ANSWERED = "answered"
    CONFIRMED = "confirmed"


@dataclass(slots=True)
class _Call:
    invite: SipRequest
    key: TxKey
    source: Target
    offer: Offer
    tag: str
    session_id: int
    state: UasState = UasState.OPENING
    cancelled: bool = False
    local: tuple[LocalStream, ...] = ()
    version: int = 0
    dialog: Dialog | None = None


class RecorderUas:
    """Every recording session of the reference recorder."""

    def __init__(
        self, advertise: str, port: int, new_token: NewToken, *, timers: TimerConfig | None = None
    ) -> None:
        self.local = Local(advertise, port, "pausegate-recorder")
        self.new_token = new_token
        self.layer = TransactionLayer(timers)
        self.calls: dict[str, _Call] = {}
        self._session = 0
        self.parse_errors = 0

    # -- input ----------------------------------------------------------------------------------
    def receive_data(
        self, data: bytes, source: Target, now: float, *, stream: bool = False
    ) -> list[UasEffect]:
        try:
            msg = parse_message(data, stream=stream)
            events = self.layer.receive(msg, source, now)
        except SipParseError:
            self.parse_errors += 1
            reply = best_effort_error(data, 400, "Bad Request")
            return [SendMessage(reply, source)] if reply is not None else []
        return self._process(events, now)

    def streams_ready(
        self, call_id: str, ports: list[tuple[int, int]], now: float
    ) -> list[UasEffect]:
        call = self.calls.get(call_id)
        if call is None:
            return [CloseRecording(call_id)]
        if call.cancelled:
            del self.calls[call_id]
            return [CloseRecording(call_id)]
        call.local = tuple(LocalStream(rtp, rtcp, 0, 0) for rtp, rtcp in ports)
        call.state = UasState.ANSWERED
        call.dialog = Dialog.as_uas(call.invite, call.tag)
        return self._ok(call, call.key, call.invite, call.source, now)

    def streams_failed(self, call_id: str, now: float) -> list[UasEffect]:
        call = self.calls.pop(call_id, None)
        if call is None or call.cancelled:
            return [CloseRecording(call_id)]
        return [*self._respond(call.key, call.invite, 503, call.tag, now), CloseRecording(call_id)]

    def handle_timer(self, now: float) -> list[UasEffect]:
        return self._process(self.layer.handle_timer(now), now)

    def next_deadline(self) -> float | None:
        return self.layer.next_deadline()

    # -- machinery ------------------------------------------------------------------------------
    def _process(self, events: list[LayerEvent], now: float) -> list[UasEffect]:
        out: list[UasEffect] = []
        for event in events:
            match event:
                case Send(message, target):
                    out.append(SendMessage(message, target))
                case RequestReceived(request, key, source):
                    try:
                        out += self._on_request(request, key, source, now)
                    except SipParseError:  # a lazily parsed header was malformed: 400
                        with contextlib.suppress(SipParseError):
                            out += self._respond(key, request, 400, None, now)
                case AckReceived(ack, _):
                    call = self.calls.get(ack.call_id)
                    if call is not None and call.state is UasState.ANSWERED:
                        call.state = UasState.CONFIRMED
                case TransactionFailed(key, request, _):
                    out += self._no_ack(key, request)
                case _:
                    pass  # the recorder sends no requests of its own
        return out

    def _no_ack(self, key: TxKey, request: SipRequest) -> list[UasEffect]:
        """Our 200 was never ACKed (timer L, §13.3.1.4): the session never started."""
        call = self.calls.get(request.call_id)
        if call is None or call.key != key or call.state is not UasState.ANSWERED:
            return []
        del self.calls[request.call_id]
        return [CloseRecording(request.call_id)]

    def _respond(
        self, key: TxKey, req: SipRequest, status: int, tag: str | None, now: float
    ) -> list[UasEffect]:
        headers = error_headers(self.local, status, req)
        resp = build_response(req, status, to_tag=tag or self.new_token(), headers=headers)
        return self._process(self.layer.send_response(key, resp, now), now)

    def _ok(
        self, call: _Call, key: TxKey, req: SipRequest, source: Target, now: float
    ) -> list[UasEffect]:
        answer = build_answer(
            call.offer.sdp,
            call.offer.streams,
            call.local,
            self.local.host,
            call.session_id,
            call.version,
        )
        headers = ok_headers(self.local, req, source.transport, content_type="application/sdp")
        resp = build_response(req, 200, to_tag=call.tag, headers=headers, body=bytes(answer))
        return self._process(self.layer.send_response(key, resp, now), now)

    def _on_request(
        self, req: SipRequest, key: TxKey, source: Target, now: float
    ) -> list[UasEffect]:
        if req.method != "CANCEL" and req.option_tags("Require") - SUPPORTED:
            return self._respond(key, req, 420, None, now)
        call = self.calls.get(req.call_id)
        if req.to.tag is not None:
            if call is None or call.dialog is None or call.dialog.id != dialog_id_of_request(req):
                return self._respond(key, req, 481, None, now)
            return self._in_dialog(call, req, key, source, now)
        match req.method:
            case "INVITE":
                return self._on_invite(req, key, source, now)
            case "CANCEL":
                return self._on_cancel(req, key, now)
            case "OPTIONS":
                return self._process(
                    self.layer.send_response(key, self._options_ok(req, source), now), now
                )
            case _:
                return self._respond(key, req, 481 if req.method == "BYE" else 405, None, now)

    def _options_ok(self, req: SipRequest, source: Target) -> SipResponse:
        headers = ok_headers(self.local, req, source.transport)
        return build_response(req, 200, to_tag=self.new_token(), headers=headers)

    def _on_invite(
        self, req: SipRequest, key: TxKey, source: Target, now: float
    ) -> list[UasEffect]:
        if req.call_id in self.calls:
            return self._respond(key, req, 482, None, now)
        try:
            offer = parse_offer(req)
        except UnsupportedMedia:
            return self._respond(key, req, 488, None, now)
        except RemoteError:
            return self._respond(key, req, 400, None, now)
        if offer is None:
            return self._respond(key, req, 488, None, now)
        self._session += 1
        call = _Call(req, key, source, offer, self.new_token(), self._session)
        self.calls[req.call_id] = call
        streams = tuple((s.label, s.codecs) for s in offer.streams)
        return [OpenRecording(req.call_id, streams, bytes(offer.sdp).decode(), offer.metadata)]

    def _on_cancel(self, req: SipRequest, key: TxKey, now: float) -> list[UasEffect]:
        invite_key = self.layer.find_invite_for_cancel(req)
        call = self.calls.get(req.call_id)
        if invite_key is None or call is None or call.key != invite_key:
            return self._respond(key, req, 481, None, now)
        out = self._respond(key, req, 200, call.tag, now)
        if call.state is not UasState.OPENING:
            return out
        out += self._respond(call.key, call.invite, 487, call.tag, now)
        call.cancelled = True
        return out

    def _in_dialog(
        self, call: _Call, req: SipRequest, key: TxKey, source: Target, now: float
    ) -> list[UasEffect]:
        assert call.dialog is not None
        if not call.dialog.check_remote_request(req):
            return self._respond(key, req, 500, call.tag, now)
        match req.method:
            case "BYE":
                del self.calls[req.call_id]
                return [*self._respond(key, req, 200, call.tag, now), CloseRecording(req.call_id)]
            case "INVITE" | "UPDATE":
                return self._reoffer(call, req, key, source, now)
            case "OPTIONS" | "INFO":
                return self._respond(key, req, 200, call.tag, now)
            case _:
                return self._respond(key, req, 405, call.tag, now)

    def _reoffer(
        self, call: _Call, req: SipRequest, key: TxKey, source: Target, now: float
    ) -> list[UasEffect]:
        try:
            offer = parse_offer(req)
        except UnsupportedMedia:
            return self._respond(key, req, 488, call.tag, now)
        except RemoteError:
            return self._respond(key, req, 400, call.tag, now)
        if offer is not None:
            if [s.label for s in offer.streams] != [s.label for s in call.offer.streams]:
                return self._respond(key, req, 488, call.tag, now)
            metadata = offer.metadata if offer.metadata is not None else call.offer.metadata
            call.offer = Offer(offer.sdp, offer.streams, metadata)
            call.version += 1
        out: list[UasEffect] = []
        if offer is not None:
            out.append(UpdateRecording(call.invite.call_id, str(offer.sdp), call.offer.metadata))
        return out + self._ok(call, key, req, source, now)
