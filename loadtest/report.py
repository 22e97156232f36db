"""Load harness: run.json, a short Markdown summary and a PNG of latency and CPU over the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TARGETS = {"loss_pct": 0.1, "p50_ms": 1.0, "p99_ms": 5.0, "ratio": 1.25, "rss_kib": 30.0}


def _f(v: Any, fmt: str = "{:.2f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def summary_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    lat = r["added_latency_ms"]
    base = r.get("baseline") or {}
    return [
        (
            "calls (planned / up / SIP failures)",
            f"{r['calls_planned']} / {r['calls_up']} / {r['sip_failures']}",
        ),
        ("streams (total / peak concurrent)", f"{r['streams']} / {r['concurrent_streams_peak']}"),
        ("packets in / out (unique)", f"{r['packets_sent']} / {r['packets_unique']}"),
        ("packets/s in (window)", _f(r["pps_in_window"], "{:.0f}")),
        ("loss %", _f(r["loss_pct"], "{:.4f}")),
        (
            "added latency beyond hold-back p50 / p99 / max (ms)",
            f"{_f(lat['p50'])} / {_f(lat['p99'])} / {_f(lat['max'])}",
        ),
        (
            "pause apply delay p50 / p99 (ms, at -> first withheld packet at sink)",
            f"{_f(r['pause_apply_delay_ms']['p50'])} / {_f(r['pause_apply_delay_ms']['p99'])}",
        ),
        ("pauses judged / late (> hold-back) ", f"{r['pauses_judged']} / {r['late_pauses']}"),
        ("leaked samples (commands within hold-back)", str(r["leaked_samples"])),
        ("leaked samples (late commands)", str(r["leaked_samples_late_commands"])),
        (
            "leaked samples (no paused event: receipt unknown) / such pauses",
            f"{r['leaked_samples_receipt_unknown']} / {r['pauses_receipt_unknown']}",
        ),
        (
            "unexpected silence / bad samples",
            f"{r['unexpected_silence_samples']} / {r['bad_samples']}",
        ),
        (
            "pausegate reported leaked_ms / unverified calls",
            f"{r['pausegate_reported_leaked_ms']} / {r['pausegate_unverified_calls']}",
        ),
        ("pausegate CPU share of its core", _f(r["pausegate_cpu_share"])),
        ("pausegate CPU µs per forwarded packet", _f(r["pausegate_cpu_us_per_packet"])),
        (
            "bare uvloop relay CPU µs per packet (same streams)",
            _f(base.get("relay_cpu_us_per_packet")),
        ),
        ("ratio pausegate / bare relay", _f(r.get("cpu_ratio_to_bare"))),
        ("RSS per active stream (KiB)", _f(r["rss_per_stream_kib"], "{:.1f}")),
        (
            "SIP setups/s achieved (offered) over the initial ramp / setup p50 / p99 (ms)",
            f"{_f(r['sip_setup_rate_cps'], '{:.0f}')}"
            f" ({_f(r.get('sip_offered_rate_cps'), '{:.0f}')})"
            f" / {_f(r['sip_setup_ms']['p50'])}"
            f" / {_f(r['sip_setup_ms']['p99'])}",
        ),
        (
            "harness CPU: generator / sink (share of the load core)",
            f"{_f(r['generator_cpu_share'])} / {_f(r['sink_cpu_share'])}",
        ),
        (
            "generator send lag p50 / p99 / max (ms)",
            f"{_f(r['send_lag']['p50_ms'], '{:.1f}')} / {_f(r['send_lag']['p99_ms'], '{:.1f}')}"
            f" / {_f(r['send_lag']['max_ms'], '{:.1f}')}",
        ),
    ]


def verdict(r: dict[str, Any]) -> list[str]:
    """Which of the issue's targets this run meets (only meaningful for a valid run)."""
    out = []
    lat = r["added_latency_ms"]
    checks = [
        ("loss < 0.1 %", r["loss_pct"] < TARGETS["loss_pct"]),
        ("p50 < 1 ms", lat["p50"] is not None and lat["p50"] < TARGETS["p50_ms"]),
        ("p99 < 5 ms", lat["p99"] is not None and lat["p99"] < TARGETS["p99_ms"]),
        ("0 leaks", r["leaked_samples"] == 0),
        ("CPU ratio <= 1.25", (r.get("cpu_ratio_to_bare") or 99) <= TARGETS["ratio"]),
        ("RSS < 30 KiB/stream", (r.get("rss_per_stream_kib") or 99) < TARGETS["rss_kib"]),
    ]
    for name, ok in checks:
        out.append(f"{'PASS' if ok else 'FAIL'} {name}")
    return out


def markdown(r: dict[str, Any]) -> str:
    lines = [
        f"# pausegate load test: {r['options']['calls']} call slots,"
        f" {r['options']['seconds']} s ({r['measured_at']})",
        "",
        f"Run {'VALID' if r['valid'] else 'INVALID (the harness fell behind)'}"
        + ("" if r["valid"] else ": " + "; ".join(r["invalid_reasons"])),
        "",
        f"Machine: {r['machine']['cpus']} CPUs, {r['machine']['cpu_model']},"
        f" kernel {r['machine']['kernel']}, Python {r['machine']['python']};"
        f" pausegate on CPU {r['options']['pg_cpu']}, load on CPU {r['options']['load_cpu']}.",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in summary_rows(r)]
    lines += ["", "Targets: " + ", ".join(verdict(r)), ""]
    return "\n".join(lines)


def plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    per = r["per_second"]
    ax1.plot([p["t"] for p in per], [p["p50_ms"] for p in per], label="p50")
    ax1.plot([p["t"] for p in per], [p["p99_ms"] for p in per], label="p99")
    ax1.set_ylabel("added latency beyond hold-back (ms)")
    ax1.legend()
    ax1.grid(alpha=0.3)
    tl = r["timeline"]
    t = [row["t"] for row in tl]
    for name in ("pausegate", "generator", "sink"):
        ax2.plot(t, [100 * row.get(f"{name}_cpu", 0) for row in tl], label=f"{name} CPU %")
    ax2.set_ylabel("CPU % of one core")
    ax2.set_xlabel("seconds since t0")
    ax3 = ax2.twinx()
    ax3.plot(t, [row["streams"] for row in tl], "k:", label="active streams")
    ax3.set_ylabel("active streams")
    ax2.legend(loc="upper left")
    ax2.grid(alpha=0.3)
    fig.suptitle("pausegate load test")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(r: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "run.json").write_text(json.dumps(r, indent=1))
    (out / "summary.md").write_text(markdown(r))
    try:
        plot(r, out / "run.png")
    except Exception as exc:  # the plot is a convenience; the JSON is the record
        (out / "plot_error.txt").write_text(str(exc))
