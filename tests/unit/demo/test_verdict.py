"""Verdict logic on hand-built recordings: correct, too little, too much, leaked DTMF."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pausegate.demo.report import (
    RecordedStream,
    alignment_hint,
    describe,
    dtmf_levels_in,
    dual_tone_level,
    find_streams,
    load_stream,
    measure_withheld,
)
from pausegate.demo.verdict import (
    CommandedSpan,
    Recording,
    Reference,
    SendClock,
    Verdict,
    correlation_outside,
    expected_spans,
    judge,
    refine_spans,
    silence_runs,
)
from pausegate_codecs.synth import dtmf_tone, speech_like, test_signal, tone, write_wav

RATE = 8000
BASE_AT = 1_700_000_000_000.0  # epoch ms the caller sent RTP timestamp BASE_TS
BASE_TS = 0xFFFFF000  # wraps during the call, on purpose
FIRST_TS = (BASE_TS + 160) & 0xFFFFFFFF  # the recording starts one packet later
PAUSE_AT = BASE_AT + 1005.0
RESUME_AT = BASE_AT + 2513.0

SENT = test_signal(4.0, RATE, seed=3).astype(np.float64)
CLOCK = SendClock(BASE_TS, BASE_AT, RATE)
COMMANDED = [CommandedSpan(PAUSE_AT, RESUME_AT)]
# In the recording's sample index: the recording starts 160 samples after BASE_TS.
EXP_START = round(1005.0 * 8) - 160
EXP_END = round(2513.0 * 8) - 160


def recording(start: int, end: int, *, dtmf_ts: tuple[int, ...] = ()) -> Recording:
    x = SENT[160:].copy()
    x[start:end] = 0.0
    return Recording(x, RATE, FIRST_TS, dtmf_ts)


def run(rec: Recording) -> Verdict:
    measured = measure_withheld(rec)
    levels = dtmf_levels_in(rec, expected_spans(COMMANDED, CLOCK, rec))
    return judge(rec, Reference(SENT, BASE_TS), COMMANDED, CLOCK, measured, levels)


def test_expected_span_maps_commanded_times_through_the_send_clock() -> None:
    rec = recording(0, 0)
    assert expected_spans(COMMANDED, CLOCK, rec) == [(EXP_START, EXP_END)]


def test_send_clock_takes_the_earliest_offset_so_late_packets_do_not_drag_it() -> None:
    log = [(BASE_TS, BASE_AT + 0.4), ((BASE_TS + 160) % 2**32, BASE_AT + 23.0)]
    log.append(((BASE_TS + 320) % 2**32, BASE_AT + 40.1))
    clock = SendClock.from_send_log(log, RATE)
    assert clock.base_ts == BASE_TS
    assert clock.base_at_ms == pytest.approx(BASE_AT + 0.1)
    assert clock.ts_at(BASE_AT + 0.1 + 1000.0) == (BASE_TS + 8000) % 2**32


def test_send_clock_needs_a_log() -> None:
    with pytest.raises(ValueError, match="empty"):
        SendClock.from_send_log([], RATE)


def test_exactly_the_commanded_span_passes() -> None:
    verdict = run(recording(EXP_START, EXP_END))
    assert verdict.passed, verdict.reasons
    (check,) = verdict.spans
    assert check.measured_ms is not None
    assert check.early_start_ms == pytest.approx(0.0)
    assert check.late_end_ms == pytest.approx(0.0)
    assert check.dtmf_packets == 0
    assert verdict.correlation is not None
    assert verdict.correlation > 0.999


def test_withholding_up_to_one_packet_more_passes() -> None:
    verdict = run(recording(EXP_START - 80, EXP_END + 150))
    assert verdict.passed, verdict.reasons
    assert verdict.spans[0].early_start_ms == pytest.approx(10.0)
    assert verdict.spans[0].late_end_ms == pytest.approx(18.75)


def test_starting_late_is_withholding_too_little() -> None:
    verdict = run(recording(EXP_START + 80, EXP_END))
    assert not verdict.passed
    assert any("too little at the start" in r for r in verdict.reasons)


def test_ending_early_is_withholding_too_little() -> None:
    verdict = run(recording(EXP_START, EXP_END - 40))
    assert not verdict.passed
    assert any("too little at the end" in r for r in verdict.reasons)


def test_withholding_far_more_than_asked_fails() -> None:
    verdict = run(recording(EXP_START - 400, EXP_END))
    assert not verdict.passed
    assert any("more than asked at the start" in r for r in verdict.reasons)


def test_nothing_withheld_fails() -> None:
    verdict = run(recording(0, 0))
    assert not verdict.passed
    assert any("nothing was withheld" in r for r in verdict.reasons)
    assert verdict.spans[0].measured_ms is None


def test_an_uncommanded_withheld_span_fails() -> None:
    x = SENT[160:].copy()
    x[EXP_START:EXP_END] = 0.0
    x[28000:29000] = 0.0
    verdict = run(Recording(x, RATE, FIRST_TS))
    assert not verdict.passed
    assert any("unexpected withheld span" in r for r in verdict.reasons)


def test_leaked_inband_dtmf_fails() -> None:
    x = SENT[160:].copy()
    x[EXP_START:EXP_END] = 0.0
    tone = dtmf_tone("5", 0.12, RATE).astype(np.float64)
    at = EXP_START + 4000
    x[at : at + tone.size] = tone
    verdict = run(Recording(x, RATE, FIRST_TS))
    assert not verdict.passed
    assert verdict.spans[0].dtmf_level > 0.1
    assert any("in-band DTMF" in r for r in verdict.reasons)


def test_leaked_rfc4733_packets_fail() -> None:
    ts = (FIRST_TS + EXP_START + 2000) % 2**32
    verdict = run(recording(EXP_START, EXP_END, dtmf_ts=(ts, ts, ts)))
    assert not verdict.passed
    assert verdict.spans[0].dtmf_packets == 3
    assert any("3 RFC 4733 packets" in r for r in verdict.reasons)


def test_rfc4733_packets_outside_the_span_are_fine() -> None:
    ts = (FIRST_TS + 1000) % 2**32
    verdict = run(recording(EXP_START, EXP_END, dtmf_ts=(ts,)))
    assert verdict.passed, verdict.reasons


def test_damaged_audio_outside_the_span_fails() -> None:
    x = SENT[160:].copy()
    x[EXP_START:EXP_END] = 0.0
    x[: EXP_START - 400] = np.roll(x[: EXP_START - 400], 37)  # misaligned: not what was sent
    verdict = run(Recording(x, RATE, FIRST_TS))
    assert not verdict.passed
    assert any("differs from what was sent" in r for r in verdict.reasons)


def test_silence_runs_and_refinement_snap_to_the_sample() -> None:
    x = np.ones(100)
    x[10:40] = 0.0
    x[50:52] = 0.0
    assert silence_runs(x, 5) == [(10, 40)]
    assert refine_spans([(12, 38)], x, 5) == [(10, 40)]
    assert refine_spans([(70, 90)], x, 5) == [(70, 90)]  # no digital silence: kept


def test_audio_inside_a_span_splits_it_into_pieces() -> None:
    x = np.ones(200)
    x[10:90] = 0.0
    x[100:180] = 0.0
    assert refine_spans([(10, 180)], x, 5) == [(10, 90), (100, 180)]


def test_alignment_hint_names_the_offset_of_a_misplaced_recording(tmp_path: Path) -> None:
    x = np.roll(SENT[160:], 37)
    stream = RecordedStream(
        tmp_path / "0.wav", tmp_path / "0.json", Recording(x, RATE, FIRST_TS), 0.0, 0
    )
    assert "37 samples (+4.6 ms)" in alignment_hint(stream, Reference(SENT, BASE_TS))


def test_load_stream_reads_wav_and_sidecar(tmp_path: Path) -> None:
    x = SENT[160:]
    write_wav(tmp_path / "a.wav", x, RATE)
    meta = {
        "first_arrival_at": 1.5e12,
        "first_rtp_ts": FIRST_TS,
        "clock_rate": RATE,
        "packets": [{"ts": 1, "kind": "audio"}, {"ts": 7, "kind": "dtmf"}],
    }
    (tmp_path / "a.json").write_text(json.dumps(meta))
    (tmp_path / "b.wav").write_bytes(b"")  # no sidecar: not a stream
    ((wav, sidecar),) = find_streams(tmp_path)
    stream = load_stream(wav, sidecar)
    assert stream.first_arrival_at_ms == 1.5e12
    assert stream.packets == 2
    assert stream.recording.first_rtp_ts == FIRST_TS
    assert stream.recording.dtmf_ts == (7,)
    assert np.max(np.abs(stream.recording.samples - x)) < 1e-4


def test_describe_names_every_fact_and_no_digit() -> None:
    verdict = run(recording(EXP_START - 8, EXP_END + 40))
    text = "\n".join(describe(verdict))
    assert "span 1 expected:" in text
    assert "started 1.0 ms early (allowed 0..22.5), ended 5.0 ms late (allowed 0..22.5)" in text
    assert "RFC 4733 packets received 0" in text
    assert "correlation with what was sent" in text


def test_describe_shouts_when_withholding_too_little() -> None:
    verdict = run(recording(EXP_START + 80, EXP_END - 16))
    text = "\n".join(describe(verdict))
    assert "started 10.0 ms LATE (allowed 0..22.5), ended 2.0 ms EARLY" in text


def test_dual_tone_level_sees_digits_not_speech() -> None:
    speech = speech_like(1.0, RATE, seed=4).astype(np.float64)
    assert dual_tone_level(speech, RATE) == 0.0
    digit = dtmf_tone("8", 0.2, RATE, level=0.3).astype(np.float64)
    assert dual_tone_level(digit, RATE) == pytest.approx(0.15, abs=0.01)
    with_pilot = digit + tone(1000.0, 0.2, RATE, 0.1)
    assert dual_tone_level(with_pilot, RATE) > 0.1
    assert dual_tone_level(np.zeros(100), RATE) == 0.0


def test_measured_lateness_and_resume_transit_widen_the_extra_allowance() -> None:
    rec = recording(EXP_START - 240, EXP_END + 280)  # 30 ms early, 35 ms late
    ref = Reference(SENT, BASE_TS)
    measured = measure_withheld(rec)
    strict = judge(rec, ref, COMMANDED, CLOCK, measured, [0.0])
    assert not strict.passed
    assert len(strict.reasons) == 2
    lenient = [CommandedSpan(PAUSE_AT, RESUME_AT, pause_lateness_ms=12.0, resume_transit_ms=16.0)]
    verdict = judge(rec, ref, lenient, CLOCK, measured, [0.0])
    assert verdict.passed, verdict.reasons
    assert verdict.spans[0].allowed_early_ms == pytest.approx(34.5)
    assert verdict.spans[0].allowed_late_ms == pytest.approx(38.5)


def test_lateness_is_measured_near_the_edge_only() -> None:
    log = [((BASE_TS + 160 * (k + 1)) % 2**32, BASE_AT + 20.0 * (k + 1)) for k in range(100)]
    log[50] = (log[50][0], log[50][1] + 9.0)  # sent 9 ms late, at about +1020 ms
    log[90] = (log[90][0], log[90][1] + 30.0)  # far from the edge
    clock = SendClock.from_send_log(log, RATE)
    assert clock.lateness_ms(log, BASE_AT + 1005.0) == pytest.approx(9.0)
    assert clock.lateness_ms(log, BASE_AT + 300.0) == 0.0
    assert clock.lateness_ms([], BASE_AT) == 0.0


def test_correlation_edge_cases() -> None:
    ref = Reference(SENT, BASE_TS)
    far = Recording(SENT[:100], RATE, (BASE_TS + 10 * RATE) % 2**32)  # no overlap at all
    assert correlation_outside(far, ref, [], 0) is None
    whole = Recording(SENT[160:], RATE, FIRST_TS)
    assert correlation_outside(whole, ref, [(0, whole.samples.size)], 0) is None
    silent = Recording(np.zeros(1000), RATE, FIRST_TS)
    assert correlation_outside(silent, ref, [], 0) == 0.0


def test_a_recording_that_is_all_withheld_cannot_be_compared() -> None:
    rec = Recording(np.zeros(SENT.size - 160), RATE, FIRST_TS)
    verdict = judge(rec, Reference(SENT, BASE_TS), COMMANDED, CLOCK, [(0, rec.samples.size)], [])
    assert not verdict.passed
    assert any("no audio outside the withheld spans" in r for r in verdict.reasons)
    assert any("more than asked at the start" in r for r in verdict.reasons)
