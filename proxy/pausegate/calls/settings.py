"""B2BUA settings and the SIP counters it keeps for the metrics collector (SPEC §2, §6). Core."""

from __future__ import annotations

from dataclasses import dataclass

COUNTED_METHODS = frozenset(
    [
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "UPDATE",
        "INFO",
        "PRACK",
        "REGISTER",
        "SUBSCRIBE",
        "NOTIFY",
        "MESSAGE",
        "REFER",
    ]
)


@dataclass(frozen=True, slots=True)
class B2buaSettings:
    listen: tuple[str, int]
    advertise: str
    recorder_uri: str
    agent_header: str | None
    key_header: str | None
    agent_aor_pattern: str | None
    max_calls: int
    user_agent: str = "pausegate"
    t1_s: float = 0.5
    t2_s: float = 4.0
    t4_s: float = 5.0
    recorder_direction: str = "sendonly"  # or "sendrecv" for recorders that need it


@dataclass(frozen=True, slots=True)
class SipStatistics:
    messages: dict[tuple[str, str], int]  # (method, status or "request") -> count, in and out
    parse_errors: int
    calls_active: int
    calls_total: int
    calls_rejected: int
    transactions: int
    # Offers refused as malformed (400): a broken SDP, a broken SIPREC body or metadata.
    # For pausegate_bad_input_total{kind="sdp"|"siprec"}; parse_errors is kind="sip".
    sdp_errors: int = 0
    siprec_errors: int = 0


def counted_method(method: str) -> str:
    return method if method in COUNTED_METHODS else "other"
