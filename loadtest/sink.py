"""Load harness: the sink recorder process (SIP UAS, one shared RTP port, recvmmsg).

Usage (started by loadtest.run): python -m loadtest.sink --t0 EPOCH --out FILE.npz
Rules:
1. SIP is the reference recorder's core (``RecorderUas``) on pausegate's own
   transport; every stream of every call is answered at the same RTP port.
2. The RTP socket is drained every ``POLL_S`` with recvmmsg; each datagram keeps its
   kernel receive time, so polling adds no latency to what is measured. Packets
   are demultiplexed by SSRC and classified (``payload.Classified``) per batch;
   only the per-packet summary is kept, never a payload.
3. SIGTERM: one last drain, then the records (npz) and a JSON summary line on
   stdout. The first stdout line is ``{"sip_port": ..., "rtp_port": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import signal
import socket
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import numpy as np

from loadtest.mmsg import BatchReceiver, big_buffers, udp_drops
from loadtest.payload import PACKET, Classified, header_ok
from loadtest.relay_bench import cpu_seconds

HOST = "127.0.0.1"
POLL_S = 0.005


class Records:
    """Growing per-packet columns."""

    NAMES = (
        "stream",
        "index",
        "arrival",
        "sent",
        "n_orig",
        "n_sil",
        "bad",
        "first_sil",
        "last_sil",
    )

    def __init__(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {n: [] for n in self.NAMES}
        self.invalid = 0
        self.count = 0

    def add(self, c: Classified, arrival: np.ndarray) -> None:
        self.count += len(arrival)
        for name in self.NAMES:
            value = arrival if name == "arrival" else getattr(c, name)
            self.parts[name].append(value)

    def save(self, path: Path) -> None:
        cols = {n: (np.concatenate(p) if p else np.zeros(0)) for n, p in self.parts.items()}
        np.savez(path, **cols)  # type: ignore[arg-type]


class Sink:
    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.records = Records()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._bind_pair()
        big_buffers(self.sock, 32 << 20)
        self.sock.setblocking(False)
        self.rx = BatchReceiver(self.sock, 1024)
        self.port = self.sock.getsockname()[1]
        self.stop = asyncio.Event()
        self.polls = 0
        self.max_batch = 0

    def _bind_pair(self) -> None:
        for _ in range(200):
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.bind((HOST, 0))
            port = probe.getsockname()[1] & ~1
            probe.close()
            try:
                self.sock.bind((HOST, port))
                self.rtcp.bind((HOST, port + 1))
                return
            except OSError:
                self.sock.close()
                self.rtcp.close()
                self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self.rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        raise OSError("no free even/odd port pair")

    def drain(self) -> None:
        while True:
            n = self.rx.drain()
            if not n:
                return
            self.max_batch = max(self.max_batch, n)
            data = self.rx.buf[:n, :PACKET]
            ok = header_ok(data, self.rx.lengths(n))
            arrival = self.rx.timestamps(n)
            if not ok.all():
                self.records.invalid += int(np.count_nonzero(~ok))
                data, arrival = data[ok], arrival[ok]
            if len(arrival):
                self.records.add(Classified(data, self.t0), arrival)
            if n < self.rx.capacity:
                return

    async def poll(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.stop.is_set():
            self.drain()
            self.polls += 1
            await asyncio.sleep(POLL_S)
        await asyncio.sleep(0.01)
        _ = loop
        self.drain()


async def serve(t0: float, out: Path) -> None:
    from pausegate.calls.hooks import SendMessage
    from pausegate.io.sip_transport import SipTransport
    from pausegate.recorder.uas import OpenRecording, RecorderUas, UasEffect

    loop = asyncio.get_running_loop()
    sink = Sink(t0)
    core: RecorderUas | None = None
    timer: list[asyncio.TimerHandle | None] = [None]
    calls = {"opened": 0, "closed": 0}

    def run(effects: list[UasEffect]) -> None:
        assert core is not None
        for effect in effects:
            if isinstance(effect, SendMessage):
                transport.send(effect.message, effect.target)
            elif isinstance(effect, OpenRecording):
                calls["opened"] += 1
                ports = [(sink.port, sink.port + 1)] * len(effect.streams)
                run(core.streams_ready(effect.call_id, ports, loop.time()))
            elif type(effect).__name__ == "CloseRecording":
                calls["closed"] += 1
        if timer[0] is not None:
            timer[0].cancel()
            timer[0] = None
        deadline = core.next_deadline()
        if deadline is not None:
            timer[0] = loop.call_at(deadline, on_timer)

    def on_timer() -> None:
        timer[0] = None
        assert core is not None
        run(core.handle_timer(loop.time()))

    def on_data(data: bytes, source: Any, stream: bool) -> None:
        assert core is not None
        run(core.receive_data(data, source, loop.time(), stream=stream))

    tasks: set[asyncio.Task[None]] = set()

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        task = loop.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    transport = SipTransport(on_data, lambda _m: None, spawn)
    sip_port = await transport.start(HOST, 0)
    core = RecorderUas(HOST, sip_port, lambda: secrets.token_hex(8))
    print(json.dumps({"sip_port": sip_port, "rtp_port": sink.port}), flush=True)
    loop.add_signal_handler(signal.SIGTERM, sink.stop.set)
    cpu0 = cpu_seconds(os.getpid())
    await sink.poll()
    drops = udp_drops(sink.port)
    sink.records.save(out)
    await transport.close()
    print(
        json.dumps(
            {
                "received": sink.records.count,
                "invalid": sink.records.invalid,
                "truncated": sink.rx.truncated,
                "recv_errors": sink.rx.errors,
                "socket_drops": drops,
                "cpu_s": cpu_seconds(os.getpid()) - cpu0,
                "polls": sink.polls,
                "max_batch": sink.max_batch,
                **calls,
            }
        ),
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t0", type=float, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    gc.freeze()  # a bounded run: no collector pauses in the send/receive schedule
    gc.disable()
    import uvloop

    uvloop.run(serve(args.t0, args.out))


if __name__ == "__main__":
    main()
