"""Gate core: commands to paused spans, calls, control loss, statistics (SPEC §4-§6). Core, no I/O.

Rules:
1. Effective times (SPEC §4): pause at min(at, received), resume at
   max(at, received); an `at` older than received - max_backdate_ms is clamped.
   Monotonic time of an epoch `at`: now - (wall_ms - at) / 1000.
2. Commands are idempotent by `id` for `id_memory_s`.
3. Call scope: a key resolves through every key of a live call; otherwise the
   command waits `pending_command_ttl_s` for a call with that key. Agent scope:
   the agent's timeline applies to its present and later calls.
4. Control loss with `on_control_loss = pause`: a span from disconnect + grace
   until reconnection, known at once so the media path never waits for a timer;
   until its start has passed it is tentative and not guarded backwards, so a
   reconnection within the grace leaves every packet as it was.
5. Events report real state changes at `now`; future boundaries (a resume with
   a future `at`, the control-loss start) are reported by ``handle_timer``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

from pausegate.control.commands import Action, Command, Scope
from pausegate.gate.call_gate import CallGate
from pausegate.gate.config import GateConfig, OnControlLoss
from pausegate.gate.events import (
    CallEnded,
    CallIdentity,
    CallStarted,
    CallStateChanged,
    CommandOutcome,
    CommandRejected,
    GateEvent,
)
from pausegate.gate.ledger import build_records
from pausegate.gate.statistics import GateStatistics, StatisticsAccumulator
from pausegate.gate.timeline import INF, ScopeTimeline, Span, TimelineEntry, union

COMPACT_EVERY_S = 60.0
MAX_PENDING_KEYS = 10_000  # call keys with commands waiting for their call
MAX_REMEMBERED_IDS = 200_000  # command ids kept for idempotence (at least an hour each)
CONTROL_LOSS_SOURCE = "pausegate"
CONTROL_LOSS_REASON = "control_loss"


class GateCore:
    def __init__(self, config: GateConfig) -> None:
        self.config = config
        self._calls: dict[str, CallGate] = {}
        self._keys: dict[str, str] = {}  # any key -> call_id
        self._agents: dict[str, ScopeTimeline] = {}
        self._pending: dict[str, list[tuple[float, TimelineEntry]]] = {}  # key -> (expiry, entry)
        self._ids: OrderedDict[str, float] = OrderedDict()  # id -> expiry (monotonic)
        self._pending_next = INF  # earliest expiry in _pending
        self._order = 0
        self._loss_span: Span | None = None
        self._loss_closed: list[Span] = []
        self._stats = StatisticsAccumulator()
        self._now = -INF
        self._next_compact = -INF

    # -- calls ---------------------------------------------------------------------------

    def add_call(
        self, call: CallIdentity, now: float, wall_ms: float
    ) -> tuple[CallGate, list[GateEvent]]:
        cfg = self.config
        gate = CallGate(call, cfg.behaviour, cfg.guard_ms / 1000.0, self._stats.observe_apply_delay)
        gate.started = now
        self._calls[call.call_id] = gate
        for key in call.keys:
            self._keys[key] = call.call_id
            for expiry, entry in self._pending.pop(key, []):
                if expiry > now:
                    gate.scope.add(entry)
        self._stats.calls_total += 1
        self._recompute(gate, now)
        gate.paused = gate.paused_at(now)
        return gate, [CallStarted(call, wall_ms, gate.paused)]

    def end_call(self, call_id: str, now: float, wall_ms: float) -> CallEnded:
        gate = self._calls.pop(call_id)
        for key in gate.call.keys:
            if self._keys.get(key) == call_id:
                del self._keys[key]
        self._stats.retire(gate.streams)
        guard_s = self.config.guard_ms / 1000.0
        # Agent and control-loss spans that ended before the call began are not its pauses.
        records = build_records(
            [s for s in gate.spans if s.end > gate.started],
            [(s.label, s.runs) for s in gate.streams],
            guard_s,
            gate.recorder_ms,
            lambda t: wall_ms - (now - t) * 1000.0,
        )
        return CallEnded(
            gate.call, wall_ms, records, round(gate.leaked_s * 1000.0, 3), gate.verified
        )

    def call(self, key: str) -> CallGate | None:
        call_id = self._keys.get(key)
        return self._calls.get(call_id) if call_id is not None else None

    # -- commands ------------------------------------------------------------------------

    def apply_command(
        self, scope: Scope, key: str, cmd: Command, now: float, wall_ms: float
    ) -> CommandOutcome:
        self._expire(now)
        if cmd.id is not None:
            if cmd.id in self._ids:
                self._stats.count_command(scope, cmd.action, "duplicate")
                return CommandOutcome(True, self._state(scope, key, now), None, None)
            self._ids[cmd.id] = now + self.config.id_memory_s
            if len(self._ids) > MAX_REMEMBERED_IDS:  # a flood of ids: forget the oldest
                self._ids.popitem(last=False)
        entry = self._entry(cmd, now, wall_ms)
        events: list[GateEvent] = []
        match scope:
            case Scope.CALL:
                gate = self.call(key)
                if gate is None:
                    if key not in self._pending and len(self._pending) >= MAX_PENDING_KEYS:
                        # Bounded memory and per-command cost under a flood of unknown keys;
                        # refused loudly (the publisher's reply says so), never dropped silently.
                        self._stats.count_command(scope, cmd.action, "rejected")
                        return CommandOutcome(
                            False, None, None, "too many commands pending for unknown calls"
                        )
                    expiry = now + self.config.pending_command_ttl_s
                    self._pending.setdefault(key, []).append((expiry, entry))
                    self._pending_next = min(self._pending_next, expiry)
                    self._stats.count_command(scope, cmd.action, "pending")
                    return CommandOutcome(True, None, entry.effective_at_ms, None)
                gate.scope.add(entry)
                events.extend(self._recompute_and_report(gate, now, wall_ms, entry))
                paused: bool | None = gate.paused
            case Scope.AGENT:
                timeline = self._agents.setdefault(key, ScopeTimeline())
                timeline.add(entry)
                for gate in self._calls.values():
                    if gate.call.agent == key:
                        events.extend(self._recompute_and_report(gate, now, wall_ms, entry))
                paused = timeline.paused_at(now)
            case _:  # pragma: no cover
                raise AssertionError(scope)
        self._stats.count_command(scope, cmd.action, "ok")
        return CommandOutcome(True, paused, entry.effective_at_ms, None, tuple(events))

    def reject(
        self, scope: Scope, key: str, error: str, now: float, wall_ms: float
    ) -> CommandOutcome:
        self._stats.count_command(scope, None, "rejected")
        gate = self.call(key) if scope is Scope.CALL else None
        event = CommandRejected(scope, key, gate.call if gate else None, error, wall_ms)
        return CommandOutcome(False, None, None, error, (event,))

    def _entry(self, cmd: Command, now: float, wall_ms: float) -> TimelineEntry:
        at_ms = wall_ms if cmd.at_ms is None else cmd.at_ms
        clamped = False
        if cmd.action is Action.PAUSE:
            eff_ms = min(at_ms, wall_ms)
            floor_ms = wall_ms - self.config.max_backdate_ms
            if eff_ms < floor_ms:
                eff_ms, clamped = floor_ms, True
        else:
            eff_ms = max(at_ms, wall_ms)
        self._order += 1
        mono = now - (wall_ms - eff_ms) / 1000.0
        return TimelineEntry(mono, eff_ms, self._order, cmd.action, cmd, clamped)

    def _state(self, scope: Scope, key: str, now: float) -> bool | None:
        if scope is Scope.CALL:
            gate = self.call(key)
            return gate.paused_at(now) if gate else None
        timeline = self._agents.get(key)
        return timeline.paused_at(now) if timeline else None

    # -- spans and state -----------------------------------------------------------------

    def _recompute(self, gate: CallGate, now: float) -> float:
        spans = list(gate.scope.spans())
        if gate.call.agent is not None and gate.call.agent in self._agents:
            spans.extend(self._agents[gate.call.agent].spans())
        spans.extend(self._loss_closed)
        if self._loss_span is not None:
            spans.append(self._loss_span)
        leaked = gate.set_spans(union(spans), now)
        self._stats.leaked_s += leaked
        return leaked

    def _recompute_and_report(
        self, gate: CallGate, now: float, wall_ms: float, entry: TimelineEntry | None
    ) -> list[GateEvent]:
        leaked = self._recompute(gate, now)
        return self._report(gate, now, wall_ms, entry, leaked)

    def _report(
        self,
        gate: CallGate,
        now: float,
        wall_ms: float,
        entry: TimelineEntry | None,
        leaked_s: float = 0.0,
    ) -> list[GateEvent]:
        paused = gate.paused_at(now)
        if paused == gate.paused:
            return []
        gate.paused = paused
        if entry is None or (entry.action is Action.PAUSE) != paused:
            entry = self._boundary_entry(gate, now, paused)
        eff = entry.effective if entry else now
        cmd = entry.command if entry else None
        at_ms = entry.effective_at_ms if entry else wall_ms - (now - eff) * 1000.0
        media_ms = gate.recorder_ms(eff) if gate.first_release is not None else None
        return [
            CallStateChanged(
                gate.call,
                paused,
                at_ms,
                wall_ms,
                media_ms,
                cmd.id if cmd else None,
                cmd.source if cmd else CONTROL_LOSS_SOURCE,
                cmd.reason if cmd else CONTROL_LOSS_REASON,
                entry.clamped if entry else False,
                round(leaked_s * 1000.0, 3),
            )
        ]

    def _boundary_entry(self, gate: CallGate, now: float, paused: bool) -> TimelineEntry | None:
        """The command behind the latest span boundary at or before ``now``."""
        best: TimelineEntry | None = None
        for s in gate.spans:
            cand = s.opened_by if paused else s.closed_by
            t = s.start if paused else s.end
            if t <= now and cand is not None and (best is None or t >= best.effective):
                best = cand
        return best

    # -- control loss --------------------------------------------------------------------

    def set_control_connected(self, connected: bool, now: float, wall_ms: float) -> list[GateEvent]:
        if self.config.on_control_loss is OnControlLoss.KEEP:
            return []
        if connected:
            span = self._loss_span
            if span is None:
                return []
            self._loss_span = None
            if span.start < now:
                self._loss_closed.append(replace(span, end=now))
        elif self._loss_span is None:
            start = now + self.config.control_loss_grace_ms / 1000.0
            entry = TimelineEntry(
                start,
                wall_ms + self.config.control_loss_grace_ms,
                0,
                Action.PAUSE,
                Command(Action.PAUSE, reason=CONTROL_LOSS_REASON, source=CONTROL_LOSS_SOURCE),
            )
            self._loss_span = Span(start, INF, None, entry, None, tentative=True)
        else:
            return []
        events: list[GateEvent] = []
        for gate in self._calls.values():
            events.extend(self._recompute_and_report(gate, now, wall_ms, None))
        return events

    # -- timers --------------------------------------------------------------------------

    def handle_timer(self, now: float, wall_ms: float) -> list[GateEvent]:
        self._expire(now)
        if now >= self._next_compact:
            self._compact(now)
        loss = self._loss_span
        if loss is not None and loss.tentative and now >= loss.start:
            # Rule 4: past the grace the loss is certain; the guard now widens it too.
            self._loss_span = replace(loss, tentative=False)
            for gate in self._calls.values():
                self._recompute(gate, now)
        events: list[GateEvent] = []
        for gate in self._calls.values():
            if now < gate.next_boundary:  # call_gate rule 5: nothing changed since
                continue
            gate.refresh_quiet(now)
            events.extend(self._report(gate, now, wall_ms, None))
            gate.find_next_boundary(now)
        return events

    def next_deadline(self) -> float | None:
        """The next time ``handle_timer`` has work: a span boundary, a pending or id expiry."""
        after = self._now
        best = INF
        for gate in self._calls.values():
            best = min(best, gate.next_span_boundary(after))
        for entries in self._pending.values():
            for expiry, _ in entries:
                best = min(best, expiry)
        if self._ids:
            best = min(best, next(iter(self._ids.values())))
        return None if best == INF else best

    def _compact(self, now: float) -> None:
        """Bound memory: agent entries and control-loss spans older than any live call
        (and than ``id_memory_s``) can no longer change a span anyone looks at."""
        self._next_compact = now + COMPACT_EVERY_S
        before = min([now - self.config.id_memory_s] + [g.started for g in self._calls.values()])
        before -= self.config.max_backdate_ms / 1000.0 + self.config.guard_ms / 1000.0
        for agent in list(self._agents):
            timeline = self._agents[agent]
            timeline.compact(before)
            if not len(timeline):
                del self._agents[agent]
        self._loss_closed = [s for s in self._loss_closed if s.end >= before]

    def _expire(self, now: float) -> None:
        self._now = max(self._now, now)
        while self._ids:
            key, expiry = next(iter(self._ids.items()))
            if expiry > now:
                break
            del self._ids[key]
        if now < self._pending_next:  # nothing pending has expired: skip the scan
            return
        nxt = INF
        for key in list(self._pending):
            alive = [(e, entry) for e, entry in self._pending[key] if e > now]
            if alive:
                self._pending[key] = alive
                nxt = min(nxt, min(e for e, _ in alive))
            else:
                del self._pending[key]
        self._pending_next = nxt

    # -- metrics -------------------------------------------------------------------------

    def statistics(self) -> GateStatistics:
        streams = [s for g in self._calls.values() for s in g.streams]
        paused = sum(1 for g in self._calls.values() if g.paused)
        return self._stats.snapshot(streams, len(self._calls), paused)
