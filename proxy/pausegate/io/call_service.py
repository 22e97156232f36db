"""Call service: joins the B2BUA's media hooks to the media engine and the gate core. Adapter.

Rules:
1. A call exists in the gate from setup_call until teardown_call; every stream of
   it is gated by the call's CallGate (SPEC §4: all directions gated together).
2. Teardown waits until the call's held-back packets have left (SPEC §3) before
   the call is ended in the gate and its sockets are closed, bounded by
   ``drain_timeout_s`` so a stuck call cannot hold a BYE forever.
3. Events go to ``publish`` (non-blocking); nothing here awaits the network
   except the bounded drain wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pausegate.calls.model import LocalStream, StreamAnswer, StreamOffer
from pausegate.errors import ResourceExhausted
from pausegate.gate.events import CallIdentity, GateEvent

log = logging.getLogger("pausegate.calls")


class StreamGateLike(Protocol):
    def release_rtp(self, data: bytes, arrival: float, now: float) -> bytes | None: ...
    def release_rtcp(self, data: bytes, arrival: float, now: float) -> bytes | None: ...


class MediaStreamLike(Protocol):
    ingress_rtp_port: int
    ingress_rtcp_port: int
    egress_rtp_port: int
    egress_rtcp_port: int

    def set_source(
        self, rtp: tuple[str, int] | None, rtcp: tuple[str, int] | None, rtcp_mux: bool
    ) -> None: ...
    def set_target(
        self, rtp: tuple[str, int] | None, rtcp: tuple[str, int] | None, rtcp_mux: bool
    ) -> None: ...


@dataclass(slots=True)
class _Call:
    identity: CallIdentity
    gate: object  # CallGate
    streams: dict[str, tuple[MediaStreamLike, object]] = field(default_factory=dict)
    started: float = 0.0


def wall_ms() -> float:
    return time.time() * 1000.0


class CallService:
    """Implements the B2BUA's MediaHooks on top of MediaEngine and GateCore."""

    def __init__(
        self,
        gate_core: object,
        media: object,
        publish: Callable[[Iterable[GateEvent]], None],
        *,
        drain_timeout_s: float = 5.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._gate = gate_core
        self._media = media
        self._publish = publish
        self._drain_timeout_s = drain_timeout_s
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._calls: dict[str, _Call] = {}
        self.calls_total = 0

    # -- views -------------------------------------------------------------

    @property
    def calls(self) -> dict[str, _Call]:
        return self._calls

    def active_calls(self) -> int:
        return len(self._calls)

    def paused_calls(self) -> int:
        return sum(1 for c in self._calls.values() if getattr(c.gate, "paused", False))

    # -- MediaHooks ---------------------------------------------------------

    async def setup_call(
        self, call: CallIdentity, streams: Sequence[StreamOffer]
    ) -> Sequence[LocalStream]:
        if call.call_id in self._calls:
            raise ResourceExhausted(f"call {call.call_id} is already set up")
        now = self._clock()
        call_gate, events = self._gate.add_call(call, now, wall_ms())  # type: ignore[attr-defined]
        entry = _Call(call, call_gate, started=now)
        self._calls[call.call_id] = entry
        local: list[LocalStream] = []
        try:
            for offer in streams:
                stream_gate = call_gate.add_stream(offer.label, offer.codecs)
                ms = await self._media.open_stream(call.call_id, offer.label, stream_gate)  # type: ignore[attr-defined]
                entry.streams[offer.label] = (ms, stream_gate)
                ms.set_source(offer.rtp, offer.rtcp, offer.rtcp_mux)
                local.append(
                    LocalStream(
                        ms.ingress_rtp_port,
                        ms.ingress_rtcp_port,
                        ms.egress_rtp_port,
                        ms.egress_rtcp_port,
                    )
                )
        except BaseException:
            self._abort(call.call_id)
            raise
        self.calls_total += 1
        self._publish(events)
        log.info(
            "call set up",
            extra={"call_id": call.call_id, "agent": call.agent, "streams": len(local)},
        )
        return local

    def recorder_answered(self, call_id: str, answers: Sequence[StreamAnswer]) -> None:
        entry = self._calls.get(call_id)
        if entry is None:
            return
        for answer in answers:
            pair = entry.streams.get(answer.label)
            if pair is not None:
                pair[0].set_target(answer.rtp, answer.rtcp, answer.rtcp_mux)

    def update_call(self, call_id: str, streams: Sequence[StreamOffer]) -> None:
        entry = self._calls.get(call_id)
        if entry is None:
            return
        for offer in streams:
            pair = entry.streams.get(offer.label)
            if pair is None:
                continue
            ms, stream_gate = pair
            ms.set_source(offer.rtp, offer.rtcp, offer.rtcp_mux)
            entry.gate.update_stream(stream_gate, offer.codecs)  # type: ignore[attr-defined]

    async def teardown_call(self, call_id: str) -> None:
        entry = self._calls.get(call_id)
        if entry is None:
            return
        try:
            await asyncio.wait_for(
                self._media.wait_drained(call_id),  # type: ignore[attr-defined]
                self._drain_timeout_s,
            )
        except TimeoutError:
            log.warning("call did not drain in time", extra={"call_id": call_id})
        if self._calls.pop(call_id, None) is None:
            return
        now = self._clock()
        self._media.close_call(call_id, now)  # type: ignore[attr-defined]
        ended = self._gate.end_call(call_id, now, wall_ms())  # type: ignore[attr-defined]
        self._publish([ended])
        log.info("call ended", extra={"call_id": call_id, "agent": entry.identity.agent})

    def _abort(self, call_id: str) -> None:
        if self._calls.pop(call_id, None) is None:
            return
        now = self._clock()
        self._media.close_call(call_id, now)  # type: ignore[attr-defined]
        self._gate.end_call(call_id, now, wall_ms())  # type: ignore[attr-defined]

    # -- watchdog ------------------------------------------------------------

    def inactive_calls(self, now: float, timeout_s: float) -> list[str]:
        """Calls whose RTP has been silent for longer than timeout_s (zombies)."""
        out = []
        for call_id, entry in self._calls.items():
            last = self._media.last_activity(call_id)  # type: ignore[attr-defined]
            since = entry.started if last is None else last
            if now - since > timeout_s:
                out.append(call_id)
        return out
