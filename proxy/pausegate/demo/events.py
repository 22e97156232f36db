"""Demo adapter: one MQTT client publishing the demo's commands and following events (SPEC §5).

Rules:
1. Subscribes to ``{prefix}/v1/events/call/+`` and ``.../events/agent/+`` before the
   call starts, so no event of the demo call is missed.
2. The reader runs in the watcher's own task group and never fails: a lost
   broker connection only sets ``lost``.
3. Keeps only events whose ``keys`` (or ``call_id``) include the demo call, and
   describes them on one line each; a payload that is not a JSON object is
   counted and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiomqtt

from pausegate.control.commands import Scope

_QOS = 1


def describe_event(event: dict[str, Any]) -> str:
    """One line for a pausegate event: what happened and its timing, never a payload."""
    name = str(event.get("event"))
    match name:
        case "paused" | "resumed":
            text = (
                f"event {name}: effective at={event.get('at')} epoch ms,"
                f" received_at={event.get('received_at')}, media_ms={event.get('media_ms')},"
                f" cmd_id={event.get('cmd_id')}"
            )
            if event.get("clamped"):
                text += " (clamped to max_backdate_ms)"
            return text
        case "call_ended":
            pauses = event.get("pauses") or []
            spans = ", ".join(
                f"{p.get('start_ms')}-{p.get('end_ms')} ms" for p in pauses if isinstance(p, dict)
            )
            return (
                f"event call_ended: pauses [{spans or 'none'}] on the recorder's timeline,"
                f" leaked_ms={event.get('leaked_ms')},"
                f" verified={json.dumps(event.get('verified'))}"
            )
        case "command_rejected":
            return f"event command_rejected: {event.get('error')} (cmd_id={event.get('cmd_id')})"
        case _:
            return f"event {name}: at={event.get('at')}"


class EventWatcher:
    """Async context manager: connected client, subscribed to events, collecting them."""

    def __init__(
        self,
        url: str,
        protocol: int,
        prefix: str,
        on_event: Callable[[dict[str, Any]], None],
        client_id: str = "pausegate-demo",
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or parts.hostname is None:
            raise ValueError("MQTT URL must look like mqtt://HOST:PORT")
        self._client = aiomqtt.Client(
            parts.hostname,
            parts.port or (8883 if parts.scheme == "mqtts" else 1883),
            username=parts.username,
            password=parts.password,
            identifier=client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if protocol == 5 else aiomqtt.ProtocolVersion.V311,
            tls_params=aiomqtt.TLSParameters() if parts.scheme == "mqtts" else None,
            timeout=5.0,
        )
        self._prefix = prefix
        self._on_event = on_event
        self._call_id: str | None = None
        self.events: list[dict[str, Any]] = []
        self.invalid = 0
        self.lost = False  # the connection to the broker ended
        self._tg: asyncio.TaskGroup | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    def follow(self, call_id: str) -> None:
        """Keep the events of this call from now on."""
        self._call_id = call_id

    async def __aenter__(self) -> EventWatcher:
        await self._client.__aenter__()
        for scope in Scope:
            await self._client.subscribe(f"{self._prefix}/v1/events/{scope.value}/+", qos=_QOS)
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._reader = self._tg.create_task(self._read(), name="demo-events")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._tg is not None:
            tg, self._tg = self._tg, None
            await tg.__aexit__(None, None, None)
        await self._client.__aexit__(exc_type, exc, tb)

    async def publish(self, topic: str, payload: bytes) -> None:
        await self._client.publish(topic, payload, qos=_QOS)

    async def _read(self) -> None:
        """Collect events until cancelled; a lost broker ends it quietly (``lost`` says
        so), so the task group never cancels the demo for it."""
        try:
            async for message in self._client.messages:
                try:
                    event = json.loads(bytes(message.payload))
                except (ValueError, TypeError):
                    self.invalid += 1
                    continue
                if not isinstance(event, dict) or not self._mine(event):
                    continue
                self.events.append(event)
                self._on_event(event)
                self._changed.set()
        except aiomqtt.MqttError:
            self.lost = True

    def _mine(self, event: dict[str, Any]) -> bool:
        if self._call_id is None:
            return False
        keys = event.get("keys")
        return event.get("call_id") == self._call_id or (
            isinstance(keys, list) and self._call_id in keys
        )

    def find(self, name: str) -> dict[str, Any] | None:
        return next((e for e in self.events if e.get("event") == name), None)

    async def wait_event(self, name: str, timeout_s: float) -> dict[str, Any] | None:
        """The first event called ``name``, waiting up to ``timeout_s`` for it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while (found := self.find(name)) is None:
            left = deadline - loop.time()
            if left <= 0:
                return None
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return found
