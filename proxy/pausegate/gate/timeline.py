"""Paused spans of one scope and their union (SPEC §4 gating semantics). Core, no I/O.

Rules:
1. Times are monotonic seconds; each entry also keeps its epoch milliseconds
   for events and the ledger.
2. A scope's entries are ordered by effective time; the last one wins, and at
   equal times pause wins (pauses sort after resumes at the same instant).
3. A span opens at the first pause after a resume (or at the start) and closes
   at the next resume; an open span ends at +inf.
4. A call's spans are the union of its scopes' spans; where spans from
   different scopes overlap, the earlier-starting one names the pause.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass

from pausegate.control.commands import Action, Behaviour, Command

INF = math.inf


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One accepted command, made effective."""

    effective: float  # monotonic seconds
    effective_at_ms: float  # epoch milliseconds
    order: int  # arrival order, breaks remaining ties
    action: Action
    command: Command
    clamped: bool = False

    @property
    def sort_key(self) -> tuple[float, int, int]:
        return (self.effective, 1 if self.action is Action.PAUSE else 0, self.order)


@dataclass(frozen=True, slots=True)
class Span:
    """A paused interval [start, end) in monotonic seconds."""

    start: float
    end: float
    behaviour: Behaviour | None  # the opening command's override, None: the config's
    opened_by: TimelineEntry
    closed_by: TimelineEntry | None  # None while open
    tentative: bool = False  # control loss not yet past its grace: no guard before it


class ScopeTimeline:
    """The commands of one scope (a call or an agent) and the spans they make."""

    __slots__ = ("_entries", "_keys", "_spans")

    def __init__(self) -> None:
        self._entries: list[TimelineEntry] = []
        self._keys: list[tuple[float, int, int]] = []
        self._spans: tuple[Span, ...] | None = ()

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: TimelineEntry) -> None:
        key = entry.sort_key
        i = bisect.bisect_right(self._keys, key)
        self._keys.insert(i, key)
        self._entries.insert(i, entry)
        self._spans = None

    def entries(self) -> tuple[TimelineEntry, ...]:
        return tuple(self._entries)

    def spans(self) -> tuple[Span, ...]:
        if self._spans is None:
            self._spans = tuple(_spans_of(self._entries))
        return self._spans

    def paused_at(self, t: float) -> bool:
        return any(s.start <= t < s.end for s in self.spans())

    def compact(self, before: float) -> None:
        """Forget entries effective before ``before`` without changing any span after it:
        only the pause that opened a span still in force at ``before`` is kept."""
        keep: TimelineEntry | None = None
        for s in self.spans():
            if s.start < before < s.end:
                keep = s.opened_by
        entries = [e for e in self._entries if e.effective >= before or e is keep]
        if len(entries) != len(self._entries):
            self._entries = entries
            self._keys = [e.sort_key for e in entries]
            self._spans = None


def _spans_of(entries: Iterable[TimelineEntry]) -> list[Span]:
    out: list[Span] = []
    opened: TimelineEntry | None = None
    for e in entries:
        if e.action is Action.PAUSE:
            if opened is None:
                opened = e
        elif opened is not None:
            if e.effective > opened.effective:
                out.append(Span(opened.effective, e.effective, opened.command.behaviour, opened, e))
            opened = None
    if opened is not None:
        out.append(Span(opened.effective, INF, opened.command.behaviour, opened, None))
    return out


def union(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Merge overlapping or touching spans; the earliest-starting one names the merged span."""
    out: list[Span] = []
    for s in sorted(spans, key=lambda x: (x.start, -x.end)):
        if out and s.start <= out[-1].end:
            last = out[-1]
            if s.end > last.end:
                out[-1] = Span(
                    last.start, s.end, last.behaviour, last.opened_by, s.closed_by, last.tentative
                )
        else:
            out.append(s)
    return tuple(out)


def measure(spans: Iterable[tuple[float, float]]) -> float:
    """Total length of a union of intervals."""
    total = 0.0
    cur_s = cur_e = -INF
    for s, e in sorted(spans):
        if s > cur_e:
            if cur_e > cur_s:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        elif e > cur_e:
            cur_e = e
    if cur_e > cur_s:
        total += cur_e - cur_s
    return total


def difference(
    new: Iterable[tuple[float, float]], old: Iterable[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Parts of the intervals ``new`` not covered by the (sorted, disjoint) intervals ``old``."""
    olds = sorted(old)
    out: list[tuple[float, float]] = []
    for s, e in new:
        cur = s
        for os_, oe in olds:
            if oe <= cur or os_ >= e:
                continue
            if os_ > cur:
                out.append((cur, os_))
            cur = max(cur, oe)
            if cur >= e:
                break
        if cur < e:
            out.append((cur, e))
    return out
