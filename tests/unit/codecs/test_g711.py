"""G.711 mu-law/A-law round trips and known values (ITU-T G.711)."""

from __future__ import annotations

import numpy as np
import pytest

from pausegate_codecs.g711 import decode_alaw, decode_ulaw, encode_alaw, encode_ulaw


def test_alaw_every_byte_round_trips() -> None:
    codes = bytes(range(256))
    assert encode_alaw(decode_alaw(codes)) == codes


def test_ulaw_every_byte_round_trips_except_negative_zero() -> None:
    codes = bytes(b for b in range(256) if b != 0x7F)  # 0x7F and 0xFF both decode to 0
    assert encode_ulaw(decode_ulaw(codes)) == codes
    assert encode_ulaw(decode_ulaw(b"\x7f")) == b"\xff"


@pytest.mark.parametrize(
    ("value", "ulaw", "alaw"),
    [(0, 0xFF, 0xD5), (-1, 0x7F, 0x55), (32767, 0x80, 0xAA), (-32768, 0x00, 0x2A)],
)
def test_known_codes(value: int, ulaw: int, alaw: int) -> None:
    assert encode_ulaw(np.array([value], dtype=np.int16)) == bytes([ulaw])
    assert encode_alaw(np.array([value], dtype=np.int16)) == bytes([alaw])


def test_silence_bytes_decode_to_near_zero() -> None:
    assert decode_ulaw(b"\xff" * 4).tolist() == [0, 0, 0, 0]
    assert decode_alaw(b"\xd5" * 4).tolist() == [8, 8, 8, 8]


@pytest.mark.parametrize(("enc", "dec"), [(encode_ulaw, decode_ulaw), (encode_alaw, decode_alaw)])
def test_quantisation_error_is_bounded(enc, dec) -> None:  # type: ignore[no-untyped-def]
    x = np.arange(-30000, 30000, 7, dtype=np.int16)
    y = dec(enc(x)).astype(np.int32)
    err = np.abs(y - x.astype(np.int32))
    assert (err <= np.maximum(np.abs(x.astype(np.int32)) // 16, 16)).all()


def test_encode_accepts_native_int16_bytes() -> None:
    x = np.array([0, 1000, -1000, 12345], dtype=np.int16)
    assert encode_ulaw(x.tobytes()) == encode_ulaw(x)
    assert encode_alaw(x.tobytes()) == encode_alaw(x)
    assert decode_ulaw(encode_ulaw(x)).dtype == np.int16
