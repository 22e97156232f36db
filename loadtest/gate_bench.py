"""Micro-benchmark of the gate core's per-packet cost (StreamGate.release_rtp); not a test.

Runs each scenario on pre-built PCMU packets in fake time, single-threaded, and
writes ns/packet and packets/s per scenario to a JSON file (default
results/gate_bench.json). Scenarios:

- ``fast``: unpaused call, never paused: the fast path (anchor fed, data returned).
- ``near_span``: unpaused, but a span ended within the look-back: full mapping.
- ``paused_silence``: every packet silenced (payload replaced from the cached buffer).
- ``paused_drop``: every packet withheld.
- ``skip_shifted``: after a `skip` pause: every packet's header rewritten.
- ``dtmf_withheld``: RFC 4733 packets of a withheld event, replaced by silence.

Usage: python -m loadtest.gate_bench [--out FILE] [--packets N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for src in ("proxy", "codecs"):
    if str(ROOT / src) not in sys.path:
        sys.path.insert(0, str(ROOT / src))

from pausegate.control.commands import Action, Behaviour, Command, Scope  # noqa: E402
from pausegate.gate import GateConfig, GateCore, StreamGate  # noqa: E402
from pausegate.gate.events import CallIdentity  # noqa: E402
from pausegate.rtp.packet import RtpHeader  # noqa: E402
from pausegate_codecs.dtmf import DtmfEvent  # noqa: E402
from pausegate_codecs.registry import PCMU, TELEPHONE_EVENT  # noqa: E402

H = 0.2
WALL0 = 1_700_000_000_000.0


def _setup(behaviour: Behaviour = Behaviour.SILENCE) -> tuple[GateCore, StreamGate]:
    core = GateCore(GateConfig(behaviour=behaviour))
    gate, _ = core.add_call(CallIdentity("bench", ("bench",), "agent"), 0.0, WALL0)
    return core, gate.add_stream("0", {0: PCMU, 101: TELEPHONE_EVENT})


def _command(core: GateCore, action: Action, now: float) -> None:
    core.apply_command(Scope.CALL, "bench", Command(action), now, WALL0 + now * 1000)


def _audio(n: int, start: int = 0) -> list[tuple[bytes, float]]:
    payload = b"\x11" * 160
    return [
        (RtpHeader(0, (start + i) & 0xFFFF, 160 * (start + i), 7).serialize(payload),
         0.02 * (start + i + 1))
        for i in range(n)
    ]  # fmt: skip


def _run(stream: StreamGate, packets: list[tuple[bytes, float]]) -> int:
    release = stream.release_rtp
    t0 = time.perf_counter_ns()
    for data, arrival in packets:
        release(data, arrival, arrival + H)
    return time.perf_counter_ns() - t0


def fast(n: int) -> tuple[StreamGate, list[tuple[bytes, float]]]:
    _, stream = _setup()
    warm = _audio(10)
    for data, arrival in warm:
        stream.release_rtp(data, arrival, arrival + H)
    return stream, _audio(n, 10)


def near_span(n: int) -> tuple[StreamGate, list[tuple[bytes, float]]]:
    core, stream = _setup()
    _command(core, Action.PAUSE, 0.0)
    _command(core, Action.RESUME, 0.001)
    # Every packet takes the full mapping, none is inside the span: a look-back so long
    # that the span stays "near" (as the packets just after a resume do for 1.5 s).
    stream.call.lookback_s = 1e9
    stream.call.refresh_quiet(0.2)
    return stream, _audio(n, 1)


def paused(behaviour: Behaviour) -> Callable[[int], tuple[StreamGate, list[tuple[bytes, float]]]]:
    def build(n: int) -> tuple[StreamGate, list[tuple[bytes, float]]]:
        core, stream = _setup(behaviour)
        _command(core, Action.PAUSE, 0.0)
        return stream, _audio(n)

    return build


def skip_shifted(n: int) -> tuple[StreamGate, list[tuple[bytes, float]]]:
    core, stream = _setup(Behaviour.SKIP)
    _command(core, Action.PAUSE, 0.0)
    for data, arrival in _audio(10):
        stream.release_rtp(data, arrival, arrival + H)
    _command(core, Action.RESUME, 0.25)
    return stream, _audio(n, 20)


def dtmf_withheld(n: int) -> tuple[StreamGate, list[tuple[bytes, float]]]:
    core, stream = _setup()
    for data, arrival in _audio(5):
        stream.release_rtp(data, arrival, arrival + H)
    _command(core, Action.PAUSE, 0.0)
    packets = [
        (
            RtpHeader(101, (5 + i) & 0xFFFF, 800, 7).serialize(
                bytes(DtmfEvent(5, False, 10, min(0xFFFF, 160 * (i + 1))))
            ),
            0.12 + 0.02 * i,
        )
        for i in range(n)
    ]
    return stream, packets


SCENARIOS: dict[str, Callable[[int], tuple[StreamGate, list[tuple[bytes, float]]]]] = {
    "fast": fast,
    "near_span": near_span,
    "paused_silence": paused(Behaviour.SILENCE),
    "paused_drop": paused(Behaviour.DROP),
    "skip_shifted": skip_shifted,
    "dtmf_withheld": dtmf_withheld,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "gate_bench.json")
    ap.add_argument("--packets", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    results: dict[str, dict[str, float]] = {}
    for name, build in SCENARIOS.items():
        best = None
        for _ in range(args.repeat):
            stream, packets = build(args.packets)
            elapsed = _run(stream, packets)
            best = elapsed if best is None else min(best, elapsed)
        assert best is not None
        ns = best / args.packets
        results[name] = {"ns_per_packet": round(ns, 1), "packets_per_s": round(1e9 / ns)}
        print(f"{name:16s} {ns:8.1f} ns/packet  {1e9 / ns:12,.0f} packets/s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "gate_bench",
                "python": platform.python_version(),
                "machine": platform.machine(),
                "packets": args.packets,
                "repeat": args.repeat,
                "best_of_repeat": results,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
