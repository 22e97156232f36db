"""Adapter tests: hostile requests to the HTTP control API are answered 4xx and counted."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from pausegate.control.commands import Command, Scope
from pausegate.gate.events import CommandOutcome
from pausegate.io.http_server import HttpServer
from pausegate.metrics import ControlStats, PausegateCollector, build_registry

TOKEN = "t0ken-for-bad-input"


class _Control:
    def __init__(self) -> None:
        self.applied: list[tuple[Scope, str, Command]] = []

    def apply(self, scope: Scope, key: str, cmd: Command) -> CommandOutcome:
        self.applied.append((scope, key, cmd))
        return CommandOutcome(True, True, 1.0, None)

    def list_calls(self) -> list[dict[str, object]]:
        return []

    def get_call(self, key: str) -> dict[str, object] | None:
        return None


@pytest.mark.asyncio
async def test_unauthorised_requests_are_counted(caplog: pytest.LogCaptureFixture) -> None:
    stats = ControlStats()
    registry = build_registry(PausegateCollector([stats.snapshot]), process_metrics=False)
    control = _Control()
    server = HttpServer(
        ("127.0.0.1", 0), registry, lambda: (True, ""), control, token=TOKEN, stats=stats
    )
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            bad: tuple[dict[str, str], ...] = (
                {},
                {"Authorization": "Bearer wrong-secret-x"},
                {"Authorization": "Basic x"},
            )
            for headers in bad:
                async with session.post(f"{base}/v1/calls/c1/pause", headers=headers) as r:
                    assert r.status == 401
                async with session.get(f"{base}/v1/calls", headers=headers) as r:
                    assert r.status == 401
            good = {"Authorization": f"Bearer {TOKEN}"}
            deep = b'{"x":' + b"[" * 3000 + b"]" * 3000 + b"}"
            for body in (deep, b"\xff\xfe", b'{"at":' + b"9" * 400 + b"}"):
                async with session.post(f"{base}/v1/calls/c1/pause", headers=good, data=body) as r:
                    assert r.status == 400
    finally:
        await server.stop()
    assert control.applied == []
    assert stats.snapshot().counters["pausegate_bad_input_total"] == {("http",): 9}
    assert "wrong-secret-x" not in caplog.text


async def _raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(200), 5)
    finally:
        writer.close()


@pytest.mark.asyncio
async def test_unparseable_requests_are_counted_and_logged_without_content(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stats = ControlStats()
    registry = build_registry(PausegateCollector([stats.snapshot]), process_metrics=False)
    server = HttpServer(("127.0.0.1", 0), registry, lambda: (True, ""), _Control(), stats=stats)
    await server.start()
    secret = b"card-4111111111111111"
    try:
        with caplog.at_level(logging.DEBUG):
            for data in (
                b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Long: " + secret * 1000 + b"\r\n\r\n",
                b"POST /v1/calls/c/pause HTTP/1.1\r\nHost: x\r\nContent-Length: -"
                + secret
                + b"\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: x\r\nBad Header " + secret + b"\r\n\r\n",
                secret + b" / HTTP/1.1\r\n\r\n",  # a bad method, which aiohttp logs at DEBUG
            ):
                reply = await _raw(server.port, data)
                assert reply.startswith(b"HTTP/1.")
                assert b" 400 " in reply[:20]
    finally:
        await server.stop()
    assert stats.snapshot().counters["pausegate_bad_input_total"] == {("http",): 4}
    assert secret.decode() not in caplog.text
    assert "Traceback" not in caplog.text
    assert "malformed HTTP request answered 400" in caplog.text
