"""Adapter tests: hostile MQTT commands on a real mosquitto never stop the control loop."""

from __future__ import annotations

import json
import logging

import pytest
from tests.adapters.test_mqtt_control import FakeTarget, body, client, next_message, running
from tests.fixtures.mosquitto import Mosquitto

from pausegate.config import parse_mqtt_url
from pausegate.gate.events import CallEnded, CallIdentity, CallStateChanged
from pausegate.io.mqtt_client import MqttControl, MqttSettings
from pausegate.metrics import ControlStats

CALL = CallIdentity("call-9", ("call-9",), "agent-9")


@pytest.mark.mosquitto
@pytest.mark.asyncio
async def test_huge_integer_at_is_rejected_and_the_loop_lives_on(mosquitto: Mosquitto) -> None:
    """An `at` too large for a float once raised OverflowError and stopped the process."""
    target = FakeTarget()
    stats = ControlStats()
    control = MqttControl(
        MqttSettings(parse_mqtt_url(mosquitto.url)), target, "pg-bad", stats=stats
    )
    async with client(mosquitto) as c, running(control) as task:
        await c.subscribe("pausegate/v1/events/#", qos=1)
        for payload in (
            b'{"action":"pause","at":' + b"9" * 400 + b"}",
            b'{"action":"resume","at":-' + b"9" * 400 + b"}",
            b'{"action":"pause","at":' + b"9" * 4000 + b"}",
        ):
            await c.publish("pausegate/v1/control/call/k1", payload, qos=1)
            rejected = body(await next_message(c))
            assert rejected["event"] == "command_rejected"
            assert "at" in str(rejected["error"])
        await c.publish("pausegate/v1/control/call/k1", b'{"action":"pause"}', qos=1)
        await target.wait_for(lambda: target.applied)
        assert not task.done()
    assert stats.snapshot().counters["pausegate_bad_input_total"] == {("mqtt_payload",): 3}


def test_state_changes_are_logged_without_reason_text(caplog: pytest.LogCaptureFixture) -> None:
    control = MqttControl(
        MqttSettings(parse_mqtt_url("mqtt://127.0.0.1:1")), FakeTarget(), "pg-log"
    )
    secret_reason = "card 4111 1111 1111 1111"
    with caplog.at_level(logging.INFO, logger="pausegate.io.mqtt_client"):
        control.publish_events(
            [
                CallStateChanged(CALL, True, 1.0, 1.0, 0.0, "p-1", "desk", secret_reason),
                CallStateChanged(CALL, False, 2.0, 2.0, 1.0, "r-1", "desk", secret_reason),
                CallEnded(CALL, 3.0, leaked_ms=12.5, verified=True),
            ]
        )
    lines = [(r.levelname, r.getMessage(), getattr(r, "state", None)) for r in caplog.records]
    assert ("INFO", "call paused", "paused") in lines
    assert ("INFO", "call resumed", "resumed") in lines
    assert any(level == "WARNING" and "leaked_ms=12.5" in msg for level, msg, _ in lines)
    assert all(getattr(r, "call_id", None) == "call-9" for r in caplog.records)
    assert "4111" not in caplog.text
    assert "4111" not in json.dumps([r.__dict__.get("reason") for r in caplog.records])
    assert control.buffered > 0
