"""Issue 4 item 3, end to end: the real mosquitto dies mid-call (SIGKILL) and comes back.

``gate.on_control_loss = pause``: the recording goes silent from about
``control_loss_grace_ms`` after the kill until after the broker is back and pausegate
has reconnected (fail closed); with ``keep`` the audio stays intact across the outage.
The caller is SipRtpSource streaming the pilot test signal as PCMU.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pytest
from tests.e2e.measure import edge_check, load_recording, report, zero_runs
from tests.e2e.rig import HOST, E2eRig, IngressTap, wait_until
from tests.fixtures.audio import segment_correlation
from tests.fixtures.baresip import SipRtpSource
from tests.fixtures.mosquitto import Mosquitto

from pausegate.app import App
from pausegate_codecs.analysis import pilot_absent_spans
from pausegate_codecs.synth import test_signal, to_int16

pytestmark = [pytest.mark.e2e, pytest.mark.mosquitto, pytest.mark.timeout(60)]

HOLDBACK_MS = 200.0
GRACE_MS = 300.0
CALL_S = 6.0
KILL_AFTER_S = 1.5
OUTAGE_S = 1.2
TICK_SLACK_MS = 100.0  # pausegate's timer tick (50 ms) plus detection of the lost socket
SHORT_MS = 2.0


def epoch_ms() -> float:
    return time.time() * 1000.0


@dataclass
class StateLog:
    """Transitions of the call's paused flag and of readiness, stamped in epoch ms."""

    paused: list[tuple[float, bool]] = field(default_factory=list)
    ready: list[tuple[float, bool]] = field(default_factory=list)

    def first(self, series: list[tuple[float, bool]], value: bool, after: float) -> float | None:
        return next((t for t, v in series if v is value and t >= after), None)


async def watch(app: App, call_id: str, log: StateLog, stop: asyncio.Event) -> None:
    """Poll pausegate's state every 5 ms (instrumentation for the timings only)."""
    while not stop.is_set():
        gate = app.gate.call(call_id)
        paused = bool(gate is not None and gate.paused)
        ready = app.readiness()[0]
        if not log.paused or log.paused[-1][1] != paused:
            log.paused.append((epoch_ms(), paused))
        if not log.ready or log.ready[-1][1] != ready:
            log.ready.append((epoch_ms(), ready))
        await asyncio.sleep(0.005)  # polling, not synchronisation


async def outage_call(
    e2e: E2eRig, mosquitto: Mosquitto, app: App, ingress: IngressTap
) -> tuple[dict[str, float | None], StateLog, npt.NDArray[np.int16]]:
    samples = to_int16(test_signal(CALL_S))
    log = StateLog()
    stop = asyncio.Event()
    times: dict[str, float | None] = {}
    async with SipRtpSource(user="caller") as source:
        await source.call(f"sip:agent-6@{HOST}:{app.sip_port}", app.sip_port)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(watch(app, source.call_id, log, stop))
            streaming = tg.create_task(source.stream(samples))
            await asyncio.sleep(KILL_AFTER_S)  # scenario pacing: audio before the outage
            times["kill_ms"] = epoch_ms()
            mosquitto.kill()
            await asyncio.sleep(OUTAGE_S)  # scenario pacing: the outage
            times["restart_ms"] = epoch_ms()
            mosquitto.start()
            back = await wait_until(lambda: app.readiness()[0], 8.0)
            times["reconnected_ms"] = epoch_ms() if back else None
            await streaming
            stop.set()
        await source.bye()
    kill = times["kill_ms"]
    assert kill is not None
    times["not_ready_ms"] = log.first(log.ready, False, kill)
    times["paused_ms"] = log.first(log.paused, True, kill)
    times["unpaused_ms"] = log.first(log.paused, False, times["paused_ms"] or kill)
    return times, log, samples


@pytest.mark.asyncio
async def test_control_loss_pause_fails_closed(
    e2e: E2eRig, mosquitto: Mosquitto, ingress: IngressTap
) -> None:
    app = await e2e.app(
        mosquitto.url,
        **{"gate.on_control_loss": "pause", "gate.control_loss_grace_ms": str(int(GRACE_MS))},
    )
    times, log, reference = await outage_call(e2e, mosquitto, app, ingress)
    rec = load_recording(await e2e.recording(), ingress=ingress.arrivals)
    runs = zero_runs(rec.samples)
    kill, restart = times["kill_ms"], times["restart_ms"]
    assert kill is not None
    assert restart is not None
    data: dict[str, object] = {
        "grace_ms": GRACE_MS,
        "outage_ms": round(restart - kill, 1),
        **{
            f"{k.removesuffix('_ms')}_after_kill_ms": (round(v - kill, 1) if v else None)
            for k, v in times.items()
            if k != "kill_ms"
        },
        "zero_runs": runs,
    }
    problems: list[str] = []
    if len(runs) != 1:
        problems.append(f"expected one withheld span, found {runs}")
    else:
        span = runs[0]
        edge = edge_check(rec, span, kill + GRACE_MS, restart, HOLDBACK_MS)
        start = kill + GRACE_MS - edge.early_ms  # start of the first withheld sample
        end = restart + edge.late_ms  # end of the last withheld sample
        data.update(
            withheld_from_kill_ms=round(start - kill, 1),
            withheld_until_after_restart_ms=round(end - restart, 1),
            withheld_until_after_reconnect_ms=(
                round(end - times["reconnected_ms"], 1) if times["reconnected_ms"] else None
            ),
            first_kept_after_restart_ms=round(edge.end_margin_ms, 2),
            withheld_s=round((span[1] - span[0]) / rec.rate, 3),
        )
        if start - kill > GRACE_MS + TICK_SLACK_MS:
            problems.append(
                f"silence began {start - kill:.0f} ms after the kill (grace {GRACE_MS})"
            )
        if start - kill < -SHORT_MS:
            problems.append(f"silence began {kill - start:.0f} ms before the kill")
        if edge.end_margin_ms < -SHORT_MS:
            problems.append("audio came back before the broker did")
        unpaused = times["unpaused_ms"]
        reconnected = times["reconnected_ms"]
        # reconnected_ms is polled every 20 ms; the paused flag every 5 ms
        if reconnected is not None and unpaused is not None and unpaused < reconnected - 50.0:
            problems.append("unpaused before pausegate reconnected")
        after = segment_correlation(
            reference, rec.samples, rec.rate, 0, span[1] / rec.rate + 0.03, CALL_S - 0.05
        )
        before = segment_correlation(reference, rec.samples, rec.rate, 0, 0.0, span[0] / rec.rate)
        data.update(corr_before=round(before, 5), corr_after=round(after, 5))
        if min(before, after) <= 0.95:
            problems.append("audio outside the outage differs from what was sent")
        if span[1] >= rec.samples.size - 80:
            problems.append("the audio never came back after the broker returned")
    report("control_loss_pause", **data)
    assert not problems, f"{problems}; {data}; paused transitions {log.paused}"


@pytest.mark.asyncio
async def test_control_loss_keep_leaves_audio_intact(
    e2e: E2eRig, mosquitto: Mosquitto, ingress: IngressTap
) -> None:
    app = await e2e.app(
        mosquitto.url,
        **{"gate.on_control_loss": "keep", "gate.control_loss_grace_ms": str(int(GRACE_MS))},
    )
    times, log, reference = await outage_call(e2e, mosquitto, app, ingress)
    rec = load_recording(await e2e.recording(), ingress=ingress.arrivals)
    kill = times["kill_ms"]
    assert kill is not None
    runs = zero_runs(rec.samples)
    gaps = pilot_absent_spans(rec.samples, rec.rate)
    corr = segment_correlation(reference, rec.samples, rec.rate, 0, 0.0, CALL_S)
    data = {
        "zero_runs": runs,
        "pilot_gaps": gaps,
        "correlation": round(corr, 5),
        "not_ready_after_kill_ms": round(times["not_ready_ms"] - kill, 1)
        if times["not_ready_ms"]
        else None,
        "reconnected_after_kill_ms": round(times["reconnected_ms"] - kill, 1)
        if times["reconnected_ms"]
        else None,
        "paused_transitions": log.paused,
    }
    report("control_loss_keep", **data)
    assert runs == [], f"audio withheld under keep: {data}"
    assert gaps == [], f"pilot missing under keep: {data}"
    assert corr > 0.95, data
    assert times["paused_ms"] is None, f"the call paused under keep: {data}"
    assert times["reconnected_ms"] is not None, f"pausegate did not reconnect: {data}"
