"""Gate core acceptance: commands, scopes, control loss, ledger, events, metrics (SPEC §4-§6)."""

from __future__ import annotations

import pytest
from tests.unit.gate.acceptance_sim import (
    CALL,
    SEQ0,
    SSRC,
    T0,
    TS0,
    Sim,
    audio,
    codecs,
    event,
    silenced,
    wall,
)

from pausegate.control.commands import Action, Command, Scope
from pausegate.gate import GateConfig, GateCore
from pausegate.gate.config import OnControlLoss
from pausegate.gate.events import CallStarted, CallStateChanged


def test_pause_stamped_in_the_past_covers_held_back_audio_and_leaks_nothing() -> None:
    sim = Sim.start()
    # Packets 0..8 (captured 1.00-1.18) leave before 1.4; the pause arrives at 1.4 stamped 1.25.
    outs = sim.packets(0, 8)
    assert all(o == audio(i) for i, o in enumerate(outs))
    sim.command(Action.PAUSE, received=1.4, at=1.25)
    outs = sim.packets(9, 20)
    # Packet 11 [1.22, 1.24) arrives at 1.24 < 1.25: forwarded; packet 12 [1.24, 1.26)
    # arrives at 1.26, inside the span: withheld whole (arrival rule).
    assert outs[11 - 9] == audio(11)
    assert all(silenced(o) for o in outs[12 - 9 :])
    ended = sim.end()
    assert ended.leaked_ms == 0.0
    assert ended.verified


def test_resume_takes_effect_no_earlier_than_received_and_gates_to_the_sample() -> None:
    sim = Sim.start()
    sim.command(Action.PAUSE, received=1.1)
    sim.packets(0, 3)
    # A resume stamped in the past is effective when received: 1.51, mid-packet 25.
    sim.command(Action.RESUME, received=1.51, at=1.3)
    outs = sim.packets(4, 30)
    out25 = outs[25 - 4]
    assert out25 is not None
    # Packet 25 holds [1.50, 1.52): samples before 1.51 (80 of them) stay silent.
    assert out25[12 : 12 + 80] == b"\xff" * 80
    assert out25[12 + 80 :] == b"\x11" * 80
    assert out25[:12] == audio(25)[:12]
    assert all(silenced(o) for o in outs[: 25 - 4])
    assert all(o == audio(i) for i, o in zip(range(26, 31), outs[26 - 4 :], strict=True))


def test_backdate_is_clamped_and_reported() -> None:
    sim = Sim.start(max_backdate_ms=500.0)
    sim.command(Action.PAUSE, received=3.0, at=1.0)
    changed = [e for e in sim.events if isinstance(e, CallStateChanged)]
    assert len(changed) == 1
    assert changed[0].paused
    assert changed[0].clamped
    assert changed[0].at_ms == pytest.approx(wall(2.5))


def test_guard_widens_the_span_on_both_sides() -> None:
    sim = Sim.start(guard_ms=30.0)
    sim.command(Action.PAUSE, received=1.3, at=1.2)
    sim.command(Action.RESUME, received=1.4)
    outs = sim.packets(0, 30)
    # Span [1.2, 1.4) widened to [1.17, 1.43).
    assert outs[7] == audio(7)  # [1.14, 1.16), arrives 1.16
    assert all(silenced(o) for o in outs[8:21])  # packet 8 arrives 1.18
    out21 = outs[21]  # [1.42, 1.44): its first 80 samples fall before 1.43
    assert out21 is not None
    assert out21[12:] == b"\xff" * 80 + b"\x11" * 80
    assert outs[22] == audio(22)  # [1.44, 1.46)


def test_commands_are_idempotent_by_id() -> None:
    sim = Sim.start()
    sim.command(Action.PAUSE, received=1.0, cmd_id="x")
    # The same id again, even with another action, changes nothing.
    sim.command(Action.RESUME, received=1.1, cmd_id="x")
    assert sim.core.call("call-1") is not None
    assert sim.core.call("call-1").paused  # type: ignore[union-attr]


def test_last_command_by_effective_time_wins_and_pause_wins_ties() -> None:
    sim = Sim.start()
    sim.command(Action.RESUME, received=1.2, at=1.2)
    sim.command(Action.PAUSE, received=1.2, at=1.2)  # same instant: pause wins
    gate = sim.core.call("desk-1")
    assert gate is not None
    assert gate.paused
    # A pause received later but stamped before the resume: the resume is later, it wins.
    sim.command(Action.RESUME, received=1.3)
    sim.command(Action.PAUSE, received=1.35, at=1.25)
    assert not gate.paused


def test_call_is_paused_while_call_or_agent_scope_is_paused() -> None:
    sim = Sim.start()
    sim.command(Action.PAUSE, received=1.0, scope=Scope.AGENT, key="agent-1")
    sim.command(Action.RESUME, received=1.1)  # call scope resumes; agent scope still paused
    gate = sim.core.call("call-1")
    assert gate is not None
    assert gate.paused


def test_call_starting_inside_an_agent_pause_starts_paused_and_leaks_nothing() -> None:
    core = GateCore(GateConfig(holdback_ms=200.0))
    cmd = Command(Action.PAUSE, None, "a1")
    core.apply_command(Scope.AGENT, "agent-1", cmd, 0.2, wall(0.2))
    gate, events = core.add_call(CALL, 0.5, wall(0.5))
    assert isinstance(events[0], CallStarted)
    assert events[0].paused
    stream = gate.add_stream("0", codecs())  # type: ignore[arg-type]
    outs = [
        stream.release_rtp(audio(i), T0 + 0.02 * (i + 1), T0 + 0.02 * i + 0.22) for i in range(10)
    ]
    assert all(silenced(o) for o in outs)
    ended = core.end_call(CALL.call_id, 3.0, wall(3.0))
    assert ended.leaked_ms == 0.0


def test_call_command_for_an_unknown_key_waits_for_the_call() -> None:
    core = GateCore(GateConfig(holdback_ms=200.0, pending_command_ttl_s=30.0))
    outcome = core.apply_command(
        Scope.CALL, "desk-1", Command(Action.PAUSE, None, "p"), 0.0, wall(0.0)
    )
    assert outcome.ok
    assert outcome.paused is None
    gate, events = core.add_call(CALL, 20.0, wall(20.0))
    assert gate.paused
    assert isinstance(events[0], CallStarted)
    assert events[0].paused


def test_pending_call_command_expires_after_its_ttl() -> None:
    core = GateCore(GateConfig(holdback_ms=200.0, pending_command_ttl_s=30.0))
    core.apply_command(Scope.CALL, "desk-1", Command(Action.PAUSE, None, "p"), 0.0, wall(0.0))
    core.handle_timer(31.0, wall(31.0))
    gate, _ = core.add_call(CALL, 31.0, wall(31.0))
    assert not gate.paused


def test_future_resume_is_reported_by_the_timer() -> None:
    sim = Sim.start()
    sim.command(Action.PAUSE, received=1.0)
    sim.command(Action.RESUME, received=1.1, at=2.0)
    gate = sim.core.call("call-1")
    assert gate is not None
    assert gate.paused
    deadline = sim.core.next_deadline()
    assert deadline is not None
    assert deadline <= 2.0
    events = sim.core.handle_timer(2.0, wall(2.0))
    resumed = [e for e in events if isinstance(e, CallStateChanged)]
    assert len(resumed) == 1
    assert not resumed[0].paused
    assert resumed[0].at_ms == pytest.approx(wall(2.0))


def test_late_pause_reports_what_already_left_as_leaked() -> None:
    sim = Sim.start()
    sim.packets(0, 38)  # released up to 1.98; arrivals up to 1.78
    outcome = sim.command(Action.PAUSE, received=2.0, at=1.0)
    sim.packets(39, 45)
    ended = sim.end()
    # Audio captured in [1.0, 1.78) already left: 780 ms.
    assert ended.leaked_ms == pytest.approx(780.0, abs=20.0)
    (paused,) = [e for e in outcome.events if isinstance(e, CallStateChanged)]
    assert paused.leaked_ms == pytest.approx(780.0, abs=20.0)  # said at once, SPEC §4
    stats = sim.core.statistics()
    assert stats.leaked_audio_seconds_total == pytest.approx(0.78, abs=0.02)


def test_ledger_lists_each_pause_with_rtp_positions() -> None:
    sim = Sim.start()
    sim.packets(0, 9)
    sim.command(Action.PAUSE, received=1.3, at=1.2)  # packet 10 onwards: arrivals from 1.22
    sim.command(Action.RESUME, received=1.4)  # packet 19 [1.38, 1.40) is the last silenced
    sim.packets(10, 30)
    ended = sim.end()
    assert len(ended.pauses) == 1
    rec = ended.pauses[0]
    assert rec.start_at_ms == pytest.approx(wall(1.2))
    assert rec.end_at_ms == pytest.approx(wall(1.4))
    assert rec.reason == "card"
    assert rec.source == "desk"
    (span,) = rec.streams
    assert span.ssrc == SSRC
    assert span.seq_start == (SEQ0 + 10) & 0xFFFF
    assert span.seq_end == (SEQ0 + 19) & 0xFFFF
    assert span.rtp_ts_start == (TS0 + 160 * 10) & 0xFFFFFFFF
    assert span.rtp_ts_end == (TS0 + 160 * 20) & 0xFFFFFFFF
    assert ended.verified
    assert ended.leaked_ms == 0.0


def test_ledger_recording_time_counts_from_the_first_sample() -> None:
    """The recorder's file starts with the first forwarded sample (captured at T0):
    a pause effective at T0 + 0.2 s is 200 ms into the recording."""
    sim = Sim.start()
    sim.packets(0, 9)
    sim.command(Action.PAUSE, received=1.3, at=1.2)
    sim.command(Action.RESUME, received=1.4)
    sim.packets(10, 30)
    rec = sim.end().pauses[0]
    assert rec.start_ms == pytest.approx(200.0, abs=1.0)
    assert rec.end_ms == pytest.approx(400.0, abs=1.0)


def test_control_loss_pauses_every_call_after_the_grace_until_reconnected() -> None:
    sim = Sim.start(on_control_loss=OnControlLoss.PAUSE, control_loss_grace_ms=100.0)
    assert sim.core.set_control_connected(False, 1.0, wall(1.0)) == []
    deadline = sim.core.next_deadline()
    assert deadline is not None
    assert deadline == pytest.approx(1.1)
    events = sim.core.handle_timer(1.1, wall(1.1))
    assert [e.paused for e in events if isinstance(e, CallStateChanged)] == [True]
    events = sim.core.set_control_connected(True, 1.3, wall(1.3))
    assert [e.paused for e in events if isinstance(e, CallStateChanged)] == [False]
    outs = sim.packets(0, 20)
    assert outs[3] == audio(3)  # [1.06, 1.08)
    assert all(silenced(o) for o in outs[5:15])  # arrivals 1.12 .. 1.30 in [1.1, 1.3)
    assert outs[16] == audio(16)


def test_keep_ignores_control_loss() -> None:
    sim = Sim.start()
    sim.core.set_control_connected(False, 1.0, wall(1.0))
    sim.core.handle_timer(100.0, wall(100.0))
    gate = sim.core.call("call-1")
    assert gate is not None
    assert not gate.paused


def test_statistics_count_outcomes_and_apply_delay() -> None:
    sim = Sim.start()
    sim.packets(0, 4)
    sim.command(Action.PAUSE, received=1.2, at=1.1)
    sim.packets(5, 9)
    stats = sim.core.statistics()
    assert stats.packets["forwarded"] == 5
    assert stats.packets["silenced"] == 5
    # First withheld packet (arrival 1.12) leaves at 1.32: 0.22 s after the effective 1.1.
    assert stats.apply_delay_count == 1
    assert stats.apply_delay_sum_s == pytest.approx(0.22, abs=0.001)
    assert stats.apply_delay_counts[-1] == 1
    assert stats.calls_active == 1
    assert stats.calls_paused == 1


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80",
        b"\x00" * 40,
        b"\x80\x00\x00",
    ],
)
def test_garbage_never_raises_out_of_release(data: bytes) -> None:
    sim = Sim.start()
    sim.packets(0, 2)  # the stream is on its fast path now
    assert sim.stream is not None
    sim.stream.release_rtp(data, 1.1, 1.3)
    sim.stream.release_rtcp(data, 1.1, 1.3)
    sim.command(Action.PAUSE, received=1.2)
    sim.stream.release_rtp(data, 1.2, 1.4)
    sim.stream.release_rtcp(data, 1.2, 1.4)


def test_leaked_audio_means_not_verified() -> None:
    """SPEC §5: `verified` checks that every packet sent inside a paused span was
    withheld; audio that left before a late pause arrived was not."""
    sim = Sim.start()
    sim.packets(0, 38)
    sim.command(Action.PAUSE, received=2.0, at=1.0)
    sim.packets(39, 45)
    ended = sim.end()
    assert ended.leaked_ms > 0.0
    assert not ended.verified


def test_leak_is_counted_when_the_stream_starts_with_an_event() -> None:
    sim = Sim.start()
    sim.release(event(SEQ0 - 1, TS0 - 160, 160), 1.0)
    sim.packets(0, 38)
    sim.command(Action.PAUSE, received=2.0, at=1.0)
    sim.packets(39, 45)
    ended = sim.end()
    assert ended.leaked_ms == pytest.approx(780.0, abs=20.0)


def test_ledger_keeps_two_close_pauses_apart() -> None:
    sim = Sim.start()
    sim.packets(0, 4)
    sim.command(Action.PAUSE, received=1.15, at=1.1)  # packets 5..9
    sim.command(Action.RESUME, received=1.2)
    sim.packets(5, 19)
    sim.command(Action.PAUSE, received=1.45, at=1.4)  # packets 20..24
    sim.command(Action.RESUME, received=1.5)
    sim.packets(20, 40)
    first, second = sim.end().pauses
    assert (first.streams[0].seq_start, first.streams[0].seq_end) == (
        (SEQ0 + 5) & 0xFFFF,
        (SEQ0 + 9) & 0xFFFF,
    )
    assert (second.streams[0].seq_start, second.streams[0].seq_end) == (
        (SEQ0 + 20) & 0xFFFF,
        (SEQ0 + 24) & 0xFFFF,
    )
    assert second.streams[0].rtp_ts_start == (TS0 + 160 * 20) & 0xFFFFFFFF


def test_duplicate_command_reports_current_state_without_events() -> None:
    sim = Sim.start()
    sim.command(Action.PAUSE, received=1.0, cmd_id="p1")
    before = len(sim.events)
    outcome = sim.command(Action.PAUSE, received=1.1, cmd_id="p1")
    assert outcome.ok
    assert outcome.paused is True
    assert len(sim.events) == before


def test_reject_names_the_call_when_the_key_resolves() -> None:
    sim = Sim.start()
    outcome = sim.core.reject(
        Scope.CALL, "desk-1", "command payload is not valid JSON", 1.0, wall(1.0)
    )
    assert not outcome.ok
    assert outcome.error == "command payload is not valid JSON"
    (event,) = outcome.events
    assert event.call == CALL


def test_state_change_events_carry_the_command_and_recording_time() -> None:
    sim = Sim.start()
    sim.packets(0, 9)
    sim.command(Action.PAUSE, received=1.3, at=1.2, cmd_id="p1")
    (paused,) = [e for e in sim.events if isinstance(e, CallStateChanged)]
    assert paused.paused
    assert paused.cmd_id == "p1"
    assert paused.source == "desk"
    assert paused.reason == "card"
    assert paused.at_ms == pytest.approx(wall(1.2))
    assert paused.received_at_ms == pytest.approx(wall(1.3))
    assert paused.media_ms is not None


def test_ledger_lists_only_pauses_that_overlap_the_call() -> None:
    core = GateCore(GateConfig(on_control_loss=OnControlLoss.PAUSE, control_loss_grace_ms=0.0))
    core.apply_command(Scope.AGENT, "agent-1", Command(Action.PAUSE, None, "a"), 0.1, wall(0.1))
    core.apply_command(Scope.AGENT, "agent-1", Command(Action.RESUME, None, "b"), 0.3, wall(0.3))
    core.set_control_connected(False, 0.5, wall(0.5))
    core.set_control_connected(True, 0.7, wall(0.7))
    gate, _ = core.add_call(CALL, 100.0, wall(100.0))
    stream = gate.add_stream("0", codecs())  # type: ignore[arg-type]
    for i in range(10):
        arrival = 100.0 + 0.02 * (i + 1)
        assert stream.release_rtp(audio(i), arrival, arrival + 0.2) == audio(i)
    assert core.end_call(CALL.call_id, 101.0, wall(101.0)).pauses == ()
