"""The B2BUA recorder leg: INVITE, CANCEL, re-offers, signal, BYE (SPEC §2, RFC 3261). Core.

Rules:
1. Our INVITE goes to the configured recorder URI, carrying one sendonly m-line per
   ingress stream (plus the SIPREC metadata when telephony sent some).
2. A CANCEL is sent only after a provisional response (§9.1); until then it is
   pending. A 2xx that arrives after we gave up is ACKed, then BYEd after teardown.
3. Every 2xx to our INVITE or re-INVITE is ACKed, retransmissions too (§13.2.2.4).
4. The recorder's answer (``MediaAnswered``) reaches the media before telephony's 200.
5. The recorder not answering within 64*T1 after our INVITE is a failure: 503.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pausegate.calls.bodies import answer_of, offer_sendrecv, recorder_body
from pausegate.calls.hooks import Effect, MediaAnswered, TeardownMedia, UpdateMedia
from pausegate.calls.requests import cancel_for, ok_headers, recorder_invite, target_of
from pausegate.calls.sip_call import Call, CallEvent, CallState, Reoffer, TelReoffer
from pausegate.errors import RemoteError
from pausegate.sdp.negotiation import build_answer, build_recorder_offer, parse_answer
from pausegate.sdp.session import SessionDescription
from pausegate.sip.dialog import Dialog
from pausegate.sip.headers import NameAddr
from pausegate.sip.layer import Target, TxKey, client_key
from pausegate.sip.message import SipRequest, SipResponse

if TYPE_CHECKING:
    from pausegate.calls.b2bua import B2bua

Purpose = Literal["invite", "reinvite", "cancel", "rec_bye", "tel_bye"]
GLARE_RETRY_S = 2.1  # §14.1: the Call-ID owner waits 2.1 s to 4 s
LIVE = frozenset({CallState.ANSWERED, CallState.ESTABLISHED})


class RecorderLeg:
    """Recorder-side requests and responses of every call of one B2BUA."""

    def __init__(self, b2bua: B2bua) -> None:
        self.b = b2bua
        self._by_call_id: dict[str, str] = {}  # recorder-leg Call-ID -> ingress Call-ID
        self._txs: dict[TxKey, tuple[str, Purpose]] = {}

    # -- bookkeeping ------------------------------------------------------------------------
    def register(self, call: Call) -> None:
        self._by_call_id[call.rec_call_id] = call.call_id

    def forget(self, call: Call) -> None:
        self._by_call_id.pop(call.rec_call_id, None)

    def call_of(self, rec_call_id: str) -> Call | None:
        call_id = self._by_call_id.get(rec_call_id)
        return self.b.calls.get(call_id) if call_id is not None else None

    def track(self, request: SipRequest, call: Call, purpose: Purpose) -> None:
        self._txs[client_key(request)] = (call.call_id, purpose)

    def telephony_target(self, call: Call) -> Target:
        assert call.tel_dialog is not None
        return target_of(call.tel_dialog.next_hop(), conn_from=call.source)

    def _recorder_target(self, call: Call) -> Target:
        if call.rec_dialog is not None:
            return target_of(call.rec_dialog.next_hop(), conn_from=call.rec_target)
        return target_of(self.b.recorder_uri)

    def _offer(self, call: Call, inactive: bool) -> SessionDescription:
        """One sendonly (or, when configured, sendrecv) m-line per ingress stream."""
        sdp = build_recorder_offer(
            call.streams,
            call.local,
            self.b.local.host,
            call.session_id,
            call.rec_version,
            offer=call.offer_sdp,
            inactive=inactive,
        )
        return offer_sendrecv(sdp) if self.b.settings.recorder_direction == "sendrecv" else sdp

    # -- the initial INVITE -------------------------------------------------------------------
    def invite(self, call: Call, now: float) -> list[Effect]:
        b = self.b
        target = target_of(b.recorder_uri)
        call.rec_target = target
        inactive = call.want_inactive
        call.rec_offer = self._offer(call, inactive)
        call.offered_inactive = inactive
        ct, body = recorder_body(call.rec_offer, call.metadata, f"pausegate-{b.new_token()}")
        invite = recorder_invite(
            b.local,
            b.recorder_uri,
            target,
            call.rec_call_id,
            b.new_token(),
            ct,
            body,
            siprec=call.metadata is not None,
            new_token=b.new_token,
        )
        call.rec_invite = invite
        call.rec_invite_key = client_key(invite)
        call.rec_answer_deadline = now + 64 * b.settings.t1_s
        b.timed.add(call.call_id)
        self.track(invite, call, "invite")
        return b.send_request(invite, target, now)

    def cancel(self, call: Call, now: float) -> list[Effect]:
        """Cancel our pending INVITE (rule 2)."""
        if call.rec_invite is None:
            return []
        call.rec_answer_deadline = now + 64 * self.b.settings.t1_s
        self.b.timed.add(call.call_id)
        if not call.rec_provisional:
            call.rec_cancel_pending = True
            return []
        call.rec_cancel_pending = False
        cancel = cancel_for(call.rec_invite)
        self.track(cancel, call, "cancel")
        return self.b.send_request(cancel, call.rec_target or self._recorder_target(call), now)

    # -- responses ------------------------------------------------------------------------------
    def on_response(self, resp: SipResponse, key: TxKey, now: float) -> list[Effect]:
        entry = self._txs.get(key)
        if entry is None:
            return self.on_stray(resp, now) if 200 <= resp.status < 300 else []
        call = self.b.calls.get(entry[0])
        if resp.status >= 200:
            self._txs.pop(key, None)
        if call is None:
            return self._orphan_2xx(resp, now)
        match entry[1]:
            case "invite":
                return self._invite_response(call, resp, now)
            case "reinvite":
                return self._reinvite_response(call, resp, now)
            case "rec_bye":
                return self._bye_done(call, resp.status >= 200)
            case "cancel" | "tel_bye":
                return []

    def on_failed(self, key: TxKey, request: SipRequest, now: float) -> list[Effect]:
        entry = self._txs.pop(key, None)
        call = self.b.calls.get(entry[0]) if entry is not None else None
        if entry is None or call is None:
            return []
        match entry[1]:
            case "invite":
                call.rec_answer_deadline = None
                return self._invite_failed(call, 503, "recorder timeout", now)
            case "reinvite":
                return self._reinvite_failed(call, 408, now)
            case "rec_bye":
                return self._bye_done(call, True)
            case "cancel" | "tel_bye":
                return []

    def on_stray(self, resp: SipResponse, now: float) -> list[Effect]:
        """A retransmitted 2xx after our INVITE transaction ended: ACK it again."""
        if resp.cseq.method != "INVITE":
            return []
        call = self.call_of(resp.call_id)
        if call is None:
            return self._orphan_2xx(resp, now) if resp.call_id not in self.b.calls else []
        if call.rec_dialog is not None and resp.to.tag != call.rec_dialog.remote_tag:
            return self._orphan_2xx(resp, now)  # another fork: ACK and BYE it (§13.2.2.4)
        if call.rec_ack is not None and resp.cseq.seq == call.rec_ack.cseq.seq:
            return self.b.send_request(call.rec_ack, self._recorder_target(call), now)
        return []

    def _ack(self, call: Call, resp: SipResponse, now: float) -> list[Effect]:
        if call.rec_dialog is None:
            assert call.rec_invite is not None
            call.rec_dialog = Dialog.as_uac(call.rec_invite, resp)
        elif resp.to.tag != call.rec_dialog.remote_tag:
            return []  # a forked 2xx: not our dialog
        target = self._recorder_target(call)
        via = self.b.local.via(target.transport, self.b.new_token)
        call.rec_ack = call.rec_dialog.create_ack(resp.cseq.seq, via)
        return self.b.send_request(call.rec_ack, target, now)

    def _invite_response(self, call: Call, resp: SipResponse, now: float) -> list[Effect]:
        b = self.b
        if resp.status < 200:
            call.rec_provisional = True
            if call.rec_cancel_pending:
                return self.cancel(call, now)
            return []
        call.rec_answer_deadline = None
        if resp.status >= 300:
            status = resp.status if resp.status >= 400 and resp.status not in (401, 407) else 503
            return self._invite_failed(call, status, f"recorder answered {resp.status}", now)
        retransmitted = call.rec_dialog is not None
        out = self._ack(call, resp, now)
        if retransmitted or call.state is not CallState.RECORDER_INVITING:
            if not retransmitted and call.state is CallState.TERMINATING:
                call.bye_recorder = True  # answered while we were already giving up
            if call.state is CallState.CANCELLING:
                call.advance(CallEvent.RECORDER_ANSWERED)
                call.bye_recorder = True
                out += [
                    b.log_call(call, "terminating", "recorder answered late"),
                    TeardownMedia(call.call_id),
                ]
            return out
        try:
            assert call.rec_offer is not None
            answers = parse_answer(call.rec_offer, answer_of(resp))
        except RemoteError:
            return out + self._invite_failed(call, 503, "recorder answer unusable", now, bye=True)
        answer = build_answer(
            call.offer_sdp, call.streams, call.local, b.local.host, call.session_id, 0
        )
        call.answer_sdp = answer
        call.advance(CallEvent.RECORDER_ANSWERED)
        out.append(MediaAnswered(call.call_id, tuple(answers)))
        out.append(b.log_call(call, "answered"))
        out += b.tel.answer(call, bytes(answer), now)
        return out + self.maybe_signal(call, now)

    def _invite_failed(
        self, call: Call, status: int, reason: str, now: float, *, bye: bool = False
    ) -> list[Effect]:
        b = self.b
        out: list[Effect] = []
        if call.state is CallState.RECORDER_INVITING:
            out += b.respond(call.invite_key, call.invite, status, to_tag=call.local_tag, now=now)
            b.calls_rejected += 1
        if not call.can(CallEvent.RECORDER_FAILED):
            return out
        call.advance(CallEvent.RECORDER_FAILED)
        call.bye_recorder = bye
        call.hangup_reason = call.hangup_reason or reason
        return [*out, b.log_call(call, "terminating", reason), TeardownMedia(call.call_id)]

    def _orphan_2xx(self, resp: SipResponse, now: float) -> list[Effect]:
        """A 2xx to an INVITE of a call that is gone, or from a second fork: ACK it, then
        BYE it (rule 2)."""
        if not 200 <= resp.status < 300 or resp.cseq.method != "INVITE":
            return []
        b = self.b
        contact = resp.contact
        dialog = Dialog(
            call_id=resp.call_id,
            local_tag=resp.from_.tag or "",
            remote_tag=resp.to.tag or "",
            local_uri=resp.from_,
            remote_uri=resp.to,
            remote_target=contact.uri if contact is not None else b.recorder_uri,
            route_set=tuple(reversed(resp.record_route)),
            local_seq=resp.cseq.seq,
        )
        dialog.local_uri = NameAddr(resp.from_.uri, resp.from_.display)
        dialog.remote_uri = NameAddr(resp.to.uri, resp.to.display)
        target = target_of(dialog.next_hop())
        ack = dialog.create_ack(resp.cseq.seq, b.local.via(target.transport, b.new_token))
        bye = dialog.create_request("BYE", b.local.via(target.transport, b.new_token))
        return b.send_request(ack, target, now) + b.send_request(bye, target, now)

    # -- re-offers ---------------------------------------------------------------------------
    def update_media(self, call: Call) -> list[Effect]:
        return [UpdateMedia(call.call_id, call.streams)]

    def reoffer(self, call: Call, now: float, tel: TelReoffer | None = None) -> list[Effect]:
        b = self.b
        assert call.rec_dialog is not None
        inactive = call.want_inactive
        call.rec_version += 1
        sdp = self._offer(call, inactive)
        ct, body = recorder_body(sdp, call.metadata, f"pausegate-{b.new_token()}")
        target = self._recorder_target(call)
        req = call.rec_dialog.create_request(
            "INVITE",
            b.local.via(target.transport, b.new_token),
            contact=b.local.contact(target.transport, src=call.metadata is not None),
            headers=[("Content-Type", ct)],
            body=body,
        )
        call.reoffer = Reoffer(req, client_key(req), inactive, sdp, tel)
        self.track(req, call, "reinvite")
        return b.send_request(req, target, now)

    def maybe_signal(self, call: Call, now: float) -> list[Effect]:
        """Re-offer when signal_recorder's wish differs from what the recorder was told."""
        if call.state not in LIVE or call.reoffer is not None or call.reoffer_retry_at is not None:
            return []
        if call.want_inactive == call.offered_inactive or call.want_inactive == call.signal_failed:
            return []
        detail = "pause" if call.want_inactive else "resume"
        return [self.b.log_call(call, "signal", detail), *self.reoffer(call, now)]

    def _reinvite_response(self, call: Call, resp: SipResponse, now: float) -> list[Effect]:
        pending = call.reoffer
        if resp.status < 200 or pending is None:
            return self._ack(call, resp, now) if 200 <= resp.status < 300 else []
        if resp.status >= 300:
            return self._reinvite_failed(call, resp.status, now)
        out = self._ack(call, resp, now)
        assert call.rec_dialog is not None
        call.rec_dialog.refresh_from_response(resp)
        try:
            answers = parse_answer(pending.sdp, answer_of(resp))
            out.append(MediaAnswered(call.call_id, tuple(answers)))
        except RemoteError:
            out.append(self.b.log_call(call, "warning", "recorder re-answer unusable"))
        call.rec_offer = pending.sdp
        call.offered_inactive = pending.inactive
        call.signal_failed = None
        call.reoffer = None
        out += self._answer_telephony(call, pending.tel, now)
        return out + self.maybe_signal(call, now)

    def _reinvite_failed(self, call: Call, status: int, now: float) -> list[Effect]:
        pending = call.reoffer
        call.reoffer = None
        if pending is None:
            return []
        call.rec_version -= 1  # the rejected offer never became the session (RFC 3264 §8)
        if status == 491:
            call.reoffer_retry_at = now + GLARE_RETRY_S
            self.b.timed.add(call.call_id)
            call.reoffer_retry_tel = pending.tel
            return []
        out = self._answer_telephony(call, pending.tel, now)
        if pending.tel is None:
            call.signal_failed = pending.inactive
        if status in (408, 481):  # §14.1: the dialog is gone
            return out + self.b.hangup(
                call, f"recorder re-INVITE {status}", bye_telephony=True,
                bye_recorder=status != 481, now=now,
            )  # fmt: skip
        return [*out, self.b.log_call(call, "warning", f"recorder refused re-offer ({status})")]

    def _answer_telephony(self, call: Call, tel: TelReoffer | None, now: float) -> list[Effect]:
        if tel is None:
            return []
        call.answer_sdp = tel.answer
        return self.b.respond_ok(
            tel.key, tel.request, tel.source, to_tag=call.local_tag, sdp=bytes(tel.answer), now=now
        )

    def on_reoffer(
        self, call: Call, req: SipRequest, key: TxKey, source: Target, now: float
    ) -> list[Effect]:
        """The recorder re-offers (refresh): answer with our unchanged SDP, 491 on glare."""
        assert call.rec_dialog is not None
        tag = call.rec_dialog.local_tag
        if call.reoffer is not None:
            return self.b.respond(key, req, 491, to_tag=tag, now=now)
        sdp = bytes(call.rec_offer) if call.rec_offer is not None else None
        headers = ok_headers(self.b.local, req, source.transport, content_type="application/sdp")
        return self.b.respond(key, req, 200, to_tag=tag, headers=headers, body=sdp or b"", now=now)

    def drop_pending(self, call: Call, now: float) -> list[Effect]:
        """The call is ending: a telephony re-offer still waiting gets 487 (§15.1.2)."""
        tel = call.reoffer.tel if call.reoffer is not None else call.reoffer_retry_tel
        call.reoffer_retry_at = None
        call.reoffer_retry_tel = None
        if tel is None:
            return []
        if call.reoffer is not None:
            call.reoffer.tel = None
        return self.b.respond(tel.key, tel.request, 487, to_tag=call.local_tag, now=now)

    # -- ending ---------------------------------------------------------------------------------
    def bye(self, call: Call, now: float) -> list[Effect]:
        assert call.rec_dialog is not None
        target = self._recorder_target(call)
        bye = call.rec_dialog.create_request(
            "BYE", self.b.local.via(target.transport, self.b.new_token)
        )
        self.track(bye, call, "rec_bye")
        return self.b.send_request(bye, target, now)

    def _bye_done(self, call: Call, done: bool) -> list[Effect]:
        if not done or call.state is not CallState.CLOSING:
            return []
        call.advance(CallEvent.RECORDER_BYE_DONE)
        return self.b.end(call, call.hangup_reason)

    # -- timers ---------------------------------------------------------------------------------
    def handle_timer(self, call: Call, now: float) -> list[Effect]:
        out: list[Effect] = []
        if call.reoffer_retry_at is not None and call.reoffer_retry_at <= now:
            tel = call.reoffer_retry_tel
            call.reoffer_retry_at = None
            call.reoffer_retry_tel = None
            if call.state in LIVE:
                out += self.reoffer(call, now, tel)
        if call.rec_answer_deadline is not None and call.rec_answer_deadline <= now:
            call.rec_answer_deadline = None
            if call.state is CallState.RECORDER_INVITING:
                out += self.b.tel.abandon(call, 503, "recorder did not answer", now)
            elif call.state is CallState.CANCELLING and call.can(CallEvent.RECORDER_FAILED):
                call.advance(CallEvent.RECORDER_FAILED)
                call.bye_recorder = False
                out.append(TeardownMedia(call.call_id))
        return out
