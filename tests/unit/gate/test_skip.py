"""SkipShift: piecewise shifts that keep a skipped stream continuous and unique (SPEC §4 skip)."""

from __future__ import annotations

from pausegate.gate.skip import SkipShift


def test_first_packet_after_a_cut_follows_on_where_the_cut_began() -> None:
    s = SkipShift(5)
    for seq in range(5, 16):
        s.removed(seq, 160 * seq)
    assert s.forward(16, 160 * 16) == (11, 160 * 11)
    assert s.forward(17, 160 * 17) == (11, 160 * 11)
    assert s.forward(3, 160 * 3) == (0, 0)  # a late packet from before the cut
    assert s.total() == (11, 160 * 11)


def test_late_removal_changes_nothing_already_sent() -> None:
    s = SkipShift(5)
    for seq in range(5, 15):
        s.removed(seq, 160 * seq)
    out16 = 16 - s.forward(16, 160 * 16)[0]
    s.removed(15, 160 * 15)  # arrives after 16 was forwarded
    out17 = 17 - s.forward(17, 160 * 17)[0]
    assert (out16, out17) == (5, 6)


def test_sequence_wrap_and_two_cuts() -> None:
    s = SkipShift(65534)
    s.removed(65534, 100)
    s.removed(65535, 260)
    assert s.forward(0, 420) == (2, 320)  # 0 follows 65533 as 65534
    s.removed(5, 1220)
    s.removed(6, 1380)
    shift = s.forward(7, 1540)
    assert shift == (4, 640)
    assert (7 - shift[0]) & 0xFFFF == 3
