"""RTP/RTCP port-pair allocator with release quarantine (SPEC §3 media, RFC 3550 §11). Core.

Rules:
1. A pair is (even RTP port, RTCP = RTP + 1), both inside the inclusive range
   [low, high]; a pair is identified by its even port.
2. Free pairs are handed out round-robin: ``allocate`` takes the oldest free pair,
   released pairs rejoin at the back after resting ``quarantine_s``, so reuse is
   spread over the whole range and late packets of an old call never reach a new one.
   With an injected ``rng`` the initial order is shuffled (ports are not guessable).
3. ``release`` starts the quarantine at ``now``; quarantine is constant, so the
   quarantine queue is ordered by release time and expires from its head.
4. ``mark_unusable`` takes back a pair the OS refused to bind (EADDRINUSE held by
   another process): it rejoins the back of the free rotation at once, so it is only
   retried after every other free pair.
5. Releasing a port that is not allocated is our bug and raises ``ValueError``.
"""

from __future__ import annotations

import random
from collections import deque

from pausegate.errors import ConfigError, ResourceExhausted


class PortAllocator:
    """Even/odd port pairs from an inclusive range, with quarantine on release."""

    __slots__ = ("_allocated", "_free", "_quarantine", "high", "low", "quarantine_s")

    def __init__(
        self, low: int, high: int, quarantine_s: float, rng: random.Random | None = None
    ) -> None:
        if not (0 < low <= high <= 65535):
            raise ConfigError(f"rtp.ports: range {low}-{high} is not inside 1-65535")
        if quarantine_s < 0:
            raise ConfigError("rtp.port_quarantine_s: must not be negative")
        first = low + (low & 1)
        evens = list(range(first, high, 2))  # p + 1 <= high
        if not evens:
            raise ConfigError(f"rtp.ports: range {low}-{high} holds no even/odd pair")
        if rng is not None:
            rng.shuffle(evens)
        self.low = low
        self.high = high
        self.quarantine_s = quarantine_s
        self._free: deque[int] = deque(evens)
        self._quarantine: deque[tuple[float, int]] = deque()  # (free again at, port)
        self._allocated: set[int] = set()

    def _expire(self, now: float) -> None:
        q = self._quarantine
        while q and q[0][0] <= now:
            self._free.append(q.popleft()[1])

    def allocate(self, now: float) -> int:
        """Take a free pair; return its even (RTP) port. Raises ResourceExhausted."""
        self._expire(now)
        if not self._free:
            raise ResourceExhausted("no free RTP port pair")
        port = self._free.popleft()
        self._allocated.add(port)
        return port

    def release(self, port: int, now: float) -> None:
        """Return an allocated pair; it rests quarantine_s before it is handed out again."""
        self._take_back(port)
        self._quarantine.append((now + self.quarantine_s, port))

    def mark_unusable(self, port: int) -> None:
        """Return an allocated pair the OS refused; it is retried only after all others."""
        self._take_back(port)
        self._free.append(port)

    def free_pairs(self, now: float) -> int:
        """How many pairs ``allocate`` could hand out at ``now``."""
        self._expire(now)
        return len(self._free)

    @property
    def allocated_pairs(self) -> int:
        return len(self._allocated)

    def _take_back(self, port: int) -> None:
        try:
            self._allocated.remove(port)
        except KeyError:
            raise ValueError(f"port {port} is not an allocated RTP port") from None
