"""G.711 mu-law and A-law (ITU-T G.711) on whole numpy arrays. Pure media code.

Rules:
1. Decoding is a 256-entry table lookup; encoding is vectorised segment search.
2. Inputs are 16-bit linear PCM (``np.int16``); outputs are ``bytes``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635


def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    b = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (b >> 4) & 0x07
    mantissa = b & 0x0F
    magnitude = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return np.where(b & 0x80, -magnitude, magnitude).astype(np.int16)


def _alaw_decode_table() -> npt.NDArray[np.int16]:
    b = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (b >> 4) & 0x07
    mant = b & 0x0F
    magnitude = np.where(seg == 0, (mant << 4) + 8, ((mant << 4) + 0x108) << np.maximum(seg - 1, 0))
    return np.where(b & 0x80, magnitude, -magnitude).astype(np.int16)


_ULAW_TABLE = _ulaw_decode_table()
_ALAW_TABLE = _alaw_decode_table()


def _as_u8(data: bytes | bytearray | memoryview) -> npt.NDArray[np.uint8]:
    return np.frombuffer(bytes(data), dtype=np.uint8)


def decode_ulaw(data: bytes | bytearray | memoryview) -> npt.NDArray[np.int16]:
    """mu-law bytes to 16-bit linear samples."""
    return _ULAW_TABLE[_as_u8(data)]


def decode_alaw(data: bytes | bytearray | memoryview) -> npt.NDArray[np.int16]:
    """A-law bytes to 16-bit linear samples."""
    return _ALAW_TABLE[_as_u8(data)]


def _segment(magnitude: npt.NDArray[np.int32], first_bit: int) -> npt.NDArray[np.int32]:
    """Index of the highest set bit above ``first_bit`` (0 when none), clipped to 7."""
    seg = np.zeros(magnitude.shape, dtype=np.int32)
    for s in range(1, 8):
        seg = np.where(magnitude >= (1 << (first_bit + s)), s, seg)
    return seg


def _linear(samples: npt.ArrayLike | bytes | bytearray | memoryview) -> npt.NDArray[np.int32]:
    """int16 samples as an array, or native-endian int16 bytes (``ndarray.tobytes()``)."""
    if isinstance(samples, bytes | bytearray | memoryview):
        return np.frombuffer(bytes(samples), dtype=np.int16).astype(np.int32)
    return np.asarray(samples, dtype=np.int32)


def encode_ulaw(samples: npt.ArrayLike | bytes | bytearray | memoryview) -> bytes:
    """16-bit linear samples (array or native int16 bytes) to mu-law bytes."""
    x = _linear(samples)
    sign = np.where(x < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), _ULAW_CLIP) + _ULAW_BIAS
    exponent = _segment(magnitude, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    code = ~(sign | (exponent << 4) | mantissa) & 0xFF
    out: bytes = code.astype(np.uint8).tobytes()
    return out


def encode_alaw(samples: npt.ArrayLike | bytes | bytearray | memoryview) -> bytes:
    """16-bit linear samples (array or native int16 bytes) to A-law bytes."""
    x = _linear(samples)
    mask = np.where(x >= 0, 0xD5, 0x55)
    magnitude = np.where(x >= 0, x, -x - 1) >> 3  # 13-bit magnitude, 0..4095
    seg = _segment(magnitude, 4)
    mant = np.where(seg == 0, magnitude >> 1, magnitude >> np.maximum(seg, 1)) & 0x0F
    code = ((seg << 4) | mant) ^ mask
    out: bytes = code.astype(np.uint8).tobytes()
    return out
