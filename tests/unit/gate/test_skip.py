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
    # 15 is missing and its time falls in the span: it counts as cut.
    shift = s.forward(16, 160 * 16, 160, lambda k: k == 1)
    assert shift is not None
    s.removed(15, 160 * 15)  # arrives after 16 was forwarded
    shift17 = s.forward(17, 160 * 17, 160)
    assert shift17 is not None
    assert (16 - shift[0], 17 - shift17[0]) == (5, 6)


def test_a_missing_packet_after_the_span_keeps_its_number() -> None:
    s = SkipShift(5)
    for seq in range(5, 16):
        s.removed(seq, 160 * seq)
    # 17 overtakes 16, which is after the span: room is left for it.
    shift17 = s.forward(17, 160 * 17, 160, lambda k: False)
    shift16 = s.forward(16, 160 * 16, 160)
    assert shift17 == shift16 == (11, 160 * 11)


def test_a_packet_in_a_closed_gap_is_withheld() -> None:
    s = SkipShift(5)
    s.removed(5, 800)
    shift = s.forward(7, 1120, 160, lambda k: True)  # 6 predicted cut: 7 follows on as 5
    assert shift == (2, 320)
    assert s.forward(6, 960, 160) is None  # 6 was not cut after all: no number left


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
