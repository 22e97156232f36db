"""Adapter tests for pausegate.io.mqtt_client against a real mosquitto on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from tests.fixtures.mosquitto import Mosquitto

from pausegate.config import parse_mqtt_url
from pausegate.control.audit import AuditLog, verify_chain
from pausegate.control.commands import Action, Command, Scope
from pausegate.gate.events import (
    CallIdentity,
    CallStarted,
    CallStateChanged,
    CommandOutcome,
    CommandRejected,
    GateEvent,
)
from pausegate.io.mqtt_client import MqttControl, MqttSettings, publish_command
from pausegate.metrics import ControlStats

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]
T = 10.0  # bound on every wait
CALL = CallIdentity("call-1", ("call-1", "IX/9"), "agent-7")


@dataclass
class FakeTarget:
    """Records what the adapter asks; pauses the call when told to."""

    applied: list[tuple[Scope, str, Command]] = field(default_factory=list)
    rejected: list[tuple[Scope, str, str]] = field(default_factory=list)
    connected: list[bool] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def apply_command(
        self, scope: Scope, key: str, cmd: Command, now: float, wall_ms: float
    ) -> CommandOutcome:
        self.applied.append((scope, key, cmd))
        self.changed.set()
        paused = cmd.action is Action.PAUSE
        event = CallStateChanged(CALL, paused, wall_ms, wall_ms, 0.0, cmd.id, cmd.source, None)
        return CommandOutcome(True, paused, wall_ms, None, (event,))

    def reject(
        self, scope: Scope, key: str, error: str, now: float, wall_ms: float
    ) -> CommandOutcome:
        self.rejected.append((scope, key, error))
        self.changed.set()
        event = CommandRejected(scope, key, None, error, wall_ms)
        return CommandOutcome(False, None, None, error, (event,))

    def set_control_connected(self, connected: bool, now: float, wall_ms: float) -> list[GateEvent]:
        self.connected.append(connected)
        self.changed.set()
        return []

    async def wait_for(self, predicate: object) -> None:
        assert callable(predicate)
        async with asyncio.timeout(T):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


def settings(broker: Mosquitto, protocol: int = 5, **kw: object) -> MqttSettings:
    return MqttSettings(parse_mqtt_url(broker.url), protocol=protocol, **kw)  # type: ignore[arg-type]


@asynccontextmanager
async def running(control: MqttControl) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(control.run())
    try:
        async with asyncio.timeout(T):
            await control.connected.wait()
        yield task
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@asynccontextmanager
async def client(broker: Mosquitto, protocol: int = 5) -> AsyncIterator[aiomqtt.Client]:
    version = aiomqtt.ProtocolVersion.V5 if protocol == 5 else aiomqtt.ProtocolVersion.V311
    async with aiomqtt.Client(broker.host, broker.port, protocol=version, timeout=T) as c:
        yield c


async def next_message(c: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(T):
        return await anext(aiter(c.messages))


def body(message: aiomqtt.Message) -> dict[str, object]:
    assert isinstance(message.payload, bytes)
    obj = json.loads(message.payload)
    assert isinstance(obj, dict)
    return obj


@pytest.mark.parametrize("protocol", [5, 3])
async def test_commands_reach_target_and_events_are_published(
    mosquitto: Mosquitto, protocol: int
) -> None:
    target = FakeTarget()
    stats = ControlStats()
    control = MqttControl(settings(mosquitto, protocol), target, "pg-1", stats=stats)
    async with client(mosquitto, protocol) as c, running(control):
        assert target.connected == [True]
        assert stats.mqtt_connected
        await c.subscribe("pausegate/v1/events/#", qos=1)
        payload = json.dumps({"action": "pause", "id": "x1", "source": "desk", "at": 1000})
        await c.publish("pausegate/v1/control/call/IX%2F9", payload, qos=1)
        await target.wait_for(lambda: target.applied)
        assert target.applied == [
            (Scope.CALL, "IX/9", Command(Action.PAUSE, 1000.0, "x1", None, "desk"))
        ]
        event = await next_message(c)
        assert event.topic.value == "pausegate/v1/events/call/call-1"
        assert body(event)["event"] == "paused"
        assert body(event)["cmd_id"] == "x1"
        await c.publish("pausegate/v1/control/agent/agent-7", b'{"action":"resume"}', qos=1)
        await target.wait_for(lambda: len(target.applied) == 2)
        assert target.applied[1][:2] == (Scope.AGENT, "agent-7")
    snap = stats.snapshot()
    commands = snap.counters["pausegate_control_commands_total"]
    assert isinstance(commands, dict)
    assert commands[("call", "pause", "ok")] == 1
    assert commands[("agent", "resume", "ok")] == 1


async def test_bad_payloads_and_topics_are_rejected_and_the_loop_lives_on(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    target = FakeTarget()
    stats = ControlStats()
    audit = AuditLog(tmp_path / "audit.jsonl", fsync=False)
    control = MqttControl(settings(mosquitto), target, "pg-1", stats=stats, audit=audit)
    async with client(mosquitto) as c, running(control):
        await c.subscribe("pausegate/v1/events/#", qos=1)
        await c.publish("pausegate/v1/control/call/k1", b"\xff\xfe card 4111", qos=1)
        rejected = body(await next_message(c))
        assert rejected["event"] == "command_rejected"
        assert rejected["error"] == "command payload is not UTF-8"
        assert "4111" not in json.dumps(rejected)
        await c.publish("pausegate/v1/control/agent/a1", b'{"action": "stop"}', qos=1)
        message = await next_message(c)
        assert message.topic.value == "pausegate/v1/events/agent/a1"
        assert "action" in str(body(message)["error"])
        await c.publish("pausegate/v1/control/call/bad%2fkey", b'{"action":"pause"}', qos=1)
        message = await next_message(c)
        assert message.topic.value == "pausegate/v1/events/call/bad%2fkey"
        assert body(message)["event"] == "command_rejected"
        await c.publish("pausegate/v1/control/call/a%20b", b'{"action":"pause"}', qos=1)
        await target.wait_for(lambda: target.applied)
        assert target.applied[0][1] == "a b"
        assert (await next_message(c)).topic.value == "pausegate/v1/events/call/call-1"
    assert [r[:2] for r in target.rejected] == [
        (Scope.CALL, "k1"),
        (Scope.AGENT, "a1"),
        (Scope.CALL, "bad%2fkey"),
    ]
    bad = stats.snapshot().counters["pausegate_bad_input_total"]
    assert bad == {("mqtt_payload",): 2, ("mqtt_topic",): 1}
    assert verify_chain(audit.path) == (True, None)
    assert "4111" not in audit.path.read_text()
    assert len(audit.path.read_text().splitlines()) == 5  # 4 commands + 1 state change


async def test_mqtt5_reply_with_correlation_data(mosquitto: Mosquitto) -> None:
    target = FakeTarget()
    control = MqttControl(settings(mosquitto), target, "pg-1")
    async with client(mosquitto) as c, running(control):
        await c.subscribe("my/replies", qos=1)
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = "my/replies"
        props.CorrelationData = b"\x00corr-1"
        await c.publish("pausegate/v1/control/call/c1", b'{"action":"pause"}', 1, properties=props)
        reply = await next_message(c)
        assert reply.properties is not None
        assert getattr(reply.properties, "CorrelationData", None) == b"\x00corr-1"
        assert body(reply)["ok"] is True
        assert body(reply)["paused"] is True
        assert isinstance(body(reply)["effective_at"], int)
        await c.publish("pausegate/v1/control/call/c1", b"nope", 1, properties=props)
        reply = await next_message(c)
        assert body(reply) == {
            "ok": False,
            "paused": None,
            "effective_at": None,
            "error": "command payload is not valid JSON",
        }
        # and the same through pausegate ctl's helper
        answer = await publish_command(
            mosquitto.url, 5, "pausegate", Scope.AGENT, "a/1", Command(Action.RESUME, id="r1")
        )
        assert answer is not None
        assert answer == {"ok": True, "paused": False, "effective_at": answer["effective_at"],
                          "error": None}  # fmt: skip
        assert target.applied[-1][:2] == (Scope.AGENT, "a/1")
        assert (
            await publish_command(
                mosquitto.url, 3, "pausegate", Scope.CALL, "c2", Command(Action.PAUSE)
            )
            is None
        )
        await target.wait_for(lambda: target.applied[-1][1] == "c2")


async def test_publish_command_times_out_without_an_instance(mosquitto: Mosquitto) -> None:
    with pytest.raises(TimeoutError):
        await publish_command(
            mosquitto.url, 5, "pausegate", Scope.CALL, "c", Command(Action.PAUSE), wait_reply_s=0.3
        )


@pytest.mark.parametrize("protocol", [5, 3])
async def test_retained_agent_command_is_honoured_at_start(
    mosquitto: Mosquitto, protocol: int
) -> None:
    async with client(mosquitto) as c:
        await c.publish(
            "pausegate/v1/control/agent/agent-7", b'{"action":"pause","id":"r"}', 1, retain=True
        )
    target = FakeTarget()
    async with running(MqttControl(settings(mosquitto, protocol), target, "pg-1")):
        await target.wait_for(lambda: target.applied)
        assert target.applied == [(Scope.AGENT, "agent-7", Command(Action.PAUSE, id="r"))]
        async with client(mosquitto) as c:  # clearing the retained command is not a command
            await c.publish("pausegate/v1/control/agent/agent-7", b"", 1, retain=True)
            await c.publish("pausegate/v1/control/agent/agent-8", b'{"action":"pause"}', 1)
        await target.wait_for(lambda: len(target.applied) == 2)
    assert target.rejected == []


@pytest.mark.parametrize("protocol", [5, 3])
async def test_persistent_session_delivers_commands_sent_while_away(
    mosquitto: Mosquitto, protocol: int
) -> None:
    first = FakeTarget()
    async with running(MqttControl(settings(mosquitto, protocol), first, "pg-1")):
        pass
    async with client(mosquitto) as c:
        await c.publish("pausegate/v1/control/call/c9", b'{"action":"pause","id":"late"}', 1)
    second = FakeTarget()
    async with running(MqttControl(settings(mosquitto, protocol), second, "pg-1")):
        await second.wait_for(lambda: second.applied)
    assert second.applied == [(Scope.CALL, "c9", Command(Action.PAUSE, id="late"))]
    assert first.applied == []


@pytest.mark.parametrize("protocol", [5, 3])
async def test_broker_restart_reconnects_and_flushes_buffered_events(
    mosquitto: Mosquitto, protocol: int
) -> None:
    target = FakeTarget()
    stats = ControlStats()
    control = MqttControl(settings(mosquitto, protocol), target, "pg-1", stats=stats)
    async with running(control):
        mosquitto.kill()
        await target.wait_for(lambda: target.connected == [True, False])
        assert not stats.mqtt_connected
        control.publish_events([CallStarted(CALL, 5000.0, paused=True)])
        assert control.buffered == 2
        mosquitto.start()
        await target.wait_for(lambda: target.connected == [True, False, True])
        async with client(mosquitto) as c:
            await c.subscribe("pausegate/v1/state/call/+", qos=1)
            state = await next_message(c)  # retained, or live if the flush comes later
        assert body(state)["paused"] is True
        assert body(state)["since"] == 5000
        assert stats.mqtt_connected
        async with client(mosquitto) as c:  # commands flow again after the restart
            await c.publish("pausegate/v1/control/call/c1", b'{"action":"pause"}', 1)
        await target.wait_for(lambda: target.applied)


async def test_event_buffer_is_bounded_and_drops_are_counted(mosquitto: Mosquitto) -> None:
    mosquitto.kill()
    target = FakeTarget()
    stats = ControlStats()
    control = MqttControl(settings(mosquitto, buffer_size=3), target, "pg-1", stats=stats)
    for n in range(4):
        control.publish_events([CallStarted(CallIdentity(f"c{n}", (f"c{n}",), None), 1.0, False)])
    assert control.buffered == 3
    assert stats.snapshot().counters["pausegate_mqtt_events_dropped_total"] == 5


async def test_presence_online_offline_and_last_will(mosquitto: Mosquitto) -> None:
    control = MqttControl(settings(mosquitto), FakeTarget(), "pg/1")
    topic = "pausegate/v1/instances/pg%2F1"
    async with running(control), client(mosquitto) as c:
        await c.subscribe(topic, qos=1)
        message = await next_message(c)
        assert (message.payload, message.retain) == (b"online", True)
    async with client(mosquitto) as c:  # cancelled: said offline on the way out
        await c.subscribe(topic, qos=1)
        assert (await next_message(c)).payload == b"offline"

    # an abrupt death (SIGKILL) leaves the last will
    script = textwrap.dedent(
        f"""
        import asyncio
        from pausegate.config import parse_mqtt_url
        from pausegate.io.mqtt_client import MqttControl, MqttSettings

        class Target:
            def apply_command(self, *a): raise AssertionError
            def reject(self, *a): raise AssertionError
            def set_control_connected(self, *a): return []

        async def main():
            control = MqttControl(
                MqttSettings(parse_mqtt_url({mosquitto.url!r})), Target(), "pg-2"
            )
            task = asyncio.create_task(control.run())
            await control.connected.wait()
            print("up", flush=True)
            await task

        asyncio.run(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(["proxy", "codecs"])}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE, env=env, cwd=Path.cwd()
    )
    try:
        async with client(mosquitto) as c:
            await c.subscribe("pausegate/v1/instances/pg-2", qos=1)
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), T)
            assert line.strip() == b"up"
            assert (await next_message(c)).payload == b"online"
            proc.send_signal(signal.SIGKILL)
            will = await next_message(c)
            assert will.payload == b"offline"
    finally:
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(proc.wait(), T)


async def test_request_stop_flushes_and_returns(mosquitto: Mosquitto) -> None:
    control = MqttControl(settings(mosquitto), FakeTarget(), "pg-1")
    async with client(mosquitto) as c:
        await c.subscribe("pausegate/v1/#", qos=1)
        task = asyncio.create_task(control.run())
        async with asyncio.timeout(T):
            await control.connected.wait()
        assert (await next_message(c)).payload == b"online"
        control.publish_events([CallStarted(CALL, 1.0, False)])
        control.request_stop()
        async with asyncio.timeout(T):
            await task
        topics = [(await next_message(c)).topic.value for _ in range(3)]
        assert topics == [
            "pausegate/v1/events/call/call-1",
            "pausegate/v1/state/call/call-1",
            "pausegate/v1/instances/pg-1",
        ]


async def test_poison_response_topics_and_event_topics_do_not_stop_the_loop(
    mosquitto: Mosquitto,
) -> None:
    target = FakeTarget()
    stats = ControlStats()
    control = MqttControl(settings(mosquitto), target, "pg-1", stats=stats)
    async with client(mosquitto) as c, running(control) as task:
        await c.subscribe("pausegate/v1/events/#", qos=1)
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = "replies/+/wild"
        await c.publish("pausegate/v1/control/call/c1", b'{"action":"pause"}', 1, properties=props)
        await target.wait_for(lambda: target.applied)
        # an event whose call id cannot be encoded as UTF-8 is dropped, not fatal
        control.publish_events([CallStarted(CallIdentity("bad\udcff", ("k",), None), 1.0, False)])
        await c.publish("pausegate/v1/control/call/c2", b'{"action":"pause"}', 1)
        await target.wait_for(lambda: len(target.applied) == 2)
        topics = [(await next_message(c)).topic.value for _ in range(2)]
        assert topics == ["pausegate/v1/events/call/call-1"] * 2
        assert not task.done()
    assert stats.snapshot().counters["pausegate_bad_input_total"] == {("mqtt_topic",): 1}
    assert stats.snapshot().counters["pausegate_mqtt_events_dropped_total"] == 2


async def test_tls_with_configured_ca(mosquitto_tls: Mosquitto) -> None:
    broker = mosquitto_tls
    assert broker.tls is not None
    target = FakeTarget()
    tls_settings = MqttSettings(parse_mqtt_url(broker.tls_url), tls_ca=broker.tls.ca)
    async with running(MqttControl(tls_settings, target, "pg-tls")):
        reply = await publish_command(
            broker.tls_url, 5, "pausegate", Scope.CALL, "c1", Command(Action.PAUSE),
            tls_ca=broker.tls.ca,
        )  # fmt: skip
        assert reply is not None
        assert reply["ok"] is True
    assert target.applied[0][1] == "c1"


async def test_tls_without_trust_never_connects(mosquitto_tls: Mosquitto) -> None:
    target = FakeTarget()
    control = MqttControl(
        MqttSettings(parse_mqtt_url(mosquitto_tls.tls_url), connect_timeout_s=2), target, "pg"
    )
    task = asyncio.create_task(control.run())
    try:
        await target.wait_for(lambda: target.connected == [False])
        assert not control.connected.is_set()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
