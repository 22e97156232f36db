"""Acceptance examples for the gate core, hand-computed from SPEC §4-§5 (independent of its tests).

Every stream here is PCMU, 20 ms packets, zero jitter: packet i holds the samples
captured in [T0 + 0.02 i, T0 + 0.02 (i + 1)) and arrives at the end of that
interval, so the windowed anchor maps each sample exactly to its capture time.
Each packet is released at arrival + 0.2 s (the hold-back), in arrival order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

from pausegate.control.commands import Action, Behaviour, Command, Scope
from pausegate.gate import GateConfig, GateCore, StreamGate
from pausegate.gate.config import OnControlLoss
from pausegate.gate.events import (
    CallEnded,
    CallIdentity,
    CallStarted,
    CallStateChanged,
    CommandOutcome,
)

HOLDBACK_S = 0.2
WALL0_MS = 1_700_000_000_000.0
T0 = 1.0
SSRC = 0x0BADCAFE
TS0 = 0xFFFFF000  # wraps after 26 packets
SEQ0 = 0xFFF0  # wraps after 16 packets
CALL = CallIdentity("call-1", ("call-1", "desk-1"), "agent-1")
LATER_CALL = CallIdentity("call-2", ("call-2",), "agent-1")


def _codecs() -> dict[int, object]:
    from pausegate_codecs.registry import PCMU, TELEPHONE_EVENT

    return {0: PCMU, 101: TELEPHONE_EVENT}


def wall(now: float) -> float:
    return WALL0_MS + now * 1000.0


def rtp(
    pt: int, seq: int, ts: int, payload: bytes, ssrc: int = SSRC, marker: bool = False
) -> bytes:
    return (
        bytes((0x80, (0x80 if marker else 0) | pt))
        + (seq & 0xFFFF).to_bytes(2, "big")
        + (ts & 0xFFFFFFFF).to_bytes(4, "big")
        + ssrc.to_bytes(4, "big")
        + payload
    )


def audio(i: int, fill: int = 0x11, ssrc: int = SSRC, ts0: int = TS0, seq0: int = SEQ0) -> bytes:
    return rtp(0, seq0 + i, ts0 + 160 * i, bytes((fill,)) * 160, ssrc)


def event(seq: int, ts: int, duration: int, end: bool = False) -> bytes:
    return rtp(101, seq, ts, bytes((5, (0x80 if end else 0) | 10)) + duration.to_bytes(2, "big"))


@dataclass
class Sim:
    """Fake time: commands and releases in time order, releases at arrival + hold-back."""

    core: GateCore
    stream: StreamGate | None = None
    sent: list[tuple[bytes, bytes | None]] = field(default_factory=list)
    events: list[object] = field(default_factory=list)

    @classmethod
    def start(cls, call: CallIdentity = CALL, now: float = 0.5, **cfg: object) -> Sim:
        sim = cls(GateCore(GateConfig(holdback_ms=HOLDBACK_S * 1000, **cfg)))  # type: ignore[arg-type]
        gate, events = sim.core.add_call(call, now, wall(now))
        sim.events.extend(events)
        sim.stream = gate.add_stream("0", _codecs())  # type: ignore[arg-type]
        return sim

    def release(self, data: bytes, arrival: float) -> bytes | None:
        assert self.stream is not None
        out = self.stream.release_rtp(data, arrival, arrival + HOLDBACK_S)
        self.sent.append((data, out))
        return out

    def packets(self, first: int, last: int, **kw: int) -> list[bytes | None]:
        """Release audio packets first..last (inclusive), zero jitter."""
        return [self.release(audio(i, **kw), T0 + 0.02 * (i + 1)) for i in range(first, last + 1)]

    def command(
        self,
        action: Action,
        received: float,
        at: float | None = None,
        scope: Scope = Scope.CALL,
        key: str = "call-1",
        cmd_id: str | None = None,
        behaviour: Behaviour | None = None,
    ) -> CommandOutcome:
        cmd = Command(action, None if at is None else wall(at), cmd_id, "card", "desk", behaviour)
        outcome = self.core.apply_command(scope, key, cmd, received, wall(received))
        self.events.extend(outcome.events)
        return outcome

    def end(self, now: float = 10.0) -> CallEnded:
        return self.core.end_call(CALL.call_id, now, wall(now))


def silenced(out: bytes | None) -> bool:
    return out is not None and out[12:] == b"\xff" * 160


# -- rule 1: effective times -----------------------------------------------------------


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


# -- rule 1: ordering, idempotence, scopes ----------------------------------------------


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
    stream = gate.add_stream("0", _codecs())  # type: ignore[arg-type]
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


# -- rules 2 and 6: the pause survives SSRC and codec changes -----------------------------


def test_pause_carries_over_an_ssrc_change_and_a_codec_update() -> None:
    sim = Sim.start()
    sim.packets(0, 4)
    sim.command(Action.PAUSE, received=1.15)
    outs = sim.packets(5, 9)
    assert all(silenced(o) for o in outs[2:])  # from packet 7, arriving 1.16
    gate = sim.core.call("call-1")
    assert gate is not None
    assert sim.stream is not None
    gate.update_stream(sim.stream, _codecs())  # type: ignore[arg-type]
    # New SSRC, new random timestamp and sequence base, same capture clock.
    outs = [
        sim.release(audio(i, ssrc=0x5151, ts0=12345 - 160 * 10, seq0=777 - 10), T0 + 0.02 * (i + 1))
        for i in range(10, 20)
    ]
    assert all(silenced(o) for o in outs)
    assert all(o is not None and o[8:12] == (0x5151).to_bytes(4, "big") for o in outs)


# -- rule 4: behaviours --------------------------------------------------------------------


def test_drop_sends_nothing_while_paused() -> None:
    sim = Sim.start(behaviour=Behaviour.DROP)
    sim.command(Action.PAUSE, received=1.105, at=1.105)
    sim.command(Action.RESUME, received=1.305)
    outs = sim.packets(0, 20)
    assert outs[4] == audio(4)  # [1.08, 1.10), arrives 1.10
    assert all(o is None for o in outs[5:16])  # [1.10, 1.12) .. [1.30, 1.32) touch the span
    assert outs[16] == audio(16)


def test_skip_shifts_later_sequence_numbers_and_timestamps() -> None:
    sim = Sim.start(behaviour=Behaviour.SKIP)
    sim.command(Action.PAUSE, received=1.1, at=1.1)
    sim.command(Action.RESUME, received=1.3)
    outs = sim.packets(0, 20)
    kept = [o for o in outs if o is not None]
    assert len(kept) == 21 - 11
    for prev, cur in itertools.pairwise(kept):
        seq_step = (int.from_bytes(cur[2:4], "big") - int.from_bytes(prev[2:4], "big")) & 0xFFFF
        ts_step = (int.from_bytes(cur[4:8], "big") - int.from_bytes(prev[4:8], "big")) & 0xFFFFFFFF
        assert (seq_step, ts_step) == (1, 160)
    assert kept[-1][12:] == audio(20)[12:]


def test_command_behaviour_overrides_the_config_for_that_pause() -> None:
    sim = Sim.start()
    sim.command(Action.PAUSE, received=1.1, at=1.1, behaviour=Behaviour.DROP)
    outs = sim.packets(0, 10)
    assert all(o is None for o in outs[5:])


# -- rule 5: RFC 4733 ----------------------------------------------------------------------


def test_event_begun_before_the_pause_is_withheld_and_silenced_with_audio_timestamps() -> None:
    sim = Sim.start()
    sim.packets(0, 4)  # audio until 1.10
    ev_ts = TS0 + 160 * 5
    # Event from 1.10; its packets every 20 ms with growing duration, then three end packets.
    first = sim.release(event(SEQ0 + 5, ev_ts, 160), 1.12)
    assert first == event(SEQ0 + 5, ev_ts, 160)  # before any pause
    sim.command(Action.PAUSE, received=1.33, at=1.15)
    outs = [
        sim.release(event(SEQ0 + 5 + j, ev_ts, 160 * (j + 1)), 1.12 + 0.02 * j) for j in range(1, 5)
    ]
    outs += [sim.release(event(SEQ0 + 10 + j, ev_ts, 800, end=True), 1.22) for j in range(3)]
    for j, out in enumerate(outs):
        assert out is not None
        assert out[1] & 0x7F == 0, "telephone-event left while paused"
        seq = SEQ0 + 5 + j + 1 if j < 4 else SEQ0 + 10 + (j - 4)
        duration = 160 * (j + 2) if j < 4 else 800
        assert int.from_bytes(out[2:4], "big") == seq & 0xFFFF
        assert int.from_bytes(out[4:8], "big") == (ev_ts + duration - 160) & 0xFFFFFFFF
        assert out[12:] == b"\xff" * 160


def test_event_begun_inside_the_pause_is_withheld_after_the_resume() -> None:
    sim = Sim.start(behaviour=Behaviour.DROP)
    sim.command(Action.PAUSE, received=1.0)
    sim.packets(0, 4)
    ev_ts = TS0 + 160 * 5
    sim.command(Action.RESUME, received=1.15)
    outs = [
        sim.release(event(SEQ0 + 5 + j, ev_ts, 160 * (j + 1)), 1.12 + 0.02 * j) for j in range(10)
    ]
    outs += [sim.release(event(SEQ0 + 15 + j, ev_ts, 1600, end=True), 1.32) for j in range(3)]
    assert all(o is None for o in outs)


# -- rule 3 and 7: leaks and the ledger ------------------------------------------------------


def test_late_pause_reports_what_already_left_as_leaked() -> None:
    sim = Sim.start()
    sim.packets(0, 38)  # released up to 1.98; arrivals up to 1.78
    sim.command(Action.PAUSE, received=2.0, at=1.0)
    sim.packets(39, 45)
    ended = sim.end()
    # Audio captured in [1.0, 1.78) already left: 780 ms.
    assert ended.leaked_ms == pytest.approx(780.0, abs=20.0)
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


# -- control loss ---------------------------------------------------------------------------


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


# -- metrics and robustness ------------------------------------------------------------------


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


# -- more behaviours, codecs and control -----------------------------------------------------


def _stream_with(codecs: dict[int, object]) -> Sim:
    sim = Sim.start()
    gate = sim.core.call("call-1")
    assert gate is not None
    sim.stream = gate.add_stream("1", codecs)  # type: ignore[arg-type]
    return sim


def test_frame_codec_is_gated_by_whole_packets_rounding_outwards() -> None:
    from pausegate_codecs.registry import G722

    sim = _stream_with({9: G722})
    sim.command(Action.PAUSE, received=1.3, at=1.205)
    sim.command(Action.RESUME, received=1.41)
    outs = [
        sim.release(rtp(9, SEQ0 + i, TS0 + 160 * i, b"\x42" * 160), T0 + 0.02 * (i + 1))
        for i in range(30)
    ]
    assert outs[9] is not None
    assert outs[9][12:] == b"\x42" * 160  # [1.18, 1.20), arrives 1.20
    # Packet 20 [1.40, 1.42) is only half inside: the whole packet is silenced.
    for out in outs[10:21]:
        assert out is not None
        assert out[12:] == bytes((G722.silence_byte,)) * 160  # type: ignore[arg-type]
    assert outs[21] is not None
    assert outs[21][12:] == b"\x42" * 160


def test_l16_is_gated_to_the_sample() -> None:
    from pausegate_codecs.registry import lookup

    l16 = lookup("L16", 8000, 1)
    sim = _stream_with({96: l16})
    sim.command(Action.PAUSE, received=1.1)
    sim.command(Action.RESUME, received=1.51)
    out = None
    for i in range(26):
        out = sim.release(rtp(96, SEQ0 + i, TS0 + 160 * i, b"\x12\x34" * 160), T0 + 0.02 * (i + 1))
    assert out is not None  # packet 25 [1.50, 1.52): 80 samples before the resume
    assert out[12:] == b"\x00\x00" * 80 + b"\x12\x34" * 80


def test_codec_change_mid_pause_uses_the_new_codec_silence() -> None:
    from pausegate_codecs.registry import PCMA

    sim = Sim.start()
    sim.command(Action.PAUSE, received=1.0)
    sim.packets(0, 4)
    gate = sim.core.call("call-1")
    assert gate is not None
    assert sim.stream is not None
    gate.update_stream(sim.stream, {8: PCMA})
    out = sim.release(rtp(8, SEQ0 + 5, TS0 + 800, b"\x11" * 160), 1.12)
    assert out is not None
    assert out[12:] == b"\xd5" * 160
    assert gate.paused


def test_signal_is_exposed_and_behaves_as_drop() -> None:
    sim = Sim.start(behaviour=Behaviour.SIGNAL)
    gate = sim.core.call("call-1")
    assert gate is not None
    assert not gate.signal
    sim.command(Action.PAUSE, received=1.0)
    assert gate.signal
    assert all(o is None for o in sim.packets(0, 4))
    sim.command(Action.RESUME, received=1.5)
    assert not gate.signal


def test_skip_rewrites_sender_reports_after_the_cut() -> None:
    sim = Sim.start(behaviour=Behaviour.SKIP)
    sim.command(Action.PAUSE, received=1.105, at=1.105)
    sim.command(Action.RESUME, received=1.305)
    outs = sim.packets(0, 20)
    removed = sum(1 for o in outs if o is None)
    assert removed == 11  # packets 5 [1.10, 1.12) .. 15 [1.30, 1.32)
    # RFC 3550 §6.4.1 SR: V=2, PT=200, length 6, SSRC, NTP (8), RTP ts, packets, octets.
    rtp_ts = (TS0 + 160 * 21) & 0xFFFFFFFF
    sr = (
        bytes((0x80, 200))
        + (6).to_bytes(2, "big")
        + SSRC.to_bytes(4, "big")
        + bytes(8)
        + rtp_ts.to_bytes(4, "big")
        + (21).to_bytes(4, "big")
        + (21 * 160).to_bytes(4, "big")
    )
    assert sim.stream is not None
    out = sim.stream.release_rtcp(sr, 1.44, 1.64)
    assert out is not None
    assert int.from_bytes(out[16:20], "big") == (rtp_ts - 160 * removed) & 0xFFFFFFFF
    assert int.from_bytes(out[20:24], "big") == 21 - removed


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


def test_audio_delayed_past_a_short_pause_by_a_stall_is_still_withheld() -> None:
    sim = Sim.start()
    sim.packets(0, 9)  # captured until 1.20, arrived by 1.20
    sim.command(Action.PAUSE, received=1.25, at=1.22)
    sim.command(Action.RESUME, received=1.6)
    # The network stalls: everything captured in [1.20, 2.70) arrives in a burst from 2.70.
    outs = [sim.release(audio(i), 2.70 + 0.001 * (i - 10)) for i in range(10, 85)]
    inside = [i for i in range(10, 85) if T0 + 0.02 * i >= 1.22 and T0 + 0.02 * (i + 1) <= 1.6]
    assert inside == list(range(11, 30))
    # SPEC §1: when pausegate cannot tell a stall from a timestamp jump, it errs towards silence.
    assert [i for i in inside if not silenced(outs[i - 10])] == []
    assert sim.end().leaked_ms == 0.0


def test_ledger_lists_only_pauses_that_overlap_the_call() -> None:
    core = GateCore(GateConfig(on_control_loss=OnControlLoss.PAUSE, control_loss_grace_ms=0.0))
    core.apply_command(Scope.AGENT, "agent-1", Command(Action.PAUSE, None, "a"), 0.1, wall(0.1))
    core.apply_command(Scope.AGENT, "agent-1", Command(Action.RESUME, None, "b"), 0.3, wall(0.3))
    core.set_control_connected(False, 0.5, wall(0.5))
    core.set_control_connected(True, 0.7, wall(0.7))
    gate, _ = core.add_call(CALL, 100.0, wall(100.0))
    stream = gate.add_stream("0", _codecs())  # type: ignore[arg-type]
    for i in range(10):
        arrival = 100.0 + 0.02 * (i + 1)
        assert stream.release_rtp(audio(i), arrival, arrival + 0.2) == audio(i)
    assert core.end_call(CALL.call_id, 101.0, wall(101.0)).pauses == ()


def test_skip_keeps_sequence_numbers_unique_under_reordering() -> None:
    sim = Sim.start(behaviour=Behaviour.SKIP)
    sim.command(Action.PAUSE, received=1.105, at=1.105)
    sim.command(Action.RESUME, received=1.305)
    sim.packets(0, 14)
    # Packet 15 [1.30, 1.32) touches the span but arrives after 16 (normal jitter reordering).
    order = [(16, 1.34), (15, 1.345), (17, 1.36), (18, 1.38)]
    outs = {i: sim.release(audio(i), arrival) for i, arrival in order}
    assert outs[15] is None
    kept = [outs[i] for i in (16, 17, 18)]
    seqs = [(int.from_bytes(o[2:4], "big") - SEQ0) & 0xFFFF for o in kept if o is not None]
    # Packets 5..15 were cut: 16, 17, 18 follow 4 as 5, 6, 7.
    assert seqs == [5, 6, 7]


def test_recording_time_after_skip_counts_what_was_cut() -> None:
    sim = Sim.start(behaviour=Behaviour.SKIP)
    sim.command(Action.PAUSE, received=1.105, at=1.105)
    sim.command(Action.RESUME, received=1.305)  # cuts packets 5..15: 220 ms of audio
    sim.packets(0, 29)
    sim.command(Action.PAUSE, received=1.61, at=1.605, behaviour=Behaviour.SILENCE)
    sim.command(Action.RESUME, received=1.7)
    sim.packets(30, 60)
    first, second = sim.end().pauses
    assert first.start_ms == pytest.approx(100.0, abs=1.0)
    assert first.end_ms == pytest.approx(100.0, abs=1.0)
    # 1.605 s is 605 ms after the first sample, 220 ms of which were cut.
    assert second.start_ms == pytest.approx(385.0, abs=1.0)


def test_skip_keeps_order_when_packets_after_the_cut_arrive_reordered() -> None:
    sim = Sim.start(behaviour=Behaviour.SKIP)
    sim.command(Action.PAUSE, received=1.105, at=1.105)
    sim.command(Action.RESUME, received=1.305)
    sim.packets(0, 15)  # 5..15 are cut
    # 17 overtakes 16 (normal jitter), then the stream goes on in order.
    order = [(17, 1.36), (16, 1.362)] + [(i, T0 + 0.02 * (i + 1)) for i in range(18, 31)]
    outs = {i: sim.release(audio(i), arrival) for i, arrival in order}
    sent = sorted(
        (i, (int.from_bytes(o[2:4], "big") - SEQ0) & 0xFFFF) for i, o in outs.items() if o
    )
    seqs = [s for _, s in sent]
    # Whatever it does with 16 (renumber or withhold), the recorder sees no duplicate and
    # no step back: sequence numbers follow the order of the audio.
    assert seqs == sorted(set(seqs))
    assert seqs[-1] == 30 - 11


@pytest.mark.xfail(
    strict=False,
    reason="finding (f3a8296): skip continues after the last packet forwarded in release "
    "order, not the highest; a late straggler forwarded just before the cut makes the "
    "stream after the cut reuse sequence numbers already sent",
)
def test_skip_continues_after_the_highest_packet_sent() -> None:
    sim = Sim.start(behaviour=Behaviour.SKIP)
    sim.command(Action.PAUSE, received=1.155, at=1.155)
    sim.command(Action.RESUME, received=1.3)
    # 3 is late but arrives before the pause; 5 is late and arrives inside it.
    order = [(0, 1.02), (1, 1.04), (2, 1.06), (4, 1.10), (6, 1.14), (3, 1.145), (7, 1.16)]
    order += [(5, 1.161)] + [(i, T0 + 0.02 * (i + 1)) for i in range(8, 25)]
    outs = [(i, sim.release(audio(i), arrival)) for i, arrival in order]
    sent = [(i, (int.from_bytes(o[2:4], "big") - SEQ0) & 0xFFFF) for i, o in outs if o]
    assert [i for i, _ in sent] == [0, 1, 2, 4, 6, 3, *range(15, 25)]
    seqs = [s for _, s in sent]
    assert len(set(seqs)) == len(seqs), f"sequence numbers reused: {sent}"
    # After the cut the recording goes on from the highest number sent (6).
    assert seqs[6:] == list(range(7, 17))
