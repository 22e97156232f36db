"""pausegate_codecs round trips (Hypothesis): G.711, RFC 4733, Opus silence durations."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from pausegate_codecs import opus
from pausegate_codecs.dtmf import DtmfEvent
from pausegate_codecs.g711 import decode_alaw, decode_ulaw, encode_alaw, encode_ulaw


@given(st.binary(max_size=400))
def test_alaw_bytes_round_trip(data: bytes) -> None:
    assert encode_alaw(decode_alaw(data)) == data


@given(st.binary(max_size=400))
def test_ulaw_bytes_round_trip_up_to_negative_zero(data: bytes) -> None:
    assert encode_ulaw(decode_ulaw(data)) == data.replace(b"\x7f", b"\xff")


@given(st.lists(st.integers(-32768, 32767), max_size=200))
def test_encode_decode_is_idempotent(samples: list[int]) -> None:
    x = np.array(samples, dtype=np.int16)
    for enc, dec in ((encode_ulaw, decode_ulaw), (encode_alaw, decode_alaw)):
        once = dec(enc(x))
        assert np.array_equal(dec(enc(once)), once)


@given(st.integers(0, 255), st.booleans(), st.integers(0, 63), st.integers(0, 0xFFFF))
def test_dtmf_round_trip(event: int, end: bool, volume: int, duration: int) -> None:
    ev = DtmfEvent(event, end, volume, duration)
    assert DtmfEvent.parse(bytes(ev)) == ev


@given(st.integers(0, 255), st.integers(0, 63), st.binary(max_size=30))
def test_opus_silence_keeps_the_duration(toc: int, count: int, body: bytes) -> None:
    pkt = bytes([toc, count]) + body
    n = opus.packet_samples(pkt)
    silent = opus.silence_packet(pkt)
    if n == 0:
        assert silent == b""
    elif n <= 5760:  # RFC 6716 §3.2.5: at most 120 ms per packet
        assert opus.packet_samples(silent) == n
