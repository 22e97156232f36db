"""Codec facts: clock rate, gating granularity, duration, silence (SPEC §3 codecs). Pure media code.

Rules:
1. Sample codecs (G.711, L16) are gated to the sample: ``bytes_per_sample`` per
   channel, silence is ``silence_byte`` repeated (L16: zeros).
2. Frame codecs (G.722, Opus) are gated by whole packets; ``samples(payload)``
   gives a packet's duration in RTP clock ticks and ``silence(payload)`` a
   payload of the same duration that decodes to silence.
3. telephone-event (RFC 4733) and comfort noise (RFC 3389) are special: the
   gate handles them itself (``is_dtmf``, ``is_cn``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pausegate_codecs import opus

# G.722 at steady state encodes digital silence as 0xFA (checked against an
# independent decoder: peak below -44 dBFS). One byte is one RTP clock tick
# (RFC 3551 §4.5.2: 8000 Hz RTP clock, 64 kbit/s).
G722_SILENCE_BYTE = 0xFA


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

    @property
    def bytes_per_tick(self) -> int:
        """Bytes of payload per RTP clock tick (all channels); 0 when not constant."""
        if self.sample_gated:
            return self.bytes_per_sample * self.channels
        if self.name == "G722":
            return 1
        return 0

    @property
    def can_silence(self) -> bool:
        """True when ``silence`` can stand in for a payload of this codec."""
        return self.silence_byte is not None or self.name == "OPUS"

    def samples(self, payload: bytes | memoryview) -> int:
        """Duration of one payload in RTP clock ticks (0 when unknown or not audio)."""
        per_tick = self.bytes_per_tick
        if per_tick:
            return len(payload) // per_tick
        if self.name == "OPUS":
            return opus.packet_samples(payload)
        return 0

    def silence(self, payload_or_bytes: bytes | memoryview | int) -> bytes:
        """Silence of the same duration: for an int, that many payload bytes (sample codecs,
        G.722); for a frame codec's payload, a payload of the same duration."""
        if self.silence_byte is not None:
            n = payload_or_bytes if isinstance(payload_or_bytes, int) else len(payload_or_bytes)
            return silence_bytes(self.silence_byte, n)
        if self.name == "OPUS" and not isinstance(payload_or_bytes, int):
            return opus.silence_packet(payload_or_bytes)
        raise ValueError(f"codec {self.name} has no silence of that form")

    def silence_ticks(self, ticks: int) -> bytes:
        """A payload of ``ticks`` RTP clock ticks of silence (sample codecs, G.722, Opus)."""
        if self.name == "OPUS":
            return opus.silence_for(ticks)
        if self.silence_byte is None or not self.bytes_per_tick:
            raise ValueError(f"codec {self.name} has no tick-sized silence")
        return silence_bytes(self.silence_byte, ticks * self.bytes_per_tick)


_SILENCE_CACHE: dict[int, bytes] = {}
_CACHE_BYTES = 8192


def silence_bytes(fill: int, n: int) -> bytes:
    """``n`` bytes of ``fill``, sliced from a cached buffer."""
    buf = _SILENCE_CACHE.get(fill)
    if buf is None:
        buf = _SILENCE_CACHE[fill] = bytes([fill]) * _CACHE_BYTES
    if n <= _CACHE_BYTES:
        return buf[:n]
    return bytes([fill]) * n


PCMU = Codec("PCMU", 8000, sample_gated=True, bytes_per_sample=1, silence_byte=0xFF)
PCMA = Codec("PCMA", 8000, sample_gated=True, bytes_per_sample=1, silence_byte=0xD5)
G722 = Codec("G722", 8000, silence_byte=G722_SILENCE_BYTE)
L16_MONO_44100 = Codec("L16", 44100, sample_gated=True, bytes_per_sample=2, silence_byte=0)
L16_STEREO_44100 = Codec(
    "L16", 44100, channels=2, sample_gated=True, bytes_per_sample=2, silence_byte=0
)
OPUS = Codec("OPUS", 48000, channels=2)  # RFC 7587 §7: always opus/48000/2 in SDP
TELEPHONE_EVENT = Codec("TELEPHONE-EVENT", 8000, is_dtmf=True)
CN = Codec("CN", 8000, is_cn=True)

STATIC_PAYLOAD_TYPES: dict[int, Codec] = {
    0: PCMU,
    8: PCMA,
    9: G722,
    10: L16_STEREO_44100,
    11: L16_MONO_44100,
    13: CN,
}

_BY_NAME: dict[tuple[str, int, int], Codec] = {
    (c.name, c.clock_rate, c.channels): c
    for c in (PCMU, PCMA, G722, L16_MONO_44100, L16_STEREO_44100, OPUS, TELEPHONE_EVENT, CN)
}


def lookup(name: str, clock_rate: int, channels: int = 1) -> Codec | None:
    """The codec for an a=rtpmap encoding, or None when pausegate does not support it.

    L16, telephone-event and CN are known at any clock rate (RFC 3551 §4.5.11,
    RFC 4733 §7.1.1, RFC 3389 §5); the others at their registered rate only.
    """
    key = name.upper()
    codec = _BY_NAME.get((key, clock_rate, channels))
    if codec is not None:
        return codec
    if key == "L16" and clock_rate > 0 and 1 <= channels <= 8:
        return Codec("L16", clock_rate, channels, True, 2, 0)
    if channels == 1 and clock_rate > 0:
        if key == "TELEPHONE-EVENT":
            return Codec(key, clock_rate, is_dtmf=True)
        if key == "CN":
            return Codec(key, clock_rate, is_cn=True)
    return None
