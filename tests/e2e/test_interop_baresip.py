"""Issue 2, interop on real peers: baresip and SIP(REC) callers through pausegate to recorders.

Each test runs the real App on loopback, a real mosquitto, and measures the audio the
recorder actually received: correlation with what was sent, and the hold-back
(recorder arrival - caller send) against ``rtp.holdback_ms`` = 200.
"""

from __future__ import annotations

import asyncio
import random
import statistics
from pathlib import Path

import numpy as np
import pytest
from tests.e2e.measure import load_recording, report
from tests.e2e.rig import HOST, E2eRig, IngressTap
from tests.fixtures.audio import compare_recording, write_test_wav
from tests.fixtures.baresip import BaresipFactory
from tests.fixtures.mosquitto import Mosquitto

from pausegate.demo.caller import SyntheticCaller
from pausegate.demo.script import build_script
from pausegate.rtp.packet import ts_diff
from pausegate_codecs.analysis import best_lag
from pausegate_codecs.synth import read_wav

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

HOLDBACK_MS = 200.0
HOLDBACK_TOLERANCE_MS = 5.0


def forward_delay_ms(e2e: E2eRig) -> tuple[float, int]:
    """pausegate's own mean arrival-to-send delay (ms) and packet count (its histogram)."""
    assert e2e.pg is not None
    assert e2e.pg.media is not None
    stats = e2e.pg.media.statistics()
    count = sum(stats.forward_delay_buckets)
    return (1000.0 * stats.forward_delay_sum_s / count if count else float("nan")), count


@pytest.mark.baresip
@pytest.mark.mosquitto
@pytest.mark.asyncio
async def test_baresip_caller_to_reference_recorder(
    e2e: E2eRig,
    mosquitto: Mosquitto,
    baresip_factory: BaresipFactory,
    tmp_path: Path,
    ingress: IngressTap,
) -> None:
    reference = write_test_wav(tmp_path / "sent.wav", 4.0)
    app = await e2e.app(mosquitto.url)
    caller = await baresip_factory.caller(tmp_path / "sent.wav")
    call_id = await caller.dial(f"sip:agent-1@{HOST}:{app.sip_port}")
    established = await caller.wait_established(timeout=5.0)
    closed = await caller.wait_closed(timeout=15.0)  # the WAV ended: baresip hangs up
    call_dir = await e2e.recording()
    rec = load_recording(call_dir, ingress=ingress.arrivals)
    check = compare_recording(reference, rec.wav)
    mean_delay, forwarded = forward_delay_ms(e2e)
    # Hold-back = recorder arrival - pausegate's own ingress arrival, per packet.
    held = rec.holdbacks_ms()
    # Recorder arrivals against the RTP timeline: the spread of (arrival - ts / rate)
    # shows the hold-back kept the caller's inter-packet timing.
    offsets = rec.arrival - rec.index * 1000.0 / rec.rate
    spread = float(np.percentile(offsets, 95) - offsets.min())
    data = {
        "call_id_len": len(call_id),
        "duration_s": round(check.duration_s, 3),
        "lag_samples": check.lag_samples,
        "correlation": round(check.correlation, 5),
        "pilot_absent": check.pilot_absent,
        "forward_delay_mean_ms": round(mean_delay, 3),
        "holdback_min_ms": round(float(held.min()), 3),
        "holdback_median_ms": round(float(np.median(held)), 3),
        "holdback_max_ms": round(float(held.max()), 3),
        "forwarded_packets": forwarded,
        "recorder_packets": len(rec.audio),
        "arrival_jitter_p95_ms": round(spread, 2),
        "call_s": round(closed.at - established.at, 3),
    }
    report("interop_baresip_caller", **data)
    logs = baresip_factory.describe()
    assert check.correlation > 0.95, f"{data}; {logs}"
    assert abs(check.lag_samples) <= 160, f"{data}; {logs}"
    assert check.duration_s == pytest.approx(4.0, abs=0.25), f"{data}; {logs}"
    # baresip pads its last 20 ms frame past the WAV's end with zeros: not a gap.
    gaps = [span for span in check.pilot_absent if span[0] < 4.0 - 0.005]
    assert gaps == [], f"audio went missing: {data}; {logs}"
    assert abs(mean_delay - HOLDBACK_MS) <= HOLDBACK_TOLERANCE_MS, f"hold-back off: {data}"
    assert abs(float(np.median(held)) - HOLDBACK_MS) <= HOLDBACK_TOLERANCE_MS, data
    assert float(held.min()) >= HOLDBACK_MS, f"a packet left before its hold-back: {data}"
    assert spread < 20.0, f"inter-packet timing not kept: {data}"


@pytest.mark.mosquitto
@pytest.mark.asyncio
@pytest.mark.parametrize("siprec", [False, True], ids=["plain", "siprec"])
async def test_holdback_measured_per_packet(
    e2e: E2eRig, mosquitto: Mosquitto, siprec: bool
) -> None:
    """A caller logging each packet's send time: recorder arrival - send = hold-back."""
    app = await e2e.app(mosquitto.url)
    script = build_script(4.0, seed=7, digits=1)
    caller = SyntheticCaller((HOST, app.sip_port), script, HOST, random.Random(7), siprec=siprec)
    await caller.open()
    try:
        await caller.wait_call_up()
        loop = asyncio.get_running_loop()
        await caller.stream(loop.time() + 0.05)
        status = await caller.hang_up()
    finally:
        caller.close()
    call_dir = await e2e.recording()
    rec = load_recording(call_dir)
    sent = {r.rtp_ts: r.sent_at_ms for r in caller.send_log}
    holdbacks = [float(p["at"]) - sent[int(p["ts"])] for p in rec.audio if int(p["ts"]) in sent]
    _, recorded = read_wav(rec.wav)
    offset = ts_diff(int(rec.sidecar["first_rtp_ts"]), script.first_ts)
    ref = script.reference[offset:]
    lag, corr = best_lag(ref, recorded.astype(np.float64) / 32768.0, rec.rate, 0.5)
    mean_delay, _ = forward_delay_ms(e2e)
    data = {
        "siprec": siprec,
        "bye_status": status,
        "packets_sent": len(caller.send_log),
        "packets_recorded": len(rec.audio),
        "holdback_min_ms": round(min(holdbacks), 3),
        "holdback_median_ms": round(statistics.median(holdbacks), 3),
        "holdback_max_ms": round(max(holdbacks), 3),
        "forward_delay_mean_ms": round(mean_delay, 3),
        "lag_samples": lag,
        "correlation": round(corr, 5),
        "metadata_xml": (call_dir / "metadata.xml").exists(),
    }
    report("interop_holdback", **data)
    assert status == 200, data
    assert len(rec.audio) == len(caller.send_log), f"packets lost: {data}"
    assert corr > 0.95, f"recording differs from what was sent: {data}"
    assert lag == 0, f"recording shifted against the RTP timeline: {data}"
    assert abs(statistics.median(holdbacks) - HOLDBACK_MS) <= HOLDBACK_TOLERANCE_MS, data
    assert min(holdbacks) >= HOLDBACK_MS - 1.0, f"a packet left before its hold-back: {data}"
    if siprec:
        assert data["metadata_xml"], f"SIPREC metadata not passed on to the recorder: {data}"


@pytest.mark.baresip
@pytest.mark.mosquitto
@pytest.mark.asyncio
async def test_baresip_recorder_with_sendrecv_offer(
    e2e: E2eRig, mosquitto: Mosquitto, baresip_factory: BaresipFactory, tmp_path: Path
) -> None:
    """pausegate calls a baresip recorder; offering sendrecv makes baresip 1.0.0 record."""
    reference = write_test_wav(tmp_path / "sent.wav", 4.0)
    recorder = await baresip_factory.recorder()
    cfg = {"sip.recorder": recorder.sip_uri, "sip.recorder_direction": "sendrecv"}
    await e2e.recorder()  # unused, keeps the rig's defaults valid
    app = await e2e.app(mosquitto.url, **cfg)
    caller = await baresip_factory.caller(tmp_path / "sent.wav")
    await caller.dial(f"sip:agent-2@{HOST}:{app.sip_port}")
    await caller.wait_established(timeout=5.0)
    await recorder.wait_incoming(timeout=5.0)
    await caller.wait_closed(timeout=15.0)
    recording = await recorder.take_recording(timeout=10.0)
    check = compare_recording(reference, recording)
    data = {
        "duration_s": round(check.duration_s, 3),
        "lag_samples": check.lag_samples,
        "correlation": round(check.correlation, 5),
        "pilot_absent": check.pilot_absent,
    }
    report("interop_baresip_recorder", **data)
    logs = baresip_factory.describe()
    assert check.duration_s > 3.0, f"baresip recorded (almost) nothing: {data}; {logs}"
    assert check.correlation > 0.95, f"{data}; {logs}"
