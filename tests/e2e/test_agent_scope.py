"""Agent scope end to end (SPEC §4): a call that starts inside an agent pause starts
paused, and nothing of it reaches the recording or counts as leaked.

The agent of a plain INVITE is its To URI's user part; the pause goes to
``pausegate/v1/control/agent/{agent}`` (MQTT 5, applied when its reply arrives)
before the INVITE. The caller is SipRtpSource streaming the pilot test signal.
"""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
from tests.e2e.measure import load_recording, report
from tests.e2e.rig import HOST, PREFIX, E2eRig
from tests.fixtures.baresip import SipRtpSource
from tests.fixtures.mosquitto import Mosquitto

from pausegate.control.commands import Action, Command, Scope
from pausegate.io.mqtt_client import publish_command
from pausegate_codecs.analysis import pilot_absent_spans
from pausegate_codecs.synth import test_signal, to_int16

pytestmark = [pytest.mark.e2e, pytest.mark.mosquitto, pytest.mark.timeout(60)]


@pytest.mark.asyncio
async def test_call_starting_inside_an_agent_pause_leaks_nothing(
    e2e: E2eRig, mosquitto: Mosquitto
) -> None:
    app = await e2e.app(mosquitto.url)
    events = await e2e.events(mosquitto.url)
    agent = f"agent-{uuid.uuid4().hex[:6]}"
    cmd = Command(
        Action.PAUSE,
        at_ms=float(round(time.time() * 1000)),
        id=f"e2e-agent-{uuid.uuid4().hex[:10]}",
        source="e2e-test",
    )
    reply = await publish_command(
        mosquitto.url, 5, PREFIX, Scope.AGENT, agent, cmd, wait_reply_s=3.0
    )
    async with SipRtpSource(user="caller") as source:
        await source.call(f"sip:{agent}@{HOST}:{app.sip_port}", app.sip_port)
        started = await events.wait("call_started", source.call_id)
        await source.stream(to_int16(test_signal(3.0)))
        await source.bye()
    ended = await events.wait("call_ended", source.call_id, timeout_s=8.0)
    rec = load_recording(await e2e.recording())
    nonzero = int(np.count_nonzero(rec.samples))
    pauses = ended.get("pauses") or []
    data = {
        "reply_ok": (reply or {}).get("ok"),
        "started_agent_matches": started.get("agent") == agent,
        "started_paused": started.get("paused"),
        "recorded_packets": len(rec.audio),
        "recorded_s": round(rec.seconds, 3),
        "nonzero_samples": nonzero,
        "pilot_absent": pilot_absent_spans(rec.samples, rec.rate),
        "ledger_pauses": [(p.get("start_ms"), p.get("end_ms")) for p in pauses],
        "leaked_ms": ended.get("leaked_ms"),
        "verified": ended.get("verified"),
        "paused_events": len(events.find("paused", source.call_id)),
    }
    report("agent_scope", **data)
    assert data["reply_ok"] is True, data
    assert data["started_agent_matches"], f"agent not taken from the To user part: {data}"
    assert len(rec.audio) >= 140, f"the call's packets did not reach the recorder: {data}"
    assert nonzero == 0, f"{nonzero} samples of the agent-paused call reached the recording: {data}"
    assert ended.get("leaked_ms") == 0, data
    assert ended.get("verified") is True, data
    assert len(pauses) == 1, data
    assert float(pauses[0]["start_ms"]) <= 0.0, f"pause did not cover the call's start: {data}"
