"""HoldbackFifo: due times, arrival order, drain tracking (fake time)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausegate.gate.holdback import HoldbackFifo


def test_nothing_leaves_before_its_hold_back() -> None:
    fifo: HoldbackFifo[str] = HoldbackFifo(0.2)
    fifo.push(10.0, "a", b"1", False)
    fifo.push(10.02, "b", b"2", True)
    assert fifo.next_due() == pytest.approx(10.2)
    assert fifo.pop_due(10.0) == []
    assert fifo.pop_due(10.199999) == []
    assert fifo.pop_due(10.2) == [(10.0, "a", b"1", False)]
    assert fifo.next_due() == pytest.approx(10.22)
    assert fifo.pop_due(11.0) == [(10.02, "b", b"2", True)]
    assert fifo.next_due() is None
    assert fifo.pop_due(12.0) == []
    assert len(fifo) == 0


def test_release_order_is_arrival_order_and_batches_drain() -> None:
    fifo: HoldbackFifo[int] = HoldbackFifo(0.2)
    for i in range(10):
        fifo.push(i * 0.01, i % 3, bytes([i]), False)
    batch = fifo.pop_due(0.2 + 0.045)
    assert [e[2][0] for e in batch] == [0, 1, 2, 3, 4]
    rest = fifo.pop_due(100.0)
    assert [e[2][0] for e in rest] == [5, 6, 7, 8, 9]


def test_pending_for_and_has_left_track_a_call_draining() -> None:
    fifo: HoldbackFifo[str] = HoldbackFifo(0.2)
    fifo.push(1.0, "x", b"", False)
    fifo.push(1.01, "y", b"", False)
    fifo.push(1.02, "x", b"", False)
    assert fifo.pending_for("x") == 2
    assert fifo.pending_for("y") == 1
    last_x = 1.02
    assert not fifo.has_left(last_x)
    fifo.pop_due(1.21)
    assert fifo.pending_for("x") == 1
    assert not fifo.has_left(last_x)
    assert fifo.has_left(1.005)
    fifo.pop_due(1.22)
    assert fifo.pending_for("x") == 0
    assert fifo.has_left(last_x)


def test_zero_hold_back_releases_at_once_and_negative_is_refused() -> None:
    fifo: HoldbackFifo[None] = HoldbackFifo(0.0)
    fifo.push(5.0, None, b"p", False)
    assert len(fifo.pop_due(5.0)) == 1
    with pytest.raises(ValueError, match="negative"):
        HoldbackFifo(-0.1)


@given(
    gaps=st.lists(st.floats(0, 0.05, allow_nan=False), min_size=1, max_size=60),
    polls=st.lists(st.floats(0, 0.3, allow_nan=False), min_size=1, max_size=60),
)
def test_never_early_never_lost_always_in_order(gaps: list[float], polls: list[float]) -> None:
    fifo: HoldbackFifo[int] = HoldbackFifo(0.2)
    arrivals = []
    t = 0.0
    for i, gap in enumerate(gaps):
        t += gap
        arrivals.append(t)
        fifo.push(t, i, b"", False)
    released: list[int] = []
    now = 0.0
    for step in polls:
        now += step
        for arrival, owner, _, _ in fifo.pop_due(now):
            assert arrival + 0.2 <= now + 1e-12
            released.append(owner)
        due = fifo.next_due()
        assert due is None or due > now
    released += [e[1] for e in fifo.pop_due(now + 1.0)]
    assert released == list(range(len(gaps)))
