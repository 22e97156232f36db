"""Scrape-time adapters from the cores' statistics() to metric snapshots (SPEC §6). Root glue."""

from __future__ import annotations

from pausegate.calls.b2bua import SipStatistics
from pausegate.gate import GateStatistics
from pausegate.io.rtp_transport import MediaStatistics
from pausegate.metrics import HistogramSnapshot, StatsSnapshot, sip_method_label, sip_status_label


def gate_snapshot(stats: GateStatistics) -> StatsSnapshot:
    """Leaks, pause apply delay and call gauges (commands are counted by the adapters)."""
    bounds = tuple(b for b in stats.apply_delay_buckets if b != float("inf"))
    per_bucket: list[int] = []
    previous = 0
    for cumulative in stats.apply_delay_counts:
        per_bucket.append(cumulative - previous)
        previous = cumulative
    if len(per_bucket) == len(bounds):  # no +Inf bucket in the core's bounds
        per_bucket.append(stats.apply_delay_count - previous)
    return StatsSnapshot(
        counters={
            "pausegate_leaked_audio_seconds_total": stats.leaked_audio_seconds_total,
            "pausegate_calls_total": float(stats.calls_total),
        },
        gauges={
            "pausegate_calls_active": float(stats.calls_active),
            "pausegate_calls_paused": float(stats.calls_paused),
        },
        histograms={
            "pausegate_pause_apply_delay_seconds": HistogramSnapshot(
                bounds, tuple(per_bucket), stats.apply_delay_sum_s
            )
        },
    )


def packets_snapshot(gate: GateStatistics, media: MediaStatistics) -> StatsSnapshot:
    """pausegate_rtp_packets_total: the gate's decisions plus the media path's rejections."""
    p = gate.packets
    series: dict[tuple[str, ...], float] = {
        ("forwarded",): float(p.get("forwarded", 0)),
        ("silenced",): float(p.get("silenced", 0)),
        ("dropped",): float(p.get("dropped", 0) + media.rtp_no_target),
        ("dtmf_withheld",): float(p.get("dtmf_withheld", 0)),
        ("invalid",): float(p.get("invalid", 0) + media.rtp_invalid + media.rtcp_invalid),
        ("wrong_source",): float(media.rtp_wrong_source + media.rtcp_wrong_source),
    }
    bad: dict[tuple[str, ...], float] = {
        ("rtp",): float(media.rtp_invalid),
        ("rtcp",): float(media.rtcp_invalid),
    }
    return StatsSnapshot(
        counters={"pausegate_rtp_packets_total": series, "pausegate_bad_input_total": bad},
        histograms={
            "pausegate_forward_delay_seconds": HistogramSnapshot(
                media.forward_delay_bounds_s,
                media.forward_delay_buckets,
                media.forward_delay_sum_s,
            )
        },
    )


def sip_snapshot(stats: SipStatistics) -> StatsSnapshot:
    series: dict[tuple[str, ...], float] = {}
    for (method, status), count in stats.messages.items():
        label_status = status if status == "request" else sip_status_label(_int(status))
        key = (sip_method_label(method), label_status)
        series[key] = series.get(key, 0.0) + count
    bad: dict[tuple[str, ...], float] = {
        ("sip",): float(stats.parse_errors),
        ("sdp",): float(stats.sdp_errors),
        ("siprec",): float(stats.siprec_errors),
    }
    return StatsSnapshot(
        counters={"pausegate_sip_messages_total": series, "pausegate_bad_input_total": bad}
    )


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None
