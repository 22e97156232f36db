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


def test_a_late_packet_between_removed_ones_is_withheld() -> None:
    # Found by the oracle property test: 11 and 13 removed, 12 (audio from before the
    # span, arrived late) forwarded between them closed the cut short of 13, and a later
    # cut then renumbered 15 onto 11, below the 12 already sent.
    s = SkipShift(11, last_forwarded=10)
    s.removed(11, 160 * 11)
    s.removed(13, 160 * 13)
    assert s.forward(12, 160 * 12, 160, lambda k: False) is None
    s.removed(14, 160 * 14)
    assert s.forward(15, 160 * 15, 160, lambda k: False) == (4, 160 * 4)  # 15 goes as 11


def test_a_duplicate_of_the_first_removed_packet_is_withheld() -> None:
    # Found by the oracle property test: 9 removed, then its duplicate forwarded (it
    # arrived after the span) went out as 9, and 12 closing the cut went out as 9 too.
    s = SkipShift(10, last_forwarded=8)
    s.removed(10, 1600)
    s.removed(9, 1440)
    assert s.forward(9, 1440, 160) is None
    assert s.forward(12, 1920, 160, lambda k: False) == (2, 320)  # 12 goes as 10
    assert s.forward(11, 1760, 160) == (2, 320)  # 11 goes as 9: order kept


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
