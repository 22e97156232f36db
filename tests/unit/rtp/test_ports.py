"""PortAllocator: pairs, exhaustion, quarantine with fake time, unusable ports."""

from __future__ import annotations

import random

import pytest

from pausegate.errors import ConfigError, ResourceExhausted
from pausegate.rtp.ports import PortAllocator


def test_pairs_are_even_and_inside_the_range() -> None:
    alloc = PortAllocator(40001, 40010, 30.0)
    ports = [alloc.allocate(0.0) for _ in range(4)]
    # 40001 is odd: the first pair is 40002/40003; 40010 has no partner inside the range.
    assert sorted(ports) == [40002, 40004, 40006, 40008]
    assert all(p % 2 == 0 and p + 1 <= 40010 for p in ports)


def test_exhaustion_raises_resource_exhausted() -> None:
    alloc = PortAllocator(40000, 40003, 30.0)
    alloc.allocate(0.0)
    alloc.allocate(0.0)
    assert alloc.free_pairs(0.0) == 0
    with pytest.raises(ResourceExhausted):
        alloc.allocate(0.0)


def test_quarantine_is_honoured_with_fake_time() -> None:
    alloc = PortAllocator(40000, 40001, 30.0)
    port = alloc.allocate(100.0)
    alloc.release(port, 100.0)
    assert alloc.free_pairs(129.999) == 0
    with pytest.raises(ResourceExhausted):
        alloc.allocate(129.999)
    assert alloc.free_pairs(130.0) == 1
    assert alloc.allocate(130.0) == port


def test_round_robin_spreads_reuse() -> None:
    alloc = PortAllocator(40000, 40007, 0.0)
    first = alloc.allocate(0.0)
    alloc.release(first, 0.0)
    # the released pair goes to the back: the three untouched pairs come first
    nxt = [alloc.allocate(1.0) for _ in range(4)]
    assert nxt[:3] == [40002, 40004, 40006]
    assert nxt[3] == first


def test_rng_shuffles_the_order_deterministically() -> None:
    a = PortAllocator(40000, 40999, 0.0, random.Random(7))
    b = PortAllocator(40000, 40999, 0.0, random.Random(7))
    seq_a = [a.allocate(0.0) for _ in range(20)]
    assert seq_a == [b.allocate(0.0) for _ in range(20)]
    assert seq_a != sorted(seq_a)
    assert all(p % 2 == 0 for p in seq_a)


def test_mark_unusable_retries_the_pair_last() -> None:
    alloc = PortAllocator(40000, 40005, 30.0)
    bad = alloc.allocate(0.0)
    alloc.mark_unusable(bad)
    assert alloc.allocated_pairs == 0
    assert alloc.free_pairs(0.0) == 3
    got = [alloc.allocate(0.0) for _ in range(3)]
    assert got[-1] == bad


def test_release_of_unallocated_port_is_a_local_error() -> None:
    alloc = PortAllocator(40000, 40005, 30.0)
    with pytest.raises(ValueError, match="not an allocated"):
        alloc.release(40000, 0.0)
    port = alloc.allocate(0.0)
    alloc.release(port, 0.0)
    with pytest.raises(ValueError, match="not an allocated"):
        alloc.release(port, 0.0)
    with pytest.raises(ValueError, match="not an allocated"):
        alloc.mark_unusable(port)


@pytest.mark.parametrize(
    ("low", "high", "q"),
    [(0, 10, 1.0), (10, 5, 1.0), (5, 70000, 1.0), (40000, 40000, 1.0), (40000, 40001, -1.0)],
)
def test_bad_ranges_are_config_errors(low: int, high: int, q: float) -> None:
    with pytest.raises(ConfigError):
        PortAllocator(low, high, q)
