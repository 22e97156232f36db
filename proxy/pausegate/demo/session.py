"""Demo root: one demo run, start to verdict (broker, recorder, App, caller, analysis, PNG).

Rules:
1. Start order broker -> recorder -> pausegate -> event watcher -> call; stop order
   is the reverse, through one AsyncExitStack, on success, failure and cancel.
2. The recording is the evidence: the verdict comes from the WAV and its sidecar.
   pausegate's own ``call_ended`` report (leaked_ms, verified) is printed and a
   contradiction (leak or verified=false) also fails the run.
3. Output names every file written: the recorder's WAV + sidecar per stream, what
   the caller sent (sent.wav), and the PNG.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pausegate.control.commands import Action, Command, Scope
from pausegate.demo.broker import EmbeddedBroker
from pausegate.demo.caller import SyntheticCaller
from pausegate.demo.events import EventWatcher, describe_event
from pausegate.demo.plot import plot_recording
from pausegate.demo.ports import HOST, free_port, free_port_range
from pausegate.demo.report import (
    RecordedStream,
    alignment_hint,
    analyse,
    describe,
    find_streams,
    load_stream,
)
from pausegate.demo.run import DemoOptions, Progress
from pausegate.demo.script import RATE, CallScript
from pausegate.demo.verdict import DEFAULT_LIMITS, CommandedSpan, Reference, SendClock, Verdict
from pausegate_codecs.synth import write_wav

PREFIX = "pausegate"
_SETTLE_S = 0.2  # between the call coming up and the first RTP packet
_RTP_PORTS = 64  # first quarter for the recorder, the rest for pausegate
_EVENT_TIMEOUT_S = 5.0
_READY_TIMEOUT_S = 10.0
_FILES_TIMEOUT_S = 8.0


@dataclass(frozen=True, slots=True)
class Sent:
    action: Action
    at_ms: float
    cmd_id: str


@contextlib.asynccontextmanager
async def embedded_broker(opts: DemoOptions, say: Progress) -> AsyncIterator[tuple[str, int]]:
    """Yields (mqtt url, protocol): the embedded amqtt broker's, or --mqtt's."""
    if opts.mqtt is not None:
        version = "5" if opts.mqtt_protocol == 5 else "3.1.1"
        say(f"MQTT broker: {opts.mqtt} (external, MQTT {version})")
        yield opts.mqtt, opts.mqtt_protocol
        return
    broker = EmbeddedBroker()
    await broker.start()
    say(f"MQTT broker: {broker.url} (embedded amqtt, MQTT 3.1.1)")
    try:
        yield broker.url, 3
    finally:
        await broker.stop()


Publish = Callable[[Command], Awaitable[dict[str, object] | None]]


def mqtt_publisher(url: str, protocol: int, call_id: str) -> Publish:
    """Publishes one command for the call through pausegate's own `ctl` client."""
    from pausegate.io.mqtt_client import publish_command

    async def publish(cmd: Command) -> dict[str, object] | None:
        return await publish_command(
            url, protocol, PREFIX, Scope.CALL, call_id, cmd, wait_reply_s=3.0
        )

    return publish


async def fire_commands(
    publish: Publish, script: CallScript, t0: float, say: Progress, pause_late_ms: int = 0
) -> list[Sent]:
    """Publish pause and resume at the script's times after ``t0`` (loop time).

    ``pause_late_ms`` > 0 plays a publisher whose pause leaves that much after its
    ``at`` (the agent clicked, the desktop was slow): the hold-back should absorb it.
    """
    loop = asyncio.get_running_loop()
    sent: list[Sent] = []
    for action, offset, late_ms in (
        (Action.PAUSE, script.pause_at_s, pause_late_ms),
        (Action.RESUME, script.resume_at_s, 0),
    ):
        delay = t0 + offset + late_ms / 1000.0 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        at_ms = float(round(time.time() * 1000.0)) - late_ms
        cmd_id = f"demo-{action}-{uuid.uuid4().hex[:12]}"
        cmd = Command(action, at_ms=at_ms, id=cmd_id, reason="demo", source="pausegate-demo")
        late = f", {late_ms} ms after its at" if late_ms else ""
        say(
            f"{action} sent at +{loop.time() - t0:.3f} s into the call"
            f" (at={at_ms:.0f} epoch ms{late}, id={cmd_id})"
        )
        reply = await publish(cmd)
        sent.append(Sent(action, at_ms, cmd_id))
        if reply is not None:
            say(
                f"{action} reply: ok={reply.get('ok')}, paused={reply.get('paused')},"
                f" effective_at={reply.get('effective_at')}"
            )
    return sent


async def wait_for(predicate: Callable[[], Any], timeout_s: float) -> bool:
    """Poll ``predicate`` every 50 ms until true or ``timeout_s``; whether it became true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _run_dir(out: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    path = out / f"run-{stamp}-{uuid.uuid4().hex[:6]}"
    path.mkdir(parents=True, exist_ok=False)
    return path


def _complete(call_dir: Path) -> bool:
    """The recorder finished the call: its metadata.json (written last) and every
    stream's sidecar parse."""
    pairs = find_streams(call_dir)
    if not pairs:
        return False
    for sidecar in [call_dir / "metadata.json", *(side for _, side in pairs)]:
        try:
            json.loads(sidecar.read_text())
        except (OSError, ValueError):
            return False
    return True


def _call_dirs(rec_dir: Path) -> list[Path]:
    return sorted(p for p in rec_dir.iterdir() if p.is_dir()) if rec_dir.is_dir() else []


async def run_session(opts: DemoOptions, script: CallScript, say: Progress) -> int:
    from pausegate.app import App
    from pausegate.config import load_config
    from pausegate.recorder.app import RecorderServer

    run_dir = _run_dir(opts.out.resolve())
    rec_dir = run_dir / "recordings"
    say(f"pausegate demo: output in {run_dir}")
    async with contextlib.AsyncExitStack() as stack:
        url, protocol = await stack.enter_async_context(embedded_broker(opts, say))

        low, high = free_port_range(_RTP_PORTS)
        rec_high = low + _RTP_PORTS // 4 - 1
        recorder = RecorderServer((HOST, free_port()), HOST, rec_dir, (low, rec_high))
        await recorder.start()
        stack.push_async_callback(recorder.stop)
        recorder_uri = f"sip:recorder@{HOST}:{recorder.port}"
        say(f"recorder: {recorder_uri}, RTP {low}-{rec_high}, writing to {rec_dir}")

        overrides = {
            "instance_id": f"pausegate-demo-{os.getpid()}",
            "sip.listen": f"{HOST}:{free_port()}",
            "sip.advertise": HOST,
            "sip.recorder": recorder_uri,
            "rtp.ports": f"{rec_high + 1}-{high}",
            "rtp.holdback_ms": str(opts.holdback_ms),
            "gate.behaviour": "silence",
            "mqtt.url": url,
            "mqtt.protocol": str(protocol),
            "mqtt.topic_prefix": PREFIX,
            "http.listen": f"{HOST}:{free_port()}",
            "log.level": "warning",
        }
        app = App(load_config(overrides=overrides, env={}))
        await app.start()
        stack.push_async_callback(app.stop)
        # Commands published before pausegate has subscribed would be lost.
        if not await wait_for(lambda: app.readiness()[0], _READY_TIMEOUT_S):
            say(f"FAIL: pausegate is not ready: {app.readiness()[1]}")
            return 1
        say(
            f"pausegate: SIP udp+tcp {HOST}:{app.sip_port}, RTP {rec_high + 1}-{high},"
            f" hold-back {opts.holdback_ms} ms, behaviour silence,"
            f" metrics http://{HOST}:{app.http_port}/metrics"
        )

        watcher = await stack.enter_async_context(
            EventWatcher(
                url,
                protocol,
                PREFIX,
                on_event=lambda e: say(describe_event(e)),
                client_id=f"pausegate-demo-{uuid.uuid4().hex[:8]}",
            )
        )
        caller = SyntheticCaller(
            (HOST, app.sip_port), script, HOST, random.Random(), siprec=opts.siprec
        )
        await caller.open()
        stack.callback(caller.close)
        watcher.follow(caller.call_id)
        rtp_to = await caller.wait_call_up()
        say(
            f"call up: Call-ID {caller.call_id}; streaming {script.seconds:.1f} s of PCMU in"
            f" real time to {rtp_to[0]}:{rtp_to[1]}, {len(script.bursts)} DTMF digits"
            f" (RFC 4733 + in-band) between +{script.bursts[0].start_s:.2f} s"
            f" and +{script.bursts[-1].start_s + script.bursts[-1].duration_s:.2f} s"
        )
        kind = (
            "SIPREC call, commands to its Session-ID"
            if caller.siprec
            else "commands to its Call-ID"
        )
        say(
            f"plan: pause at +{script.pause_at_s:.3f} s, resume at +{script.resume_at_s:.3f} s"
            f" ({kind}: {PREFIX}/v1/control/call/{caller.key})"
        )
        publish = mqtt_publisher(url, protocol, caller.key)
        sent = await _stream_and_command(caller, publish, script, say, opts.pause_late_ms)
        status = await caller.hang_up()
        say(f"call ended: BYE answered {status}" if status else "call ended by pausegate")
        ended = await watcher.wait_event("call_ended", _EVENT_TIMEOUT_S)
        if ended is None:
            lost = " (the event subscription lost the broker)" if watcher.lost else ""
            say(f"no call_ended event within {_EVENT_TIMEOUT_S:.0f} s{lost}")
        if not await wait_for(
            lambda: any(_complete(d) for d in _call_dirs(rec_dir)), _FILES_TIMEOUT_S
        ):
            say(f"FAIL: the recorder wrote no complete recording within {_FILES_TIMEOUT_S:.0f} s")
            return 1
        call_dir = next(d for d in _call_dirs(rec_dir) if _complete(d))
        sent_wav = run_dir / "sent.wav"
        write_wav(sent_wav, script.reference, RATE)
        events = {name: watcher.find(name) for name in ("paused", "resumed", "call_ended")}
        return _conclude(run_dir, call_dir, sent_wav, script, caller, sent, events, say)
    return 1  # pragma: no cover  (the exit stack does not swallow exceptions)


async def _stream_and_command(
    caller: SyntheticCaller,
    publish: Publish,
    script: CallScript,
    say: Progress,
    pause_late_ms: int,
) -> list[Sent]:
    loop = asyncio.get_running_loop()
    t0 = loop.time() + _SETTLE_S
    async with asyncio.TaskGroup() as tg:
        tg.create_task(caller.stream(t0))
        commands = tg.create_task(fire_commands(publish, script, t0, say, pause_late_ms))
    return commands.result()


def _resume_transit_ms(resumed: dict[str, Any] | None, at_ms: float) -> float:
    """How long after its `at` pausegate received the resume (0 without the event)."""
    received = resumed.get("received_at") if resumed is not None else None
    if isinstance(received, int | float) and not isinstance(received, bool):
        return max(0.0, float(received) - at_ms)
    return 0.0


def _clock(epoch_ms: float) -> str:
    return dt.datetime.fromtimestamp(epoch_ms / 1000.0, dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def _conclude(
    run_dir: Path,
    call_dir: Path,
    sent_wav: Path,
    script: CallScript,
    caller: SyntheticCaller,
    sent: list[Sent],
    events: dict[str, dict[str, Any] | None],
    say: Progress,
) -> int:
    ended = events.get("call_ended")
    streams = [load_stream(wav, side) for wav, side in find_streams(call_dir)]
    pause, resume = sent[0], sent[1]
    log = [(r.rtp_ts_end, r.sent_at_ms) for r in caller.send_log]
    clock = SendClock.from_send_log(log, RATE)
    lateness = clock.lateness_ms(log, pause.at_ms)
    transit = _resume_transit_ms(events.get("resumed"), resume.at_ms)
    commanded = [CommandedSpan(pause.at_ms, resume.at_ms, lateness, transit)]
    reference = Reference(script.reference, script.first_ts)
    say.plain()
    say.plain("analysis of the recording")
    say.plain(
        f"  allowed extra withholding: one 20 ms packet (+2.5 ms timing tolerance) at each"
        f" edge, plus {lateness:.1f} ms at the pause (how late packets around it were sent)"
        f" and {transit:.1f} ms at the resume (its transit: a resume counts from when"
        " pausegate received it)"
    )
    results: list[tuple[RecordedStream, Verdict]] = []
    for stream in streams:
        verdict = analyse(stream, reference, commanded, clock)
        results.append((stream, verdict))
        say.plain(f"  stream {stream.wav.stem}: {stream.packets} RTP packets received")
        for line in describe(verdict):
            say.plain(f"    {line}")
        if verdict.correlation is not None and verdict.correlation < DEFAULT_LIMITS.min_correlation:
            say.plain(f"    {alignment_hint(stream, reference)}")
        for check in verdict.spans:
            if check.measured_ms is not None:
                start_at = stream.first_arrival_at_ms + check.measured_ms[0]
                end_at = stream.first_arrival_at_ms + check.measured_ms[1]
                say.plain(
                    f"    recorder clock:     withheld span reached the recorder"
                    f" {_clock(start_at)}-{_clock(end_at)} UTC, i.e. pause"
                    f" {start_at - pause.at_ms:+.0f} ms to resume {end_at - resume.at_ms:+.0f} ms"
                )
                say.plain(
                    "                        (hold-back + the 20 ms each packet carries + transit)"
                )
    reasons = [f"stream {s.wav.stem}: {r}" for s, v in results for r in v.reasons]
    if not results:
        reasons.append("the recorder wrote no stream")
    if ended is not None:
        if (ended.get("leaked_ms") or 0) > 0:
            reasons.append(
                f"pausegate reports leaked_ms={ended.get('leaked_ms')}"
                " (paused audio it had already sent when the pause arrived)"
            )
        if ended.get("verified") is False:
            reasons.append("pausegate reports verified=false")
    passed = not reasons
    say.plain()
    say.plain("files")
    for stream in streams:
        say.plain(f"  recording: {stream.wav}")
        say.plain(f"  sidecar:   {stream.sidecar}")
    say.plain(f"  sent:      {sent_wav}  (what the caller sent, after PCMU)")
    if results:
        stream, verdict = results[0]
        title = (
            f"pausegate demo: {'PASS' if passed else 'FAIL'} - recording of stream"
            f" {stream.wav.stem}, withheld spans shaded"
        )
        png = plot_recording(
            run_dir / "waveform.png",
            stream.recording.samples,
            stream.recording.clock_rate,
            verdict.measured_ms,
            [c.expected_ms for c in verdict.spans],
            title,
        )
        say.plain(f"  waveform:  {png}")
    say.plain()
    if passed:
        span = results[0][1].spans[0]
        assert span.measured_ms is not None
        say.plain(
            f"PASS: the recording withheld {span.measured_ms[0]:.1f}-{span.measured_ms[1]:.1f} ms"
            f" for the commanded {span.expected_ms[0]:.1f}-{span.expected_ms[1]:.1f} ms,"
            " no DTMF inside, the rest intact"
        )
        return 0
    say.plain("FAIL:")
    for reason in reasons:
        say.plain(f"  - {reason}")
    return 1
