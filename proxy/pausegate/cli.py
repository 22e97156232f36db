"""Command line (SPEC §7): serve, recorder, ctl, demo, audit verify. Composition root entry."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from pausegate.errors import ConfigError, PausegateError

# Flags of `serve` that override configuration keys (SPEC §7).
_SERVE_FLAGS: dict[str, str] = {
    "sip": "sip.listen",
    "rtp_ports": "rtp.ports",
    "recorder": "sip.recorder",
    "mqtt": "mqtt.url",
    "http": "http.listen",
    "holdback_ms": "rtp.holdback_ms",
    "instance_id": "instance_id",
}


def _run(coro: Coroutine[Any, Any, int], *, use_uvloop: bool = True) -> int:
    """Run the main coroutine, on uvloop where available (STYLE §6: chosen here only)."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is a dependency
            pass
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(coro)
    return asyncio.run(coro)


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    out: dict[str, str] = {}
    for flag, key in _SERVE_FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            out[key] = str(value)
    for item in getattr(args, "set", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got '{key}'")
        out[key.strip()] = value
    return out


def _cmd_serve(args: argparse.Namespace) -> int:
    from pausegate.app import serve
    from pausegate.config import load_config

    cfg = load_config(args.config, _overrides(args))
    return _run(serve(cfg))


def _cmd_recorder(args: argparse.Namespace) -> int:
    from pausegate.recorder.app import run_recorder

    host, _, port = args.sip.rpartition(":")
    low, _, high = args.rtp_ports.partition("-")

    from pausegate.logs import setup_logging

    setup_logging("text", "INFO")
    print(
        f"pausegate recorder: SIP {args.sip} (udp+tcp), RTP {args.rtp_ports}, "
        f"writing to {args.out}",
        file=sys.stderr,
    )

    async def main() -> int:
        await run_recorder(
            (host or "127.0.0.1", int(port)),
            args.advertise or host or "127.0.0.1",
            Path(args.out),
            (int(low), int(high)),
        )
        return 0

    return _run(main())


def _cmd_ctl(args: argparse.Namespace) -> int:
    from pausegate.control.commands import Action, Command, Scope
    from pausegate.io.mqtt_client import publish_command

    scope = Scope.CALL if args.call is not None else Scope.AGENT
    key = args.call if args.call is not None else args.agent
    cmd = Command(
        action=Action(args.action),
        at_ms=args.at,
        id=args.id,
        reason=args.reason,
        source=args.source,
        behaviour=None,
    )

    async def main() -> int:
        import aiomqtt

        if cmd.at_ms is not None:
            age_ms = time.time() * 1000.0 - cmd.at_ms
            if age_ms > 150:
                print(
                    f"pausegate ctl: warning: --at is {age_ms:.0f} ms old; audio older than "
                    "rtp.holdback_ms when the command arrives has already reached the recorder",
                    file=sys.stderr,
                )
        try:
            reply = await publish_command(
                args.mqtt, args.protocol, args.prefix, scope, key, cmd, wait_reply_s=args.wait
            )
        except TimeoutError:
            print(
                f"pausegate ctl: no reply within {args.wait} s: is a pausegate connected to this "
                f"broker with topic prefix '{args.prefix}'?",
                file=sys.stderr,
            )
            return 1
        except (aiomqtt.MqttError, OSError) as exc:  # after TimeoutError, an OSError
            print(f"pausegate ctl: cannot reach the broker at {args.mqtt}: {exc}", file=sys.stderr)
            return 2
        if reply is None:
            print(f"{args.action} published for {scope} {key} (no reply with MQTT 3.1.1)")
            return 0
        print(json.dumps(reply))
        return 0 if reply.get("ok") else 1

    return _run(main(), use_uvloop=False)


def _cmd_demo(args: argparse.Namespace) -> int:
    from pausegate.demo.run import run_demo

    return _run(run_demo(args), use_uvloop=False)


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    from pausegate.control.audit import verify_chain

    try:
        ok, bad_line = verify_chain(Path(args.file))
    except OSError as exc:
        print(f"pausegate audit verify: cannot read {args.file} ({exc.strerror})", file=sys.stderr)
        return 2
    if ok:
        print(f"{args.file}: chain intact (a cut-off tail is only detectable against a kept hash)")
        return 0
    print(f"{args.file}: chain broken at line {bad_line} (its 'prev' does not match)")
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pausegate", description="Media proxy that withholds paused audio from recordings."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    fmt = argparse.ArgumentDefaultsHelpFormatter
    serve = sub.add_parser("serve", help="run the media proxy (flags override --config)")
    serve.add_argument("--config", type=Path, help="TOML configuration file")
    serve.add_argument("--sip", metavar="HOST:PORT", help="sip.listen (UDP and TCP)")
    serve.add_argument("--rtp-ports", metavar="LOW-HIGH", help="rtp.ports, inclusive")
    serve.add_argument("--recorder", metavar="SIP-URI", help="sip.recorder (required)")
    serve.add_argument("--mqtt", metavar="URL", help="mqtt.url, mqtt[s]://[user:pass@]host:port")
    serve.add_argument("--http", metavar="HOST:PORT", help="http.listen (metrics, control)")
    serve.add_argument("--holdback-ms", type=int, help="rtp.holdback_ms (default 200)")
    serve.add_argument("--instance-id", help="instance_id (default: host name)")
    serve.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        default=[],
        help="any configuration key, dotted (e.g. gate.behaviour=drop); repeatable",
    )
    serve.set_defaults(func=_cmd_serve)

    rec = sub.add_parser(
        "recorder", help="run the reference SIP recorder (WAV + sidecar)", formatter_class=fmt
    )
    rec.add_argument("--sip", default="127.0.0.1:5070", metavar="HOST:PORT")
    rec.add_argument("--advertise", default=None)
    rec.add_argument("--out", default="recordings", metavar="DIR")
    rec.add_argument("--rtp-ports", default="30000-30999", metavar="LOW-HIGH")
    rec.set_defaults(func=_cmd_recorder)

    ctl = sub.add_parser(
        "ctl", help="publish a pause or resume command over MQTT", formatter_class=fmt
    )
    ctl.add_argument("action", choices=["pause", "resume"])
    target = ctl.add_mutually_exclusive_group(required=True)
    target.add_argument("--call", metavar="KEY")
    target.add_argument("--agent", metavar="ID")
    ctl.add_argument(
        "--at",
        type=float,
        metavar="MS",
        help="when it was asked for, epoch ms (default: when pausegate receives it)",
    )
    ctl.add_argument("--id", help="command id (idempotence); always send one")
    ctl.add_argument("--reason", help="reason text for events and the ledger")
    ctl.add_argument("--source", default="pausegate-ctl")
    ctl.add_argument("--mqtt", default="mqtt://127.0.0.1:1883", metavar="URL")
    ctl.add_argument("--protocol", type=int, choices=[3, 5], default=5)
    ctl.add_argument("--prefix", default="pausegate")
    ctl.add_argument("--wait", type=float, default=5.0, help="seconds to wait for the reply")
    ctl.set_defaults(func=_cmd_ctl)

    from pausegate.demo.run import add_arguments as add_demo_arguments

    demo = sub.add_parser("demo", help="run a paused call end to end on this machine")
    add_demo_arguments(demo)
    demo.set_defaults(func=_cmd_demo)

    audit = sub.add_parser("audit", help="audit log tools")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check an audit log's hash chain")
    verify.add_argument("file")
    verify.set_defaults(func=_cmd_audit_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except ConfigError as exc:
        print(f"pausegate: configuration error: {exc}", file=sys.stderr)
        return 2
    except PausegateError as exc:
        print(f"pausegate: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
