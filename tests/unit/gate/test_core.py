"""GateCore commands, scopes, timers and control loss with hand-computed values (SPEC §4-§5)."""

from __future__ import annotations

from tests.unit.gate.support import WALL0_MS, Harness, at, cmd, rtp, wall

from pausegate.control.commands import Action, Behaviour, Command, Scope
from pausegate.gate import GateConfig, GateCore, OnControlLoss
from pausegate.gate.events import CallIdentity, CallStarted, CallStateChanged, CommandRejected


def changes(h: Harness) -> list[tuple[bool, float]]:
    return [(e.paused, e.at_ms) for e in h.events if isinstance(e, CallStateChanged)]


def test_effective_times() -> None:
    h = Harness()
    out = h.command(10.0, "pause", at_s=12.0)  # pause at min(at, received)
    assert out.effective_at_ms == wall(10.0)  # type: ignore[attr-defined]
    out = h.command(11.0, "resume", at_s=9.0)  # resume at max(at, received)
    assert out.effective_at_ms == wall(11.0)  # type: ignore[attr-defined]
    out = h.command(20.0, "pause", at_s=15.0)  # backdated within max_backdate_ms... clamped
    assert out.effective_at_ms == wall(18.0)  # type: ignore[attr-defined]
    last = h.events[-1]
    assert isinstance(last, CallStateChanged)
    assert last.clamped
    assert last.received_at_ms == wall(20.0)


def test_events_only_on_state_change_and_ids_are_idempotent() -> None:
    h = Harness()
    h.command(1.0, "pause", id="p1")
    h.command(1.5, "pause", id="p2")  # already paused: no event
    dup = h.command(2.0, "resume", id="p1")  # same id as the pause: ignored
    assert dup.ok  # type: ignore[attr-defined]
    assert dup.paused is True  # type: ignore[attr-defined]
    assert changes(h) == [(True, wall(1.0))]
    h.command(3.0, "resume", id="r1")
    assert changes(h) == [(True, wall(1.0)), (False, wall(3.0))]
    assert h.core.statistics().commands[("call", "resume", "duplicate")] == 1


def test_pause_wins_ties_and_last_by_effective_time_wins() -> None:
    h = Harness()
    h.command(5.0, "resume", at_s=5.0)
    h.command(5.0, "pause", at_s=5.0)
    assert h.gate.paused
    # A resume received later but effective before a pause does not end it.
    h2 = Harness()
    h2.command(6.0, "pause", at_s=6.0)
    h2.command(6.5, "resume", at_s=7.0)  # future resume at 7.0
    assert h2.gate.paused
    assert h2.core.next_deadline() == 7.0
    assert h2.core.handle_timer(6.9, wall(6.9)) == []
    ev = h2.core.handle_timer(7.0, wall(7.0))
    assert len(ev) == 1
    assert isinstance(ev[0], CallStateChanged)
    assert not ev[0].paused
    assert ev[0].at_ms == wall(7.0)


def test_any_key_reaches_the_call_and_unknown_keys_wait() -> None:
    core = GateCore(GateConfig(pending_command_ttl_s=30))
    out = core.apply_command(Scope.CALL, "desk-9", cmd("pause", 1.0), 1.0, wall(1.0))
    assert out.ok
    assert out.paused is None
    call = CallIdentity("sip-9", ("sip-9", "desk-9"), None)
    gate, events = core.add_call(call, 5.0, wall(5.0))
    assert events == [CallStarted(call, wall(5.0), True)]
    assert gate.paused
    # Expired pending commands are forgotten.
    core.apply_command(Scope.CALL, "late", cmd("pause"), 10.0, wall(10.0))
    gate2, events2 = core.add_call(CallIdentity("c2", ("c2", "late"), None), 41.0, wall(41.0))
    assert not gate2.paused
    assert isinstance(events2[0], CallStarted)


def test_agent_scope_covers_present_and_later_calls() -> None:
    h = Harness()
    h.command(1.0, "pause", scope=Scope.AGENT, key="agent-7")
    assert h.gate.paused
    gate2, ev = h.core.add_call(CallIdentity("c2", ("c2",), "agent-7"), 2.0, wall(2.0))
    assert isinstance(ev[0], CallStarted)
    assert ev[0].paused
    s2 = gate2.add_stream("0", {0: h.stream._codecs[0]})
    out = s2.release_rtp(rtp(0, 0), 2.02, 2.22)
    assert out is not None
    assert out[12:] == b"\xff" * 160
    assert h.core.end_call("c2", 3.0, wall(3.0)).leaked_ms == 0.0
    # Call OR agent: a call-scope pause keeps the call paused after the agent resumes.
    h.command(3.0, "pause")
    h.command(4.0, "resume", scope=Scope.AGENT, key="agent-7")
    assert h.gate.paused
    h.command(5.0, "resume")
    assert not h.gate.paused


def test_behaviour_override_and_signal() -> None:
    h = Harness()
    h.command(1.0, "pause", behaviour=Behaviour.SIGNAL)
    assert h.gate.signal
    assert h.gate.behaviour is Behaviour.SIGNAL
    assert h.release(rtp(0, 0), 1.02) is None  # signal: dropped in the gate


def test_reject() -> None:
    h = Harness()
    out = h.core.reject(Scope.CALL, "desk-1", "command field 'action' is missing", 1.0, wall(1.0))
    assert not out.ok
    (ev,) = out.events
    assert isinstance(ev, CommandRejected)
    assert ev.call is not None
    assert ev.call.call_id == "call-1"
    assert h.core.statistics().commands[("call", "unknown", "rejected")] == 1


def test_control_loss_pause_after_grace() -> None:
    cfg = GateConfig(on_control_loss=OnControlLoss.PAUSE, control_loss_grace_ms=5000)
    h = Harness(config=cfg)
    assert h.core.set_control_connected(False, 10.0, wall(10.0)) == []
    assert h.core.next_deadline() == 15.0
    # A packet arriving after disconnect + grace is withheld even before the timer ran.
    out = h.stream.release_rtp(rtp(0, 0), 15.02, 15.22)
    assert out is not None
    assert out[12:] == b"\xff" * 160
    (ev,) = h.core.handle_timer(15.3, wall(15.3))
    assert isinstance(ev, CallStateChanged)
    assert ev.paused
    assert ev.reason == "control_loss"
    (ev,) = h.core.set_control_connected(True, 20.0, wall(20.0))
    assert isinstance(ev, CallStateChanged)
    assert not ev.paused


def test_control_loss_shorter_than_grace_or_keep_changes_nothing() -> None:
    cfg = GateConfig(on_control_loss=OnControlLoss.PAUSE)
    h = Harness(config=cfg)
    h.core.set_control_connected(False, 10.0, wall(10.0))
    assert h.core.set_control_connected(True, 12.0, wall(12.0)) == []
    assert h.core.handle_timer(16.0, wall(16.0)) == []
    keep = Harness()
    assert keep.core.set_control_connected(False, 1.0, wall(1.0)) == []
    assert keep.core.handle_timer(100.0, wall(100.0)) == []


def test_media_ms_is_on_the_recorder_timeline() -> None:
    h = Harness()
    h.release(rtp(0, 0), 0.5)
    h.command(2.0, "pause")
    ev = [e for e in h.events if isinstance(e, CallStateChanged)][-1]
    assert ev.media_ms is not None
    # The recording starts with the first sample sent: captured (mapped) at 0.48.
    assert abs(ev.media_ms - 1520.0) < 1e-6


def test_end_call_frees_keys_and_reports() -> None:
    h = Harness()
    h.command(1.0, "pause", reason="card", source="crm", id="x")
    ended = h.end(2.0)
    assert ended.at_ms == wall(2.0)  # type: ignore[attr-defined]
    (p,) = ended.pauses  # type: ignore[attr-defined]
    assert p.end_ms is None
    assert p.start_at_ms == wall(1.0)
    assert h.core.call("desk-1") is None
    assert h.core.statistics().calls_total == 1
    assert at(0.0) == WALL0_MS
    assert Command(Action.PAUSE).action is Action.PAUSE


def test_agent_history_is_compacted_without_changing_state() -> None:
    core = GateCore(GateConfig(id_memory_s=3600))
    t = 0.0
    for _ in range(200):  # a long day of pauses and resumes for one agent, no calls
        core.apply_command(Scope.AGENT, "ag", cmd("pause"), t, wall(t))
        core.apply_command(Scope.AGENT, "ag", cmd("resume"), t + 30, wall(t + 30))
        t += 600
    core.apply_command(Scope.AGENT, "ag", cmd("pause"), t, wall(t))  # paused at the end
    core.handle_timer(t + 10, wall(t + 10))
    timeline = core._agents["ag"]
    assert len(timeline) < 20  # only the last hour and the pause in force
    gate, events = core.add_call(CallIdentity("c", ("c",), "ag"), t + 20, wall(t + 20))
    assert gate.paused
    assert isinstance(events[0], CallStarted)
    assert events[0].paused


def test_reconnect_within_the_grace_leaves_packets_alone_even_with_a_guard() -> None:
    cfg = GateConfig(on_control_loss=OnControlLoss.PAUSE, control_loss_grace_ms=50, guard_ms=100)
    h = Harness(config=cfg)
    h.core.set_control_connected(False, 2.0, wall(2.0))  # would pause from 2.05 (1.95 guarded)
    data = rtp(0, 0)
    assert h.stream.release_rtp(data, 1.98, 2.03) is data  # inside the would-be guard
    assert h.core.set_control_connected(True, 2.031, wall(2.031)) == []
    assert h.gate.spans == ()


def test_pending_commands_for_unknown_calls_are_bounded() -> None:
    from pausegate.control.commands import Action, Command, Scope
    from pausegate.gate import GateConfig, GateCore
    from pausegate.gate import core as core_module

    gate = GateCore(GateConfig())
    limit = core_module.MAX_PENDING_KEYS
    for i in range(limit):
        assert gate.apply_command(Scope.CALL, f"k{i}", Command(Action.PAUSE), 1.0, 1000.0).ok
    refused = gate.apply_command(Scope.CALL, "one-more", Command(Action.PAUSE), 1.0, 1000.0)
    assert not refused.ok
    assert refused.error == "too many commands pending for unknown calls"
    # A key already pending may still be updated, and expiry frees room.
    assert gate.apply_command(Scope.CALL, "k0", Command(Action.RESUME), 1.0, 1000.0).ok
    later = 1.0 + GateConfig().pending_command_ttl_s + 1
    assert gate.apply_command(Scope.CALL, "one-more", Command(Action.PAUSE), later, 9e5).ok


def test_ticker_reports_each_calls_boundary_and_skips_calls_with_nothing_due() -> None:
    core = GateCore(GateConfig())
    gates = []
    for i in range(50):
        g, _ = core.add_call(CallIdentity(f"c{i}", (f"c{i}",), None), 1.0, wall(1.0))
        gates.append(g)
    pause = Command(Action.PAUSE, id="p")
    core.apply_command(Scope.CALL, "c7", pause, 2.0, wall(2.0))
    resume = Command(Action.RESUME, at_ms=wall(4.0), id="r")  # a future resume
    core.apply_command(Scope.CALL, "c7", resume, 2.5, wall(2.5))
    assert core.handle_timer(3.0, wall(3.0)) == []
    # Calls with no span have nothing due until a span appears.
    assert all(g.next_boundary == float("inf") for g in gates if g is not gates[7])
    (ev,) = core.handle_timer(4.0, wall(4.0))
    assert isinstance(ev, CallStateChanged)
    assert (ev.call.call_id, ev.paused, ev.at_ms) == ("c7", False, wall(4.0))
    # A new span on another call makes the ticker look at it again.
    core.apply_command(Scope.CALL, "c9", Command(Action.PAUSE, id="p9"), 5.0, wall(5.0))
    core.apply_command(
        Scope.CALL, "c9", Command(Action.RESUME, at_ms=wall(6.0), id="r9"), 5.1, wall(5.1)
    )
    (ev,) = core.handle_timer(6.05, wall(6.05))
    assert (ev.call.call_id, ev.paused) == ("c9", False)  # type: ignore[attr-defined]
    assert core.handle_timer(7.0, wall(7.0)) == []
