"""`pausegate demo` options, entry and event lines (no network: bad arguments stop first)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from pausegate.demo import DemoOptions, add_arguments, run_demo
from pausegate.demo.events import describe_event
from pausegate.demo.run import main


def test_options_from_the_cli_namespace_keep_zero_and_fill_the_rest() -> None:
    ns = argparse.Namespace(mqtt=None, out="demo-output", seconds=6.0, holdback_ms=0)
    opts = DemoOptions.from_namespace(ns)
    assert opts == DemoOptions(out=Path("demo-output"), seconds=6.0, holdback_ms=0)


def test_demo_flags() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--mqtt",
            "mqtt://127.0.0.1:1",
            "--mqtt-protocol",
            "5",
            "--siprec",
            "--pause-late-ms",
            "50",
        ]
    )
    opts = DemoOptions.from_namespace(args)
    assert opts.mqtt == "mqtt://127.0.0.1:1"
    assert opts.mqtt_protocol == 5
    assert opts.siprec
    assert opts.pause_late_ms == 50
    assert opts.seconds == 8.0
    assert opts.holdback_ms == 200


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (DemoOptions(seconds=1.0), "error: the demo call needs at least 4 s"),
        (DemoOptions(pause_late_ms=-1), "error: --pause-late-ms must not be negative"),
    ],
)
async def test_bad_options_stop_before_anything_starts(opts: DemoOptions, message: str) -> None:
    out = io.StringIO()
    assert await run_demo(opts, out) == 1
    assert message in out.getvalue()


def test_main_returns_the_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seconds", "2"]) == 1
    assert "at least 4 s" in capsys.readouterr().out


def test_event_lines_name_timing_and_ledger_never_payloads() -> None:
    paused = {"event": "paused", "at": 1, "received_at": 2, "media_ms": 3.5, "cmd_id": "c"}
    assert describe_event(paused) == (
        "event paused: effective at=1 epoch ms, received_at=2, media_ms=3.5, cmd_id=c"
    )
    assert describe_event({**paused, "clamped": True}).endswith("(clamped to max_backdate_ms)")
    ended = {
        "event": "call_ended",
        "pauses": [{"start_ms": 10, "end_ms": 20}, "junk"],
        "leaked_ms": 0,
        "verified": True,
    }
    assert describe_event(ended) == (
        "event call_ended: pauses [10-20 ms] on the recorder's timeline, leaked_ms=0, verified=true"
    )
    assert "pauses [none]" in describe_event({"event": "call_ended", "pauses": None})
    rejected = {"event": "command_rejected", "error": "bad field", "cmd_id": None}
    assert describe_event(rejected) == "event command_rejected: bad field (cmd_id=None)"
    assert describe_event({"event": "call_started", "at": 5}) == "event call_started: at=5"
