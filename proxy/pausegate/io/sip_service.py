"""Runs the B2BUA core on real sockets and MediaHooks (SPEC §2). Adapter: decides nothing.

Rules:
1. Every received message goes through ``B2bua.receive_data``; the effects are run
   in order: sends, sync hooks, and the async hooks as tasks of this service's
   TaskGroup whose results are fed back to the core.
2. One ``loop.call_at`` timer, re-armed after every core call to the core's
   ``next_deadline`` (transaction timers and call deadlines).
3. Hook failures are a task boundary: logged, and the core told (``media_failed``
   for setup, ``media_released`` always follows teardown), so no call hangs.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from pausegate.calls.b2bua import B2bua, B2buaSettings, SipStatistics
from pausegate.calls.hooks import (
    CallLog,
    Effect,
    MediaAnswered,
    MediaHooks,
    SendMessage,
    SetupMedia,
    TeardownMedia,
    UpdateMedia,
)
from pausegate.errors import ConfigError, ResourceExhausted
from pausegate.io.sip_transport import SipTransport
from pausegate.io.tasks import TaskScope
from pausegate.sip.dialog import NewToken
from pausegate.sip.layer import Target
from pausegate.sip.message import SipMessage

log = logging.getLogger("pausegate.sip")


def random_token() -> str:
    return secrets.token_hex(8)


class SipService:
    """pausegate's SIP side: UDP+TCP transport, B2BUA core, hooks into the media side."""

    def __init__(
        self,
        settings: B2buaSettings,
        hooks: MediaHooks,
        *,
        new_token: NewToken = random_token,
        session_seed: int | None = None,
    ) -> None:
        self.settings = settings
        self.hooks = hooks
        self.new_token = new_token
        self.session_seed = session_seed
        self._core: B2bua | None = None
        self._transport: SipTransport | None = None
        self._scope = TaskScope()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._idle = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._scope.open()
        self._transport = SipTransport(self._on_data, self._on_send_failed, self._spawn)
        host, port = self.settings.listen
        try:
            bound = await self._transport.start(host, port)
        except OSError as exc:
            # Start-up stops with a message naming the key, not a traceback (SPEC §7).
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise ConfigError(f"sip.listen: cannot listen on {host}:{port} ({reason})") from None
        seed = self.session_seed
        if seed is None:
            seed = int(self._loop.time() * 1000) % 10**9
        self._core = B2bua(
            self.settings, local_port=bound, new_token=self.new_token, session_seed=seed
        )
        self._idle.set()
        log.info("SIP listening on %s:%d (udp+tcp)", host, bound)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            await self._transport.close()
        await self._scope.close()

    @property
    def port(self) -> int:
        return self._transport.port if self._transport is not None else 0

    @property
    def core(self) -> B2bua:
        if self._core is None:
            raise RuntimeError("SipService is not started")
        return self._core

    # -- the lead's controls ------------------------------------------------------------------
    def terminate_call(self, call_id: str, reason: str) -> None:
        """BYE both legs and tear the call down (RTP inactivity watchdog, shutdown)."""
        self._run(self.core.terminate_call(call_id, reason, self._now()))

    def signal_recorder(self, call_id: str, paused: bool) -> None:
        """SIPREC behaviour=signal: re-INVITE the recorder with a=inactive / a=sendonly."""
        self._run(self.core.signal_recorder(call_id, paused, self._now()))

    def begin_drain(self) -> None:
        """Graceful stop: new INVITEs get 503 with Retry-After; calls run on."""
        self.core.begin_drain()

    def active_calls(self) -> int:
        return self._core.active_calls() if self._core is not None else 0

    async def wait_idle(self, timeout_s: float) -> bool:
        """True when every call has ended within ``timeout_s``."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def statistics(self) -> SipStatistics:
        """The core's counters; TCP streams that could not be framed count as parse errors."""
        stats = self.core.statistics()
        if self._transport is None:
            return stats
        framing = self._transport.stats.tcp_framing_errors
        return replace(stats, parse_errors=stats.parse_errors + framing)

    # -- plumbing -----------------------------------------------------------------------------
    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _on_data(self, data: bytes, source: Target, stream: bool) -> None:
        if self._core is None:
            return
        self._run(self._core.receive_data(data, source, self._now(), stream=stream))

    def _on_send_failed(self, message: SipMessage) -> None:
        self._run(self.core.send_failed(message, self._now()))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._scope.spawn(coro)

    def _run(self, effects: list[Effect]) -> None:
        for effect in effects:
            match effect:
                case SendMessage(message, target):
                    assert self._transport is not None
                    self._transport.send(message, target)
                case SetupMedia():
                    self._spawn(self._setup(effect))
                case MediaAnswered(call_id, answers):
                    self.hooks.recorder_answered(call_id, answers)
                case UpdateMedia(call_id, streams):
                    self.hooks.update_call(call_id, streams)
                case TeardownMedia(call_id):
                    self._spawn(self._teardown(call_id))
                case CallLog(call_id, agent, state, detail):
                    extra = {"call_id": call_id, "agent": agent, "state": state}
                    log.info("call %s %s %s", call_id, state, detail, extra=extra)
        self._rearm()
        if self._core is not None:
            if self._core.active_calls() == 0:
                self._idle.set()
            else:
                self._idle.clear()

    async def _setup(self, effect: SetupMedia) -> None:
        call_id = effect.call.call_id
        try:
            local = await self.hooks.setup_call(effect.call, effect.streams)
        except ResourceExhausted as exc:
            log.warning("call %s: no media resources: %s", call_id, exc)
            self._run(self.core.media_failed(call_id, self._now()))
            return
        except Exception:  # task boundary: a hook bug must not leave the call hanging
            log.exception("call %s: media setup failed", call_id)
            self._run(self.core.media_failed(call_id, self._now()))
            return
        self._run(self.core.media_ready(call_id, list(local), self._now()))

    async def _teardown(self, call_id: str) -> None:
        try:
            await self.hooks.teardown_call(call_id)
        except Exception:  # task boundary: the BYE to the recorder must still leave
            log.exception("call %s: media teardown failed", call_id)
        self._run(self.core.media_released(call_id, self._now()))

    def _rearm(self) -> None:
        if self._core is None or self._loop is None:
            return
        deadline = self._core.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._run(self.core.handle_timer(self._now()))
