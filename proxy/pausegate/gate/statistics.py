"""Plain counters of the gate core, read at scrape time (SPEC §6 metrics). Core, no I/O.

Rules:
1. No prometheus_client here: a collector in ``pausegate.metrics`` turns a
   ``GateStatistics`` snapshot into samples.
2. Packet outcomes are counted per stream (cheapest on the hot path) and summed
   at snapshot time; ended calls' streams are folded into running totals.
3. The histogram is cumulative, Prometheus style: ``apply_delay_counts[i]``
   counts observations <= ``apply_delay_buckets[i]``; the last bound is +inf.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pausegate.control.commands import Action, Scope

if TYPE_CHECKING:
    from pausegate.gate.stream_gate import StreamGate

OUTCOMES = ("forwarded", "silenced", "dropped", "dtmf_withheld", "invalid")
APPLY_DELAY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0, math.inf,
)  # fmt: skip
RESULTS = ("ok", "pending", "duplicate", "rejected")


@dataclass(frozen=True, slots=True)
class GateStatistics:
    packets: Mapping[str, int]  # outcome (OUTCOMES) -> packets, pausegate_rtp_packets_total
    leaked_audio_seconds_total: float
    apply_delay_buckets: tuple[float, ...]  # upper bounds, seconds, last +inf
    apply_delay_counts: tuple[int, ...]  # cumulative counts per bound
    apply_delay_sum_s: float
    apply_delay_count: int
    commands: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    # (scope, action or "unknown", result) -> pausegate_control_commands_total
    calls_active: int = 0
    calls_paused: int = 0
    calls_total: int = 0


class StatisticsAccumulator:
    def __init__(self) -> None:
        self.retired = dict.fromkeys(OUTCOMES, 0)
        self.leaked_s = 0.0
        self.delay_counts = [0] * len(APPLY_DELAY_BUCKETS)
        self.delay_sum = 0.0
        self.delay_n = 0
        self.commands: dict[tuple[str, str, str], int] = {}
        self.calls_total = 0

    def observe_apply_delay(self, delay_s: float) -> None:
        self.delay_counts[bisect.bisect_left(APPLY_DELAY_BUCKETS, delay_s)] += 1
        self.delay_sum += delay_s
        self.delay_n += 1

    def count_command(self, scope: Scope, action: Action | None, result: str) -> None:
        key = (str(scope), str(action) if action is not None else "unknown", result)
        self.commands[key] = self.commands.get(key, 0) + 1

    def retire(self, streams: Iterable[StreamGate]) -> None:
        for s in streams:
            for name in OUTCOMES:
                self.retired[name] += getattr(s, name)

    def snapshot(self, live: Iterable[StreamGate], active: int, paused: int) -> GateStatistics:
        packets = dict(self.retired)
        for s in live:
            for name in OUTCOMES:
                packets[name] += getattr(s, name)
        cumulative: list[int] = []
        total = 0
        for c in self.delay_counts:
            total += c
            cumulative.append(total)
        return GateStatistics(
            packets=packets,
            leaked_audio_seconds_total=self.leaked_s,
            apply_delay_buckets=APPLY_DELAY_BUCKETS,
            apply_delay_counts=tuple(cumulative),
            apply_delay_sum_s=self.delay_sum,
            apply_delay_count=self.delay_n,
            commands=dict(self.commands),
            calls_active=active,
            calls_paused=paused,
            calls_total=self.calls_total,
        )
