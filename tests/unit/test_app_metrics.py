"""Scrape-time adapters from the cores' statistics to SPEC §6 metrics (fake statistics)."""

from __future__ import annotations

from pausegate.app_metrics import gate_snapshot, packets_snapshot, sip_snapshot
from pausegate.calls.settings import SipStatistics
from pausegate.gate import GateStatistics
from pausegate.io.rtp_transport import MediaStatistics
from pausegate.metrics import PausegateCollector, build_registry

INF = float("inf")


def _gate() -> GateStatistics:
    return GateStatistics(
        packets={"forwarded": 10, "silenced": 4, "dropped": 1, "dtmf_withheld": 2, "invalid": 1},
        leaked_audio_seconds_total=0.25,
        apply_delay_buckets=(0.01, 0.1, INF),
        apply_delay_counts=(1, 3, 4),  # cumulative
        apply_delay_sum_s=0.5,
        apply_delay_count=4,
        calls_active=2,
        calls_paused=1,
        calls_total=7,
    )


def _media() -> MediaStatistics:
    return MediaStatistics(
        rtp_forwarded=10, rtp_dropped=1, rtp_no_target=3, rtp_invalid=5, rtp_wrong_source=6,
        rtcp_forwarded=0, rtcp_dropped=0, rtcp_no_target=0, rtcp_invalid=2, rtcp_wrong_source=1,
        from_recorder=0, gate_errors=0, socket_errors=0, held=0, streams=2,
        forward_delay_bounds_s=(0.2, 0.21), forward_delay_buckets=(0, 9, 1),
        forward_delay_sum_s=2.0,
    )  # fmt: skip


def _sip() -> SipStatistics:
    return SipStatistics(
        messages={("INVITE", "request"): 3, ("INVITE", "200"): 2, ("FOO", "request"): 1},
        parse_errors=4,
        calls_active=1,
        calls_total=3,
        calls_rejected=0,
        transactions=0,
        sdp_errors=2,
        siprec_errors=1,
    )


def test_gate_histogram_is_per_bucket() -> None:
    hist = gate_snapshot(_gate()).histograms["pausegate_pause_apply_delay_seconds"]
    assert hist.bounds == (0.01, 0.1)
    assert hist.counts == (1, 2, 1)


def test_registry_exposes_merged_values() -> None:
    gate, media, sip = _gate(), _media(), _sip()
    collector = PausegateCollector(
        [
            lambda: gate_snapshot(gate),
            lambda: packets_snapshot(gate, media),
            lambda: sip_snapshot(sip),
        ]
    )
    reg = build_registry(collector, process_metrics=False)
    value = reg.get_sample_value
    assert value("pausegate_calls_active") == 2
    assert value("pausegate_calls_paused") == 1
    assert value("pausegate_calls_total") == 7
    assert value("pausegate_leaked_audio_seconds_total") == 0.25
    assert value("pausegate_rtp_packets_total", {"outcome": "silenced"}) == 4
    assert value("pausegate_rtp_packets_total", {"outcome": "dropped"}) == 1 + 3
    assert value("pausegate_rtp_packets_total", {"outcome": "invalid"}) == 1 + 5 + 2
    assert value("pausegate_rtp_packets_total", {"outcome": "wrong_source"}) == 7
    assert value("pausegate_bad_input_total", {"kind": "rtp"}) == 5
    assert value("pausegate_bad_input_total", {"kind": "rtcp"}) == 2
    assert value("pausegate_bad_input_total", {"kind": "sip"}) == 4
    assert value("pausegate_bad_input_total", {"kind": "sdp"}) == 2
    assert value("pausegate_bad_input_total", {"kind": "siprec"}) == 1
    assert value("pausegate_sip_messages_total", {"method": "other", "status": "request"}) == 1
    assert value("pausegate_sip_messages_total", {"method": "INVITE", "status": "200"}) == 2
    assert value("pausegate_forward_delay_seconds_count") == 10
    assert value("pausegate_pause_apply_delay_seconds_count") == 4
