"""The load harness itself works on a small load: a few SIPREC calls, paused over MQTT, judged.

pausegate runs as a subprocess (`python -m pausegate.cli serve`) on free loopback
ports against a private mosquitto; the generator and the sink are processes of
their own. Nothing here asserts timing: performance is `make bench`'s business.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from loadtest.payload import PACKET, SILENCE, Classified, fill_full, init_headers
from loadtest.plan import make_plan
from loadtest.run import Options, run

from tests.fixtures.mosquitto import Mosquitto


def test_fingerprint_round_trip_and_silence() -> None:
    buf = np.zeros((40, PACKET), np.uint8)
    streams = np.arange(3, 40, 7, dtype=np.int64)
    init_headers(buf, streams)
    fill_full(buf, streams, 12345, 777)
    rows = buf[streams].copy()
    rows[1, 12 + 100 :] = SILENCE  # a pause that starts at sample 100
    c = Classified(rows, 10.0)
    assert c.stream.tolist() == streams.tolist()
    assert set(c.index.tolist()) == {12345}
    assert c.n_orig.tolist() == [160, 100, 160, 160, 160, 160]
    assert (c.first_sil[1], c.last_sil[1], c.n_sil[1]) == (100, 159, 60)
    assert c.bad.sum() == 0
    assert np.isnan(c.sent[1])
    assert np.allclose(np.delete(c.sent, 1), 10.0 + 777e-5)
    rows[2, 50] ^= 0x01  # a changed sample is neither original nor silence
    assert Classified(rows, 10.0).bad.tolist() == [0, 0, 1, 0, 0, 0]


def test_plan_pauses_stay_inside_calls() -> None:
    plan = make_plan(20, 30.0, 5.0, 10.0, seed=3, pause_every_s=2.0)
    assert plan
    for call in plan:
        assert 0 <= call.start < call.end <= 30.0
        for p in call.pauses:
            assert call.start + 1.0 <= p.start < p.end <= call.end - 1.0
            assert 0 <= p.backdate_ms <= 150.0
    scopes = {p.scope for c in plan for p in c.pauses}
    assert scopes == {"call", "agent"}


@pytest.mark.e2e
@pytest.mark.mosquitto
@pytest.mark.timeout(90)
def test_small_load_is_judged_without_leaks(tmp_path: Path, mosquitto: Mosquitto) -> None:
    opts = Options(
        calls=3,
        seconds=7.0,
        ramp_s=0.5,
        hold_s=10.0,
        seed=7,
        baseline_s=3.0,
        out=tmp_path,
        mqtt=mosquitto.url,
        pg_cpu=None,
        load_cpu=None,
        pause_every_s=1.0,
    )
    result = run(opts)
    assert result["calls_up"] == result["calls_planned"] == 3
    assert result["sip_failures"] == 0
    assert result["packets_unique"] > 0.99 * result["packets_sent"] > 0
    assert result["pauses_judged"] >= 1
    assert result["samples_must_withhold"] > 0
    assert result["late_pauses"] == 0, "commands must reach pausegate within hold-back"
    assert result["pauses_receipt_unknown"] == 0
    assert result["leaked_samples"] == 0
    assert result["leaked_samples_receipt_unknown"] == 0
    assert result["bad_samples"] == 0
    assert result["foreign_packets"] == 0
    assert result["baseline"]["packets_sent"] > 0
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["leaked_samples"] == 0
    assert (tmp_path / "summary.md").read_text().startswith("# pausegate load test")
    assert (tmp_path / "run.png").stat().st_size > 0
