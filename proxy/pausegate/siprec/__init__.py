"""pausegate.siprec: SIPREC bodies, multipart/mixed (RFC 2046) and recording metadata (RFC 7865)."""

from pausegate.siprec.metadata import (
    MetaSession,
    MetaStream,
    Participant,
    RecordingMetadata,
    agent_from_metadata,
    aor_user,
    call_keys,
    parse_metadata,
)
from pausegate.siprec.multipart import (
    BodyPart,
    SiprecError,
    build_multipart,
    parse_multipart,
    split_siprec_body,
)

__all__ = [
    "BodyPart",
    "MetaSession",
    "MetaStream",
    "Participant",
    "RecordingMetadata",
    "SiprecError",
    "agent_from_metadata",
    "aor_user",
    "build_multipart",
    "call_keys",
    "parse_metadata",
    "parse_multipart",
    "split_siprec_body",
]
