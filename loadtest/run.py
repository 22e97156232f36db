"""Load harness root: one run (pausegate phase + bare relay baseline), judged and reported.

Rules:
1. pausegate (``python -m pausegate.cli serve``) and the bare relay run pinned to
   ``pg_cpu``; the generator, the sink and mosquitto to ``load_cpu``; all on 127.0.0.1.
2. Every child is bounded: the generator gets ``seconds + 40`` s, then everything
   is stopped (SIGTERM, SIGKILL after 5 s).
3. The measurement window skips the ramp and the last second; CPU per packet is
   the process's CPU over the window divided by the packets the sink got in it.
4. A run is invalid when the harness fell behind: generator send lag p99 > 5 ms or
   over 0.1 % of packets later than 10 ms, sink socket drops, send errors, or the
   generator and the sink using over 90 % of the load core.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loadtest.judge import judge, lag_stats, pct
from loadtest.payload import PTIME_S
from loadtest.procs import (
    ROOT,
    Children,
    Sampler,
    http_get,
    metric_values,
    pin,
    read_json_line,
)

HOST = "127.0.0.1"
MAX_LAG_P99_MS = 5.0
MAX_LOAD_SHARE = 0.9  # the generator wakes every 2 ms, so 1 ms of lag is by design


@dataclass
class Options:
    calls: int = 10
    seconds: float = 20.0
    ramp_s: float = 5.0
    hold_s: float = 15.0
    seed: int = 1
    holdback_ms: int = 200
    baseline_s: float = 10.0
    out: Path = ROOT / "results" / "loadtest"
    mqtt: str | None = None
    pg_cpu: int | None = 1
    load_cpu: int | None = 0
    rtp_ports: str = "10000-29999"
    extra_set: list[str] = field(default_factory=list)
    profile: bool = False  # py-spy record pausegate during the window
    pause_every_s: float = 6.0  # mean gap between a call's pauses


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _window(opts: Options, t0: float) -> tuple[float, float]:
    start = t0 + min(opts.ramp_s + 2.0, opts.seconds / 2)
    return start, t0 + opts.seconds - 1.0


def _rate(
    samples: list[dict[str, float]], name: str, w: tuple[float, float], suffix: str = "_cpu"
) -> tuple[float, float]:
    key = name + suffix
    inside = [s for s in samples if w[0] <= s["t"] <= w[1] and key in s]
    if len(inside) < 2:
        return float("nan"), float("nan")
    return inside[-1][key] - inside[0][key], inside[-1]["t"] - inside[0]["t"]


def _load_records(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _in_window(rec: dict[str, np.ndarray], w: tuple[float, float]) -> int:
    arr = rec["arrival"]
    return int(np.count_nonzero((arr >= w[0]) & (arr < w[1])))


def run_pausegate(opts: Options, kids: Children, work: Path, mqtt_url: str) -> dict[str, Any]:
    sink = kids.start(
        ["-m", "loadtest.sink", "--t0", "0", "--out", str(work / "pg_sink.npz")],
        opts.load_cpu,
        log=work / "sink.log",
    )
    # the sink's t0 only scales send times; the real t0 is passed again below
    ports = read_json_line(sink, 30)
    sip_port, http_port = _free_port(), _free_port()
    pg_args = [
        "-m",
        "pausegate.cli",
        "serve",
        "--sip",
        f"{HOST}:{sip_port}",
        "--rtp-ports",
        opts.rtp_ports,
        "--recorder",
        f"sip:srs@{HOST}:{ports['sip_port']}",
        "--mqtt",
        mqtt_url,
        "--http",
        f"{HOST}:{http_port}",
        "--holdback-ms",
        str(opts.holdback_ms),
        "--instance-id",
        f"loadtest-{os.getpid()}",
        "--set",
        "sip.advertise=127.0.0.1",
        "--set",
        "sip.agent_header=X-Agent-ID",
        "--set",
        "log.level=warning",
        "--set",
        f"sip.max_calls={max(5000, opts.calls * 2)}",
    ]
    for item in opts.extra_set:
        pg_args += ["--set", item]
    prelude = os.environ.get("LOADTEST_PG_PRELUDE")  # what-if experiments, never by default
    if prelude:
        code = (
            f"import sys; {prelude}; from pausegate.cli import main; sys.exit(main(sys.argv[1:]))"
        )
        pg_args[:3] = ["-c", code, "serve"]
    pg = kids.start(pg_args, opts.pg_cpu, log=work / "pausegate.log", stdout=False)
    deadline = time.monotonic() + 30
    while http_get(f"http://{HOST}:{http_port}/readyz", 0.5)[0] != 200:
        if pg.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"pausegate did not become ready (see {work / 'pausegate.log'})")
        time.sleep(0.1)
    t0 = time.time() + 2.0
    cfg = {
        "t0": t0,
        "seconds": opts.seconds,
        "calls": opts.calls,
        "ramp_s": opts.ramp_s,
        "hold_s": opts.hold_s,
        "seed": opts.seed,
        "pausegate_sip": [HOST, sip_port],
        "mqtt": mqtt_url,
        "prefix": "pausegate",
        "pause_every_s": opts.pause_every_s,
    }
    (work / "gen_config.json").write_text(json.dumps(cfg))
    # restart the sink's clock reference: its t0 only matters for decoding send times
    pids = {"pausegate": pg.pid, "sink": sink.pid}
    gen = kids.start(
        [
            "-m",
            "loadtest.generator",
            "--config",
            str(work / "gen_config.json"),
            "--out",
            str(work / "gen.json"),
        ],
        opts.load_cpu,
        log=work / "gen.log",
    )
    pids["generator"] = gen.pid
    sampler = Sampler(pids, None, 0.5)  # no /metrics scrapes: they would load pausegate
    sampler.start()
    rss_base = sampler.sample().get("pausegate_rss", float("nan"))
    window = _window(opts, t0)
    spy = None
    if opts.profile:
        spy = _start_profile(kids, pg.pid, window, work, opts.load_cpu)
    try:
        gen.wait(opts.seconds + 40)
    finally:
        samples = sampler.stop()
    time.sleep(opts.holdback_ms / 1000.0 + 0.5)
    status, text = http_get(f"http://{HOST}:{http_port}/metrics", 2.0)
    final_metrics = metric_values(text) if status == 200 else {}
    kids.stop(sink)
    summary = read_json_line(sink, 30)
    kids.stop(pg)
    if spy is not None:
        spy.wait(30)
    g = json.loads((work / "gen.json").read_text())
    rec = _load_records(work / "pg_sink.npz")
    rec["sent"] = rec["sent"] + t0  # the sink decoded send times against t0 = 0
    result = judge(g, rec, opts.holdback_ms / 1000.0, window)
    cpu, dt = _rate(samples, "pausegate", window)
    pkts = _in_window(rec, window)
    gen_cpu, gdt = _rate(samples, "generator", window)
    sink_cpu, _ = _rate(samples, "sink", window)
    active = _active_streams(g, samples)
    rss = [
        (s["pausegate_rss"] - rss_base) / a
        for s, a in zip(samples, active, strict=True)
        if a >= 10 and "pausegate_rss" in s
    ]
    calls = g["calls"]
    ups = [c for c in calls if "up_at" in c]
    setup = [c["up_at"] - c["invite_at"] for c in ups]
    first_ramp = [c for c in ups if c["planned_start"] <= opts.ramp_s]
    ramp_span = max((c["up_at"] for c in first_ramp), default=t0) - t0
    result.update(
        {
            "calls_planned": len(calls),
            "calls_up": len(ups),
            "sip_failures": len(calls) - len(ups) - sum(1 for c in calls if "invite_at" not in c),
            "sip_failure_reasons": sorted({c["failed"] for c in calls if "failed" in c})[:5],
            "bye_failures": sum(1 for c in calls if "bye_failed" in c),
            "sip_setup_ms": {"p50": _ms(pct(setup, 50)), "p99": _ms(pct(setup, 99))},
            "sip_setup_rate_cps": len(first_ramp) / ramp_span if ramp_span > 0 else None,
            "sip_offered_rate_cps": opts.calls / opts.ramp_s if opts.ramp_s > 0 else None,
            "streams": sum(1 for f in g["streams_first"] if f >= 0),
            "concurrent_streams_peak": int(max(active, default=0)),
            "pps_in_window": pkts / (window[1] - window[0]),
            "pausegate_cpu_share": cpu / dt if dt else None,
            "pausegate_cpu_us_per_packet": 1e6 * cpu / pkts if pkts else None,
            "rss_base_mib": rss_base / 2**20,
            "rss_per_stream_kib": (float(np.median(rss)) / 1024.0) if rss else None,
            "generator_cpu_share": gen_cpu / gdt if gdt else None,
            "cores": _cores(samples, window, opts),
            "sink_cpu_share": sink_cpu / gdt if gdt else None,
            "send_lag": lag_stats(g),
            "send_errors": g["send_errors"],
            "publish_errors": g["publish_errors"],
            "sink": summary,
            "pausegate_metrics": {
                k: v
                for k, v in final_metrics.items()
                if k.startswith(
                    (
                        "pausegate_rtp_packets_total",
                        "pausegate_leaked_audio",
                        "pausegate_calls_total",
                        "pausegate_bad_input",
                    )
                )
            },
            "pausegate_reported_leaked_ms": sum(
                e.get("leaked_ms") or 0 for e in g["events"] if e.get("event") == "call_ended"
            ),
            "pausegate_unverified_calls": sum(
                1
                for e in g["events"]
                if e.get("event") == "call_ended" and e.get("verified") is False
            ),
            "window": [window[0] - t0, window[1] - t0],
            "timeline": _timeline(samples, t0, active),
        }
    )
    return result


def _start_profile(
    kids: Children, pid: int, window: tuple[float, float], work: Path, cpu: int | None
) -> Any:
    """py-spy over the window: profile.svg (flame graph) and profile.txt (collapsed
    stacks), run on the load core; LOADTEST_PYSPY_NATIVE=1 adds C frames (uvloop)."""
    import shutil
    import subprocess
    import threading

    spy_bin = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    native = os.environ.get("LOADTEST_PYSPY_NATIVE") == "1"
    spies: list[subprocess.Popen[bytes]] = []

    def later() -> None:
        time.sleep(max(0.0, window[0] - time.time()))
        dur = str(max(1, int(window[1] - window[0])))
        base = [spy_bin, "record", "-p", str(pid), "-d", dur, "-r", "200"]
        base += ["--native"] if native else ["--nonblocking"]
        for extra in (["-o", str(work / "profile.svg")],
                      ["-f", "raw", "-o", str(work / "profile.txt")]):  # fmt: skip
            proc = subprocess.Popen(
                base + extra,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=lambda: pin(0, cpu),
            )
            spies.append(proc)

    thread = threading.Thread(target=later, daemon=True)
    thread.start()

    class _Wait:
        def wait(self, timeout: float) -> None:
            thread.join(timeout)
            for proc in spies:
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()

    return _Wait()


def _cores(
    samples: list[dict[str, float]], w: tuple[float, float], opts: Options
) -> dict[str, Any]:
    """Busy and steal share of the two pinned cores over the window (all processes)."""
    out: dict[str, Any] = {}
    for role, cpu in (("pausegate_core", opts.pg_cpu), ("load_core", opts.load_cpu)):
        if cpu is None:
            continue
        busy, dt = _rate(samples, f"cpu{cpu}", w, "_busy")
        steal, _ = _rate(samples, f"cpu{cpu}", w, "_steal")
        soft, _ = _rate(samples, f"cpu{cpu}", w, "_softirq")
        out[role] = {
            "busy": busy / dt if dt else None,
            "softirq": soft / dt if dt else None,
            "steal": steal / dt if dt else None,
        }
    return out


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000.0, 3)


def _active_streams(g: dict[str, Any], samples: list[dict[str, float]]) -> list[float]:
    first = np.asarray(g["streams_first"], np.int64)
    stop = np.asarray(g["streams_stop"], np.int64)
    out = []
    for s in samples:
        i = (s["t"] - g["t0"]) / PTIME_S
        out.append(float(np.count_nonzero((first >= 0) & (first <= i) & (stop > i))))
    return out


def _timeline(
    samples: list[dict[str, float]], t0: float, active: list[float]
) -> list[dict[str, Any]]:
    out = []
    for prev, cur, act in zip(samples, samples[1:], active[1:], strict=False):
        dt = cur["t"] - prev["t"]
        row: dict[str, Any] = {"t": round(cur["t"] - t0, 2), "streams": act}
        for name in ("pausegate", "generator", "sink", "relay"):
            if f"{name}_cpu" in cur and f"{name}_cpu" in prev:
                row[f"{name}_cpu"] = (cur[f"{name}_cpu"] - prev[f"{name}_cpu"]) / dt
        if "pausegate_rss" in cur:
            row["pausegate_rss_mib"] = cur["pausegate_rss"] / 2**20
        out.append(row)
    return out


def run_baseline(opts: Options, streams: int, kids: Children, work: Path) -> dict[str, Any]:
    """The same number of streams through relay_bench's bare uvloop relay (one socket each)."""
    sink = kids.start(
        ["-m", "loadtest.sink", "--t0", "0", "--out", str(work / "bare_sink.npz")],
        opts.load_cpu,
        log=work / "bare_sink.log",
    )
    ports = read_json_line(sink, 30)
    relay = kids.start(
        [
            str(ROOT / "loadtest" / "relay_bench.py"),
            "--serve",
            "bare",
            "--streams",
            str(streams),
            "--source",
            f"{HOST}:9",
            "--target",
            f"{HOST}:{ports['rtp_port']}",
        ],
        opts.pg_cpu,
    )
    relay_ports = read_json_line(relay, 60)["ports"]
    t0 = time.time() + 1.5
    cfg = {"t0": t0, "seconds": opts.baseline_s, "bare_ports": relay_ports}
    (work / "bare_config.json").write_text(json.dumps(cfg))
    gen = kids.start(
        [
            "-m",
            "loadtest.generator",
            "--config",
            str(work / "bare_config.json"),
            "--out",
            str(work / "bare_gen.json"),
        ],
        opts.load_cpu,
        log=work / "bare_gen.log",
    )
    sampler = Sampler({"relay": relay.pid, "generator": gen.pid, "sink": sink.pid}, None, 0.25)
    sampler.start()
    try:
        gen.wait(opts.baseline_s + 30)
    finally:
        samples = sampler.stop()
    time.sleep(0.5)
    kids.stop(sink)
    summary = read_json_line(sink, 30)
    kids.stop(relay)
    g = json.loads((work / "bare_gen.json").read_text())
    rec = _load_records(work / "bare_sink.npz")
    rec["sent"] = rec["sent"] + t0
    window = (t0 + 2.0, t0 + opts.baseline_s - 0.5)
    res = judge(g, rec, 0.0, window)
    cpu, dt = _rate(samples, "relay", window)
    pkts = _in_window(rec, window)
    return {
        "streams": streams,
        "packets_sent": res["packets_sent"],
        "loss_pct": res["loss_pct"],
        "added_latency_ms": res["added_latency_ms"],
        "pps_in_window": pkts / (window[1] - window[0]),
        "relay_cpu_share": cpu / dt if dt else None,
        "relay_cpu_us_per_packet": 1e6 * cpu / pkts if pkts else None,
        "send_lag": lag_stats(g),
        "generator_cpu_share": _rate(samples, "generator", window)[0] / (window[1] - window[0]),
        "sink_cpu_share": _rate(samples, "sink", window)[0] / (window[1] - window[0]),
        "cores": _cores(samples, window, opts),
        "sink": summary,
    }


def validity(result: dict[str, Any]) -> list[str]:
    reasons = []
    lag = result["send_lag"]
    if lag["p99_ms"] is not None and lag["p99_ms"] > MAX_LAG_P99_MS:
        reasons.append(f"generator send lag p99 {lag['p99_ms']:.1f} ms > {MAX_LAG_P99_MS} ms")
    if lag["late_10ms_pct"] > 0.1:
        reasons.append(f"{lag['late_10ms_pct']:.2f} % of packets sent > 10 ms late")
    if result["sink"].get("socket_drops"):
        reasons.append(f"sink socket dropped {result['sink']['socket_drops']} datagrams")
    # task CPU (on this kernel it includes the softirq work done in the task's context;
    # adding the core's softirq share on top counted it twice)
    load = (result.get("generator_cpu_share") or 0) + (result.get("sink_cpu_share") or 0)
    if load > MAX_LOAD_SHARE:
        reasons.append(f"load core {100 * load:.0f} % busy with the generator and the sink")
    if result.get("send_errors"):
        reasons.append(f"{result['send_errors']} generator send errors")
    return reasons


def run(opts: Options) -> dict[str, Any]:
    """One full run; writes run.json, summary.md and run.png into ``opts.out``."""
    from loadtest.report import write_report

    opts.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=opts.out))
    with Children() as kids:
        mqtt_url = opts.mqtt or _start_broker(kids, work, opts.load_cpu)
        result = run_pausegate(opts, kids, work, mqtt_url)
        result["invalid_reasons"] = validity(result)
        if opts.baseline_s > 0:
            streams = max(result["concurrent_streams_peak"], 1)
            result["baseline"] = run_baseline(opts, streams, kids, work)
            base = result["baseline"]["relay_cpu_us_per_packet"]
            mine = result["pausegate_cpu_us_per_packet"]
            result["cpu_ratio_to_bare"] = mine / base if mine and base else None
            result["invalid_reasons"] += [f"baseline: {r}" for r in validity(result["baseline"])]
    result["valid"] = not result["invalid_reasons"]
    result["options"] = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()}
    result["workdir"] = str(work)
    result["machine"] = _machine()
    result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write_report(result, opts.out)
    return result


def _start_broker(kids: Children, work: Path, cpu: int | None) -> str:
    from tests.fixtures.mosquitto import Mosquitto, find_mosquitto

    from loadtest.procs import renice

    binary = find_mosquitto()
    if binary is None:
        raise RuntimeError("mosquitto is not installed: pass --mqtt URL")
    broker = Mosquitto(work, binary)
    broker.start()
    assert broker.proc is not None
    pin(broker.proc.pid, cpu)
    renice(broker.proc.pid)
    kids.procs.insert(0, broker.proc)  # stopped last
    return broker.url


def _machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": os.uname().release,
        "python": ".".join(map(str, sys.version_info[:3])),
    }
