"""Adapter tests for pausegate.io.http_server on a real 127.0.0.1 port with aiohttp's client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
import pytest_asyncio

from pausegate.control.commands import Action, Behaviour, Command, Scope
from pausegate.errors import ConfigError
from pausegate.gate.events import CommandOutcome
from pausegate.io.http_server import HttpServer
from pausegate.metrics import ControlStats, PausegateCollector, build_registry

TOKEN = "t0ken-for-tests"


@dataclass
class FakeControl:
    applied: list[tuple[Scope, str, Command]] = field(default_factory=list)
    refuse: bool = False

    def apply(self, scope: Scope, key: str, cmd: Command) -> CommandOutcome:
        self.applied.append((scope, key, cmd))
        if self.refuse:
            return CommandOutcome(False, None, None, "refused")
        return CommandOutcome(True, cmd.action is Action.PAUSE, 1234.0, None)

    def list_calls(self) -> list[dict[str, object]]:
        return [{"call_id": "c1", "paused": False}]

    def get_call(self, key: str) -> dict[str, object] | None:
        return {"call_id": key, "paused": True} if key in ("c1", "a/b") else None


@dataclass
class Served:
    base: str
    control: FakeControl
    stats: ControlStats
    ready: list[tuple[bool, str]]
    session: aiohttp.ClientSession


async def serve(token: str | None) -> tuple[HttpServer, Served]:
    stats = ControlStats()
    registry = build_registry(PausegateCollector([stats.snapshot]), process_metrics=False)
    control = FakeControl()
    ready = [(False, "sip not bound")]
    server = HttpServer(
        ("127.0.0.1", 0), registry, lambda: ready[0], control, token=token, stats=stats
    )
    await server.start()
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    return server, Served(f"http://127.0.0.1:{server.port}", control, stats, ready, session)


@pytest_asyncio.fixture
async def open_api() -> AsyncIterator[Served]:
    server, served = await serve(None)
    yield served
    await served.session.close()
    await server.stop()


@pytest_asyncio.fixture
async def locked_api() -> AsyncIterator[Served]:
    server, served = await serve(TOKEN)
    yield served
    await served.session.close()
    await server.stop()


@pytest.mark.asyncio
async def test_operations_endpoints(open_api: Served) -> None:
    s = open_api
    async with s.session.get(f"{s.base}/healthz") as r:
        assert r.status == 200
        assert (await r.text()).strip() == "ok"
    async with s.session.get(f"{s.base}/readyz") as r:
        assert r.status == 503
        assert "sip not bound" in await r.text()
    s.ready[0] = (True, "")
    async with s.session.get(f"{s.base}/readyz") as r:
        assert r.status == 200
    s.stats.set_mqtt_connected(True)
    async with s.session.get(f"{s.base}/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    assert "pausegate_mqtt_connected 1.0" in text
    assert 'pausegate_rtp_packets_total{outcome="wrong_source"} 0.0' in text


@pytest.mark.asyncio
async def test_pause_resume_with_and_without_body(open_api: Served) -> None:
    s = open_api
    body = {"at": 1000, "id": "x1", "reason": "card", "source": "crm", "behaviour": "drop"}
    async with s.session.post(f"{s.base}/v1/calls/c1/pause", json=body) as r:
        assert r.status == 200
        assert await r.json() == {"ok": True, "paused": True, "effective_at": 1234, "error": None}
    async with s.session.post(f"{s.base}/v1/calls/c1/resume") as r:
        assert r.status == 200
        assert (await r.json())["paused"] is False
    async with s.session.post(f"{s.base}/v1/agents/agent-7/pause") as r:
        assert r.status == 200
    assert s.control.applied == [
        (Scope.CALL, "c1", Command(Action.PAUSE, 1000.0, "x1", "card", "crm", Behaviour.DROP)),
        (Scope.CALL, "c1", Command(Action.RESUME)),
        (Scope.AGENT, "agent-7", Command(Action.PAUSE)),
    ]


@pytest.mark.asyncio
async def test_keys_with_slashes_and_escapes(open_api: Served) -> None:
    s = open_api
    async with s.session.post(f"{s.base}/v1/calls/a%2Fb/pause") as r:
        assert r.status == 200
    async with s.session.post(f"{s.base}/v1/calls/x%20y@host/pause") as r:
        assert r.status == 200
    assert [k for _, k, _ in s.control.applied] == ["a/b", "x y@host"]
    async with s.session.get(f"{s.base}/v1/calls/a%2Fb") as r:
        assert r.status == 200
        assert (await r.json())["call_id"] == "a/b"


@pytest.mark.asyncio
async def test_bad_bodies_are_400_and_counted(open_api: Served) -> None:
    s = open_api
    for data in (b"{nope", b"[1]", b'{"at": "soon"}', b'{"action": "resume"}', b"x" * 9000):
        async with s.session.post(f"{s.base}/v1/calls/c1/pause", data=data) as r:
            assert r.status in (400, 413)
            if r.status == 400:
                reply = await r.json()
                assert reply["ok"] is False
                assert reply["error"]
                assert "soon" not in reply["error"]
    assert s.control.applied == []
    snap = s.stats.snapshot()
    assert snap.counters["pausegate_bad_input_total"] == {("http",): 5}


@pytest.mark.asyncio
async def test_gate_refusal_is_409(open_api: Served) -> None:
    s = open_api
    s.control.refuse = True
    async with s.session.post(f"{s.base}/v1/calls/c1/pause") as r:
        assert r.status == 409
        assert (await r.json())["error"] == "refused"


@pytest.mark.asyncio
async def test_calls_listing(open_api: Served) -> None:
    s = open_api
    async with s.session.get(f"{s.base}/v1/calls") as r:
        assert await r.json() == {"calls": [{"call_id": "c1", "paused": False}]}
    async with s.session.get(f"{s.base}/v1/calls/c1") as r:
        assert (await r.json())["paused"] is True
    async with s.session.get(f"{s.base}/v1/calls/zzz") as r:
        assert r.status == 404


@pytest.mark.asyncio
async def test_bearer_token(locked_api: Served) -> None:
    s = locked_api
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        async with s.session.post(f"{s.base}/v1/calls/c1/pause", headers=headers) as r:
            assert r.status == 401
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
        async with s.session.get(f"{s.base}/v1/calls", headers=headers) as r:
            assert r.status == 401
    good = {"Authorization": f"Bearer {TOKEN}"}
    async with s.session.post(f"{s.base}/v1/calls/c1/pause", headers=good) as r:
        assert r.status == 200
    async with s.session.get(f"{s.base}/metrics") as r:  # operations stay open
        assert r.status == 200
    assert len(s.control.applied) == 1


@pytest.mark.asyncio
async def test_port_in_use_raises_and_stop_is_idempotent(open_api: Served) -> None:
    port = int(open_api.base.rsplit(":", 1)[1])
    other = HttpServer(
        ("127.0.0.1", port), build_registry(PausegateCollector(), process_metrics=False),
        lambda: (True, ""),
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"^http\.listen: cannot listen on .*in use"):
        await other.start()
    await other.stop()
