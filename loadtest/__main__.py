"""Load harness command line: python -m loadtest run|ramp|bench [options].

run    one run: N concurrent SIPREC calls through pausegate, judged, plus the bare relay baseline
ramp   the largest N one pausegate process carries (< 0.1 % loss, p99 < 5 ms beyond hold-back)
bench  the standard profile of `make bench` (< 5 minutes)
Results go to --out (default results/loadtest): run.json, summary.md, run.png.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from loadtest.procs import ROOT
from loadtest.run import Options, run

# defaults of `run`/`ramp`, and the standard profile of `bench` (about 2 minutes)
RUN = {
    "calls": 100,
    "seconds": 60.0,
    "ramp": 10.0,
    "hold": 30.0,
    "baseline": 15.0,
    "pause_every": 6.0,
}
BENCH = {
    "calls": 150,
    "seconds": 60.0,
    "ramp": 10.0,
    "hold": 30.0,
    "baseline": 20.0,
    "pause_every": 10.0,
}


def _options(args: argparse.Namespace, **over: object) -> Options:
    opts = Options(
        calls=args.calls,
        seconds=args.seconds,
        ramp_s=args.ramp,
        hold_s=args.hold,
        seed=args.seed,
        holdback_ms=args.holdback_ms,
        baseline_s=args.baseline,
        out=args.out,
        mqtt=args.mqtt,
        pg_cpu=None if args.no_pin else 1,
        load_cpu=None if args.no_pin else 0,
        extra_set=args.set,
        profile=args.profile,
        pause_every_s=args.pause_every,
    )
    for k, v in over.items():
        setattr(opts, k, v)
    return opts


def _brief(r: dict[str, object]) -> str:
    lat = r["added_latency_ms"]
    assert isinstance(lat, dict)
    return (
        f"calls={r['calls_up']} streams={r['concurrent_streams_peak']} "
        f"pps={r['pps_in_window']:.0f} loss={r['loss_pct']:.3f}% p50={lat['p50']} "
        f"p99={lat['p99']} leaks={r['leaked_samples']} "
        f"cpu/pkt={r['pausegate_cpu_us_per_packet']} ratio={r.get('cpu_ratio_to_bare')} "
        f"valid={r['valid']}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["run", "ramp", "bench"])
    ap.add_argument("--calls", type=int, help="concurrent calls (2 streams each)")
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--ramp", type=float, help="seconds over which calls start")
    ap.add_argument("--hold", type=float, help="mean call duration, seconds")
    ap.add_argument("--pause-every", type=float, help="mean gap between a call's pauses, s")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--holdback-ms", type=int, default=200)
    ap.add_argument("--baseline", type=float, help="bare relay seconds (0: none)")
    ap.add_argument("--mqtt", default=None, help="broker URL (default: a private mosquitto)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "loadtest")
    ap.add_argument("--no-pin", action="store_true", help="do not pin to CPUs 1 (pausegate), 0")
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="extra pausegate setting"
    )
    ap.add_argument("--profile", action="store_true", help="py-spy record pausegate")
    ap.add_argument(
        "--steps", default="25,50,75,100,150,200,300,500,750,1000", help="ramp: call counts"
    )
    args = ap.parse_args(argv)
    profile = BENCH if args.mode == "bench" else RUN
    for name, value in profile.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.mode == "run":
        r = run(_options(args))
        print(_brief(r))
        print((args.out / "summary.md").read_text())
        return 0 if r["valid"] and r["leaked_samples"] == 0 else 1
    if args.mode == "bench":
        r = run(_options(args))
        print(_brief(r))
        print((args.out / "summary.md").read_text())
        return 0
    steps = [int(s) for s in args.steps.split(",")]
    best = 0
    table = []
    for n in steps:
        opts = _options(args, calls=n, out=args.out / f"ramp-{n}")
        r = run(opts)
        lat = r["added_latency_ms"]
        ok = bool(
            r["valid"] and r["loss_pct"] < 0.1 and lat["p99"] is not None and lat["p99"] < 5.0
        )
        table.append({"calls": n, "ok": ok, "brief": _brief(r)})
        print(n, "PASS" if ok else "FAIL", _brief(r), flush=True)
        if ok:
            best = n
        elif r["valid"]:
            break
    (args.out).mkdir(parents=True, exist_ok=True)
    (args.out / "ramp.json").write_text(json.dumps({"max_calls": best, "steps": table}, indent=1))
    print(f"largest passing: {best} concurrent calls ({2 * best} streams)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
