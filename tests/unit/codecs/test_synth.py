"""Unit tests of pausegate_codecs.synth: deterministic test signals and WAV helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pausegate_codecs import synth
from pausegate_codecs.synth import (
    DTMF_FREQUENCIES,
    dtmf_tone,
    read_wav,
    speech_like,
    to_int16,
    tone,
    write_wav,
)


def test_speech_like_shape_range_and_determinism() -> None:
    x = speech_like(2.0)
    assert x.dtype == np.float32
    assert x.shape == (16000,)
    assert np.max(np.abs(x)) == pytest.approx(0.5, abs=1e-6)
    assert np.array_equal(x, speech_like(2.0))
    assert not np.array_equal(x, speech_like(2.0, seed=1))


def test_speech_like_is_band_limited_and_has_syllable_gaps() -> None:
    x = speech_like(4.0).astype(np.float64)
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / 8000)
    in_band = power[(freqs >= 200) & (freqs <= 3600)].sum()
    assert in_band / power.sum() > 0.999
    # 20 ms frame energies: some frames are (near) silent pauses between syllables.
    frames = x[: x.size // 160 * 160].reshape(-1, 160)
    rms = np.sqrt((frames**2).mean(axis=1))
    assert (rms < 0.05 * rms.max()).mean() > 0.1


def test_speech_like_autocorrelation_has_one_sharp_peak() -> None:
    x = speech_like(3.0).astype(np.float64)
    spectrum = np.fft.rfft(x, 2 * x.size)
    ac = np.fft.irfft(np.abs(spectrum) ** 2)[: x.size]
    ac /= ac[0]
    # Beyond 1 ms, no lag correlates more than 0.5 (the pitch period is never steady).
    assert np.max(ac[8:]) < 0.5


def test_speech_like_empty_and_bad_arguments() -> None:
    assert speech_like(0.0).size == 0
    with pytest.raises(ValueError, match="rate"):
        speech_like(1.0, rate=0)


def test_tone_amplitude_frequency_and_phase() -> None:
    x = tone(1000.0, 0.01, level=0.25)
    assert x.dtype == np.float32
    assert x.size == 80
    assert x[0] == 0.0
    assert x[2] == pytest.approx(0.25)  # a quarter period of 1 kHz at 8 kHz is 2 samples
    assert np.max(np.abs(x)) == pytest.approx(0.25)


@pytest.mark.parametrize("digit", list(DTMF_FREQUENCIES))
def test_dtmf_tone_has_the_two_q23_frequencies(digit: str) -> None:
    x = dtmf_tone(digit, 1.0, level=0.3).astype(np.float64)
    amplitude = 2 * np.abs(np.fft.rfft(x)) / x.size  # 1 Hz bins over 1 s
    low, high = DTMF_FREQUENCIES[digit]
    assert amplitude[int(low)] == pytest.approx(0.15, abs=1e-3)
    assert amplitude[int(high)] == pytest.approx(0.15, abs=1e-3)
    others = np.delete(amplitude, [int(low), int(high)])
    assert others.max() < 1e-3
    assert np.max(np.abs(x)) <= 0.3 + 1e-6


def test_dtmf_tone_lower_case_and_unknown_key() -> None:
    assert np.array_equal(dtmf_tone("a", 0.05), dtmf_tone("A", 0.05))
    with pytest.raises(ValueError, match="DTMF"):
        dtmf_tone("E", 0.05)


def test_test_signal_is_speech_plus_pilot_and_not_collected() -> None:
    x = synth.test_signal(3.0).astype(np.float64)
    assert np.max(np.abs(x)) <= 1.0
    amplitude = 2 * np.abs(np.fft.rfft(x)) / x.size
    freqs = np.fft.rfftfreq(x.size, 1 / 8000)
    assert amplitude[np.argmin(np.abs(freqs - 1000.0))] == pytest.approx(0.1, abs=1e-3)
    near = (np.abs(freqs - 1000.0) < 290) & (np.abs(freqs - 1000.0) > 2)
    assert amplitude[near].max() < 1e-3  # the speech is notched around the pilot
    assert synth.test_signal.__test__ is False  # type: ignore[attr-defined]


def test_to_int16_scales_and_clips() -> None:
    y = to_int16(np.array([0.0, 1.0, -1.0, 0.5, 2.0, -3.0]))
    assert y.dtype == np.int16
    assert y.tolist() == [0, 32767, -32767, 16384, 32767, -32767]


def test_wav_round_trip(tmp_path: Path) -> None:
    x = to_int16(speech_like(0.5))
    path = tmp_path / "a.wav"
    write_wav(path, x, 8000)
    rate, y = read_wav(path)
    assert rate == 8000
    assert y.dtype == np.int16
    assert np.array_equal(x, y)


def test_write_wav_converts_float_and_rejects_others(tmp_path: Path) -> None:
    path = tmp_path / "f.wav"
    write_wav(path, np.array([0.5, -0.5], dtype=np.float32), 16000)
    assert read_wav(path)[1].tolist() == [16384, -16384]
    assert read_wav(path)[0] == 16000
    with pytest.raises(ValueError, match="int16"):
        write_wav(path, np.array([1, 2], dtype=np.int32), 8000)
    with pytest.raises(ValueError, match="mono"):
        write_wav(path, np.zeros((2, 2), dtype=np.int16), 8000)


def test_read_wav_rejects_stereo(tmp_path: Path) -> None:
    import wave

    path = tmp_path / "s.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0" * 8)
    with pytest.raises(ValueError, match="mono"):
        read_wav(path)
