"""Demo root: `pausegate demo` options and entry point (SPEC §7; the run is in session.py).

Rules:
1. Everything binds to 127.0.0.1 on ports the OS or a bind probe found free, and
   everything started here is stopped here, whatever happened in between.
2. Pause and resume are published over MQTT 3.1.1 (the embedded broker speaks
   nothing newer) with ``at`` = the epoch ms of publishing and an ``id``; the
   commands are fired on the same absolute schedule as the RTP.
3. The exit status is the verdict: 0 only when the recording shows exactly the
   paused span withheld (verdict.py), 1 otherwise, with the reasons printed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pausegate.demo.script import build_script

DEFAULT_OUT = Path("demo-output")
DESCRIPTION = (
    "Run a synthetic call through pausegate with an embedded MQTT broker and a reference"
    " recorder, pause and resume it over MQTT, and check that the recording withheld"
    " exactly the paused span."
)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    mqtt: str | None = None  # external broker URL; None: start the embedded one
    mqtt_protocol: int = 3
    out: Path = DEFAULT_OUT
    seconds: float = 8.0
    holdback_ms: int = 200
    seed: int = 0
    siprec: bool = False  # a SIPREC INVITE, commands addressed to the recorded call
    pause_late_ms: int = 0  # the pause is published this long after its `at`

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> DemoOptions:
        """From the CLI's parsed flags; a flag the parser does not define keeps its default."""
        d = cls()

        def get(name: str, default: object) -> Any:
            value = getattr(ns, name, None)
            return default if value is None else value

        return cls(
            mqtt=get("mqtt", d.mqtt),
            mqtt_protocol=int(get("mqtt_protocol", d.mqtt_protocol)),
            out=Path(get("out", d.out)),
            seconds=float(get("seconds", d.seconds)),
            holdback_ms=int(get("holdback_ms", d.holdback_ms)),
            seed=int(get("seed", d.seed)),
            siprec=bool(get("siprec", d.siprec)),
            pause_late_ms=int(get("pause_late_ms", d.pause_late_ms)),
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `pausegate demo` flags (the CLI calls this on its `demo` sub-parser)."""
    parser.add_argument("--mqtt", metavar="URL", help="use this broker instead of the embedded one")
    parser.add_argument(
        "--mqtt-protocol", type=int, choices=(3, 5), default=3, help="MQTT version (default 3)"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output directory (default demo-output)"
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="call length (default 8)")
    parser.add_argument("--holdback-ms", type=int, default=200, help="hold-back (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic call")
    parser.add_argument(
        "--siprec",
        action="store_true",
        help="place a SIPREC call and pause it by the recorded call's Session-ID",
    )
    parser.add_argument(
        "--pause-late-ms",
        type=int,
        default=0,
        metavar="N",
        help="publish the pause N ms after its `at` (a slow desktop); beyond the hold-back"
        " audio leaks and the demo fails",
    )


@dataclass(slots=True)
class Progress:
    """Prints timestamped lines relative to the demo's start."""

    out: TextIO
    started: float = field(default_factory=time.monotonic)

    def __call__(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.2f} s] {text}", file=self.out, flush=True)

    def plain(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)


async def run_demo(args: argparse.Namespace | DemoOptions, out: TextIO | None = None) -> int:
    """The whole demo; returns the exit status (0 PASS, 1 FAIL or error)."""
    opts = args if isinstance(args, DemoOptions) else DemoOptions.from_namespace(args)
    say = Progress(out or sys.stdout)
    say(
        f"pausegate demo: a synthetic call of {opts.seconds:g} s through pausegate, paused and"
        " resumed over MQTT; then the recording is checked"
    )
    if opts.pause_late_ms < 0:
        say("error: --pause-late-ms must not be negative")
        return 1
    try:
        script = build_script(opts.seconds, opts.seed)
    except ValueError as exc:
        say(f"error: {exc}")
        return 1
    from pausegate.demo.session import run_session  # the heavy imports, after arguments

    try:
        return await run_session(opts, script, say)
    except asyncio.CancelledError:
        # Ctrl-C: asyncio.run cancels this, the entry coroutine; everything the demo
        # started has been stopped on the way out, so end with a line, not a traceback.
        say("interrupted: the demo stopped everything it had started")
        return 130
    except Exception as exc:  # the task boundary: report, never a traceback for a demo user
        say(f"FAIL: the demo could not run: {type(exc).__name__}: {exc}")
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pausegate demo", description=DESCRIPTION)
    add_arguments(parser)
    return asyncio.run(run_demo(parser.parse_args(argv)))


__all__ = ["DemoOptions", "Progress", "add_arguments", "main", "run_demo"]
