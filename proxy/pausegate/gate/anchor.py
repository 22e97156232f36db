"""Windowed anchor from RTP timestamps to arrival time (SPEC §4; RFC 3550 §5.1). Core, no I/O.

Rules:
1. Samples map to time through a windowed anchor: offset = arrival - (ts_end / clock)
   per packet (the end of its samples, so no sample maps after its arrival); the
   anchor is the smallest offset over the last 1-2 s, re-seeded on an SSRC or
   clock change and on a jump over 1 s towards earlier mapping. Packets over 1 s
   later than the anchor (a delivery stall, a timestamp set back) keep the old anchor
   until the window adopts them: mapping them early only withholds more, as their
   arrival is checked too (rule 2, SPEC §1); over ``ANCHOR_RESET_S`` it re-seeds.
2. The stream keeps the fast-path table of its codecs on the anchor's clock
   (``_fast_bpt``): re-seeding on another clock switches it.
"""

from __future__ import annotations

ANCHOR_BLOCK_S = 1.0
ANCHOR_JUMP_S = 1.0
ANCHOR_RESET_S = 60.0


class Anchor:
    """State of rule 1, kept in slots of the stream (the fast path reads them inline)."""

    __slots__ = (
        "_a_cur",
        "_a_ext",
        "_a_offset",
        "_a_prev",
        "_a_rate",
        "_a_ssrc",
        "_a_ts",
        "_a_until",
        "_bpt_by_rate",
        "_fast_bpt",
    )

    def __init__(self) -> None:
        self._a_ssrc = -1
        self._a_rate = 0
        self._a_ts = self._a_ext = 0
        self._a_offset = self._a_cur = self._a_prev = self._a_until = 0.0
        self._bpt_by_rate: dict[int, dict[int, int]] = {}
        self._fast_bpt: dict[int, int] = {}

    def _observe(self, ssrc: int, ts: int, ticks: int, rate: int, arrival: float) -> float:
        """Feed one packet to the anchor; return the mapped time of its first tick."""
        if ssrc != self._a_ssrc or rate != self._a_rate:
            return self._seed(ssrc, ts, ticks, rate, arrival)
        d = ((ts - self._a_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        ext = self._a_ext + d
        if d > 0:
            self._a_ts = ts
            self._a_ext = ext
        off = arrival - (ext + ticks) / rate
        base = self._a_offset
        if off - base > ANCHOR_RESET_S or base - off > ANCHOR_JUMP_S:
            return self._seed(ssrc, ts, ticks, rate, arrival)
        if arrival >= self._a_until:
            self._a_prev = self._a_cur
            self._a_cur = off
            self._a_until = arrival + ANCHOR_BLOCK_S
            self._a_offset = base = min(self._a_prev, off)
        elif off < self._a_cur:
            self._a_cur = off
            if off < base:
                self._a_offset = base = off
        return base + ext / rate

    def _seed(self, ssrc: int, ts: int, ticks: int, rate: int, arrival: float) -> float:
        self._a_ssrc = ssrc
        self._a_rate = rate
        self._fast_bpt = self._bpt_by_rate.get(rate, {})
        self._a_ts = ts
        self._a_ext = 0
        off = arrival - ticks / rate
        self._a_offset = self._a_cur = self._a_prev = off
        self._a_until = arrival + ANCHOR_BLOCK_S
        return off
