"""Unit tests for pausegate.metrics: SPEC §6 names, pre-initialised labels, scrape-time reads."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from pausegate.metrics import (
    FORWARD_DELAY_BUCKETS_S,
    BadInput,
    CommandResult,
    ControlStats,
    HistogramSnapshot,
    PausegateCollector,
    StatsSnapshot,
    build_registry,
    sip_method_label,
    sip_status_label,
)


def test_all_spec_metrics_exist_at_zero() -> None:
    registry = build_registry(PausegateCollector(), process_metrics=False)
    value = registry.get_sample_value
    assert value("pausegate_calls_active") == 0
    assert value("pausegate_calls_total") == 0
    assert value("pausegate_calls_paused") == 0
    for outcome in ("forwarded", "silenced", "dropped", "dtmf_withheld", "invalid", "wrong_source"):
        assert value("pausegate_rtp_packets_total", {"outcome": outcome}) == 0
    labels = {"scope": "agent", "action": "resume", "result": "invalid"}
    assert value("pausegate_control_commands_total", labels) == 0
    assert value("pausegate_pause_apply_delay_seconds_count") == 0
    assert value("pausegate_pause_apply_delay_seconds_bucket", {"le": "+Inf"}) == 0
    assert value("pausegate_leaked_audio_seconds_total") == 0
    assert value("pausegate_forward_delay_seconds_sum") == 0
    assert value("pausegate_mqtt_connected") == 0
    assert value("pausegate_mqtt_events_dropped_total") == 0
    for kind in ("sip", "sdp", "rtp", "mqtt_payload", "mqtt_topic", "config"):
        assert value("pausegate_bad_input_total", {"kind": kind}) == 0
    labels = {"method": "OPTIONS", "status": "request"}
    assert value("pausegate_sip_messages_total", labels) == 0
    text = generate_latest(registry).decode()
    assert "# TYPE pausegate_sip_messages_total counter" in text
    assert "# TYPE pausegate_forward_delay_seconds histogram" in text


def test_providers_are_read_at_scrape_time_and_summed() -> None:
    state = {"forwarded": 0}

    def media() -> StatsSnapshot:
        return StatsSnapshot(
            counters={
                "pausegate_rtp_packets_total": {("forwarded",): state["forwarded"]},
                "pausegate_sip_messages_total": {("INVITE", "request"): 2, ("INVITE", "200"): 1},
            },
            histograms={
                "pausegate_forward_delay_seconds": HistogramSnapshot(
                    FORWARD_DELAY_BUCKETS_S,
                    (0,) * 7 + (3, 1) + (0,) * 7,
                    0.8004,
                )
            },
        )

    def gate() -> StatsSnapshot:
        return StatsSnapshot(
            counters={
                "pausegate_rtp_packets_total": {("forwarded",): 5, ("silenced",): 2},
                "pausegate_leaked_audio_seconds_total": 0.25,
                "pausegate_calls_total": 3,
            },
            gauges={"pausegate_calls_active": 2, "pausegate_calls_paused": 1},
            histograms={
                "pausegate_forward_delay_seconds": HistogramSnapshot(
                    FORWARD_DELAY_BUCKETS_S, (0,) * 7 + (1,) + (0,) * 8, 0.2
                )
            },
        )

    collector = PausegateCollector([media])
    collector.add_provider(gate)
    registry = build_registry(collector)
    value = registry.get_sample_value
    assert value("pausegate_rtp_packets_total", {"outcome": "forwarded"}) == 5
    state["forwarded"] = 10
    assert value("pausegate_rtp_packets_total", {"outcome": "forwarded"}) == 15
    assert value("pausegate_rtp_packets_total", {"outcome": "silenced"}) == 2
    assert value("pausegate_rtp_packets_total", {"outcome": "dropped"}) == 0
    assert value("pausegate_leaked_audio_seconds_total") == 0.25
    assert value("pausegate_calls_active") == 2
    assert value("pausegate_sip_messages_total", {"method": "INVITE", "status": "200"}) == 1
    assert value("pausegate_forward_delay_seconds_bucket", {"le": "0.199"}) == 0
    assert value("pausegate_forward_delay_seconds_bucket", {"le": "0.2"}) == 4
    assert value("pausegate_forward_delay_seconds_bucket", {"le": "0.201"}) == 5
    assert value("pausegate_forward_delay_seconds_bucket", {"le": "+Inf"}) == 5
    assert value("pausegate_forward_delay_seconds_count") == 5
    assert value("pausegate_forward_delay_seconds_sum") == pytest.approx(1.0004)
    assert value("process_cpu_seconds_total") is not None


def test_control_stats() -> None:
    stats = ControlStats()
    registry = build_registry(PausegateCollector([stats.snapshot]), process_metrics=False)
    stats.count_command("call", "pause", CommandResult.OK)
    stats.count_command("call", "pause", CommandResult.OK)
    stats.count_command("unknown", "unknown", CommandResult.INVALID)
    stats.count_bad_input(BadInput.MQTT_PAYLOAD)
    stats.count_events_dropped(3)
    stats.set_mqtt_connected(True)
    value = registry.get_sample_value
    assert (
        value(
            "pausegate_control_commands_total", {"scope": "call", "action": "pause", "result": "ok"}
        )
        == 2
    )
    assert (
        value(
            "pausegate_control_commands_total",
            {"scope": "unknown", "action": "unknown", "result": "invalid"},
        )
        == 1
    )
    assert value("pausegate_bad_input_total", {"kind": "mqtt_payload"}) == 1
    assert value("pausegate_mqtt_events_dropped_total") == 3
    assert value("pausegate_mqtt_connected") == 1


@pytest.mark.parametrize(
    "snapshot",
    [
        StatsSnapshot(counters={"pausegate_nope_total": 1}),
        StatsSnapshot(gauges={"pausegate_calls_total": 1}),  # wrong kind
        StatsSnapshot(counters={"pausegate_rtp_packets_total": {("call-id-123",): 1}}),
        StatsSnapshot(counters={"pausegate_rtp_packets_total": {(): 1}}),
        StatsSnapshot(
            histograms={"pausegate_forward_delay_seconds": HistogramSnapshot((1.0,), (0, 0), 0)}
        ),
    ],
)
def test_bad_snapshots_are_local_bugs(snapshot: StatsSnapshot) -> None:
    good = StatsSnapshot(
        histograms={"pausegate_forward_delay_seconds": HistogramSnapshot((2.0,), (1, 0), 1.0)}
    )
    collector = PausegateCollector([lambda: good, lambda: snapshot])
    with pytest.raises(ValueError, match="pausegate_"):
        list(collector.collect())


def test_histogram_shape_checked() -> None:
    with pytest.raises(ValueError, match="bucket counts"):
        HistogramSnapshot((1.0, 2.0), (1, 2), 0.0)


def test_sip_labels() -> None:
    assert sip_method_label("INVITE") == "INVITE"
    assert sip_method_label("FOO") == "other"
    assert sip_status_label(None) == "request"
    assert sip_status_label(486) == "486"
    assert sip_status_label(999) == "other"
