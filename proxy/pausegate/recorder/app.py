"""The reference recorder: SIP UAS core on real sockets, writing through RecordingSink. Adapter.

Rules:
1. ``RecorderUas`` decides; this module only moves bytes, opens and closes sink
   streams, and runs the core's timer (one ``loop.call_at``).
2. A sink failure while opening streams answers 503 (``streams_failed``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from pausegate.calls.hooks import SendMessage
from pausegate.errors import ResourceExhausted
from pausegate.io.sip_transport import SipTransport
from pausegate.io.tasks import TaskScope
from pausegate.recorder.sink import RecordingSink
from pausegate.recorder.uas import (
    CloseRecording,
    OpenRecording,
    RecorderUas,
    UasEffect,
    UpdateRecording,
)
from pausegate.sip.layer import Target
from pausegate.sip.message import SipMessage

log = logging.getLogger("pausegate.recorder")


class RecorderServer:
    """`pausegate recorder`: answers INVITEs and records every stream to WAV + JSON."""

    def __init__(
        self,
        listen: tuple[str, int],
        advertise: str,
        out_dir: Path,
        rtp_ports: tuple[int, int],
    ) -> None:
        self.listen = listen
        self.advertise = advertise
        self.out_dir = out_dir
        self.rtp_ports = rtp_ports
        self.sink = RecordingSink(out_dir, listen[0], rtp_ports)
        self.finished: list[Path] = []  # directories of recordings closed so far
        self._core: RecorderUas | None = None
        self._transport: SipTransport | None = None
        self._scope = TaskScope()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        await self._scope.open()
        self._transport = SipTransport(self._on_data, self._on_send_failed, self._spawn)
        port = await self._transport.start(*self.listen)
        self._core = RecorderUas(self.advertise, port, lambda: secrets.token_hex(8))
        log.info("recorder listening on %s:%d (udp+tcp)", self.listen[0], port)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._transport is not None:
            await self._transport.close()
        await self._scope.close()
        await self.sink.close()

    @property
    def port(self) -> int:
        return self._transport.port if self._transport is not None else 0

    @property
    def active_calls(self) -> int:
        return len(self._core.calls) if self._core is not None else 0

    # -- plumbing -------------------------------------------------------------------------------
    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _on_data(self, data: bytes, source: Target, stream: bool) -> None:
        assert self._core is not None
        self._run(self._core.receive_data(data, source, self._now(), stream=stream))

    def _on_send_failed(self, message: SipMessage) -> None:
        log.info("recorder could not send a SIP message")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._scope.spawn(coro)

    def _run(self, effects: list[UasEffect]) -> None:
        assert self._core is not None
        assert self._loop is not None
        for effect in effects:
            match effect:
                case SendMessage(message, target):
                    assert self._transport is not None
                    self._transport.send(message, target)
                case OpenRecording():
                    self._spawn(self._open(effect))
                case UpdateRecording(call_id, sdp, metadata):
                    self.sink.set_metadata(call_id, sdp, metadata)
                case CloseRecording(call_id):
                    self.finished.append(self.sink.close_call(call_id))
                    log.info("recording %s closed", call_id)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self._core.next_deadline()
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        assert self._core is not None
        self._run(self._core.handle_timer(self._now()))

    async def _open(self, effect: OpenRecording) -> None:
        assert self._core is not None
        self.sink.set_metadata(effect.call_id, effect.sdp_offer, effect.metadata)
        ports: list[tuple[int, int]] = []
        try:
            for label, codecs in effect.streams:
                stream = await self.sink.open_stream(effect.call_id, label, codecs)
                ports.append((stream.rtp_port, stream.rtcp_port))
        except (ResourceExhausted, OSError) as exc:
            log.warning("recording %s: cannot open streams: %s", effect.call_id, exc)
            self._run(self._core.streams_failed(effect.call_id, self._now()))
            return
        log.info("recording %s: %d stream(s) open", effect.call_id, len(ports))
        self._run(self._core.streams_ready(effect.call_id, ports, self._now()))


async def run_recorder(
    listen: tuple[str, int], advertise: str, out_dir: Path, rtp_ports: tuple[int, int]
) -> None:
    """Run the reference recorder until cancelled."""
    server = RecorderServer(listen, advertise, out_dir, rtp_ports)
    await server.start()
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
