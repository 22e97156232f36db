"""Relay CPU benchmark: MediaEngine (pass-through gate) vs a bare uvloop UDP relay, loopback only.

Usage: python loadtest/relay_bench.py [--streams 300] [--seconds 10] [--warmup 3]
       [--rounds N] [--real-gate] [--paused]
       (RELAY_BENCH_HOLDBACK_MS overrides the 200 ms hold-back)
Modes: ``bare`` (the yardstick), ``engine`` (MediaEngine, pass-through gate), ``gate``
(the real gate of unpaused PCMU calls), ``paused`` (every call paused: all silenced).
Writes results/relay_bench.json. With two or more CPUs the relay runs pinned to the
last one and the driver to the first (RELAY_BENCH_PIN=0: no pinning). Each relay runs
in its own subprocess; its CPU time
(utime + stime from /proc/<pid>/stat) over the measured window is divided by the packets
sent to it in that window. The generator sends N streams of 20 ms PCMU (172-byte
datagrams, 50 packets/s each), spread evenly over each 20 ms, from one socket, and
counts what comes back on another.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any, cast

HOST = "127.0.0.1"
HOLDBACK_S = float(os.environ.get("RELAY_BENCH_HOLDBACK_MS", "200")) / 1000.0
ROOT = Path(__file__).resolve().parent.parent


# -- relay side (subprocess) ------------------------------------------------------------


class PassThroughGate:
    __slots__ = ()

    def release_rtp(self, data: bytes, arrival: float, now: float) -> bytes | None:
        return data

    def release_rtcp(self, data: bytes, arrival: float, now: float) -> bytes | None:
        return data


class BareRelay(asyncio.DatagramProtocol):
    """The yardstick: one socket per stream, datagram_received -> sendto, no parsing."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        assert self.transport is not None
        self.transport.sendto(data, self.target)


def _gates(mode: str, streams: int, now: float) -> list[Any]:
    """Pass-through gates, or the real StreamGates of PCMU calls, unpaused (mode gate) or
    paused from the start (mode paused)."""
    if mode == "engine":
        return [PassThroughGate()] * streams
    from pausegate.control.commands import Action, Command, Scope
    from pausegate.gate import GateConfig, GateCore
    from pausegate.gate.events import CallIdentity
    from pausegate_codecs.registry import PCMU

    core = GateCore(GateConfig(holdback_ms=HOLDBACK_S * 1000))
    wall_ms = time.time() * 1000
    out = []
    for i in range(streams):
        call, _ = core.add_call(CallIdentity(f"call-{i}", (f"call-{i}",), None), now, wall_ms)
        out.append(call.add_stream("0", {0: PCMU}))
        if mode == "paused":
            core.apply_command(Scope.CALL, f"call-{i}", Command(Action.PAUSE), now, wall_ms)
    return out


async def serve(mode: str, streams: int, source: tuple[str, int], target: tuple[str, int]) -> None:
    loop = asyncio.get_running_loop()
    ports: list[int] = []
    keep: list[object] = []
    if mode == "bare":
        for _ in range(streams):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: BareRelay(target), local_addr=(HOST, 0)
            )
            keep.append(transport)
            ports.append(transport.get_extra_info("sockname")[1])
    else:
        from pausegate.io.rtp_transport import MediaEngine, raise_nofile_limit
        from pausegate.rtp.ports import PortAllocator

        raise_nofile_limit()
        low = random.randrange(40000, 50000, 2)
        allocator = PortAllocator(low, low + 4 * streams + 200, 30.0)
        engine = MediaEngine(loop, HOST, allocator, HOLDBACK_S, latch=False)
        gates = _gates(mode, streams, loop.time())
        for i in range(streams):
            s = await engine.open_stream(f"call-{i}", "0", gates[i])
            s.set_source(source, None, rtcp_mux=True)
            s.set_target(target, None, rtcp_mux=True)
            ports.append(s.ingress_rtp_port)
        keep.append(engine)
    print(json.dumps({"ports": ports}), flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    if mode != "bare":
        stats = keep[-1].statistics()  # type: ignore[attr-defined]
        print(json.dumps({"forwarded": stats.rtp_forwarded, "invalid": stats.rtp_invalid,
                          "wrong_source": stats.rtp_wrong_source}), flush=True)  # fmt: skip


# -- generator side ---------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Counter(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.n = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.n += 1


async def drive(mode: str, streams: int, seconds: float, warmup: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind((HOST, 0))
    tx.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    tx.setblocking(False)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind((HOST, 0))
    for opt in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
        try:  # bursts must not overflow the counter (FORCE needs CAP_NET_ADMIN)
            rx.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
            break
        except OSError:
            continue
    rx_transport, counter = await loop.create_datagram_endpoint(Counter, sock=rx)
    source = tx.getsockname()
    target = rx_transport.get_extra_info("sockname")[:2]
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'proxy'}:{ROOT / 'codecs'}")
    cmd = [__file__, "--serve", mode, "--streams", str(streams)]
    cmd += ["--source", f"{source[0]}:{source[1]}", "--target", f"{target[0]}:{target[1]}"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *cmd, stdout=asyncio.subprocess.PIPE, env=env
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        ports = json.loads(line)["ports"]
        payload = bytes([0xFF]) * 160
        ssrcs = [random.getrandbits(32) for _ in range(streams)]
        slots = 20  # 1 ms slots in a 20 ms packet period
        sent = send_errors = 0
        k = 0
        t0 = loop.time()
        marks: dict[str, tuple[float, int, int]] = {}
        end = t0 + warmup + seconds
        while True:
            now = loop.time()
            if "start" not in marks and now >= t0 + warmup:
                marks["start"] = (cpu_seconds(proc.pid), sent, counter.n)
            if now >= end:
                marks["end"] = (cpu_seconds(proc.pid), sent, counter.n)
                break
            seq = k // slots
            for i in range(k % slots, streams, slots):
                pkt = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF,
                                  ssrcs[i]) + payload  # fmt: skip
                try:
                    tx.sendto(pkt, (HOST, ports[i]))
                    sent += 1
                except BlockingIOError:
                    send_errors += 1
            k += 1
            await asyncio.sleep(max(0.0, t0 + k * 0.001 - loop.time()))
        await asyncio.sleep(HOLDBACK_S + 0.3)
        received = counter.n
    finally:
        proc.send_signal(signal.SIGTERM)
        out = (await asyncio.wait_for(proc.stdout.read(), 30)).decode()
        await proc.wait()
        tx.close()
        rx_transport.close()
    cpu0, sent0, _ = marks["start"]
    cpu1, sent1, _ = marks["end"]
    packets = sent1 - sent0
    return {
        "streams": streams,
        "packets_per_s": packets / seconds,
        "cpu_s": cpu1 - cpu0,
        "cpu_us_per_packet": (cpu1 - cpu0) / packets * 1e6,
        "cpu_share": (cpu1 - cpu0) / seconds,
        "sent": sent,
        "received": received,
        "loss": 1 - received / sent if sent else 0.0,
        "send_errors": send_errors,
        "relay_report": out.strip(),
    }


def _pin_driver() -> None:
    """Driver on the first CPU it may use, relays (children) on the last
    (RELAY_BENCH_PIN=0: no pinning)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1 and os.environ.get("RELAY_BENCH_PIN", "1") != "0":
        os.environ["RELAY_BENCH_RELAY_CPU"] = str(cpus[-1])
        os.sched_setaffinity(0, {cpus[0]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=1, help="alternate bare/engine this often")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "relay_bench.json")
    ap.add_argument("--real-gate", action="store_true", help="also run with pausegate's gate")
    ap.add_argument("--paused", action="store_true", help="also run with every call paused")
    ap.add_argument("--serve", choices=["bare", "engine", "gate", "paused"], help=argparse.SUPPRESS)
    ap.add_argument("--source", help=argparse.SUPPRESS)
    ap.add_argument("--target", help=argparse.SUPPRESS)
    args = ap.parse_args()
    import uvloop

    if args.serve:
        if "RELAY_BENCH_RELAY_CPU" in os.environ:
            os.sched_setaffinity(0, {int(os.environ["RELAY_BENCH_RELAY_CPU"])})
        src_host, src_port = args.source.rsplit(":", 1)
        dst_host, dst_port = args.target.rsplit(":", 1)
        uvloop.run(serve(args.serve, args.streams, (src_host, int(src_port)),
                         (dst_host, int(dst_port))))  # fmt: skip
        return
    _pin_driver()
    modes = ("bare", "engine") + ("gate",) * args.real_gate + ("paused",) * args.paused
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for _ in range(args.rounds):
        for mode in modes:
            res = uvloop.run(drive(mode, args.streams, args.seconds, args.warmup))
            runs[mode].append(res)
            print(mode, json.dumps({k: v for k, v in res.items() if k != "relay_report"}))
    best = {m: min(r["cpu_us_per_packet"] for r in rs) for m, rs in runs.items()}
    median = {m: statistics.median(r["cpu_us_per_packet"] for r in rs) for m, rs in runs.items()}
    result: dict[str, Any] = {
        "streams": args.streams,
        "seconds": args.seconds,
        "holdback_s": HOLDBACK_S,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "bare_cpu_us_per_packet": best["bare"],
        "engine_cpu_us_per_packet": best["engine"],
        "ratio": best["engine"] / best["bare"],
        "median_cpu_us_per_packet": median,
        "median_ratio": median["engine"] / median["bare"],
        "note": "best (min) of the rounds per mode; the medians are also given",
        "runs": runs,
    }
    for mode in ("gate", "paused"):
        if mode in best:
            result[f"{mode}_cpu_us_per_packet"] = best[mode]
            result[f"{mode}_ratio"] = best[mode] / best["bare"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"bare {best['bare']:.2f} us/pkt, engine {best['engine']:.2f} us/pkt, "
          f"ratio {result['ratio']:.2f} (median {result['median_ratio']:.2f})")  # fmt: skip
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
