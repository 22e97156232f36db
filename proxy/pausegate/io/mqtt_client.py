"""MQTT control channel: commands in, events/replies/state/presence out (SPEC §5). Adapter, aiomqtt.

Rules:
1. One reusable aiomqtt ``Client``; client id = instance id; persistent session
   (MQTT 5: clean start off + session expiry; 3.1.1: clean session off), so QoS 1
   commands published during a short outage arrive after the reconnect.
2. After each connect: presence ``online`` (retained; the last will is a retained
   ``offline``), subscribe QoS 1 to ``control/call/+`` and ``control/agent/+``
   (retained agent commands arrive and are honoured), tell the target the
   control channel is up. On ``MqttError``: tell it the channel is down, back off
   0.5 s doubling to 10 s, reconnect.
3. Every message is answered and never stops the loop: a bad topic or payload is
   counted, rejected through ``ControlTarget.reject`` (``command_rejected``) and
   logged without its content. An empty payload (a retained command being
   cleared) is ignored.
4. Everything outgoing (events, state, MQTT 5 replies) goes through one bounded
   buffer drained in order by one publisher task; while disconnected it fills,
   and when full the oldest entry is dropped and counted. An entry leaves the
   buffer only after its PUBACK (at-least-once).
5. ``publish_events`` never blocks: it is called from the SIP and media side.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import math
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from pausegate.config import MqttSection, MqttUrl, parse_mqtt_url
from pausegate.control.audit import AuditLog, command_record, event_record
from pausegate.control.commands import Command, Scope, parse_command, serialize_command
from pausegate.control.events import (
    OFFLINE,
    ONLINE,
    event_payload,
    event_publications,
    reply_payload,
)
from pausegate.control.topics import (
    control_subscriptions,
    control_topic,
    is_publishable,
    parse_control_topic,
    presence_topic,
    raw_event_topic_for,
    reply_allowed,
    reply_topic,
)
from pausegate.errors import CommandError, TopicError
from pausegate.gate.events import (
    CallEnded,
    CallStateChanged,
    CommandOutcome,
    CommandRejected,
    GateEvent,
)
from pausegate.metrics import UNKNOWN, BadInput, CommandResult, ControlStats

log = logging.getLogger(__name__)


def _log_state_change(event: CallStateChanged) -> None:
    """SPEC §6: one log line per call state change (ids only; never the reason text)."""
    log.info(
        "call %s%s",
        "paused" if event.paused else "resumed",
        " (at clamped to max_backdate_ms)" if event.clamped else "",
        extra={
            "call_id": event.call.call_id,
            "agent": event.call.agent,
            "state": "paused" if event.paused else "resumed",
            "cmd_id": event.cmd_id,
            "source": event.source,
        },
    )
    if event.leaked_ms > 0:
        log.warning(
            "pause arrived after its audio had left: %.1f ms leaked to the recording",
            event.leaked_ms,
            extra={"call_id": event.call.call_id, "cmd_id": event.cmd_id},
        )


class ControlTarget(Protocol):
    """What the MQTT adapter drives (GateCore satisfies it)."""

    def apply_command(
        self, scope: Scope, key: str, cmd: Command, now: float, wall_ms: float
    ) -> CommandOutcome: ...

    def reject(
        self, scope: Scope, key: str, error: str, now: float, wall_ms: float
    ) -> CommandOutcome: ...

    def set_control_connected(
        self, connected: bool, now: float, wall_ms: float
    ) -> list[GateEvent]: ...


@dataclass(frozen=True, slots=True)
class MqttSettings:
    broker: MqttUrl
    protocol: int = 5
    topic_prefix: str = "pausegate"
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    keepalive_s: int = 10  # a silent broker is noticed within 1.5 x keepalive
    session_expiry_s: int = 3600
    connect_timeout_s: float = 10.0
    buffer_size: int = 10_000
    backoff_min_s: float = 0.5
    backoff_max_s: float = 10.0

    @classmethod
    def from_config(cls, section: MqttSection) -> MqttSettings:
        return cls(
            broker=section.broker,
            protocol=section.protocol,
            topic_prefix=section.topic_prefix,
            tls_ca=section.tls_ca,
            tls_cert=section.tls_cert,
            tls_key=section.tls_key,
        )


@dataclass(frozen=True, slots=True)
class _Outgoing:
    topic: str
    payload: bytes
    retained: bool = False
    correlation: bytes | None = None


def _tls_params(
    broker: MqttUrl, ca: Path | None, cert: Path | None, key: Path | None
) -> aiomqtt.TLSParameters | None:
    if not broker.tls:
        return None
    return aiomqtt.TLSParameters(
        ca_certs=str(ca) if ca else None,
        certfile=str(cert) if cert else None,
        keyfile=str(key) if key else None,
    )


def _properties(packet_type: int) -> Properties:
    return Properties(packet_type)  # type: ignore[no-untyped-call]


def _props(message: aiomqtt.Message) -> tuple[str | None, bytes | None, dict[str, str]]:
    """(Response Topic, Correlation Data, user properties) of an MQTT 5 message."""
    props = message.properties
    if props is None:
        return None, None, {}
    response = getattr(props, "ResponseTopic", None)
    correlation = getattr(props, "CorrelationData", None)
    users = {str(k): str(v) for k, v in getattr(props, "UserProperty", None) or []}
    return (
        response if isinstance(response, str) and response else None,
        bytes(correlation) if isinstance(correlation, bytes | bytearray) else None,
        users,
    )


class MqttControl:
    """The control adapter; run ``run()`` in the root's TaskGroup."""

    def __init__(
        self,
        settings: MqttSettings,
        target: ControlTarget,
        instance_id: str,
        *,
        stats: ControlStats | None = None,
        audit: AuditLog | None = None,
        wall_ms: Callable[[], float] = lambda: time.time() * 1000,
    ) -> None:
        self._settings = settings
        self._target = target
        self._instance_id = instance_id
        self._prefix = settings.topic_prefix
        self._stats = stats if stats is not None else ControlStats()
        self._audit = audit
        self._wall_ms = wall_ms
        self._buffer: collections.deque[_Outgoing] = collections.deque()
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._told_connected: bool | None = None
        self.connected = asyncio.Event()  # set while the session is up (tests, readiness)
        self.presence_topic = presence_topic(self._prefix, instance_id)

    # --- public, non-blocking --------------------------------------------------

    def publish_events(self, events: Iterable[GateEvent]) -> None:
        """Queue events (and their retained state) for publishing; never blocks."""
        for event in events:
            if isinstance(event, CallStateChanged):
                _log_state_change(event)
                if self._audit is not None:
                    self._audit.append(event_record(event) or {})
            if isinstance(event, CallEnded) and self._audit is not None:
                # The ledger (pauses, leaked_ms, verified) belongs in the audit chain too.
                self._audit.append(event_record(event) or {})
            if isinstance(event, CallEnded) and (event.leaked_ms > 0 or not event.verified):
                log.warning(
                    "call ended with audio leaked or unverified: leaked_ms=%.1f verified=%s",
                    event.leaked_ms,
                    event.verified,
                    extra={"call_id": event.call.call_id, "agent": event.call.agent},
                )
            for pub in event_publications(self._prefix, event):
                self._enqueue(_Outgoing(pub.topic, pub.payload, pub.retained))

    def request_stop(self) -> None:
        """Let ``run()`` flush the buffer, publish ``offline`` and return."""
        self._stopping.set()
        self._wakeup.set()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def _enqueue(self, item: _Outgoing) -> None:
        if len(self._buffer) >= self._settings.buffer_size:
            self._buffer.popleft()
            self._stats.count_events_dropped()
        self._buffer.append(item)
        self._wakeup.set()

    # --- connection loop ------------------------------------------------------------

    def _client(self) -> aiomqtt.Client:
        s = self._settings
        will = aiomqtt.Will(self.presence_topic, OFFLINE, qos=1, retain=True)
        common = {
            "hostname": s.broker.host,
            "port": s.broker.port,
            "username": s.broker.username,
            "password": s.broker.password,
            "identifier": self._instance_id,
            "will": will,
            "keepalive": s.keepalive_s,
            "timeout": s.connect_timeout_s,
            "tls_params": _tls_params(s.broker, s.tls_ca, s.tls_cert, s.tls_key),
        }
        if s.protocol == 5:
            props = _properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.session_expiry_s
            return aiomqtt.Client(
                protocol=aiomqtt.ProtocolVersion.V5,
                clean_start=False,
                properties=props,
                **common,  # type: ignore[arg-type]
            )
        return aiomqtt.Client(
            protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=False,
            **common,  # type: ignore[arg-type]
        )

    def _tell_connected(self, connected: bool) -> None:
        self._stats.set_mqtt_connected(connected)
        if connected:
            self.connected.set()
        else:
            self.connected.clear()
        if self._told_connected is connected:
            return
        self._told_connected = connected
        loop = asyncio.get_running_loop()
        events = self._target.set_control_connected(connected, loop.time(), self._wall_ms())
        self.publish_events(events)

    async def run(self) -> None:
        """Connect, serve, reconnect with backoff until ``request_stop()`` or cancellation."""
        client = self._client()
        backoff = self._settings.backoff_min_s
        while not self._stopping.is_set():
            try:
                async with client:
                    backoff = self._settings.backoff_min_s
                    await self._serve(client)
                self._stats.set_mqtt_connected(False)
                self.connected.clear()
                return
            except aiomqtt.MqttError as exc:
                _retrieve_disconnect(client)
                self._tell_connected(False)
                log.warning(
                    "mqtt connection lost or refused, retrying",
                    extra={"error": str(exc), "delay_s": backoff},
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self._stopping.wait()
            backoff = min(backoff * 2, self._settings.backoff_max_s)
        self._stats.set_mqtt_connected(False)
        self.connected.clear()

    async def _serve(self, client: aiomqtt.Client) -> None:
        await client.publish(self.presence_topic, ONLINE, qos=1, retain=True)
        for topic in control_subscriptions(self._prefix):
            await client.subscribe(topic, qos=1)
        self._tell_connected(True)
        log.info("mqtt connected", extra={"instance_id": self._instance_id})
        try:
            async with asyncio.TaskGroup() as tg:
                consumer = tg.create_task(self._consume(client))
                await self._drain(client)  # returns only when stopping
                consumer.cancel()
            await self._say_offline(client)
        except asyncio.CancelledError:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                async with asyncio.timeout(2):
                    await self._say_offline(client)
            raise
        except BaseExceptionGroup as group:
            first = group.exceptions[0]
            if all(isinstance(e, aiomqtt.MqttError) for e in group.exceptions):
                raise first from None
            raise

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        await client.publish(self.presence_topic, OFFLINE, qos=1, retain=True)

    async def _drain(self, client: aiomqtt.Client) -> None:
        task = asyncio.current_task()
        while True:
            while self._buffer:
                item = self._buffer[0]
                properties = None
                if item.correlation is not None:
                    properties = _properties(PacketTypes.PUBLISH)
                    properties.CorrelationData = item.correlation
                try:
                    # No per-message timeout: asyncio.wait_for would wrap each PUBACK wait
                    # in a task and a timer. A broker that stops acknowledging is caught
                    # by the keepalive, whose disconnect cancels this task (_serve).
                    await client.publish(
                        item.topic,
                        item.payload,
                        qos=1,
                        retain=item.retained,
                        properties=properties,
                        timeout=math.inf,
                    )
                except ValueError:  # a topic paho refuses (e.g. not UTF-8): never a poison pill
                    self._stats.count_events_dropped()
                    log.warning("mqtt publish refused by the client library, dropped")
                if self._buffer and self._buffer[0] is item:
                    self._buffer.popleft()
                if task is not None and task.cancelling():
                    # Python 3.11's wait_for (inside aiomqtt's publish) can swallow a
                    # cancellation that races with the PUBACK; honour it here.
                    raise asyncio.CancelledError
            if self._stopping.is_set():
                return
            self._wakeup.clear()
            await self._wakeup.wait()

    async def _consume(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self._handle(message)

    # --- one message ------------------------------------------------------------

    def _handle(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        if payload is None or payload in (b"", ""):
            return  # a retained command being cleared
        loop = asyncio.get_running_loop()
        now, wall_ms = loop.time(), self._wall_ms()
        response_topic, correlation, users = _props(message)
        topic = message.topic.value
        try:
            scope, key = parse_control_topic(self._prefix, topic)
        except TopicError as exc:
            bad = self._bad_topic(topic, str(exc), now, wall_ms)
            if bad is not None:
                self._audit_command(bad[0], bad[1], None, bad[2], wall_ms, users)
            self._reply(bad[2] if bad else CommandOutcome(False, None, None, str(exc)),
                        response_topic, correlation)  # fmt: skip
            return
        cmd: Command | None = None
        try:
            if not isinstance(payload, bytes | bytearray | str):
                raise CommandError("command payload is not JSON text")
            cmd = parse_command(payload)
        except CommandError as exc:
            self._stats.count_bad_input(BadInput.MQTT_PAYLOAD)
            self._stats.count_command(scope.value, UNKNOWN, CommandResult.INVALID)
            log.info("mqtt command rejected", extra={"scope": scope.value, "error": str(exc)})
            outcome = self._target.reject(scope, key, str(exc), now, wall_ms)
        else:
            outcome = self._target.apply_command(scope, key, cmd, now, wall_ms)
            result = CommandResult.OK if outcome.ok else CommandResult.REJECTED
            self._stats.count_command(scope.value, cmd.action.value, result)
        self._audit_command(scope, key, cmd, outcome, wall_ms, users)
        self.publish_events(outcome.events)
        self._reply(outcome, response_topic, correlation)

    def _audit_command(
        self,
        scope: Scope,
        key: str,
        cmd: Command | None,
        outcome: CommandOutcome,
        wall_ms: float,
        users: dict[str, str],
    ) -> None:
        if self._audit is not None:
            record = command_record(
                channel="mqtt",
                scope=scope,
                key=key,
                cmd=cmd,
                outcome=outcome,
                received_at_ms=wall_ms,
                who=users or None,
            )
            self._audit.append(record)

    def _bad_topic(
        self, topic: str, error: str, now: float, wall_ms: float
    ) -> tuple[Scope, str, CommandOutcome] | None:
        """Count and reject a command on a bad topic; the rejection goes to the event
        topic spelled like the command's (rule 3). None when no scope can be told."""
        self._stats.count_bad_input(BadInput.MQTT_TOPIC)
        raw = raw_event_topic_for(self._prefix, topic)
        self._stats.count_command(raw[0].value if raw else UNKNOWN, UNKNOWN, CommandResult.INVALID)
        log.info("mqtt command on a bad topic rejected", extra={"error": error})
        if raw is None:
            return None
        scope, level, event_topic = raw
        outcome = self._target.reject(scope, level, error, now, wall_ms)
        for event in outcome.events:
            if isinstance(event, CommandRejected):
                body = json.dumps(event_payload(event), separators=(",", ":")).encode()
                self._enqueue(_Outgoing(event_topic, body))
            else:
                self.publish_events([event])
        return scope, level, outcome

    def _reply(
        self, outcome: CommandOutcome, response_topic: str | None, correlation: bytes | None
    ) -> None:
        if response_topic is None or self._settings.protocol != 5:
            return
        if not is_publishable(response_topic) or not reply_allowed(self._prefix, response_topic):
            self._stats.count_bad_input(BadInput.MQTT_TOPIC)
            log.info("mqtt command with an invalid response topic: no reply")
            return
        self._enqueue(_Outgoing(response_topic, reply_payload(outcome), correlation=correlation))


def _retrieve_disconnect(client: aiomqtt.Client) -> None:
    """aiomqtt 2.x keeps the reason of a lost connection in a future it replaces on the
    next connect; nobody awaits it, so asyncio logged "Future exception was never
    retrieved" at garbage collection. Mark it retrieved (the error is logged by us)."""
    fut = getattr(client, "_disconnected", None)
    if isinstance(fut, asyncio.Future) and fut.done() and not fut.cancelled():
        fut.exception()


async def publish_command(
    url: str,
    protocol: int,
    prefix: str,
    scope: Scope,
    key: str,
    cmd: Command,
    *,
    wait_reply_s: float = 5.0,
    retain: bool = False,
    tls_ca: Path | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> dict[str, object] | None:
    """Publish one command (QoS 1) for `pausegate ctl`.

    MQTT 5: sets Response Topic and Correlation Data and returns the first matching
    reply (TimeoutError after ``wait_reply_s``). MQTT 3.1.1: returns None after PUBACK.
    """
    broker = parse_mqtt_url(url)
    nonce = secrets.token_hex(8)
    client = aiomqtt.Client(
        broker.host,
        broker.port,
        username=broker.username,
        password=broker.password,
        identifier=f"pausegate-ctl-{nonce}",
        protocol=aiomqtt.ProtocolVersion.V5 if protocol == 5 else aiomqtt.ProtocolVersion.V311,
        tls_params=_tls_params(broker, tls_ca, tls_cert, tls_key),
        timeout=max(wait_reply_s, 5.0),
    )
    topic = control_topic(prefix, scope, key)
    payload = serialize_command(cmd)
    async with client:
        if protocol != 5:
            await client.publish(topic, payload, qos=1, retain=retain)
            return None
        answer_topic = reply_topic(prefix, "ctl", nonce)
        await client.subscribe(answer_topic, qos=1)
        props = _properties(PacketTypes.PUBLISH)
        props.ResponseTopic = answer_topic
        props.CorrelationData = nonce.encode()
        await client.publish(topic, payload, qos=1, retain=retain, properties=props)
        # The timeout is caught inside the client's context so that the client leaves
        # cleanly and the caller sees a TimeoutError, not a disconnect error.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_reply_s):
                async for message in client.messages:
                    _, correlation, _ = _props(message)
                    if correlation != nonce.encode() or not isinstance(message.payload, bytes):
                        continue
                    with contextlib.suppress(ValueError):
                        reply = json.loads(message.payload)
                        if isinstance(reply, dict):
                            return reply
    raise TimeoutError("no reply")
