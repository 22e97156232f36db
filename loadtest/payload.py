"""Load harness: RTP packets whose header and payload name the input packet they came from. No I/O.

Rules:
1. Stream ``s`` (global index over the run) has SSRC ``SSRC_BASE | s``; packet ``i``
   of the run's 20 ms grid has sequence ``seq_base(s) + i`` and timestamp
   ``ts_base(s) + 160 i``, so header fields alone give (s, i), which pausegate must
   pass unchanged (SPEC §3).
2. The 160 PCMU bytes: 0-3 carry ``s`` and 4-7 carry ``i`` in 7-bit groups, 8-11 the
   send time (10 µs units since the run's ``t0``), 12-159 a pseudo-random row of
   ``TABLE`` chosen by (s, i). No byte is ever 0xFF, PCMU silence, so every
   received sample is either the original, silence, or wrong ("bad").
3. Vectorised over numpy batches: the generator fills, the sink classifies.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

HEADER = 12
SAMPLES = 160  # 20 ms of PCMU at 8000 Hz
PACKET = HEADER + SAMPLES
PTIME_S = 0.020
SLOTS = 20  # 1 ms send slots per packet period: stream s goes out in slot s % 20
SSRC_BASE = 0x5A000000
MAX_STREAMS = 1 << 20
SILENCE = 0xFF
TIME_UNIT_S = 1e-5
_P = 4093
TABLE: npt.NDArray[np.uint8] = np.random.default_rng(20261203).integers(
    0, SILENCE, size=(_P, SAMPLES - 12), dtype=np.uint8
)

I64 = npt.NDArray[np.int64]


def seq_base(s: npt.ArrayLike) -> I64:
    return (np.asarray(s, np.int64) * 7919) & 0xFFFF


def ts_base(s: npt.ArrayLike) -> I64:
    return (np.asarray(s, np.int64) * 2654435761) & 0x7FFFFFFF


def _groups7(values: I64) -> npt.NDArray[np.uint8]:
    """(n,) -> (n, 4) little-endian 7-bit groups (each byte < 0x80)."""
    shifts = np.array([0, 7, 14, 21], np.int64)
    return ((values[:, None] >> shifts) & 0x7F).astype(np.uint8)


def _ungroup7(groups: npt.NDArray[np.uint8]) -> I64:
    g = groups.astype(np.int64)
    return g[:, 0] | (g[:, 1] << 7) | (g[:, 2] << 14) | (g[:, 3] << 21)


HEAD = HEADER + 12  # header plus the fingerprint: what the generator writes per packet
BODY = SAMPLES - 12
_FULL = np.zeros((_P, SAMPLES), np.uint8)
_FULL[:, 12:] = TABLE
TABLE64 = _FULL.view("<u8")  # (P, 20): expected payload words, fingerprint words zero
_TIME_MASK = np.uint64(0xFFFFFFFF00000000)  # word 1: bytes 8-11 (send time) masked out
_ALL_SILENT = np.uint64(0xFFFFFFFFFFFFFFFF)


def body_row(streams: I64, index: I64 | int) -> I64:
    return (streams * 31 + index) % _P


def body_addresses(streams: I64, index: I64 | int) -> npt.NDArray[np.uint64]:
    """Addresses of the TABLE rows that are the bodies of packet ``index`` of ``streams``."""
    rows = body_row(streams, index).astype(np.uint64)
    return np.uint64(TABLE.ctypes.data) + rows * np.uint64(BODY)


def init_headers(buf: npt.NDArray[np.uint8], streams: I64) -> None:
    """Static header bytes (V=2, PT 0 PCMU, SSRC) and fingerprint of the stream."""
    buf[streams, 0] = 0x80
    buf[streams, 1] = 0
    ssrc = (SSRC_BASE | streams).astype(">u4").view(np.uint8).reshape(-1, 4)
    buf[streams, 8:12] = ssrc
    buf[streams, HEADER : HEADER + 4] = _groups7(streams)


def _word7(values: I64 | int) -> I64 | int:
    """Four little-endian 7-bit groups as one uint32 value (what ``_groups7`` writes)."""
    return (
        (values & 0x7F)
        | (((values >> 7) & 0x7F) << 8)
        | (((values >> 14) & 0x7F) << 16)
        | (((values >> 21) & 0x7F) << 24)
    )


def fill(buf: npt.NDArray[np.uint8], streams: I64, index: I64 | int, sent_units: int) -> None:
    """Write the head (header + fingerprint) of packet ``index`` of ``streams`` into ``buf``
    (rows of a multiple of 4 bytes); the body is ``TABLE[body_row]`` (sent from there, or
    copied by ``fill_full``)."""
    index = np.asarray(index, np.int64)
    buf.view(">u2")[streams, 1] = (seq_base(streams) + index) & 0xFFFF
    buf.view(">u4")[streams, 1] = (ts_base(streams) + index * SAMPLES) & 0xFFFFFFFF
    words = buf.view("<u4")
    words[streams, 4] = _word7(index)
    words[streams, 5] = _word7(sent_units)


def fill_full(buf: npt.NDArray[np.uint8], streams: I64, index: I64 | int, sent_units: int) -> None:
    """``fill`` plus the body, for a buffer of whole packets (tests)."""
    fill(buf, streams, index, sent_units)
    buf[streams, HEAD:PACKET] = TABLE[body_row(streams, index)]


def _fp_word(stream: I64, index: I64) -> npt.NDArray[np.uint64]:
    g = np.concatenate([_groups7(stream), _groups7(index)], axis=1)
    return np.ascontiguousarray(g).view("<u8")[:, 0]


class Classified:
    """Per received packet: stream, grid index, send time, sample counts and silent range."""

    __slots__ = ("bad", "first_sil", "index", "last_sil", "n_orig", "n_sil", "sent", "stream")

    def __init__(self, data: npt.NDArray[np.uint8], t0: float) -> None:
        n = len(data)
        ssrc = data[:, 8:12].copy().view(">u4")[:, 0].astype(np.int64)
        stream = ssrc - SSRC_BASE
        ts = data[:, 4:8].copy().view(">u4")[:, 0].astype(np.int64)
        index = ((ts - ts_base(stream)) & 0xFFFFFFFF) // SAMPLES
        pay = np.ascontiguousarray(data[:, HEADER:PACKET])
        words = pay.view("<u8")
        expected = TABLE64[body_row(stream, index)]
        expected[:, 0] = _fp_word(stream, index)
        diff = words ^ expected
        diff[:, 1] &= _TIME_MASK
        time_ok = ((pay[:, 8:12] & 0x80) == 0).all(axis=1)
        whole = ~diff.any(axis=1) & time_ok
        silent = (words == _ALL_SILENT).all(axis=1)
        self.stream = stream
        self.index = index
        self.n_orig = np.where(whole, SAMPLES, 0).astype(np.int16)
        self.n_sil = np.where(silent, SAMPLES, 0).astype(np.int16)
        self.bad = np.zeros(n, np.int16)
        self.first_sil = np.where(silent, 0, -1).astype(np.int16)
        self.last_sil = np.where(silent, SAMPLES - 1, -1).astype(np.int16)
        units = _ungroup7(pay[:, 8:12])
        self.sent = np.where(whole, t0 + units * TIME_UNIT_S, np.nan)
        mixed = np.flatnonzero(~whole & ~silent)
        if len(mixed):
            self._samples(pay[mixed], expected[mixed].view(np.uint8), mixed)

    def _samples(self, pay: npt.NDArray[np.uint8], expected: npt.NDArray[np.uint8],
                 rows: npt.NDArray[np.intp]) -> None:  # fmt: skip
        """Sample by sample, for packets that are neither whole nor all silence."""
        sil = pay == SILENCE
        orig = pay == expected
        orig[:, 8:12] = ~sil[:, 8:12] & (pay[:, 8:12] < 0x80)
        bad = ~(orig | sil)
        n_sil = sil.sum(axis=1)
        self.n_sil[rows] = n_sil
        self.n_orig[rows] = orig.sum(axis=1)
        self.bad[rows] = bad.sum(axis=1)
        any_sil = n_sil > 0
        self.first_sil[rows] = np.where(any_sil, sil.argmax(axis=1), -1)
        self.last_sil[rows] = np.where(any_sil, SAMPLES - 1 - sil[:, ::-1].argmax(axis=1), -1)


def header_ok(
    data: npt.NDArray[np.uint8], lengths: npt.NDArray[np.uint32]
) -> npt.NDArray[np.bool_]:
    """Rows that are well-formed harness packets (length, version, PT, SSRC range)."""
    ssrc = data[:, 8:12].copy().view(">u4")[:, 0].astype(np.int64)
    ok: npt.NDArray[np.bool_] = (
        (lengths == PACKET)
        & (data[:, 0] == 0x80)
        & ((data[:, 1] & 0x7F) == 0)
        & (ssrc >= SSRC_BASE)
        & (ssrc < SSRC_BASE + MAX_STREAMS)
    )
    return ok
