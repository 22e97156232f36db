"""pausegate.sip: RFC 3261 messages, transactions and dialogs (sans-IO cores)."""

from pausegate.sip.dialog import Dialog
from pausegate.sip.framer import StreamFramer
from pausegate.sip.headers import CSeq, NameAddr, SipUri, Via
from pausegate.sip.layer import Target, TransactionLayer, Transport
from pausegate.sip.message import (
    SipMessage,
    SipRequest,
    SipResponse,
    best_effort_error,
    build_response,
    parse_message,
    parse_request,
)
from pausegate.sip.transaction import TimerConfig, Transaction

__all__ = [
    "CSeq",
    "Dialog",
    "NameAddr",
    "SipMessage",
    "SipRequest",
    "SipResponse",
    "SipUri",
    "StreamFramer",
    "Target",
    "TimerConfig",
    "Transaction",
    "TransactionLayer",
    "Transport",
    "Via",
    "best_effort_error",
    "build_response",
    "parse_message",
    "parse_request",
]
