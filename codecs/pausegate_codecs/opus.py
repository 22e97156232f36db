"""Opus packet framing facts (RFC 6716 §3.1-§3.2): duration and a silent packet. Pure media code.

Rules:
1. Only the TOC byte and, for code 3, the frame-count byte are read.
2. A silent packet keeps the original configuration and frame count with every
   frame zero bytes long: RFC 6716 §3.2.1 lets a frame be empty, which the
   decoder treats as a lost frame / DTX (concealment fading to silence).
"""

from __future__ import annotations

# Frame size in 48 kHz samples for each TOC configuration (RFC 6716 §3.1, Table 2).
_FRAME_SAMPLES: tuple[int, ...] = (
    (480, 960, 1920, 2880) * 3  # SILK NB, MB, WB: 10, 20, 40, 60 ms
    + (480, 960) * 2  # Hybrid SWB, FB: 10, 20 ms
    + (120, 240, 480, 960) * 4  # CELT NB, WB, SWB, FB: 2.5, 5, 10, 20 ms
)


def frame_count(payload: bytes | memoryview) -> int:
    """Frames in one Opus packet (0 when the packet is malformed)."""
    if not payload:
        return 0
    code = payload[0] & 0x03
    if code == 0:
        return 1
    if code in (1, 2):
        return 2
    if len(payload) < 2:
        return 0
    return payload[1] & 0x3F


def packet_samples(payload: bytes | memoryview) -> int:
    """Duration of one Opus packet in 48 kHz ticks (0 when malformed)."""
    if not payload:
        return 0
    return _FRAME_SAMPLES[payload[0] >> 3] * frame_count(payload)


def silence_for(samples_48k: int) -> bytes:
    """A silent packet of about ``samples_48k`` ticks in 20 ms CELT fullband frames (1-48)."""
    n = max(1, min(48, round(samples_48k / 960)))
    toc = 31 << 3  # configuration 31: CELT FB 20 ms
    return bytes((toc,)) if n == 1 else bytes((toc | 0x03, n))


def silence_packet(payload: bytes | memoryview) -> bytes:
    """A packet of the same duration whose frames are all empty (DTX)."""
    if not payload:
        return b""
    n = frame_count(payload)
    toc = payload[0] & 0xFC
    if n <= 1:
        return bytes((toc,))
    # Code 3, CBR, no padding: frame-count byte with M frames of (N-2)/M = 0 bytes.
    return bytes((toc | 0x03, n & 0x3F))
