"""Codec facts: lookup, static payload types, durations and silence (SPEC §3)."""

from __future__ import annotations

import pytest

from pausegate_codecs import opus
from pausegate_codecs.registry import (
    CN,
    G722,
    OPUS,
    PCMA,
    PCMU,
    STATIC_PAYLOAD_TYPES,
    TELEPHONE_EVENT,
    lookup,
)


def test_static_payload_types() -> None:
    assert STATIC_PAYLOAD_TYPES[0] is PCMU
    assert STATIC_PAYLOAD_TYPES[8] is PCMA
    assert STATIC_PAYLOAD_TYPES[9] is G722
    assert STATIC_PAYLOAD_TYPES[13] is CN
    assert STATIC_PAYLOAD_TYPES[10].channels == 2
    assert STATIC_PAYLOAD_TYPES[11].clock_rate == 44100


def test_lookup() -> None:
    assert lookup("pcmu", 8000) is PCMU
    assert lookup("G722", 8000) is G722  # RFC 3551 §4.5.2: 8000 although 16 kHz audio
    assert lookup("opus", 48000, 2) is OPUS
    assert lookup("telephone-event", 8000) is TELEPHONE_EVENT
    assert lookup("telephone-event", 48000) == TELEPHONE_EVENT.__class__(
        "TELEPHONE-EVENT", 48000, is_dtmf=True
    )
    l16 = lookup("L16", 16000)
    assert l16 is not None
    assert l16.sample_gated
    assert l16.bytes_per_tick == 2
    assert lookup("PCMU", 16000) is None
    assert lookup("GSM", 8000) is None


def test_sample_codec_silence_and_duration() -> None:
    assert PCMU.silence(3) == b"\xff\xff\xff"
    assert PCMA.silence(b"abc") == b"\xd5\xd5\xd5"
    assert PCMU.samples(b"x" * 160) == 160
    l16 = lookup("L16", 8000, 2)
    assert l16 is not None
    assert l16.samples(b"x" * 640) == 160
    assert l16.silence_ticks(2) == b"\x00" * 8
    assert PCMU.silence(20000) == b"\xff" * 20000


def test_g722_frame_codec() -> None:
    assert not G722.sample_gated
    assert G722.samples(b"x" * 160) == 160  # one byte per RTP tick
    assert G722.silence(b"x" * 160) == b"\xfa" * 160


@pytest.mark.parametrize(
    ("toc", "extra", "samples"),
    [
        (0x08, b"", 960),  # SILK NB 20 ms, code 0
        (0xF8, b"", 960),  # CELT FB 20 ms
        (0xF9, b"", 1920),  # code 1: two frames
        (0xF3, bytes([3]), 3 * 480),  # CELT FB 10 ms (config 30), code 3, 3 frames
        (0xE3, bytes([3]), 3 * 120),  # CELT FB 2.5 ms (config 28)
        (0x00, b"", 480),  # SILK NB 10 ms
    ],
)
def test_opus_duration(toc: int, extra: bytes, samples: int) -> None:
    pkt = bytes([toc]) + extra + b"\x00" * 20
    assert opus.packet_samples(pkt) == samples
    assert OPUS.samples(pkt) == samples
    silent = OPUS.silence(pkt)
    assert opus.packet_samples(silent) == samples
    assert silent[-2:] == b"\xff\xfe"


def test_opus_malformed_and_silence_for() -> None:
    assert opus.packet_samples(b"") == 0
    assert opus.packet_samples(b"\x03") == 0
    assert opus.silence_packet(b"") == b""
    assert opus.packet_samples(opus.silence_for(960)) == 960
    assert opus.packet_samples(opus.silence_for(1920)) == 1920
    assert OPUS.silence_ticks(960) == b"\xf8\xff\xfe"


def test_special_codecs_cannot_be_silenced() -> None:
    assert CN.is_cn
    assert not CN.can_silence
    assert TELEPHONE_EVENT.is_dtmf
    assert TELEPHONE_EVENT.samples(b"1234") == 0
    with pytest.raises(ValueError, match="no silence"):
        CN.silence(b"x")
    with pytest.raises(ValueError, match="no tick-sized"):
        CN.silence_ticks(1)
