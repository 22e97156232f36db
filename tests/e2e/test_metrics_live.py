"""SPEC §6 live: /metrics and /readyz of a running pausegate during a paused call.

A SipRtpSource call through the real App to the reference recorder, paused over a real
mosquitto: the scrape shows one active and one paused call and a growing
``pausegate_rtp_packets_total{outcome="silenced"}``; /readyz answers 200 while connected.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.e2e.measure import report
from tests.e2e.rig import HOST, E2eRig
from tests.fixtures.baresip import SipRtpSource
from tests.fixtures.mosquitto import Mosquitto

from pausegate.control.commands import Scope
from pausegate_codecs.synth import test_signal, to_int16

pytestmark = [pytest.mark.e2e, pytest.mark.mosquitto, pytest.mark.timeout(60)]


def sample(text: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in (labels or {}).items()):
                return float(s.value)
    return None


@pytest.mark.asyncio
async def test_metrics_during_a_paused_call(e2e: E2eRig, mosquitto: Mosquitto) -> None:
    app = await e2e.app(mosquitto.url)
    events = await e2e.events(mosquitto.url)
    base = f"http://{HOST}:{app.http_port}"
    silenced = {"outcome": "silenced"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        async with http.get(f"{base}/readyz") as resp:
            ready_status, ready_body = resp.status, await resp.text()
        async with SipRtpSource(user="caller") as source:
            await source.call(f"sip:agent-8@{HOST}:{app.sip_port}", app.sip_port)
            streaming = asyncio.create_task(source.stream(to_int16(test_signal(4.0))))
            try:
                await events.wait("call_started", source.call_id)
                await asyncio.sleep(0.8)  # scenario pacing: audio before the pause
                await events.command(Scope.CALL, source.call_id, "pause")
                await events.wait("paused", source.call_id)
                await asyncio.sleep(0.5)  # let paused packets leave the hold-back
                async with http.get(f"{base}/metrics") as resp:
                    first_status, first = resp.status, await resp.text()
                await asyncio.sleep(0.5)  # more paused packets leave
                async with http.get(f"{base}/metrics") as resp:
                    second = await resp.text()
                async with http.get(f"{base}/readyz") as resp:
                    paused_ready = resp.status
                await events.command(Scope.CALL, source.call_id, "resume")
                await events.wait("resumed", source.call_id)
                await streaming
            finally:
                streaming.cancel()
            await source.bye()
    await e2e.recording()
    data = {
        "readyz_before": ready_status,
        "readyz_body": ready_body.strip()[:80],
        "readyz_paused": paused_ready,
        "metrics_status": first_status,
        "calls_active": sample(first, "pausegate_calls_active"),
        "calls_paused": sample(first, "pausegate_calls_paused"),
        "silenced_1": sample(first, "pausegate_rtp_packets_total", silenced),
        "silenced_2": sample(second, "pausegate_rtp_packets_total", silenced),
        "forwarded_2": sample(second, "pausegate_rtp_packets_total", {"outcome": "forwarded"}),
        "mqtt_connected": sample(first, "pausegate_mqtt_connected"),
    }
    report("metrics_live", **data)
    assert ready_status == 200, data
    assert paused_ready == 200, data
    assert first_status == 200, data
    assert data["calls_active"] == 1, data
    assert data["calls_paused"] == 1, data
    silenced_1, silenced_2 = data["silenced_1"], data["silenced_2"]
    assert isinstance(silenced_1, float), data
    assert isinstance(silenced_2, float), data
    assert silenced_2 > silenced_1 > 0, data
    assert data["mqtt_connected"] == 1, data
