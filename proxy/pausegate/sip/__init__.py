"""pausegate.sip: RFC 3261 messages, transactions and dialogs (sans-IO cores)."""

from pausegate.sip.framer import StreamFramer
from pausegate.sip.headers import CSeq, NameAddr, SipUri, Via
from pausegate.sip.message import (
    SipMessage,
    SipRequest,
    SipResponse,
    best_effort_error,
    build_response,
    parse_message,
    parse_request,
)

__all__ = [
    "CSeq",
    "NameAddr",
    "SipMessage",
    "SipRequest",
    "SipResponse",
    "SipUri",
    "StreamFramer",
    "Via",
    "best_effort_error",
    "build_response",
    "parse_message",
    "parse_request",
]
