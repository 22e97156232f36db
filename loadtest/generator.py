"""Load harness: the generator process (SIP calls, RTP on the 20 ms grid, MQTT commands). Adapter.

Usage (started by loadtest.run): python -m loadtest.generator --config FILE
Rules:
1. Packet ``i`` of stream ``s`` is due at ``t0 + 0.02 i + 0.001 (s % 20)`` (epoch s);
   every wake-up sends all due slots with one sendmmsg each from one socket, so a
   late wake-up sends late but never skips; the lag of each slot (actual - due) is
   recorded, as is the process's own CPU.
2. A stream sends from the first grid slot after its call is up until its planned
   end, then the call gets a BYE. Commands are published at their planned times
   (QoS 1) with their planned ``at``; the actual publish times are logged.
3. pausegate's events (paused, resumed, call_ended, command_rejected) are
   recorded with their local arrival time.
4. At the end the log (JSON) is written: per call setup result and streams'
   first/last index, per pause the publish times, the events, lag and CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np

from loadtest.mmsg import BatchSender, big_buffers
from loadtest.payload import (
    BODY,
    HEAD,
    PTIME_S,
    SLOTS,
    TIME_UNIT_S,
    body_addresses,
    fill,
    init_headers,
)
from loadtest.plan import PlannedCall, PlannedPause, make_plan
from loadtest.relay_bench import cpu_seconds
from loadtest.uac import SetupFailed, Uac
from pausegate.control.commands import Action, Command, Scope, serialize_command
from pausegate.control.topics import control_topic

HOST = "127.0.0.1"


class Media:
    """Every stream's packets; ``tick()`` sends what is due."""

    def __init__(self, sock: socket.socket, capacity: int, t0: float, batch_slots: int = 2) -> None:
        self.sender = BatchSender(sock, capacity, HEAD, BODY)
        init_headers(self.sender.buf, np.arange(capacity, dtype=np.int64))
        self.t0 = t0
        self.capacity = capacity
        self.start = np.full(capacity, -1, np.int64)  # first grid index, -1 = not started
        self.stop = np.full(capacity, -1, np.int64)  # first index not sent
        self.sent = np.zeros(capacity, np.int64)
        self.active: list[set[int]] = [set() for _ in range(SLOTS)]
        self._arrays: list[np.ndarray] = [np.zeros(0, np.int64) for _ in range(SLOTS)]
        self._dirty = [False] * SLOTS
        self.next_slot = 0  # global slot counter: index = slot // 20, phase = slot % 20
        self.lag_hist = np.zeros(2001, np.int64)  # packets by send lag in 0.1 ms bins (last: more)
        self.lag_by_s: dict[int, float] = {}
        self.max_lag = 0.0
        self.batch_slots = batch_slots  # wake once per this many 1 ms slots

    def due(self, slot: int) -> float:
        return self.t0 + (slot // SLOTS) * PTIME_S + (slot % SLOTS) * (PTIME_S / SLOTS)

    def index_at(self, t: float) -> int:
        """The first grid index whose slots are all still ahead at time ``t``."""
        return int(np.ceil((t - self.t0) / PTIME_S)) + 1

    def add(self, stream: int, host: str, port: int, first: int, stop: int) -> None:
        self.sender.set_destination(stream, host, port)
        self.start[stream] = first
        self.stop[stream] = stop
        phase = stream % SLOTS
        self.active[phase].add(stream)
        self._dirty[phase] = True

    def end(self, stream: int, stop: int) -> None:
        self.stop[stream] = min(self.stop[stream], stop)

    def tick(self, now: float) -> None:
        """Send every slot due by ``now``, in batches of at most 20 slots (a stream's
        head buffer holds one packet, so a batch may name each stream only once)."""
        while self.due(self.next_slot) <= now:
            self._batch(now)

    def _batch(self, now: float) -> None:
        groups: list[np.ndarray] = []
        indices: list[int] = []
        dues: list[float] = []
        first_slot = self.next_slot
        while self.due(self.next_slot) <= now and self.next_slot - first_slot < SLOTS:
            slot = self.next_slot
            self.next_slot += 1
            phase = slot % SLOTS
            if self._dirty[phase]:
                self._arrays[phase] = np.fromiter(sorted(self.active[phase]), np.int64)
                self._dirty[phase] = False
            if len(self._arrays[phase]):
                groups.append(self._arrays[phase])
                indices.append(slot // SLOTS)
                dues.append(self.due(slot))
        if not groups:
            return
        go = np.concatenate(groups) if len(groups) > 1 else groups[0]
        idx = np.repeat(np.asarray(indices, np.int64), [len(g) for g in groups])
        live = (self.start[go] <= idx) & (self.stop[go] > idx)
        if not live.all():
            for stream in go[self.stop[go] <= idx].tolist():
                self.active[stream % SLOTS].discard(stream)
                self._dirty[stream % SLOTS] = True
            go, idx = go[live], idx[live]
            if not len(go):
                return
        sent_at = time.time()
        fill(self.sender.buf, go, idx, round((sent_at - self.t0) / TIME_UNIT_S))
        self.sender.set_bodies(go, body_addresses(go, idx))
        self.sender.send(go)
        self.sent[go] += 1
        for group, due in zip(groups, dues, strict=True):
            lag = sent_at - due
            self.lag_hist[min(int(lag * 1e4), 2000)] += len(group)
            self.max_lag = max(self.max_lag, lag)
        sec = int(sent_at - self.t0)
        self.lag_by_s[sec] = max(self.lag_by_s.get(sec, 0.0), sent_at - dues[0])

    async def run(self, until: float) -> None:
        while True:
            now = time.time()
            self.tick(now)
            if now >= until:
                return
            wake = self.due(self.next_slot + self.batch_slots - 1)
            await asyncio.sleep(max(0.0, wake - time.time()))


class Generator:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.t0: float = cfg["t0"]
        self.seconds: float = cfg["seconds"]
        self.prefix: str = cfg.get("prefix", "pausegate")
        self.calls_log: list[dict[str, Any]] = []
        self.pause_log: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.mqtt: Any = None
        self.publish_errors = 0
        self.event_wait_s = 0.0
        self._all_ended = asyncio.Event()
        self._all_ended_at = 1 << 30

    async def run(self) -> dict[str, Any]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((HOST, 0))
        big_buffers(sock)
        sock.setblocking(False)
        rtp_port = sock.getsockname()[1]
        bare = self.cfg.get("bare_ports")
        plan: list[PlannedCall] = []
        if bare is None:
            plan = make_plan(
                self.cfg["calls"],
                self.seconds,
                self.cfg["ramp_s"],
                self.cfg["hold_s"],
                self.cfg["seed"],
                max_backdate_ms=self.cfg.get("max_backdate_ms", 150.0),
                pause_every_s=self.cfg.get("pause_every_s", 6.0),
            )
            capacity = 2 * len(plan)
        else:
            capacity = len(bare)
        media = Media(sock, max(capacity, 1), self.t0, int(self.cfg.get("batch_slots", 2)))
        cpu0 = cpu_seconds(os.getpid())
        end = self.t0 + self.seconds
        if bare is not None:
            first = media.index_at(self.t0)
            stop = int((self.seconds) / PTIME_S)
            for s, port in enumerate(bare):
                media.add(s, HOST, int(port), first, stop)
            await media.run(end)
        else:
            await self._run_calls(plan, media, rtp_port, end)
        cpu = cpu_seconds(os.getpid()) - cpu0
        return {
            "t0": self.t0,
            "seconds": self.seconds,
            "rtp_port": rtp_port,
            "streams_first": media.start.tolist(),
            "streams_stop": media.stop.tolist(),
            "streams_sent": media.sent.tolist(),
            "send_errors": media.sender.errors,
            "lag_hist_01ms": media.lag_hist.tolist(),
            "lag_max_s": media.max_lag,
            "lag_by_second": {str(k): v for k, v in sorted(media.lag_by_s.items())},
            "cpu_s": cpu,
            "calls": self.calls_log,
            "pauses": self.pause_log,
            "events": self.events,
            "publish_errors": self.publish_errors,
            "event_wait_s": self.event_wait_s,
        }

    async def _run_calls(
        self, plan: list[PlannedCall], media: Media, rtp_port: int, end: float
    ) -> None:
        import aiomqtt

        host, port = self.cfg["pausegate_sip"]
        uac = Uac(HOST, (host, int(port)), rtp_port)
        await uac.open()
        url = self.cfg["mqtt"]
        mhost, mport = url.split("://", 1)[1].rsplit(":", 1)
        async with aiomqtt.Client(
            mhost,
            int(mport),
            identifier=f"loadtest-{os.getpid()}",
            protocol=aiomqtt.ProtocolVersion.V5,
        ) as client:
            self.mqtt = client
            await client.subscribe(f"{self.prefix}/v1/events/#", qos=1)
            listener = asyncio.create_task(self._listen(client))
            media_task = asyncio.create_task(media.run(end + 0.05))
            async with asyncio.TaskGroup() as tg:
                for call in plan:
                    tg.create_task(self._call(call, uac, media))
            await media_task
            # pausegate's events lag under load: wait (bounded) for every call_ended
            self._all_ended_at = sum(1 for c in self.calls_log if "up_at" in c)
            if self._ended() < self._all_ended_at:
                started = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._all_ended.wait(), float(self.cfg.get("event_grace_s", 20.0))
                    )
                self.event_wait_s = time.monotonic() - started
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    def _ended(self) -> int:
        return sum(1 for e in self.events if e.get("event") == "call_ended")

    async def _listen(self, client: Any) -> None:
        keep = {"paused", "resumed", "call_ended", "command_rejected"}
        async for message in client.messages:
            try:
                event = json.loads(message.payload)
            except (ValueError, TypeError):
                continue
            if isinstance(event, dict) and event.get("event") in keep:
                event["_rx"] = time.time()
                event.pop("keys", None)
                self.events.append(event)
                if event["event"] == "call_ended" and self._ended() >= self._all_ended_at:
                    self._all_ended.set()

    async def _sleep_until(self, t: float) -> None:
        delay = t - time.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _call(self, call: PlannedCall, uac: Uac, media: Media) -> None:
        rec: dict[str, Any] = {
            "index": call.index,
            "call_id": call.call_id,
            "streams": list(call.streams),
            "planned_start": call.start,
            "planned_end": call.end,
        }
        self.calls_log.append(rec)
        await self._sleep_until(self.t0 + call.start)
        rec["invite_at"] = time.time()
        try:
            addrs = await uac.invite(
                call.call_id, call.session, call.agent, call.call_id.split("@")[0][-8:]
            )
        except SetupFailed as exc:
            rec["failed"] = str(exc)
            return
        now = time.time()
        rec["up_at"] = now
        first = media.index_at(now)
        stop = int((call.end) / PTIME_S)
        if stop <= first:
            stop = first + 1
        for stream, (host, port) in zip(call.streams, addrs, strict=True):
            media.add(stream, host, port, first, stop)
        rec["first_index"] = first
        async with asyncio.TaskGroup() as tg:
            for pause in call.pauses:
                if self.t0 + pause.start < now + 0.1:
                    continue  # the call came up too late for it
                tg.create_task(self._pause(call, pause))
        await self._sleep_until(self.t0 + stop * PTIME_S + 0.03)
        try:
            rec["bye_status"] = await uac.bye(call.call_id)
        except SetupFailed as exc:
            rec["bye_failed"] = str(exc)

    async def _pause(self, call: PlannedCall, pause: PlannedPause) -> None:
        scope = Scope.AGENT if pause.scope == "agent" else Scope.CALL
        key = {"agent": call.agent, "session": call.session}.get(pause.key_kind, call.call_id)
        topic = control_topic(self.prefix, scope, key)
        rec: dict[str, Any] = {
            "call": call.index,
            "scope": pause.scope,
            "key_kind": pause.key_kind,
            "pause_id": pause.pause_id,
            "resume_id": pause.resume_id,
            "at": self.t0 + pause.start,
            "resume_at": self.t0 + pause.end,
            "backdate_ms": pause.backdate_ms,
            "duplicate": pause.duplicate,
        }
        self.pause_log.append(rec)
        pause_at_ms = round((self.t0 + pause.start) * 1000.0)
        rec["at"] = pause_at_ms / 1000.0
        await self._sleep_until(self.t0 + pause.start + pause.backdate_ms / 1000.0)
        cmd = Command(
            Action.PAUSE,
            at_ms=float(pause_at_ms),
            id=pause.pause_id,
            reason="loadtest",
            source="loadtest",
        )
        rec["published"] = await self._publish(topic, cmd, pause.duplicate)
        resume_at_ms = round((self.t0 + pause.end) * 1000.0)
        rec["resume_at"] = resume_at_ms / 1000.0
        await self._sleep_until(resume_at_ms / 1000.0)
        cmd = Command(
            Action.RESUME,
            at_ms=float(resume_at_ms),
            id=pause.resume_id,
            reason="loadtest",
            source="loadtest",
        )
        rec["resume_published"] = await self._publish(topic, cmd, pause.duplicate)

    async def _publish(self, topic: str, cmd: Command, duplicate: bool) -> float:
        payload = serialize_command(cmd)
        t = time.time()
        try:
            await self.mqtt.publish(topic, payload, qos=1)
            if duplicate:
                await asyncio.sleep(0.02)
                await self.mqtt.publish(topic, payload, qos=1)
        except Exception:  # a broken broker must not stop the run; counted
            self.publish_errors += 1
        return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    cfg = json.loads(args.config.read_text())
    gc.freeze()  # a bounded run: no collector pauses in the send/receive schedule
    gc.disable()
    import uvloop

    prof_path = os.environ.get("LOADTEST_GEN_PROFILE")  # cProfile the generator itself
    if prof_path:
        import cProfile

        with cProfile.Profile() as prof:
            result = uvloop.run(Generator(cfg).run())
        prof.dump_stats(prof_path)
    else:
        result = uvloop.run(Generator(cfg).run())
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
