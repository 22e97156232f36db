"""Unit tests of pausegate_codecs.analysis on synthetic signals with known answers."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pausegate_codecs.analysis import best_lag, dtmf_level, pilot_absent_spans, tone_level
from pausegate_codecs.synth import dtmf_tone, speech_like, to_int16, tone
from pausegate_codecs.synth import test_signal as make_test_signal

RATE = 8000


def _mu_law_model(x: np.ndarray) -> np.ndarray:
    """Continuous mu-law (mu=255) companding quantised to 8 bits: G.711's noise, roughly."""
    mu = 255.0
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    q = np.round(y * 127.0) / 127.0
    return np.asarray(np.sign(q) * np.expm1(np.abs(q) * np.log1p(mu)) / mu)


# --- tone_level -------------------------------------------------------------------------


def test_tone_level_reads_the_amplitude_per_window() -> None:
    x = tone(1000.0, 0.1, level=0.2)
    levels = tone_level(x, RATE, 1000.0, window_ms=10.0)
    assert levels.shape == (10,)
    assert np.allclose(levels, 0.2, atol=1e-6)


def test_tone_level_rejects_other_frequencies_and_drops_partial_window() -> None:
    x = tone(1500.0, 0.105, level=0.5)  # 10.5 windows of 10 ms; 1.5 kHz is 5 bins away
    levels = tone_level(x, RATE, 1000.0, window_ms=10.0)
    assert levels.shape == (10,)
    assert np.max(levels) < 1e-6


def test_tone_level_accepts_int16_at_full_scale_one() -> None:
    x = to_int16(tone(1000.0, 0.05, level=0.5))
    assert np.allclose(tone_level(x, RATE, 1000.0), 0.5, atol=1e-3)


def test_tone_level_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="mono"):
        tone_level(np.zeros((2, 80)), RATE, 1000.0)
    with pytest.raises(ValueError, match="window"):
        tone_level(np.zeros(80), RATE, 1000.0, window_ms=0.01)


# --- pilot_absent_spans -----------------------------------------------------------------


def test_pilot_cut_is_found_within_5_ms() -> None:
    x = make_test_signal(4.0)
    x[RATE * 1 : int(RATE * 2.5)] = 0.0  # withheld as silence from 1.000 s to 2.500 s
    spans = pilot_absent_spans(x, RATE)
    assert len(spans) == 1
    start, end = spans[0]
    assert start == pytest.approx(1.0, abs=0.005)
    assert end == pytest.approx(2.5, abs=0.005)


def test_pilot_cut_edges_off_the_window_grid_and_after_g711() -> None:
    x = make_test_signal(4.0, seed=3)
    a, b = 9_013, 17_771  # 1.126625 s .. 2.221375 s, not multiples of the 40-sample window
    x[a:b] = 0.0
    spans = pilot_absent_spans(_mu_law_model(x.astype(np.float64)), RATE)
    assert len(spans) == 1
    assert spans[0][0] == pytest.approx(a / RATE, abs=0.002)
    assert spans[0][1] == pytest.approx(b / RATE, abs=0.002)


def test_several_spans_leading_silence_and_span_to_the_end() -> None:
    x = make_test_signal(5.0, seed=2)
    x[:800] = 0.0  # 100 ms before the recording starts
    x[16_000:20_000] = 0.0  # 2.0 .. 2.5 s
    x[36_000:] = 0.0  # 4.5 s .. end
    spans = pilot_absent_spans(x, RATE)
    assert len(spans) == 3
    assert spans[0][0] == 0.0
    assert spans[0][1] == pytest.approx(0.1, abs=0.005)
    assert spans[1] == pytest.approx((2.0, 2.5), abs=0.005)
    assert spans[2][0] == pytest.approx(4.5, abs=0.005)
    assert spans[2][1] == 5.0


def test_short_dropouts_below_min_span_are_ignored() -> None:
    x = make_test_signal(2.0)
    x[8000:8080] = 0.0  # 10 ms
    assert pilot_absent_spans(x, RATE) == []
    assert len(pilot_absent_spans(x, RATE, min_span_ms=5.0)) == 1


def test_explicit_threshold_and_degenerate_inputs() -> None:
    x = make_test_signal(2.0)
    # A threshold above the pilot's level: the pilot is "absent" everywhere.
    assert pilot_absent_spans(x, RATE, threshold=0.5) == [(0.0, 2.0)]
    assert pilot_absent_spans(np.zeros(16000), RATE) == [(0.0, 2.0)]
    assert pilot_absent_spans(np.zeros(10), RATE) == []


def test_other_pilot_frequency() -> None:
    x = make_test_signal(3.0, pilot_hz=2000.0)
    x[8000:12000] = 0.0
    spans = pilot_absent_spans(x, RATE, pilot_hz=2000.0)
    assert spans == [pytest.approx((1.0, 1.5), abs=0.005)]


# --- dtmf_level -------------------------------------------------------------------------


def test_dtmf_level_sees_digits_and_not_speech() -> None:
    silence = np.zeros(800, dtype=np.float32)
    x = np.concatenate((silence, dtmf_tone("5", 0.1, level=0.4), silence)).astype(np.float64)
    levels = dtmf_level(x, RATE, window_ms=10.0)
    assert levels.shape == (30,)
    assert np.max(levels[:10]) == 0.0
    assert np.min(levels[11:19]) > 0.15  # 770 + 1336 Hz, each at 0.2, some leakage loss
    assert np.max(levels[21:]) == 0.0


def test_dtmf_level_with_long_window_is_exact_for_all_digits() -> None:
    for digit in "0123456789*#ABCD":
        levels = dtmf_level(dtmf_tone(digit, 0.2, level=0.3), RATE, window_ms=100.0)
        assert np.allclose(levels, 0.15, atol=0.01), digit


# --- best_lag ---------------------------------------------------------------------------


@pytest.mark.parametrize("lag", [0, 1, 37, 1600, 12_345])
def test_best_lag_finds_a_known_delay_exactly(lag: int) -> None:
    ref = speech_like(3.0, seed=5)
    rec = np.concatenate((np.zeros(lag, dtype=np.float32), ref))[: ref.size + 800]
    found, corr = best_lag(ref, rec, RATE)
    assert found == lag
    assert corr == pytest.approx(1.0, abs=1e-6)


def test_best_lag_negative_when_recording_starts_late_in_the_reference() -> None:
    ref = speech_like(3.0, seed=6)
    rec = 0.3 * ref[500:]  # the recording missed the first 500 samples; gain does not matter
    found, corr = best_lag(ref, rec, RATE)
    assert found == -500
    assert corr == pytest.approx(1.0, abs=1e-6)


def test_best_lag_after_g711_and_noise_keeps_correlation_high() -> None:
    ref = make_test_signal(4.0, seed=7).astype(np.float64)
    rec = np.concatenate((np.zeros(1600), _mu_law_model(ref)))
    rec = rec + np.random.default_rng(0).normal(0.0, 0.003, rec.size)
    found, corr = best_lag(ref, to_int16(rec), RATE)
    assert found == 1600
    assert corr > 0.98, f"correlation {corr:.4f} at lag {found}"


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_best_lag_after_a_real_g711_round_trip(law: str) -> None:
    g711 = importlib.import_module("pausegate_codecs.g711")
    encode, decode = getattr(g711, f"encode_{law}"), getattr(g711, f"decode_{law}")
    ref = to_int16(make_test_signal(3.0, seed=8))
    decoded = np.concatenate((np.zeros(123, dtype=np.int16), decode(encode(ref))))
    found, corr = best_lag(ref, decoded, RATE)
    assert found == 123
    assert corr > 0.98, f"correlation {corr:.4f}"
    # The pilot survives G.711 and its cut is still found to the millisecond.
    cut = ref.copy()
    cut[8000:16000] = 0
    spans = pilot_absent_spans(decode(encode(cut)), RATE)
    assert spans == [pytest.approx((1.0, 2.0), abs=0.002)]


def test_best_lag_respects_max_lag_and_unrelated_signals_correlate_poorly() -> None:
    ref = speech_like(2.0, seed=1)
    other = speech_like(2.0, seed=2)
    _, corr = best_lag(ref, other, RATE)
    assert abs(corr) < 0.2
    rec = np.concatenate((np.zeros(4000, dtype=np.float32), ref))
    found, _ = best_lag(ref, rec, RATE, max_lag_s=0.25)  # true lag 0.5 s is out of range
    assert abs(found) <= 2000


def test_best_lag_silence_and_empty() -> None:
    assert best_lag(np.zeros(100), np.zeros(100), RATE)[1] == 0.0
    with pytest.raises(ValueError, match="non-empty"):
        best_lag(np.zeros(0), np.zeros(10), RATE)


# --- properties -------------------------------------------------------------------------

_SPEECH = speech_like(3.0, seed=11)
_PILOTED = make_test_signal(4.0, seed=12)


@settings(max_examples=30, deadline=None)
@given(lag=st.integers(min_value=-4000, max_value=4000), gain=st.floats(0.05, 1.0))
def test_property_any_lag_within_range_is_found_exactly(lag: int, gain: float) -> None:
    pad = np.zeros(max(lag, 0), dtype=np.float32)
    rec = np.concatenate((pad, _SPEECH[max(-lag, 0) :]))
    found, corr = best_lag(_SPEECH, gain * rec, RATE)
    assert found == lag
    assert corr == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(
    start=st.integers(min_value=800, max_value=16_000),
    length=st.integers(min_value=400, max_value=12_000),
)
def test_property_a_silenced_span_is_found_within_2_ms(start: int, length: int) -> None:
    x = _PILOTED.copy()
    x[start : start + length] = 0.0
    spans = pilot_absent_spans(to_int16(x), RATE)
    assert len(spans) == 1
    assert spans[0][0] == pytest.approx(start / RATE, abs=0.002)
    assert spans[0][1] == pytest.approx((start + length) / RATE, abs=0.002)
