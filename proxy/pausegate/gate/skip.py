"""Header shifts for `skip` on one SSRC: a continuous, shorter stream (SPEC §4 skip). Core, no I/O.

Rules:
1. Sequence numbers are unwrapped to extended numbers (RFC 3550 §A.1 style).
2. A cut opens with the first removed packet beyond everything forwarded so far;
   its sequence number and timestamp (as the recorder would have seen them) are
   where the recording continues.
3. The first packet forwarded beyond an open cut closes it. Packets missing
   between the last removed one and it count as cut when their time (stepped
   back from it, one packet duration each) touches a span; the recording
   continues at the first one that does not. Shifts are piecewise constant over
   extended sequence numbers, so a packet that arrives late uses the shift of its
   own position.
4. A removed packet at or below the highest forwarded one (reordering) changes
   nothing: what was sent cannot be renumbered. A forwarded packet that falls in
   a gap already closed has no number left: it is withheld (SPEC §1 allows more).
   So is one that falls inside the open cut (from its first removed packet to its
   last: a late or duplicate packet among removed ones): sending it would give its
   number twice or close the cut short of packets already removed beyond it.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from pausegate.rtp.packet import seq_diff

_MASK32 = 0xFFFFFFFF


class SkipShift:
    __slots__ = ("_closed", "_cut_hi", "_from", "_fwd_hi", "_hi", "_open", "_shifts")

    def __init__(self, first_seq: int, last_forwarded: int | None = None) -> None:
        self._hi = first_seq  # highest extended sequence number seen
        self._fwd_hi = -1 << 62  # highest extended sequence number forwarded
        if last_forwarded is not None:  # what left before the first removal (rule 4)
            self._fwd_hi = first_seq + seq_diff(last_forwarded, first_seq)
            self._hi = max(self._hi, self._fwd_hi)
        self._from: list[int] = [-(1 << 62)]  # extended seq where each shift starts
        self._shifts: list[tuple[int, int]] = [(0, 0)]  # (seq, ts) subtracted from there on
        self._open: tuple[int, int] | None = None  # (extended seq, ts) where the cut began
        self._cut_hi = 0  # highest extended seq removed in the open cut
        self._closed: list[tuple[int, int]] = []  # [start, end) of closed gaps

    def _extend(self, seq: int) -> int:
        ext = self._hi + seq_diff(seq, self._hi & 0xFFFF)
        if ext > self._hi:
            self._hi = ext
        return ext

    def _at(self, ext: int) -> tuple[int, int]:
        return self._shifts[bisect.bisect_right(self._from, ext) - 1]

    def removed(self, seq: int, ts: int) -> None:
        ext = self._extend(seq)
        if ext <= self._fwd_hi:
            return  # rule 4
        if self._open is None:
            self._open = (ext, ts)
            self._cut_hi = ext
        elif ext < self._open[0]:
            self._open = (ext, ts)
        elif ext > self._cut_hi:
            self._cut_hi = ext

    def forward(
        self, seq: int, ts: int, ticks: int = 0, cut_before: Callable[[int], bool] | None = None
    ) -> tuple[int, int] | None:
        """(seq, ts) to subtract from a packet that is sent, or None: withhold it (rule 4).
        ``cut_before(k)``: would the packet k packets before this one be cut?"""
        ext = self._extend(seq)
        cut = self._open
        if cut is not None and cut[0] <= ext <= self._cut_hi:
            return None  # rule 4: inside the open cut
        if cut is not None and ext > cut[0]:
            first = self._cut_hi + 1
            while first < ext and cut_before is not None and cut_before(ext - first):
                first += 1
            s_prev, t_prev = self._at(cut[0])
            ts_first = ts - (ext - first) * ticks
            shift = (first - cut[0] + s_prev, (ts_first - cut[1] + t_prev) & _MASK32)
            self._from.append(first)
            self._shifts.append(shift)
            self._closed.append((cut[0], first))
            self._open = None
        elif any(a <= ext < b for a, b in self._closed[-4:]):
            return None
        if ext > self._fwd_hi:
            self._fwd_hi = ext
        return self._at(ext)

    def total(self) -> tuple[int, int]:
        """The shift in force now (for RTCP sender reports)."""
        return self._shifts[-1]
