"""End-to-end rig: a running pausegate App and reference recorder on 127.0.0.1.

``e2e`` (an ``E2eRig``) starts, on free loopback ports chosen at random per test:

- ``await e2e.recorder()``: the reference ``RecorderServer`` writing into tmp_path/rec,
  RTP from 31000-31999;
- ``await e2e.app(mqtt_url, **overrides)``: ``App(load_config(overrides=...))`` with SIP
  and HTTP on free ports, RTP from 30000-30999, the recorder as ``sip.recorder``;
  it waits until ``/readyz`` would say ready;
- ``await e2e.watcher(mqtt_url, protocol)``: an MQTT client that keeps every pausegate
  event and publishes commands (QoS 1, JSON with ``at`` and ``id``).

Everything is stopped at teardown in reverse order. Ports stay clear of the baresip
harness (21000-29980) and of the kernel's ephemeral range.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import pytest_asyncio

from pausegate.app import App
from pausegate.config import load_config
from pausegate.control.commands import Scope
from pausegate.control.topics import control_topic
from pausegate.recorder.app import RecorderServer

HOST = "127.0.0.1"
PREFIX = "pausegate"
PAUSEGATE_RTP = (30000, 30999)
RECORDER_RTP = (31000, 31999)
SIGNALLING = (20000, 20999)  # SIP and HTTP ports of pausegate and the recorder
RTP_BLOCK = 32
READY_TIMEOUT_S = 10.0
_RNG = random.Random()
_HANDED_OUT: set[int] = set()


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                return False
    return True


def free_port(span: tuple[int, int] = SIGNALLING) -> int:
    """A UDP+TCP port free right now in ``span``, not handed out to a running test."""
    for _ in range(500):
        port = _RNG.randrange(span[0], span[1] + 1)
        if port not in _HANDED_OUT and _bindable(port):
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError(f"no free port in {span}")


def free_block(span: tuple[int, int], size: int = RTP_BLOCK) -> tuple[int, int]:
    """An inclusive block of ``size`` ports inside ``span`` (aligned to ``size``, so
    blocks never fragment the range), all free now."""
    for _ in range(200):
        base = span[0] + size * _RNG.randrange((span[1] + 1 - span[0]) // size)
        ports = range(base, base + size)
        if not any(p in _HANDED_OUT for p in ports) and all(_bindable(p) for p in ports):
            _HANDED_OUT.update(ports)
            return base, base + size - 1
    raise RuntimeError(f"no free block of {size} ports in {span}")


def release(ports: range | int) -> None:
    """Give ports back once the test that held them closed its sockets."""
    _HANDED_OUT.difference_update(range(ports, ports + 1) if isinstance(ports, int) else ports)


def epoch_ms() -> float:
    return time.time() * 1000.0


async def wait_until(
    predicate: Callable[[], object], timeout_s: float, step_s: float = 0.02
) -> bool:
    """Poll ``predicate`` until true or ``timeout_s``; whether it became true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(step_s)  # polling a condition, bounded by timeout_s
    return True


class IngressTap:
    """Test instrumentation: pausegate's own ingress arrival of every RTP packet.

    Wraps ``StreamGate.release_rtp`` (called when a packet leaves the hold-back, with
    the time it arrived) and keeps, per sequence number, the arrival as epoch ms.
    Reads header fields only, never a payload. ``install(monkeypatch)`` undoes itself
    at teardown.
    """

    def __init__(self) -> None:
        self.arrivals: dict[int, float] = {}  # seq -> ingress arrival (epoch ms)
        self.released: dict[int, float] = {}  # seq -> release time (epoch ms)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> IngressTap:
        from pausegate.gate.stream_gate import StreamGate

        original = StreamGate.release_rtp
        tap = self

        def release_rtp(gate: StreamGate, data: bytes, arrival: float, now: float) -> bytes | None:
            if len(data) >= 12:
                seq = int.from_bytes(data[2:4], "big")
                wall, mono = time.time() * 1000.0, time.monotonic()
                tap.arrivals[seq] = wall - (mono - arrival) * 1000.0
                tap.released[seq] = wall
            return original(gate, data, arrival, now)

        monkeypatch.setattr(StreamGate, "release_rtp", release_rtp)
        return self


class EventLog:
    """An MQTT client subscribed to every pausegate event; also publishes commands."""

    def __init__(self, url: str, protocol: int) -> None:
        host, _, port = url.removeprefix("mqtt://").partition(":")
        self.protocol = protocol
        self._client = aiomqtt.Client(
            host,
            int(port),
            identifier=f"e2e-{uuid.uuid4().hex[:10]}",
            protocol=aiomqtt.ProtocolVersion.V5 if protocol == 5 else aiomqtt.ProtocolVersion.V311,
            timeout=5.0,
        )
        self.events: list[dict[str, Any]] = []
        self.lost = False
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def __aenter__(self) -> EventLog:
        await self._client.__aenter__()
        await self._client.subscribe(f"{PREFIX}/v1/events/#", qos=1)
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(aiomqtt.MqttError):
            await self._client.__aexit__(None, None, None)

    async def _read(self) -> None:
        try:
            async for message in self._client.messages:
                with contextlib.suppress(ValueError, TypeError):
                    event = json.loads(bytes(message.payload))  # type: ignore[arg-type,unused-ignore]
                    if isinstance(event, dict):
                        event["_topic"] = str(message.topic)
                        event["_seen_ms"] = epoch_ms()
                        self.events.append(event)
                        self._changed.set()
        except aiomqtt.MqttError:
            self.lost = True

    def find(self, name: str, call_id: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e.get("event") == name
            and (call_id is None or e.get("call_id") == call_id or call_id in (e.get("keys") or []))
        ]

    async def wait(
        self, name: str, call_id: str | None = None, count: int = 1, timeout_s: float = 5.0
    ) -> dict[str, Any]:
        """The ``count``-th event ``name`` of the call; AssertionError on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(found := self.find(name, call_id)) < count:
            left = deadline - loop.time()
            if left <= 0:
                seen = [e.get("event") for e in self.events]
                raise AssertionError(
                    f"no {name} event #{count} for {call_id} in {timeout_s} s; saw {seen}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return found[count - 1]

    async def command(self, scope: Scope, key: str, action: str, **extra: Any) -> dict[str, Any]:
        """Publish a command stamped ``at`` = now (epoch ms) with a fresh ``id``; returns it."""
        payload: dict[str, Any] = {
            "action": action,
            "at": round(epoch_ms()),
            "id": f"e2e-{action}-{uuid.uuid4().hex[:12]}",
            "source": "e2e-test",
            **extra,
        }
        await self._client.publish(
            control_topic(PREFIX, scope, key), json.dumps(payload).encode(), qos=1
        )
        return payload


class E2eRig:
    """Starts the parts of one end-to-end run; ``close()`` stops them in reverse order."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.rec_dir = tmp_path / "rec"
        self.stack = contextlib.AsyncExitStack()
        self.rec: RecorderServer | None = None
        self.pg: App | None = None
        self.ports: list[range] = []

    def _port(self) -> int:
        port = free_port()
        self.ports.append(range(port, port + 1))
        return port

    def _block(self, span: tuple[int, int]) -> tuple[int, int]:
        low, high = free_block(span)
        self.ports.append(range(low, high + 1))
        return low, high

    async def recorder(self) -> RecorderServer:
        rec = RecorderServer((HOST, self._port()), HOST, self.rec_dir, self._block(RECORDER_RTP))
        await rec.start()
        self.stack.push_async_callback(rec.stop)
        self.rec = rec
        return rec

    def recorder_uri(self) -> str:
        assert self.rec is not None
        return f"sip:recorder@{HOST}:{self.rec.port}"

    def overrides(self, mqtt_url: str, **extra: str) -> dict[str, str]:
        low, high = self._block(PAUSEGATE_RTP)
        values = {
            "instance_id": f"pg-e2e-{uuid.uuid4().hex[:8]}",
            "sip.listen": f"{HOST}:{self._port()}",
            "sip.advertise": HOST,
            "sip.recorder": self.recorder_uri(),
            "rtp.ports": f"{low}-{high}",
            "rtp.port_quarantine_s": "1",
            "mqtt.url": mqtt_url,
            "mqtt.topic_prefix": PREFIX,
            "http.listen": f"{HOST}:{self._port()}",
            "log.level": "warning",
        }
        values.update(extra)
        return values

    async def app(self, mqtt_url: str, **extra: str) -> App:
        """pausegate on free ports with ``extra`` overrides (dotted keys); ready when returned."""
        if self.rec is None:
            await self.recorder()
        cfg = load_config(None, overrides=self.overrides(mqtt_url, **extra), env={})
        app = App(cfg)
        await app.start()
        self.stack.push_async_callback(app.stop)
        self.pg = app
        if not await wait_until(lambda: app.readiness()[0], READY_TIMEOUT_S):
            raise AssertionError(f"pausegate not ready: {app.readiness()[1]}")
        return app

    async def events(self, mqtt_url: str, protocol: int = 5) -> EventLog:
        return await self.stack.enter_async_context(EventLog(mqtt_url, protocol))

    async def recording(self, timeout_s: float = 8.0) -> Path:
        """The directory of the first call the recorder closed."""
        rec = self.rec
        assert rec is not None
        if not await wait_until(lambda: bool(rec.finished), timeout_s):
            raise AssertionError(f"the recorder closed no call within {timeout_s} s")
        return rec.finished[0]

    async def close(self) -> None:
        try:
            await self.stack.aclose()
        finally:
            for ports in self.ports:
                release(ports)


@pytest.fixture
def ingress(monkeypatch: pytest.MonkeyPatch) -> IngressTap:
    """pausegate's ingress arrival time of every RTP packet, by sequence number."""
    return IngressTap().install(monkeypatch)


@pytest_asyncio.fixture
async def e2e(tmp_path: Path) -> AsyncIterator[E2eRig]:
    rig = E2eRig(tmp_path)
    try:
        yield rig
    finally:
        await rig.close()
