"""pausegate.sdp: SDP syntax (RFC 8866) and offer/answer for the recording B2BUA (RFC 3264)."""

from pausegate.sdp.fields import Connection, Origin, Rtcp, RtpMap
from pausegate.sdp.negotiation import (
    UnsupportedMedia,
    build_answer,
    build_recorder_offer,
    is_session_refresh,
    parse_answer,
    streams_from_offer,
)
from pausegate.sdp.session import MediaDescription, SessionDescription, Timing

__all__ = [
    "Connection",
    "MediaDescription",
    "Origin",
    "Rtcp",
    "RtpMap",
    "SessionDescription",
    "Timing",
    "UnsupportedMedia",
    "build_answer",
    "build_recorder_offer",
    "is_session_refresh",
    "parse_answer",
    "streams_from_offer",
]
