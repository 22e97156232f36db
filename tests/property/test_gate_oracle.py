"""Gate core against an independent oracle of SPEC §1/§4 (invariants a-d of issue 3), Hypothesis.

The oracle knows what the gate cannot: each sample's true capture time. Packets
arrive after their last sample plus a jitter in [0, holdback/2], so the gate's
mapped time of a sample lies in [true, true + JITTER_MAX]. The invariants are
therefore checked with that tolerance at the resume edge (mapped time is never
earlier than true time, so pause edges are checked exactly):

(a) no audio sample whose true time is in [start, end - JITTER_MAX) of an
    effective span, or whose packet arrived inside it, leaves unaltered, unless
    the call reports leaked audio;
(b) with ``silence``, every sample that no (guarded) span can reach leaves
    unchanged, with its SSRC, sequence number and timestamp;
(c) leaked is 0 when every pause arrived within the hold-back of its effective time;
(d) no RFC 4733 packet of an event touching a span leaves as telephone-event;
    under ``silence`` it leaves as one packet of audio silence with the audio
    timestamp it stands for.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pausegate.control.commands import Action, Behaviour, Command, Scope
from pausegate.gate import GateConfig, GateCore, OnControlLoss, StreamGate
from pausegate.gate.events import CallIdentity
from pausegate.rtp.packet import seq_diff, ts_diff
from pausegate_codecs.registry import PCMU, TELEPHONE_EVENT

HOLDBACK_S = 0.2
JITTER_MAX = HOLDBACK_S / 2
MAX_BACKDATE_S = 2.0
RATE = 8000
PTIME_TICKS = 160
PTIME_S = PTIME_TICKS / RATE
PT_AUDIO = 0
PT_DTMF = 101
WALL0_MS = 1_700_000_000_000.0  # epoch ms at monotonic 0
CALL_START = 1.0
STREAM_START = 1.05
EPS = 1e-5
CALL = CallIdentity("call-1", ("call-1", "desk-key"), "agent-7")


@dataclass(frozen=True)
class Datagram:
    stream: int
    kind: str  # "audio" | "dtmf"
    ssrc: int
    seq: int
    ts: int
    true_start: float  # audio: first sample; dtmf: event start
    duration: int  # dtmf: event duration so far (ticks)
    arrival: float
    data: bytes


@dataclass(frozen=True)
class Cmd:
    received: float
    scope: Scope
    key: str
    action: Action
    at: float | None  # monotonic seconds
    id: str | None
    behaviour: Behaviour | None


def _rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    head = bytes((0x80, (0x80 if marker else 0) | pt))
    return head + seq.to_bytes(2, "big") + ts.to_bytes(4, "big") + ssrc.to_bytes(4, "big") + payload


def _stream(
    index: int, rng: random.Random, slots: int, stream_start: float = STREAM_START
) -> list[Datagram]:
    """One stream: PCMU 20 ms, loss, duplicates, jitter, wraps, an SSRC change, DTMF events."""
    out: list[Datagram] = []
    ssrc = rng.getrandbits(32)
    seq = rng.choice([0, 0xFFFF - rng.randrange(8), rng.getrandbits(16)])
    ts_base = rng.choice([0, 0xFFFFFFFF - PTIME_TICKS * rng.randrange(10), rng.getrandbits(32)])
    change_at = rng.randrange(slots) if rng.random() < 0.4 else -1
    events: dict[int, int] = {}  # first slot -> length in slots
    i = 2
    while i < slots - 4:
        if rng.random() < 0.08:
            length = rng.randrange(2, 12)
            events[i] = length
            i += length + 2
        else:
            i += 1
    event_left = 0
    event_slot = 0
    for slot in range(slots):
        if slot == change_at:
            ssrc = rng.getrandbits(32)
            seq = rng.getrandbits(16)
            ts_base = (rng.getrandbits(32) - slot * PTIME_TICKS) & 0xFFFFFFFF
        true_start = stream_start + slot * PTIME_S
        ts = (ts_base + slot * PTIME_TICKS) & 0xFFFFFFFF
        if slot in events:
            event_left, event_slot = events[slot], slot
        packets: list[tuple[str, int, int, float, bytes, float]] = []
        if event_left:
            ev_ts = (ts_base + event_slot * PTIME_TICKS) & 0xFFFFFFFF
            ev_start = stream_start + event_slot * PTIME_S
            dur = (slot - event_slot + 1) * PTIME_TICKS
            sent = ev_start + dur / RATE
            event_left -= 1
            ends = 3 if event_left == 0 else 1
            for _ in range(ends):
                flags = (0x80 if event_left == 0 else 0) | 10
                payload = bytes((rng.randrange(16), flags)) + dur.to_bytes(2, "big")
                packets.append(("dtmf", ev_ts, dur, ev_start, payload, sent))
        else:
            payload = bytes(rng.randrange(0x7F) for _ in range(PTIME_TICKS))
            packets.append(("audio", ts, 0, true_start, payload, true_start + PTIME_S))
        for kind, pts, dur, start, payload, sent in packets:
            seq = (seq + 1) & 0xFFFF
            if rng.random() < 0.05:
                continue  # lost
            pt = PT_DTMF if kind == "dtmf" else PT_AUDIO
            data = _rtp(pt, seq, pts, ssrc, payload, marker=kind == "dtmf" and dur == PTIME_TICKS)
            copies = 2 if rng.random() < 0.05 else 1
            for _ in range(copies):
                arrival = sent + rng.uniform(0.0, JITTER_MAX)
                out.append(Datagram(index, kind, ssrc, seq, pts, start, dur, arrival, data))
    return out


def _ms(t: float) -> float:
    """Command times on a 0.1 ms grid: they travel as epoch milliseconds, where instants
    closer than that are not distinct."""
    return round(t, 4)


@st.composite
def commands(draw: st.DrawFn, end: float, call: CallIdentity = CALL) -> list[Cmd]:
    n = draw(st.integers(0, 6))
    out: list[Cmd] = []
    for _ in range(n):
        if out and draw(st.integers(0, 5)) == 0:
            prev = out[draw(st.integers(0, len(out) - 1))]
            later = _ms(prev.received + draw(st.floats(0.0, 1.0)))
            out.append(Cmd(later, prev.scope, prev.key, prev.action, prev.at, prev.id, None))
            continue
        received = _ms(draw(st.floats(0.5, end)))
        scope = draw(st.sampled_from([Scope.CALL, Scope.CALL, Scope.AGENT]))
        key = draw(st.sampled_from(call.keys)) if scope is Scope.CALL else "agent-7"
        when = draw(st.sampled_from(["none", "early", "early", "late", "future"]))
        at: float | None = None
        match when:
            case "early":
                at = received - draw(st.floats(0.0, HOLDBACK_S * 0.95))
            case "late":
                at = received - draw(st.floats(HOLDBACK_S * 1.05, MAX_BACKDATE_S * 1.5))
            case "future":
                at = received + draw(st.floats(0.0, 1.0))
        at = None if at is None else _ms(at)
        out.append(
            Cmd(
                received,
                scope,
                key,
                draw(st.sampled_from([Action.PAUSE, Action.RESUME])),
                at,
                draw(st.sampled_from([None, "c1", "c2", "c3", "c4", "c5", "c6"])),
                None,
            )
        )
    return sorted(out, key=lambda c: c.received)


def _effective(c: Cmd) -> float:
    at = c.received if c.at is None else c.at
    if c.action is Action.PAUSE:
        return max(min(at, c.received), c.received - MAX_BACKDATE_S)
    return max(at, c.received)


def oracle_spans(cmds: list[Cmd]) -> tuple[list[tuple[float, float]], bool]:
    """SPEC §4 by the letter: (union of call and agent spans, every pause within hold-back)."""
    seen: set[str] = set()
    scopes: dict[Scope, list[tuple[float, int, int, Action]]] = {Scope.CALL: [], Scope.AGENT: []}
    timely = True
    for order, c in enumerate(cmds):
        if c.id is not None:
            if c.id in seen:
                continue
            seen.add(c.id)
        eff = _effective(c)
        if c.action is Action.PAUSE and c.received - eff > HOLDBACK_S - EPS:
            timely = False
        scopes[c.scope].append((eff, 1 if c.action is Action.PAUSE else 0, order, c.action))
    spans: list[tuple[float, float]] = []
    for entries in scopes.values():
        start: float | None = None
        for eff, _, _, action in sorted(entries):
            if action is Action.PAUSE and start is None:
                start = eff
            elif action is Action.RESUME and start is not None:
                if eff > start:
                    spans.append((start, eff))
                start = None
        if start is not None:
            spans.append((start, float("inf")))
    merged: list[tuple[float, float]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged, timely


def loss_span(down: float | None, up: float | None, grace_s: float) -> list[tuple[float, float]]:
    """SPEC §4 control loss with ``pause``: paused from disconnect + grace until reconnected."""
    if down is None:
        return []
    start = down + grace_s
    if up is None:
        return [(start, float("inf"))]
    return [(start, up)] if up > start else []


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def simulate(
    behaviour: Behaviour,
    guard_s: float,
    seed: int,
    slots: int,
    cmds: list[Cmd],
    n_streams: int,
    loss: tuple[float, float] | None = None,
    grace_s: float = 0.0,
    call: CallIdentity = CALL,
    call_start: float = CALL_START,
) -> tuple[list[tuple[Datagram, bytes | None]], float, bool, list[str]]:
    """Run the core in fake time; also check its paused state against the oracle at each step."""
    core = GateCore(
        GateConfig(
            behaviour=behaviour,
            guard_ms=guard_s * 1000.0,
            holdback_ms=HOLDBACK_S * 1000,
            on_control_loss=OnControlLoss.PAUSE,
            control_loss_grace_ms=grace_s * 1000.0,
        )
    )
    rng = random.Random(seed)
    stream_start = call_start + STREAM_START - CALL_START
    grams = [g for i in range(n_streams) for g in _stream(i, rng, slots, stream_start)]
    timeline: list[tuple[float, int, object]] = [(call_start, 0, "add")]
    timeline += [(c.received, 1, c) for c in cmds]
    timeline += [(g.arrival + HOLDBACK_S, 2, g) for g in grams]
    last = max(t for t, _, _ in timeline)
    timeline += [(0.5 + 0.0503 * i, 1, "tick") for i in range(int((last - 0.5) / 0.05))]
    if loss is not None:
        timeline += [(loss[0], 1, "down"), (loss[1], 1, "up")]
    timeline.sort(key=lambda x: (x[0], x[1]))
    streams: list[StreamGate] = []
    down: float | None = None
    up: float | None = None
    out: list[tuple[Datagram, bytes | None]] = []
    mismatches: list[str] = []
    received: list[Cmd] = []
    gate = None
    end = 0.0
    for now, _, item in timeline:
        wall = WALL0_MS + now * 1000.0
        end = max(end, now)
        if isinstance(item, Datagram):
            out.append((item, streams[item.stream].release_rtp(item.data, item.arrival, now)))
            continue
        if item == "add":
            gate, _events = core.add_call(call, now, wall)
            streams = [
                gate.add_stream(str(i), {PT_AUDIO: PCMU, PT_DTMF: TELEPHONE_EVENT})
                for i in range(n_streams)
            ]
        elif isinstance(item, Cmd):
            received.append(item)
            at_ms = None if item.at is None else WALL0_MS + item.at * 1000.0
            cmd = Command(item.action, at_ms, item.id, behaviour=item.behaviour)
            core.apply_command(item.scope, item.key, cmd, now, wall)
        elif item == "down":
            down = now
            core.set_control_connected(False, now, wall)
        elif item == "up":
            up = now
            core.set_control_connected(True, now, wall)
        core.handle_timer(now, wall)
        if gate is not None:
            spans = _merge(oracle_spans(received)[0] + loss_span(down, up, grace_s))
            at_edge = any(abs(now - x) < EPS for span in spans for x in span)
            if not at_edge and gate.paused != _in(now, spans):
                mismatches.append(f"at {now:.4f}: core paused={gate.paused}, oracle {spans}")
    ended = core.end_call(call.call_id, end + 0.01, WALL0_MS + (end + 0.01) * 1000.0)
    # SPEC §6: every packet released is counted under exactly one outcome.
    counted = sum(core.statistics().packets.values())
    if counted != len(out):
        mismatches.append(f"{counted} packets counted for {len(out)} released")
    return out, ended.leaked_ms, ended.verified, mismatches


def _in(t: float, spans: list[tuple[float, float]]) -> bool:
    return any(s <= t < e for s, e in spans)


@st.composite
def control_loss(draw: st.DrawFn, end: float) -> tuple[tuple[float, float] | None, float]:
    if not draw(st.booleans()):
        return None, 0.0
    down = draw(st.floats(0.5, end))
    return (down, down + draw(st.floats(0.01, 1.0))), draw(st.sampled_from([0.0, 0.05, 0.3]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    behaviour=st.sampled_from(
        [Behaviour.SILENCE, Behaviour.SILENCE, Behaviour.DROP, Behaviour.SKIP]
    ),
    guard_s=st.sampled_from([0.0, 0.0, 0.02, 0.1]),
    seed=st.integers(0, 2**32 - 1),
    slots=st.integers(20, 150),
    n_streams=st.integers(1, 2),
    data=st.data(),
)
def test_gate_keeps_the_one_rule(
    behaviour: Behaviour, guard_s: float, seed: int, slots: int, n_streams: int, data: st.DataObject
) -> None:
    end = STREAM_START + slots * PTIME_S + 0.5
    cmds = data.draw(commands(end))
    loss, grace_s = data.draw(control_loss(end))
    results, leaked_ms, _verified, mismatches = simulate(
        behaviour, guard_s, seed, slots, cmds, n_streams, loss, grace_s
    )
    # The published state follows the oracle at every step (commands, timers, control loss).
    assert not mismatches, mismatches[:3]
    spans, timely = oracle_spans(cmds)
    spans = _merge(spans + (loss_span(*loss, grace_s) if loss else []))
    guarded = [(s - guard_s, e + guard_s) for s, e in spans]

    # (c) commands within the hold-back leak nothing.
    if timely:
        assert leaked_ms == 0.0, f"leaked {leaked_ms} ms though every pause was timely"

    for gram, out in results:
        if gram.kind == "audio":
            _check_audio(gram, out, spans, guarded, behaviour, leaked_ms)
        else:
            # A control-loss span is known (and guarded) from the disconnect on, before it
            # starts; an unended event judged in that time may be withheld even if the
            # reconnect comes before the grace ends: more withheld, never less.
            provisional = [(loss[0] + grace_s - guard_s, loss[1] + guard_s)] if loss else []
            _check_dtmf(gram, out, spans, guarded + provisional, behaviour, timely)


CALL_LATER = CallIdentity("call-2", ("call-2", "desk-2"), "agent-7")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    behaviour=st.sampled_from([Behaviour.SILENCE, Behaviour.DROP]),
    call_start=st.floats(1.0, 3.0).map(_ms),
    seed=st.integers(0, 2**32 - 1),
    slots=st.integers(20, 100),
    data=st.data(),
)
def test_agent_and_pending_commands_reach_a_call_that_starts_later(
    behaviour: Behaviour, call_start: float, seed: int, slots: int, data: st.DataObject
) -> None:
    """SPEC §4: agent commands apply to calls starting later (which start paused and leak
    nothing); call commands for a key not known yet wait for the call."""
    end = call_start + STREAM_START - CALL_START + slots * PTIME_S + 0.5
    cmds = data.draw(commands(end, CALL_LATER))
    results, leaked_ms, _verified, mismatches = simulate(
        behaviour, 0.0, seed, slots, cmds, 1, call=CALL_LATER, call_start=call_start
    )
    assert not mismatches, mismatches[:3]
    spans, timely = oracle_spans(cmds)
    if timely:
        assert leaked_ms == 0.0
    for gram, out in results:
        if gram.kind == "audio":
            _check_audio(gram, out, spans, spans, behaviour, leaked_ms)
        else:
            _check_dtmf(gram, out, spans, spans, behaviour, timely)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    guard_s=st.sampled_from([0.0, 0.02]),
    seed=st.integers(0, 2**32 - 1),
    slots=st.integers(20, 150),
    data=st.data(),
)
def test_skip_keeps_one_ordered_stream(
    guard_s: float, seed: int, slots: int, data: st.DataObject
) -> None:
    end = STREAM_START + slots * PTIME_S + 0.5
    cmds = data.draw(commands(end))
    loss, grace_s = data.draw(control_loss(end))
    results, _leaked, _verified, _ = simulate(
        Behaviour.SKIP, guard_s, seed, slots, cmds, 1, loss, grace_s
    )
    _check_skip_order(results)


def _check_skip_order(results: list[tuple[Datagram, bytes | None]]) -> None:
    """Under ``skip`` the recorder sees one shorter stream: per SSRC, forwarded audio keeps
    the order of its sequence numbers and timestamps, without duplicates, and a cut
    only ever closes gaps (SPEC §4)."""
    by_ssrc: dict[tuple[int, int], dict[int, tuple[int, int]]] = {}
    for gram, out in results:
        if out is None or gram.kind != "audio":
            continue
        seq_out = int.from_bytes(out[2:4], "big")
        ts_out = int.from_bytes(out[4:8], "big")
        kept = by_ssrc.setdefault((gram.stream, gram.ssrc), {})
        if gram.seq in kept:
            assert kept[gram.seq] == (seq_out, ts_out), "a duplicate was shifted differently"
        kept[gram.seq] = (seq_out, ts_out)
    for kept in by_ssrc.values():
        first = next(iter(kept))
        order = sorted(kept, key=lambda q: seq_diff(q, first))
        for a, b in itertools.pairwise(order):
            (sa, ta), (sb, tb) = kept[a], kept[b]
            assert 0 < seq_diff(sb, sa) <= seq_diff(b, a), "skip reordered or duplicated a seq"
            assert ts_diff(tb, ta) > 0, "skip reordered timestamps"


def _check_audio(
    gram: Datagram,
    out: bytes | None,
    spans: list[tuple[float, float]],
    guarded: list[tuple[float, float]],
    behaviour: Behaviour,
    leaked_ms: float,
) -> None:
    payload = gram.data[12:]
    sent = None if out is None else out[12:]
    if out is not None:
        assert len(out) == len(gram.data)
        if behaviour is not Behaviour.SKIP:
            assert out[:12] == gram.data[:12], "header changed"
        else:
            assert out[0] == gram.data[0]
            assert out[1] == gram.data[1]
            assert out[8:12] == gram.data[8:12]
    arrived_paused = any(s + EPS <= gram.arrival < e - EPS for s, e in spans)
    arrived_guarded = any(s - EPS <= gram.arrival < e + EPS for s, e in guarded)
    for k in range(PTIME_TICKS):
        t = gram.true_start + k / RATE
        unaltered = sent is not None and sent[k] == payload[k]
        # (a): inside an effective span (tolerance at the resume edge only).
        must_withhold = arrived_paused or any(s + EPS <= t < e - JITTER_MAX for s, e in spans)
        if must_withhold and leaked_ms == 0.0:
            assert not unaltered, f"paused sample left unaltered: t={t:.4f} spans={spans}"
        if sent is not None and not unaltered:
            assert sent[k] == 0xFF, "withheld sample is not PCMU silence"
        # (b): under silence, what no guarded span can reach leaves unchanged.
        if behaviour is Behaviour.SILENCE:
            reachable = arrived_guarded or any(
                t - EPS < e and t + JITTER_MAX + EPS >= s for s, e in guarded
            )
            if not reachable:
                assert unaltered, f"sample outside every span altered: t={t:.4f} spans={guarded}"


def _check_dtmf(
    gram: Datagram,
    out: bytes | None,
    spans: list[tuple[float, float]],
    guarded: list[tuple[float, float]],
    behaviour: Behaviour,
    timely: bool,
) -> None:
    a, b = gram.true_start, gram.true_start + gram.duration / RATE
    touches = any(s + EPS <= gram.arrival < e - EPS for s, e in spans) or any(
        s < e - JITTER_MAX and a < e - JITTER_MAX and b >= s + EPS for s, e in spans
    )
    left_as_event = out is not None and out[1] & 0x7F == PT_DTMF
    if touches and timely:
        assert not left_as_event, f"RFC 4733 packet of a withheld event left: {gram} {spans}"
    if out is not None and not left_as_event:
        # (d) under silence: one audio packet of silence, same seq, the audio timestamp.
        assert behaviour is Behaviour.SILENCE
        assert out[1] & 0x7F == PT_AUDIO
        assert out[2:4] == gram.data[2:4]
        expected_ts = (gram.ts + max(0, gram.duration - PTIME_TICKS)) & 0xFFFFFFFF
        assert int.from_bytes(out[4:8], "big") == expected_ts
        assert out[8:12] == gram.data[8:12]
        assert out[12:] == b"\xff" * PTIME_TICKS
    if left_as_event and behaviour is Behaviour.SILENCE:
        assert out == gram.data
    if behaviour is Behaviour.SILENCE and not touches:
        # Far from every guarded span (an unended event may be judged up to its release).
        hi = max(b, gram.arrival + HOLDBACK_S) + JITTER_MAX + EPS
        far = not any(s - EPS <= gram.arrival < e + EPS for s, e in guarded) and not any(
            a - EPS < e and hi >= s for s, e in guarded
        )
        if far:
            assert out == gram.data, "DTMF far from every span was altered"
