"""RFC 4733 events through the gate (SPEC §4 DTMF) with hand-computed values.

Timing as in test_stream_gate: slot i (seq i) arrives at 0.02*(i+1); audio slot
i has ts 160*i. An event starting at slot a has ts 160*a; its packet at slot i
carries duration 160*(i-a+1); the end packet is sent three times.
"""

from __future__ import annotations

from tests.unit.gate.support import Harness, dtmf, rtp

from pausegate.control.commands import Behaviour
from pausegate.gate import GateConfig
from pausegate.rtp.packet import RtpHeader


def audio(h: Harness, first: int, last: int) -> None:
    for i in range(first, last):
        h.release(rtp(i, 160 * i), 0.02 * (i + 1))


def event(
    h: Harness, start: int, end: int, began: int | None = None
) -> list[tuple[bytes, bytes | None]]:
    """Slots start..end-1 carry the event begun at slot ``began`` (default ``start``);
    three end packets at slot end-1."""
    out = []
    seq = start
    a = start if began is None else began
    for i in range(start, end):
        copies = 3 if i == end - 1 else 1
        for c in range(copies):
            data = dtmf(seq, 160 * a, 160 * (i - a + 1), end=i == end - 1)
            out.append((data, h.release(data, 0.02 * (i + 1) + 0.001 * c)))
            seq += 1
    return out


def test_event_that_began_before_the_pause_is_withheld_with_its_end_packets() -> None:
    h = Harness()
    audio(h, 0, 40)  # up to now = 1.0
    first = dtmf(40, 160 * 40, 160)
    assert h.release(first, 0.82) == first  # leaves at 1.02, before the pause is known
    h.command(1.03, "pause")  # effective 1.03: the event (from 0.80) is still going
    out = event(h, 41, 50, began=40)
    assert all(sent is not None for _, sent in out)
    for data, sent in out:
        assert sent is not None
        hdr, payload = RtpHeader.parse(sent)
        src, _ = RtpHeader.parse(data)
        assert hdr.payload_type == 0  # silence of the stream's audio payload type
        assert hdr.sequence == src.sequence
        assert payload == b"\xff" * 160
    # SPEC §4: ts = event ts + duration - one packet; slot 49 carries duration 160*10
    _, last_sent = out[-1]
    assert last_sent is not None
    assert RtpHeader.parse(last_sent)[0].timestamp == 160 * 40 + 160 * 10 - 160
    assert h.stream.dtmf_withheld == len(out)


def test_event_inside_the_pause_that_ends_after_the_resume_is_withheld_whole() -> None:
    h = Harness(config=GateConfig(behaviour=Behaviour.DROP))
    audio(h, 0, 30)
    h.command(0.8, "pause")
    audio(h, 30, 45)
    h.command(1.2, "resume")  # the event runs 0.90 .. 1.50
    out = event(h, 45, 75)
    assert [sent for _, sent in out] == [None] * len(out)
    audio(h, 76, 80)
    after = rtp(80, 160 * 80)
    assert h.release(after, 1.62) is after  # audio after the event flows again


def test_event_before_the_pause_leaves_untouched() -> None:
    h = Harness()
    audio(h, 0, 20)
    out = event(h, 20, 25)
    assert all(sent is data for data, sent in out)
    h.command(2.0, "pause")
    assert h.stream.dtmf_withheld == 0


def test_event_during_a_pause_is_removed_under_skip() -> None:
    h = Harness(config=GateConfig(behaviour=Behaviour.SKIP))
    h.command(0.0, "pause")
    out = event(h, 0, 5)
    assert all(sent is None for _, sent in out)
    h.command(0.5, "resume")
    nxt = rtp(7, 160 * 40)
    sent = h.release(nxt, 0.82)
    assert sent is not None
    assert RtpHeader.parse(sent)[0].sequence == 0  # seven event packets removed


def test_events_running_ahead_of_the_audio_do_not_drag_the_anchor() -> None:
    h = Harness()
    audio(h, 0, 20)
    # An event from slot 20 whose packets claim one packet more than has elapsed.
    for j in range(5):
        h.release(dtmf(20 + j, 160 * 20, 160 * (j + 2)), 0.02 * (21 + j))
    audio(h, 25, 30)  # released up to now = 0.80
    h.command(0.8, "pause", at_s=0.7)
    out: dict[int, bytes | None] = {}
    resumed = False
    for i in range(30, 50):
        arrival = 0.02 * (i + 1)
        if arrival + 0.2 > 0.845 and not resumed:
            h.command(0.845, "resume")  # effective 0.845: packet 42 holds 0.84 .. 0.86
            resumed = True
        out[i] = h.release(rtp(i, 160 * i), arrival)
    p42 = out[42]
    assert p42 is not None
    assert p42[12:] == b"\xff" * 40 + b"\x11" * 120  # not one packet more
    assert out[43] == rtp(43, 160 * 43)
