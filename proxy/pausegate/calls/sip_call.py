"""One recorded call's signalling state: both legs and the lifecycle table (SPEC §2). Core.

Rules:
1. The lifecycle is a literal table ``(state, event) -> next state``; ``advance``
   raises ``CallStateError`` (our bug) for a pair not in it. Callers check
   ``can`` first for events that a peer may send at any time.
2. ``MEDIA_SETUP``: hooks.setup_call running. ``RECORDER_INVITING``: our INVITE to
   the recorder pending. ``ANSWERED``: 200 sent to telephony, no ACK yet.
   ``CANCELLING``: telephony cancelled (or the recorder never answered); the recorder
   leg and the media are being released. ``TERMINATING``: hooks.teardown_call running
   (hold-back drain). ``CLOSING``: the BYE to the recorder is pending. ``ENDED``: gone.
3. The BYE to the recorder leaves only after teardown finished (SPEC §3).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pausegate.calls.model import LocalStream, StreamOffer
from pausegate.errors import PausegateError
from pausegate.gate.events import CallIdentity
from pausegate.sdp.session import SessionDescription
from pausegate.sip.dialog import Dialog
from pausegate.sip.layer import Target, TxKey
from pausegate.sip.message import SipRequest


class CallStateError(PausegateError):
    """A call lifecycle transition the table does not allow (our bug)."""


class CallState(enum.StrEnum):
    MEDIA_SETUP = "media_setup"
    RECORDER_INVITING = "recorder_inviting"
    ANSWERED = "answered"
    ESTABLISHED = "established"
    CANCELLING = "cancelling"
    TERMINATING = "terminating"
    CLOSING = "closing"
    ENDED = "ended"


class CallEvent(enum.StrEnum):
    MEDIA_READY = "media_ready"
    MEDIA_FAILED = "media_failed"
    RECORDER_ANSWERED = "recorder_answered"
    RECORDER_FAILED = "recorder_failed"
    CANCEL = "cancel"
    TELEPHONY_ACK = "telephony_ack"
    HANGUP = "hangup"  # BYE from either side, ACK timeout, terminate_call
    MEDIA_RELEASED = "media_released"
    RECORDER_BYE_DONE = "recorder_bye_done"


St, Ev = CallState, CallEvent
CALL_TABLE: dict[tuple[CallState, CallEvent], CallState] = {
    (St.MEDIA_SETUP, Ev.MEDIA_READY): St.RECORDER_INVITING,
    (St.MEDIA_SETUP, Ev.MEDIA_FAILED): St.ENDED,
    (St.MEDIA_SETUP, Ev.CANCEL): St.CANCELLING,
    (St.RECORDER_INVITING, Ev.RECORDER_ANSWERED): St.ANSWERED,
    (St.RECORDER_INVITING, Ev.RECORDER_FAILED): St.TERMINATING,
    (St.RECORDER_INVITING, Ev.CANCEL): St.CANCELLING,
    (St.RECORDER_INVITING, Ev.HANGUP): St.CANCELLING,
    (St.CANCELLING, Ev.MEDIA_READY): St.TERMINATING,
    (St.CANCELLING, Ev.MEDIA_FAILED): St.ENDED,
    (St.CANCELLING, Ev.RECORDER_ANSWERED): St.TERMINATING,
    (St.CANCELLING, Ev.RECORDER_FAILED): St.TERMINATING,
    (St.ANSWERED, Ev.TELEPHONY_ACK): St.ESTABLISHED,
    (St.ANSWERED, Ev.HANGUP): St.TERMINATING,
    (St.ESTABLISHED, Ev.HANGUP): St.TERMINATING,
    (St.TERMINATING, Ev.MEDIA_RELEASED): St.CLOSING,
    (St.CLOSING, Ev.RECORDER_BYE_DONE): St.ENDED,
}


@dataclass(frozen=True, slots=True)
class TelReoffer:
    """Telephony's re-INVITE/UPDATE waiting for the recorder, and our answer to it."""

    key: TxKey
    request: SipRequest
    source: Target
    answer: SessionDescription


@dataclass(slots=True)
class Reoffer:
    """A re-INVITE to the recorder in flight, and what triggered it."""

    invite: SipRequest
    key: TxKey
    inactive: bool  # what this offer says (SPEC §4 signal)
    sdp: SessionDescription
    tel: TelReoffer | None = None


@dataclass(slots=True)
class Call:
    identity: CallIdentity
    invite: SipRequest  # telephony's initial INVITE
    invite_key: TxKey
    source: Target
    local_tag: str  # our To tag towards telephony
    offer_sdp: SessionDescription  # telephony's latest offer
    streams: tuple[StreamOffer, ...]
    metadata: bytes | None
    rec_call_id: str
    session_id: int
    state: CallState = CallState.MEDIA_SETUP
    local: tuple[LocalStream, ...] = ()
    answer_sdp: SessionDescription | None = None  # our latest answer to telephony
    answer_version: int = 0
    tel_dialog: Dialog | None = None
    rec_invite: SipRequest | None = None
    rec_invite_key: TxKey | None = None
    rec_target: Target | None = None
    rec_offer: SessionDescription | None = None  # our latest offer to the recorder
    rec_version: int = 0
    rec_dialog: Dialog | None = None
    rec_provisional: bool = False
    rec_cancel_pending: bool = False
    rec_ack: SipRequest | None = None  # re-sent on a retransmitted 2xx
    rec_answer_deadline: float | None = None
    reoffer: Reoffer | None = None
    reoffer_retry_at: float | None = None
    reoffer_retry_tel: TelReoffer | None = None
    want_inactive: bool = False  # signal_recorder's latest wish
    offered_inactive: bool = False
    signal_failed: bool | None = None  # the inactive value whose re-offer failed
    hangup_reason: str = ""
    bye_recorder: bool = True
    tel_bye_sent: bool = False

    @property
    def call_id(self) -> str:
        return self.identity.call_id

    def can(self, event: CallEvent) -> bool:
        return (self.state, event) in CALL_TABLE

    def advance(self, event: CallEvent) -> CallState:
        nxt = CALL_TABLE.get((self.state, event))
        if nxt is None:
            raise CallStateError(f"call in {self.state} cannot take {event}")
        self.state = nxt
        return nxt

    def next_deadline(self) -> float | None:
        times = [t for t in (self.rec_answer_deadline, self.reoffer_retry_at) if t is not None]
        return min(times) if times else None
