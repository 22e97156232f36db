"""Opus packet framing facts (RFC 6716 §3.1-§3.2): duration and a silent packet. Pure media code.

Rules:
1. Only the TOC byte and, for code 3, the frame-count byte are read.
2. Silence is the encoded CELT fullband silence frame ``FF FE`` (checked with an
   independent decoder: digital zero from the second packet, the first carrying
   the codec's overlap). Empty frames are not used: decoders treat them as lost
   and conceal, extrapolating the audio before the pause for about 100 ms.
3. A silent packet has the same duration as the packet it replaces: CELT
   fullband frames of the same size (2.5-20 ms), or 20 ms frames for SILK's
   40 and 60 ms frames, packed with code 0, 1 or 3 (RFC 6716 §3.2).
"""

from __future__ import annotations

# Frame size in 48 kHz samples for each TOC configuration (RFC 6716 §3.1, Table 2).
_FRAME_SAMPLES: tuple[int, ...] = (
    (480, 960, 1920, 2880) * 3  # SILK NB, MB, WB: 10, 20, 40, 60 ms
    + (480, 960) * 2  # Hybrid SWB, FB: 10, 20 ms
    + (120, 240, 480, 960) * 4  # CELT NB, WB, SWB, FB: 2.5, 5, 10, 20 ms
)
_CELT_FB_CONFIG = {120: 28, 240: 29, 480: 30, 960: 31}
_SILENT_FRAME = b"\xff\xfe"
MAX_FRAMES = 48  # RFC 6716 §3.2.5: at most 120 ms per packet


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


def _pack(config: int, stereo: int, n: int) -> bytes:
    toc = (config << 3) | stereo
    if n <= 1:
        return bytes((toc,)) + _SILENT_FRAME
    if n == 2:
        return bytes((toc | 0x01,)) + _SILENT_FRAME * 2
    return bytes((toc | 0x03, n)) + _SILENT_FRAME * n  # code 3, CBR, no padding


def silence_for(samples_48k: int) -> bytes:
    """A silent packet of about ``samples_48k`` ticks in 20 ms CELT fullband frames (1-48)."""
    n = max(1, min(MAX_FRAMES, round(samples_48k / 960)))
    return _pack(31, 0, n)


def silence_packet(payload: bytes | memoryview) -> bytes:
    """A silent packet of the same duration as ``payload`` (rule 3); b"" when malformed."""
    n = frame_count(payload)
    if not n:
        return b""
    size = _FRAME_SAMPLES[payload[0] >> 3]
    stereo = payload[0] & 0x04
    config = _CELT_FB_CONFIG.get(size)
    if config is None:  # SILK 40/60 ms frames: 20 ms CELT frames instead
        n *= size // 960
        config = 31
    return _pack(config, stereo, min(n, MAX_FRAMES))
