"""Composition root: builds the cores and adapters from Config and runs them in one TaskGroup.

Rules:
1. Everything long-running is a task of ``App``'s TaskGroup: the MQTT adapter and
   the ticker (gate timers, RTP inactivity watchdog).
2. Commands from MQTT and HTTP reach the same GateCore; their events are published
   through the MQTT adapter, and under ``behaviour = signal`` the recorder is told
   after the gate already withholds the media (SPEC §4).
3. Graceful stop (SPEC §2): readiness turns false, new INVITEs get 503, calls run
   on until they end or ``drain_timeout_s`` passes; then the rest are ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Iterable, Mapping

from pausegate.app_metrics import gate_snapshot, packets_snapshot, sip_snapshot
from pausegate.calls.b2bua import B2buaSettings
from pausegate.config import Config
from pausegate.control.audit import AuditLog
from pausegate.control.commands import Command, Scope
from pausegate.errors import ConfigError
from pausegate.gate import GateConfig, GateCore, OnControlLoss
from pausegate.gate.events import CallStateChanged, CommandOutcome, GateEvent
from pausegate.io.call_service import CallService
from pausegate.io.http_server import HttpServer
from pausegate.io.mqtt_client import MqttControl, MqttSettings
from pausegate.io.rtp_transport import MediaEngine, raise_nofile_limit
from pausegate.io.sip_service import SipService
from pausegate.logs import setup_logging
from pausegate.metrics import (
    ControlStats,
    HistogramSnapshot,
    PausegateCollector,
    Series,
    StatsSnapshot,
    build_registry,
)
from pausegate.rtp.ports import PortAllocator

log = logging.getLogger("pausegate")

TICK_S = 0.05
WATCHDOG_EVERY_S = 1.0


def wall_ms() -> float:
    return time.time() * 1000.0


def gate_config(cfg: Config) -> GateConfig:
    if cfg.gate.dtmf_inband.value != "off":
        raise ConfigError("gate.dtmf_inband: 'mask' (in-band DTMF detection) is not implemented")
    return GateConfig(
        behaviour=cfg.gate.behaviour,
        guard_ms=float(cfg.gate.guard_ms),
        max_backdate_ms=float(cfg.gate.max_backdate_ms),
        on_control_loss=OnControlLoss(cfg.gate.on_control_loss.value),
        control_loss_grace_ms=float(cfg.gate.control_loss_grace_ms),
        pending_command_ttl_s=float(cfg.gate.pending_command_ttl_s),
        holdback_ms=float(cfg.rtp.holdback_ms),
    )


def b2bua_settings(cfg: Config) -> B2buaSettings:
    if cfg.sip.recorder is None:
        raise ConfigError("sip.recorder: required (the recorder's SIP URI)")
    if cfg.sip.advertise in ("0.0.0.0", "::"):
        # A wildcard in SDP c= means hold (RFC 3264 §8.4): no peer could send to it.
        raise ConfigError(
            "sip.advertise: required when sip.listen is a wildcard address "
            "(the address telephony and the recorder reach pausegate at)"
        )
    return B2buaSettings(
        listen=cfg.sip.listen,
        advertise=cfg.sip.advertise,
        recorder_uri=cfg.sip.recorder,
        agent_header=cfg.sip.agent_header,
        key_header=cfg.sip.key_header,
        agent_aor_pattern=cfg.sip.agent_aor_pattern,
        max_calls=cfg.sip.max_calls,
        recorder_direction=cfg.sip.recorder_direction.value,
    )


class App:
    """pausegate serve: ``await start()`` binds everything, ``await stop()`` ends it."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._sip_settings = b2bua_settings(cfg)  # refuse bad SIP settings before binding
        self.gate = GateCore(gate_config(cfg))
        self.control_stats = ControlStats()
        self.audit = AuditLog(cfg.log.audit_log) if cfg.log.audit_log is not None else None
        self.mqtt = MqttControl(
            MqttSettings.from_config(cfg.mqtt),
            self,
            cfg.instance_id,
            stats=self.control_stats,
            audit=self.audit,
        )
        self._tg: asyncio.TaskGroup | None = None
        self._draining = False
        self._stopped = asyncio.Event()
        self.media: MediaEngine | None = None
        self.service: CallService | None = None
        self.sip: SipService | None = None
        self.http: HttpServer | None = None
        collector = PausegateCollector([self.control_stats.snapshot, self._core_snapshot])
        self.registry = build_registry(collector)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.cfg
        nofile = raise_nofile_limit()
        log.info("open files limit %d", nofile)
        low, high = cfg.rtp.ports
        ports = PortAllocator(low, high, cfg.rtp.port_quarantine_s)
        self.media = MediaEngine(
            loop, cfg.sip.listen[0], ports, cfg.rtp.holdback_ms / 1000.0, cfg.rtp.latch
        )
        self.service = CallService(
            self.gate,
            self.media,
            self.publish,
            drain_timeout_s=max(2.0, 10 * cfg.rtp.holdback_ms / 1000.0),
            clock=time.monotonic,
        )
        self.sip = SipService(self._sip_settings, self.service)
        await self.sip.start()
        self.http = HttpServer(
            cfg.http.listen,
            self.registry,
            self.readiness,
            self,
            token=cfg.http.token,
            stats=self.control_stats,
            audit=self.audit,
        )
        await self.http.start()
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._tg.create_task(self.mqtt.run(), name="mqtt")
        self._tg.create_task(self._ticker(), name="ticker")
        log.info(
            "pausegate %s up: sip %s:%d, http port %d, rtp %d-%d, holdback %d ms",
            cfg.instance_id,
            cfg.sip.listen[0],
            self.sip.port,
            self.http.port,
            low,
            high,
            cfg.rtp.holdback_ms,
        )

    def end_all_calls(self) -> None:
        """BYE every call on both legs (drain timeout, second signal, stop)."""
        if self.sip is not None and self.service is not None:
            for call_id in list(self.service.calls):
                self.sip.terminate_call(call_id, "shutdown")

    async def stop(self) -> None:
        self._stopped.set()
        if self.sip is not None and self.service is not None and self.service.calls:
            self.end_all_calls()
            await self.sip.wait_idle(2.0)
        self.mqtt.request_stop()
        if self._tg is not None:
            tg, self._tg = self._tg, None
            await tg.__aexit__(None, None, None)
        if self.http is not None:
            await self.http.stop()
        if self.sip is not None:
            await self.sip.stop()
        if self.media is not None:
            self.media.close()

    @property
    def sip_port(self) -> int:
        return self.sip.port if self.sip is not None else 0

    @property
    def http_port(self) -> int:
        return self.http.port if self.http is not None else 0

    def begin_drain(self) -> None:
        self._draining = True
        if self.sip is not None:
            self.sip.begin_drain()
        log.info("graceful stop: draining %d call(s)", self.active_calls())

    def active_calls(self) -> int:
        return self.service.active_calls() if self.service is not None else 0

    def readiness(self) -> tuple[bool, str]:
        if self._draining:
            return False, "graceful stop under way"
        if self.sip is None or self.sip.port == 0:
            return False, "SIP not bound"
        if not self.mqtt.connected.is_set():
            return False, "MQTT not connected"
        return True, "ready"

    # -- events ------------------------------------------------------------------------------

    def publish(self, events: Iterable[GateEvent]) -> None:
        events = list(events)
        if not events:
            return
        self.mqtt.publish_events(events)
        self._after(events)

    def _after(self, events: Iterable[GateEvent]) -> None:
        """SIPREC behaviour=signal: tell the recorder after the gate already withholds."""
        if self.sip is None:
            return
        for event in events:
            if isinstance(event, CallStateChanged):
                call_gate = self.gate.call(event.call.call_id)
                if call_gate is not None and call_gate.signal:
                    self.sip.signal_recorder(event.call.call_id, event.paused)

    # -- ControlTarget (MQTT) ----------------------------------------------------------------

    # The media path stamps arrivals with time.monotonic() (uvloop's loop.time() is
    # cached per iteration at 1 ms resolution): the control side uses the same clock,
    # so a resume is never placed earlier than it was received (SPEC §1).

    def apply_command(
        self, scope: Scope, key: str, cmd: Command, now: float, wall: float
    ) -> CommandOutcome:
        outcome = self.gate.apply_command(scope, key, cmd, time.monotonic(), wall)
        self._after(outcome.events)
        return outcome

    def reject(self, scope: Scope, key: str, error: str, now: float, wall: float) -> CommandOutcome:
        return self.gate.reject(scope, key, error, time.monotonic(), wall)

    def set_control_connected(self, connected: bool, now: float, wall: float) -> list[GateEvent]:
        events = self.gate.set_control_connected(connected, time.monotonic(), wall)
        self._after(events)
        return events

    # -- ControlApi (HTTP) -------------------------------------------------------------------

    def apply(self, scope: Scope, key: str, cmd: Command) -> CommandOutcome:
        outcome = self.gate.apply_command(scope, key, cmd, time.monotonic(), wall_ms())
        self.publish(outcome.events)
        return outcome

    def list_calls(self) -> list[dict[str, object]]:
        if self.service is None:
            return []
        return [self._call_view(call_id) for call_id in self.service.calls]

    def get_call(self, key: str) -> dict[str, object] | None:
        call_gate = self.gate.call(key)
        if call_gate is None:
            return None
        return self._call_view(call_gate.call.call_id)

    def _call_view(self, call_id: str) -> dict[str, object]:
        call_gate = self.gate.call(call_id)
        if call_gate is None:
            return {"call_id": call_id}
        ident = call_gate.call
        return {
            "call_id": ident.call_id,
            "keys": list(ident.keys),
            "agent": ident.agent,
            "paused": call_gate.paused,
            "behaviour": str(call_gate.behaviour),
        }

    # -- timers ------------------------------------------------------------------------------

    async def _ticker(self) -> None:
        next_watchdog = time.monotonic() + WATCHDOG_EVERY_S
        timeout_s = self.cfg.rtp.inactivity_timeout_s
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), TICK_S)
            now = time.monotonic()
            self.publish(self.gate.handle_timer(now, wall_ms()))
            if now >= next_watchdog and self.service is not None and self.sip is not None:
                next_watchdog = now + WATCHDOG_EVERY_S
                for call_id in self.service.inactive_calls(now, timeout_s):
                    log.info("RTP inactivity timeout", extra={"call_id": call_id})
                    self.sip.terminate_call(call_id, "RTP inactivity timeout")

    # -- metrics -----------------------------------------------------------------------------

    def _core_snapshot(self) -> StatsSnapshot:
        gate_stats = self.gate.statistics()
        parts = [gate_snapshot(gate_stats)]
        if self.media is not None:
            parts.append(packets_snapshot(gate_stats, self.media.statistics()))
        if self.sip is not None and self.sip.port:
            parts.append(sip_snapshot(self.sip.statistics()))
        counters: dict[str, float | Series] = {}
        gauges: dict[str, float | Series] = {}
        hists: dict[str, HistogramSnapshot] = {}
        for part in parts:  # parts may share a labelled counter (bad input): merge series
            for name, value in part.counters.items():
                have = counters.get(name)
                if isinstance(have, Mapping) and isinstance(value, Mapping):
                    counters[name] = {**have, **value}
                else:
                    counters[name] = value
            gauges.update(part.gauges)
            hists.update(part.histograms)
        return StatsSnapshot(counters, gauges, hists)


async def serve(cfg: Config) -> int:
    """`pausegate serve`: run until SIGTERM/SIGINT, then stop gracefully."""
    setup_logging(cfg.log.format.value, cfg.log.level.value.upper())
    loop = asyncio.get_running_loop()
    app = App(cfg)
    await app.start()
    # What start-up built (modules, config, cores) lives as long as the process: keep it
    # out of the collector's full passes, which otherwise walk it all and stall the media
    # path for tens of milliseconds each time (seen as p99/max forward-delay spikes).
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        app.begin_drain()
        for sig in (signal.SIGTERM, signal.SIGINT):  # a second signal ends the calls now
            loop.add_signal_handler(sig, app.end_all_calls)
        assert app.sip is not None
        await app.sip.wait_idle(cfg.sip.drain_timeout_s)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await app.stop()
    return 0
