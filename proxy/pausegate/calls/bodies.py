"""Bodies and identity of a recorded call: SDP/SIPREC offers in, our bodies out (SPEC §2). Core.

Rules:
1. An INVITE body is plain ``application/sdp`` or SIPREC ``multipart/mixed``
   (RFC 7866 §9); the metadata, when present, must parse (its keys are how a
   desktop reaches the call: a call we cannot address is not recorded at all).
2. Keys: the ingress Call-ID first, then the configured key header's value, then
   the SIPREC metadata's call keys; duplicates dropped, order kept (SPEC §2).
3. Agent: the configured header; else the SIPREC participant matching the AOR
   pattern; else, for plain INVITEs only, the To URI's user part. Case-sensitive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from pausegate.calls.model import Direction, StreamOffer
from pausegate.errors import SdpError
from pausegate.gate.events import CallIdentity
from pausegate.sdp.negotiation import streams_from_offer
from pausegate.sdp.session import SessionDescription
from pausegate.sip.message import SipMessage, SipRequest
from pausegate.siprec.metadata import agent_from_metadata, call_keys, parse_metadata
from pausegate.siprec.multipart import (
    METADATA_TYPES,
    SDP_TYPE,
    BodyPart,
    build_multipart,
    split_siprec_body,
)

SDP_CONTENT_TYPE = "application/sdp"
METADATA_CONTENT_TYPE = METADATA_TYPES[0]


@dataclass(frozen=True, slots=True)
class Offer:
    """Telephony's offer: its SDP, the streams pausegate relays, SIPREC metadata if any."""

    sdp: SessionDescription
    streams: tuple[StreamOffer, ...]
    metadata: bytes | None


def sdp_of(msg: SipMessage) -> tuple[SessionDescription | None, bytes | None]:
    """(SDP, metadata XML) of a message body; (None, None) when it has no SDP.

    Raises SdpError or SiprecError (both RemoteError) on a broken body.
    """
    if not msg.body:
        return None, None
    sdp_bytes, metadata = split_siprec_body(msg.content_type or SDP_CONTENT_TYPE, msg.body)
    if sdp_bytes is None:
        return None, metadata
    return SessionDescription.parse(sdp_bytes), metadata


def parse_offer(request: SipRequest) -> Offer | None:
    """Telephony's offer in an INVITE/UPDATE; None when the request carries no SDP."""
    sdp, metadata = sdp_of(request)
    if sdp is None:
        return None
    if metadata is not None:
        parse_metadata(metadata)  # refuse what cannot be parsed (rule 1)
    return Offer(sdp, tuple(streams_from_offer(sdp)), metadata)


def call_identity(
    request: SipRequest,
    offer: Offer,
    *,
    key_header: str | None,
    agent_header: str | None,
    agent_pattern: re.Pattern[str] | None,
) -> CallIdentity:
    keys: list[str] = [request.call_id]
    if key_header is not None and (value := (request.get(key_header) or "").strip()):
        keys.append(value)
    meta = parse_metadata(offer.metadata) if offer.metadata is not None else None
    if meta is not None:
        keys.extend(call_keys(meta))
    agent: str | None = None
    if agent_header is not None:
        agent = (request.get(agent_header) or "").strip() or None
    if agent is None and meta is not None and agent_pattern is not None:
        agent = agent_from_metadata(meta, agent_pattern)
    if agent is None and meta is None:
        agent = request.to.uri.user or None
    return CallIdentity(request.call_id, tuple(dict.fromkeys(keys)), agent)


def recorder_body(
    sdp: SessionDescription, metadata: bytes | None, boundary: str
) -> tuple[str, bytes]:
    """(Content-Type, body) of our offer to the recorder: SIPREC multipart or plain SDP."""
    if metadata is None:
        return SDP_CONTENT_TYPE, bytes(sdp)
    parts = [
        BodyPart(SDP_TYPE, bytes(sdp)),
        BodyPart(METADATA_CONTENT_TYPE, metadata, {"Content-Disposition": "recording-session"}),
    ]
    return build_multipart(parts, boundary)


def offer_sendrecv(sdp: SessionDescription) -> SessionDescription:
    """Our recorder offer with a=sendonly written as a=sendrecv (``recorder_direction``):
    some recorders (baresip 1.0.0) record nothing from a sendonly offer. We still never
    listen to what the recorder sends back."""
    media = []
    for m in sdp.media:
        attrs = tuple(
            (Direction.SENDRECV.value, None) if name == Direction.SENDONLY else (name, value)
            for name, value in m.attributes
        )
        media.append(replace(m, attributes=attrs))
    return replace(sdp, media=tuple(media))


def answer_of(msg: SipMessage) -> SessionDescription:
    """The SDP answer in a 2xx; SdpError when there is none."""
    sdp, _ = sdp_of(msg)
    if sdp is None:
        raise SdpError("2xx has no SDP answer")
    return sdp
