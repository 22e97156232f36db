"""Header shifts for `skip` on one SSRC: a continuous, shorter stream (SPEC §4 skip). Core, no I/O.

Rules:
1. Sequence numbers are unwrapped to extended numbers (RFC 3550 §A.1 style).
2. A cut opens with the first removed packet beyond everything forwarded so far;
   its sequence number and timestamp (as the recorder would have seen them) are
   where the recording continues.
3. The first packet forwarded beyond an open cut closes it: from that packet on,
   the shift makes it follow on exactly where the cut began (gaps next to the cut
   close too). Shifts are piecewise constant over extended sequence numbers, so
   a reordered packet uses the shift of its own position.
4. A removed packet at or below the highest forwarded one (reordering) changes
   nothing: what was sent cannot be renumbered, so no two forwarded packets
   share a sequence number.
"""

from __future__ import annotations

import bisect

from pausegate.rtp.packet import seq_diff


class SkipShift:
    __slots__ = ("_from", "_fwd_hi", "_hi", "_open", "_shifts")

    def __init__(self, first_seq: int) -> None:
        self._hi = first_seq  # highest extended sequence number seen
        self._fwd_hi = -1 << 62  # highest extended sequence number forwarded
        self._from: list[int] = [-(1 << 62)]  # extended seq where each shift starts
        self._shifts: list[tuple[int, int]] = [(0, 0)]  # (seq, ts) subtracted from there on
        self._open: tuple[int, int] | None = None  # (extended seq, ts) where the cut began

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
        if self._open is None or ext < self._open[0]:
            self._open = (ext, ts)

    def forward(self, seq: int, ts: int) -> tuple[int, int]:
        """(seq, ts) to subtract from a packet that is sent."""
        ext = self._extend(seq)
        cut = self._open
        if cut is not None and ext > cut[0]:
            s_prev, t_prev = self._at(cut[0])
            shift = (ext - cut[0] + s_prev, (ts - cut[1] + t_prev) & 0xFFFFFFFF)
            self._from.append(ext)
            self._shifts.append(shift)
            self._open = None
        if ext > self._fwd_hi:
            self._fwd_hi = ext
        return self._at(ext)

    def total(self) -> tuple[int, int]:
        """The shift in force now (for RTCP sender reports)."""
        return self._shifts[-1]
