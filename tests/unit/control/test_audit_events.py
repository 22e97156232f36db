"""The MQTT adapter writes state changes and the call_ended ledger to the audit chain."""

from __future__ import annotations

import json
from pathlib import Path

from pausegate.config import parse_mqtt_url
from pausegate.control.audit import AuditLog, verify_chain
from pausegate.gate.events import CallEnded, CallIdentity, CallStateChanged, PauseRecord
from pausegate.io.mqtt_client import MqttControl, MqttSettings

CALL = CallIdentity("c1@host", ("c1@host",), "agent-7")


class _Target:
    def apply_command(self, *args: object) -> None:
        raise AssertionError("not called")

    reject = set_control_connected = apply_command


def test_pause_resume_and_ledger_are_audited(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    control = MqttControl(
        MqttSettings(parse_mqtt_url("mqtt://127.0.0.1:1")),
        _Target(),  # type: ignore[arg-type]
        "pg-test",
        audit=AuditLog(path, fsync=False),
    )
    pause = CallStateChanged(CALL, True, 1000.0, 1001.0, 0.0, "p1", "desk", "card")
    ended = CallEnded(
        CALL, 5000.0, (PauseRecord(0.0, 2000.0, 1000.0, 3000.0, "card", "desk"),), 12.5, False
    )
    control.publish_events([pause, ended])
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["paused", "call_ended"]
    assert lines[1]["leaked_ms"] == 12.5
    assert lines[1]["verified"] is False
    assert verify_chain(path) == (True, None)
