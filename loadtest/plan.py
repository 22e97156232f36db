"""Load harness: the call and command plan of a run, drawn from a seed. No I/O.

Rules:
1. ``slots`` concurrent call slots; slot j starts its first call at ``ramp_s * j / slots``
   and, when a call ends, the next after a short gap, until ``seconds``; every call
   still up at ``seconds`` ends then. Call c has streams 2c and 2c+1 (labels 1, 2).
2. Each call gets pauses inside its life, 1 s clear of either end and of each other:
   the pause is stamped ``at`` = its planned time and published ``backdate_ms``
   later (0 or up to ``max_backdate_ms``, inside hold-back), the resume is
   published at its planned time with that ``at``; both on the same scope (call
   via Call-ID or SIPREC session id, or agent), some published twice (same id).
3. Agents are unique per call, so an agent command reaches exactly one call.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PlannedPause:
    start: float  # run seconds: the pause's `at`
    end: float  # run seconds: the resume's `at` and publish time
    backdate_ms: float  # the pause is published this much after its `at`
    scope: str  # "call" | "agent"
    key_kind: str  # "call_id" | "session" | "agent"
    duplicate: bool
    pause_id: str
    resume_id: str


@dataclass(frozen=True, slots=True)
class PlannedCall:
    index: int
    start: float
    end: float
    call_id: str
    session: str  # SIPREC sipSessionID (hex UUID)
    agent: str
    pauses: tuple[PlannedPause, ...] = field(default=())

    @property
    def streams(self) -> tuple[int, int]:
        return (2 * self.index, 2 * self.index + 1)


def make_plan(
    slots: int,
    seconds: float,
    ramp_s: float,
    hold_s: float,
    seed: int,
    *,
    max_backdate_ms: float = 150.0,
    pause_every_s: float = 6.0,
) -> list[PlannedCall]:
    rng = random.Random(seed)
    calls: list[PlannedCall] = []
    for slot in range(slots):
        start = ramp_s * slot / max(slots, 1)
        while start + 3.0 < seconds:
            end = min(seconds, start + rng.uniform(0.5, 1.5) * hold_s)
            index = len(calls)
            tag = f"{seed:x}-{index:06d}-{rng.getrandbits(32):08x}"
            pauses = _pauses(rng, start, end, tag, max_backdate_ms, pause_every_s)
            calls.append(
                PlannedCall(
                    index,
                    start,
                    end,
                    f"lt-{tag}@127.0.0.1",
                    uuid.UUID(int=rng.getrandbits(128), version=4).hex,
                    f"agent-{tag}",
                    pauses,
                )
            )
            start = end + rng.uniform(0.1, 0.5)
    calls.sort(key=lambda c: c.start)
    return [
        PlannedCall(i, c.start, c.end, c.call_id, c.session, c.agent, c.pauses)
        for i, c in enumerate(calls)
    ]


def _pauses(
    rng: random.Random, start: float, end: float, tag: str, max_backdate: float, every: float
) -> tuple[PlannedPause, ...]:
    out: list[PlannedPause] = []
    t = start + rng.uniform(1.5, 1.5 + every)
    while True:
        length = rng.uniform(0.4, 2.5)
        if t + length + 1.0 > end:
            break
        scope = "agent" if rng.random() < 0.3 else "call"
        kind = "agent" if scope == "agent" else rng.choice(("call_id", "session"))
        backdate = rng.uniform(10.0, max_backdate) if rng.random() < 0.5 else 0.0
        n = len(out)
        out.append(
            PlannedPause(
                t,
                t + length,
                backdate,
                scope,
                kind,
                rng.random() < 0.2,
                f"p-{tag}-{n}",
                f"r-{tag}-{n}",
            )
        )
        t += length + rng.uniform(1.0, every)
    return tuple(out)
