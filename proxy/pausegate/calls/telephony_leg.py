"""The B2BUA telephony leg: new INVITEs, CANCEL, re-offers, our 200 (SPEC §2, RFC 3261). Core.

Rules:
1. A new INVITE is refused before any media is set up when pausegate is draining
   or over ``max_calls`` (503 + Retry-After), merges with a known call (482), or
   carries an offer we cannot record (488 unsupported, 400 malformed).
2. CANCEL answers 200 and, while telephony has no final answer yet, 487 to the
   INVITE; the recorder leg is cancelled and the media released (§9.2).
3. A re-offer (re-INVITE/UPDATE) that is a pure session refresh (or has no SDP) is
   answered at once with our unchanged SDP; a real change updates the media and
   re-offers the recorder, telephony's 200 waiting for the recorder's answer. The
   streams (their labels) cannot change within a call: 488.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pausegate.calls.bodies import Offer, call_identity, parse_offer
from pausegate.calls.hooks import CallLog, Effect, SetupMedia
from pausegate.calls.sip_call import Call, CallEvent, CallState, TelReoffer
from pausegate.errors import RemoteError, SdpError
from pausegate.sdp.negotiation import UnsupportedMedia, build_answer, is_session_refresh
from pausegate.sip.dialog import Dialog
from pausegate.sip.layer import Target, TxKey
from pausegate.sip.message import SipRequest
from pausegate.siprec.multipart import SiprecError

if TYPE_CHECKING:
    from pausegate.calls.b2bua import B2bua

LIVE = frozenset({CallState.ANSWERED, CallState.ESTABLISHED})


class TelephonyLeg:
    """Telephony-side requests of every call of one B2BUA."""

    def __init__(self, b2bua: B2bua) -> None:
        self.b = b2bua

    def on_invite(self, req: SipRequest, key: TxKey, source: Target, now: float) -> list[Effect]:
        status = 0
        offer: Offer | None = None
        if self.b.draining or len(self.b.calls) >= self.b.settings.max_calls:
            status = 503
        elif req.call_id in self.b.calls or self.b.rec.call_of(req.call_id) is not None:
            status = 482  # merged request or a loop through ourselves (§8.2.2.2)
        else:
            try:
                offer = parse_offer(req)
                status = 0 if offer is not None else 488
            except UnsupportedMedia:
                status = 488
            except SdpError:
                self.b.sdp_errors += 1
                status = 400
            except SiprecError:
                self.b.siprec_errors += 1
                status = 400
            except RemoteError:  # a header the offer needs is malformed
                self.b.parse_errors += 1
                status = 400
        if offer is None or status:
            self.b.calls_rejected += 1
            return [
                CallLog(req.call_id, None, "rejected", f"INVITE answered {status}"),
                *self.b.respond(key, req, status or 488, now=now),
            ]
        try:
            identity = call_identity(
                req,
                offer,
                key_header=self.b.settings.key_header,
                agent_header=self.b.settings.agent_header,
                agent_pattern=self.b.agent_pattern,
            )
        except RemoteError:
            self.b.calls_rejected += 1
            return self.b.respond(key, req, 400, now=now)
        call = Call(
            identity=identity,
            invite=req,
            invite_key=key,
            source=source,
            local_tag=self.b.new_token(),
            offer_sdp=offer.sdp,
            streams=offer.streams,
            metadata=offer.metadata,
            rec_call_id=f"{self.b.new_token()}@{self.b.local.host}",
            session_id=self.b.next_session_id(),
        )
        self.b.calls[call.call_id] = call
        self.b.by_invite_key[key] = call.call_id
        self.b.rec.register(call)
        self.b.calls_total += 1
        kind = "SIPREC" if offer.metadata is not None else "plain"
        return [
            self.b.log_call(call, "media_setup", f"{kind} INVITE, {len(offer.streams)} stream(s)"),
            SetupMedia(identity, offer.streams),
        ]

    def on_cancel(self, req: SipRequest, key: TxKey, now: float) -> list[Effect]:
        """§9.2: 481 without a matching INVITE transaction, else 200 (and 487 if early)."""
        invite_key = self.b.layer.find_invite_for_cancel(req)
        if invite_key is None:
            return self.b.respond(key, req, 481, now=now)
        call_id = self.b.by_invite_key.get(invite_key)
        call = self.b.calls.get(call_id) if call_id is not None else None
        tag = call.local_tag if call is not None else None
        out = self.b.respond(key, req, 200, to_tag=tag, headers=[], now=now)
        if call is not None and call.state in (CallState.MEDIA_SETUP, CallState.RECORDER_INVITING):
            out += self.abandon(call, 487, "CANCEL from telephony", now)
        return out

    def abandon(self, call: Call, status: int, reason: str, now: float) -> list[Effect]:
        """Give up a call telephony has no answer for yet: final ``status``, release both."""
        out = self.b.respond(call.invite_key, call.invite, status, to_tag=call.local_tag, now=now)
        inviting = call.state is CallState.RECORDER_INVITING
        call.advance(CallEvent.CANCEL)
        call.hangup_reason = reason
        out.append(self.b.log_call(call, "cancelling", reason))
        if inviting:
            out += self.b.rec.cancel(call, now)
        return out

    def reoffer(
        self, call: Call, req: SipRequest, key: TxKey, source: Target, now: float
    ) -> list[Effect]:
        tag = call.local_tag
        if call.state not in LIVE:
            return self.b.respond(key, req, 481, to_tag=tag, now=now)  # the call is ending
        if (call.reoffer is not None and call.reoffer.tel is not None) or (
            call.reoffer_retry_tel is not None
        ):
            return self.b.respond(key, req, 500, to_tag=tag, now=now)  # §14.2
        if call.reoffer is not None or call.reoffer_retry_at is not None:
            return self.b.respond(key, req, 491, to_tag=tag, now=now)  # glare
        try:
            offer = parse_offer(req)
        except UnsupportedMedia:
            return self.b.respond(key, req, 488, to_tag=tag, now=now)
        except RemoteError:
            return self.b.respond(key, req, 400, to_tag=tag, now=now)
        current = bytes(call.answer_sdp) if call.answer_sdp is not None else None
        if offer is None or is_session_refresh(call.offer_sdp, offer.sdp):
            sdp = current if (offer is not None or req.method == "INVITE") else None
            return self.b.respond_ok(key, req, source, to_tag=tag, sdp=sdp, now=now)
        if [s.label for s in offer.streams] != [s.label for s in call.streams]:
            return self.b.respond(key, req, 488, to_tag=tag, now=now)  # streams cannot change
        call.offer_sdp = offer.sdp
        call.streams = offer.streams
        if offer.metadata is not None:
            call.metadata = offer.metadata
        call.answer_version += 1
        answer = build_answer(
            offer.sdp,
            call.streams,
            call.local,
            self.b.local.host,
            call.session_id,
            call.answer_version,
        )
        return [
            self.b.log_call(call, "reoffer", f"{req.method} from telephony"),
            *self.b.rec.update_media(call),
            *self.b.rec.reoffer(call, now, TelReoffer(key, req, source, answer)),
        ]

    def answer(self, call: Call, answer_sdp: bytes, now: float) -> list[Effect]:
        """The 200 to telephony's INVITE, once the recorder has answered (rule 2)."""
        call.tel_dialog = Dialog.as_uas(call.invite, call.local_tag)
        return self.b.respond_ok(
            call.invite_key,
            call.invite,
            call.source,
            to_tag=call.local_tag,
            sdp=answer_sdp,
            now=now,
        )
