"""Contract test: the MQTT adapter driving the real GateCore against a real mosquitto."""

from __future__ import annotations

import asyncio
import json
import time

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from tests.fixtures.mosquitto import Mosquitto

from pausegate.config import parse_mqtt_url
from pausegate.control.commands import Action, Command, Scope
from pausegate.gate.config import GateConfig
from pausegate.gate.core import GateCore
from pausegate.gate.events import CallIdentity
from pausegate.io.mqtt_client import MqttControl, MqttSettings, publish_command

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]
T = 10.0


async def next_json(c: aiomqtt.Client) -> tuple[str, dict[str, object]]:
    async with asyncio.timeout(T):
        message = await anext(aiter(c.messages))
    assert isinstance(message.payload, bytes)
    obj = json.loads(message.payload)
    assert isinstance(obj, dict)
    return message.topic.value, obj


async def test_pause_resume_through_the_gate(mosquitto: Mosquitto) -> None:
    gate = GateCore(GateConfig())
    control = MqttControl(MqttSettings(parse_mqtt_url(mosquitto.url)), gate, "pg-gate")
    task = asyncio.create_task(control.run())
    try:
        async with asyncio.timeout(T):
            await control.connected.wait()
        loop = asyncio.get_running_loop()
        call = CallIdentity("sess-1@sbc", ("sess-1@sbc", "IX/9"), "agent 7")
        _, events = gate.add_call(call, loop.time(), time.time() * 1000)
        control.publish_events(events)
        async with aiomqtt.Client(
            mosquitto.host, mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5
        ) as c:
            await c.subscribe("pausegate/v1/events/#", qos=1)
            await c.subscribe("pausegate/v1/state/#", qos=1)
            await c.subscribe("my/reply", qos=1)
            topic, state = await next_json(c)  # the retained state of call_started
            assert topic == "pausegate/v1/state/call/sess-1@sbc"
            assert state["paused"] is False

            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.ResponseTopic = "my/reply"
            props.CorrelationData = b"k1"
            await c.publish(
                "pausegate/v1/control/call/IX%2F9",
                json.dumps({"action": "pause", "id": "p1", "source": "desk"}),
                qos=1,
                properties=props,
            )
            received = dict([await next_json(c) for _ in range(3)])
            event = received["pausegate/v1/events/call/sess-1@sbc"]
            assert event["event"] == "paused"
            assert event["keys"] == ["sess-1@sbc", "IX/9"]
            assert event["agent"] == "agent 7"
            assert event["cmd_id"] == "p1"
            assert received["pausegate/v1/state/call/sess-1@sbc"]["paused"] is True
            reply = received["my/reply"]
            assert reply["ok"] is True
            assert reply["paused"] is True

            await c.publish("pausegate/v1/control/agent/agent%207", b"{", qos=1)
            topic, rejected = await next_json(c)
            assert topic == "pausegate/v1/events/agent/agent%207"
            assert rejected["event"] == "command_rejected"

            answer = await publish_command(
                mosquitto.url, 5, "pausegate", Scope.CALL, "sess-1@sbc", Command(Action.RESUME)
            )
            assert answer is not None
            assert answer["ok"] is True
            assert answer["paused"] is False
            names = {obj.get("event") for _, obj in [await next_json(c) for _ in range(2)]}
            assert "resumed" in names
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
