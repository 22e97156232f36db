"""Codec facts: clock rate, gating granularity, silence (SPEC §3 codecs). Pure media code."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Codec:
    """What the gate needs to know about one RTP payload format."""

    name: str  # upper-case encoding name as in a=rtpmap, e.g. "PCMU", "TELEPHONE-EVENT"
    clock_rate: int  # RTP clock (G.722: 8000 per RFC 3551 §4.5.2)
    channels: int = 1
    sample_gated: bool = False  # True: gated to the sample (G.711, L16); else whole packets
    bytes_per_sample: int = 0  # for sample-gated codecs, per channel
    silence_byte: int | None = None  # fill byte for sample codecs (PCMU 0xFF, PCMA 0xD5, L16 0)
    is_dtmf: bool = False  # RFC 4733 telephone-event
    is_cn: bool = False  # RFC 3389 comfort noise


PCMU = Codec("PCMU", 8000, sample_gated=True, bytes_per_sample=1, silence_byte=0xFF)
PCMA = Codec("PCMA", 8000, sample_gated=True, bytes_per_sample=1, silence_byte=0xD5)
TELEPHONE_EVENT = Codec("TELEPHONE-EVENT", 8000, is_dtmf=True)
CN = Codec("CN", 8000, is_cn=True)

STATIC_PAYLOAD_TYPES: dict[int, Codec] = {0: PCMU, 8: PCMA, 13: CN}

_BY_NAME: dict[tuple[str, int], Codec] = {
    (c.name, c.clock_rate): c for c in (PCMU, PCMA, TELEPHONE_EVENT, CN)
}


def lookup(name: str, clock_rate: int, channels: int = 1) -> Codec | None:
    """The codec for an a=rtpmap encoding, or None when pausegate does not support it."""
    codec = _BY_NAME.get((name.upper(), clock_rate))
    if codec is None or codec.channels != channels:
        return None
    return codec
