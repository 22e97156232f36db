"""Call-level data passed between the SIP side and the media side (docs/architecture.md). Core."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from pausegate_codecs.registry import Codec

Address = tuple[str, int]


class Direction(enum.StrEnum):
    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"


@dataclass(frozen=True, slots=True)
class StreamOffer:
    """One audio m-line that telephony offered (what pausegate will receive)."""

    label: str  # SIPREC a=label, else the m-line index as text
    rtp: Address | None  # None when the port is 0 or the address is unspecified (hold)
    rtcp: Address | None  # a=rtcp (RFC 3605) or rtp port + 1; None with rtcp-mux
    rtcp_mux: bool
    codecs: Mapping[int, Codec]  # payload type -> codec, in offer order, supported ones only
    direction: Direction = Direction.SENDRECV


@dataclass(frozen=True, slots=True)
class LocalStream:
    """The ports pausegate allocated for one stream."""

    ingress_rtp_port: int  # advertised to telephony in the answer
    ingress_rtcp_port: int
    egress_rtp_port: int  # advertised to the recorder in our offer
    egress_rtcp_port: int


@dataclass(frozen=True, slots=True)
class StreamAnswer:
    """Where the recorder wants one stream (from its SDP answer)."""

    label: str
    rtp: Address | None
    rtcp: Address | None
    rtcp_mux: bool
    codecs: Mapping[int, Codec] = field(default_factory=dict)
