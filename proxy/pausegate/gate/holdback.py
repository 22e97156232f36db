"""Hold-back FIFO: every packet leaves holdback_s after it arrived (SPEC §3 hold-back). Core.

Rules:
1. One FIFO per process. Hold-back is constant, so due time = arrival + holdback_s
   is monotonic in arrival order: the FIFO head is always the next packet due and
   release order is arrival order. No heap, no timer per packet.
2. Entries are plain tuples ``(arrival, owner, data, is_rtcp)``; ``owner`` is whatever
   the adapter needs to send the packet (its stream). Nothing is copied.
3. ``push`` must be called with non-decreasing ``arrival`` (monotonic clock).
4. A packet is never released early: ``pop_due(now)`` returns exactly the entries with
   arrival + holdback_s <= now.
5. ``has_left(arrival)`` tells whether everything that arrived at or before ``arrival``
   has left; an adapter remembers each call's last arrival to know when it drained.
6. ``queue`` is public for the media adapter's hot path, which appends and pops the
   same tuples inline (a method call per packet costs as much as the check itself);
   it must keep rules 3 and 4.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

OwnerT = TypeVar("OwnerT")

Entry = tuple[float, OwnerT, bytes, bool]


class HoldbackFifo(Generic[OwnerT]):
    """The process-wide hold-back queue (arrival order == release order)."""

    __slots__ = ("holdback_s", "queue")

    def __init__(self, holdback_s: float) -> None:
        if holdback_s < 0:
            raise ValueError("hold-back must not be negative")
        self.holdback_s = holdback_s
        self.queue: deque[Entry[OwnerT]] = deque()

    def __len__(self) -> int:
        return len(self.queue)

    def push(self, arrival: float, owner: OwnerT, data: bytes, is_rtcp: bool) -> None:
        self.queue.append((arrival, owner, data, is_rtcp))

    def pop_due(self, now: float) -> list[Entry[OwnerT]]:
        """Remove and return every entry due at ``now`` (oldest first); often empty."""
        # Same float expression as next_due(): a head reported due at t is popped at t.
        q = self.queue
        hb = self.holdback_s
        if not q or q[0][0] + hb > now:
            return []
        popleft = q.popleft
        out = [popleft()]
        while q and q[0][0] + hb <= now:
            out.append(popleft())
        return out

    def next_due(self) -> float | None:
        """When the head is due (monotonic seconds), or None when empty."""
        q = self.queue
        return q[0][0] + self.holdback_s if q else None

    def has_left(self, arrival: float) -> bool:
        """True when no entry that arrived at or before ``arrival`` is still held."""
        q = self.queue
        return not q or q[0][0] > arrival

    def pending_for(self, owner: OwnerT) -> int:
        """How many held entries belong to ``owner`` (cold path: a linear scan)."""
        return sum(1 for e in self.queue if e[1] is owner)
