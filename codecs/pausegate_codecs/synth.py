"""Test-signal synthesis (pure media: speech-like audio, tones, Q.23/RFC 4733 DTMF, WAV I/O)."""

# ruff: noqa: PT028  (test_signal is the library's API name, not a pytest test)
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = [
    "DTMF_FREQUENCIES",
    "dtmf_tone",
    "read_wav",
    "speech_like",
    "test_signal",
    "to_int16",
    "tone",
    "write_wav",
]

FloatArray = npt.NDArray[np.float32]
Int16Array = npt.NDArray[np.int16]

# ITU-T Q.23 keypad: digit -> (low group Hz, high group Hz); RFC 4733 §3.2 events 0-15.
DTMF_FREQUENCIES: dict[str, tuple[float, float]] = {
    "1": (697.0, 1209.0),
    "2": (697.0, 1336.0),
    "3": (697.0, 1477.0),
    "A": (697.0, 1633.0),
    "4": (770.0, 1209.0),
    "5": (770.0, 1336.0),
    "6": (770.0, 1477.0),
    "B": (770.0, 1633.0),
    "7": (852.0, 1209.0),
    "8": (852.0, 1336.0),
    "9": (852.0, 1477.0),
    "C": (852.0, 1633.0),
    "*": (941.0, 1209.0),
    "0": (941.0, 1336.0),
    "#": (941.0, 1477.0),
    "D": (941.0, 1633.0),
}

_SPEECH_PEAK = 0.5  # headroom for a pilot under it and for codec round trips
_PILOT_LEVEL = 0.1  # -20 dBFS: well above G.711 quantisation noise, well below the speech
_PILOT_NOTCH_HZ = 300.0  # speech is removed this close to the pilot so it never masks it


def _samples(seconds: float, rate: int) -> int:
    if seconds < 0 or rate <= 0:
        raise ValueError("signal length must be >= 0 and rate > 0")
    return round(seconds * rate)


def _band_limit(x: npt.NDArray[np.float64], rate: int, low_hz: float, high_hz: float) -> None:
    """Zero the spectrum of x outside [low_hz, high_hz] in place (brick wall via the FFT)."""
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1.0 / rate)
    spectrum[(freqs < low_hz) | (freqs > high_hz)] = 0
    x[:] = np.fft.irfft(spectrum, x.size)


def _syllable_envelope(n: int, rate: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Raised-cosine bumps of 120-320 ms separated by 30-160 ms pauses (about 4 syllables/s)."""
    env = np.zeros(n)
    pos = int(rng.integers(0, max(1, rate // 20)))
    while pos < n:
        length = int(rate * rng.uniform(0.12, 0.32))
        bump = np.sin(np.linspace(0.0, np.pi, length)) ** 0.6 * rng.uniform(0.4, 1.0)
        end = min(n, pos + length)
        env[pos:end] = bump[: end - pos]
        pos = end + int(rate * rng.uniform(0.03, 0.16))
    return env


def speech_like(seconds: float, rate: int = 8000, seed: int = 0) -> FloatArray:
    """Deterministic speech-like audio: voiced harmonics on a wandering pitch plus noise,
    band-limited to telephone band, under a syllable-rate envelope; float32, peak 0.5.

    The noise part and the ever-changing pitch make the autocorrelation a single sharp
    peak, so a cross-correlation finds only the true lag.
    """
    n = _samples(seconds, rate)
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    rng = np.random.default_rng(seed)
    t_ctrl = np.arange(0.0, n / rate + 0.05, 0.05)  # a pitch control point every 50 ms
    f0_ctrl = 150.0 + 50.0 * np.cumsum(rng.normal(0.0, 0.35, t_ctrl.size)).clip(-1.6, 1.6)
    f0 = np.interp(np.arange(n) / rate, t_ctrl, f0_ctrl)
    phase = 2.0 * np.pi * np.cumsum(f0) / rate
    top_hz = min(3600.0, 0.45 * rate)
    voiced = np.zeros(n)
    for k in range(1, int(top_hz // 100.0) + 1):
        # Harmonics above the band are removed by the band limit below.
        voiced += np.sin(k * phase + rng.uniform(0.0, 2.0 * np.pi)) / k**0.7
    noise = rng.normal(0.0, 1.0, n)
    x = voiced / (np.std(voiced) or 1.0) + 0.8 * noise
    _band_limit(x, rate, 200.0, top_hz)
    x *= _syllable_envelope(n, rate, rng)
    peak = float(np.max(np.abs(x)))
    if peak > 0:
        x *= _SPEECH_PEAK / peak
    return x.astype(np.float32)


def tone(hz: float, seconds: float, rate: int = 8000, level: float = 0.1) -> FloatArray:
    """A sine of amplitude `level` (full scale 1.0), starting at phase 0."""
    n = _samples(seconds, rate)
    return (level * np.sin(2.0 * np.pi * hz * np.arange(n) / rate)).astype(np.float32)


def dtmf_tone(digit: str, seconds: float, rate: int = 8000, level: float = 0.3) -> FloatArray:
    """The Q.23 dual tone for `digit` (0-9, *, #, A-D); each frequency at amplitude
    level/2, so the sum peaks at `level`."""
    freqs = DTMF_FREQUENCIES.get(digit.upper())
    if freqs is None:
        raise ValueError("not a DTMF key")
    low, high = freqs
    return tone(low, seconds, rate, level / 2) + tone(high, seconds, rate, level / 2)


def test_signal(  # not a test: the name is the library's API
    seconds: float,
    rate: int = 8000,
    pilot_hz: float = 1000.0,
    seed: int = 0,
) -> FloatArray:
    """speech_like() with a steady pilot tone (amplitude 0.1) under it.

    The speech is notched +-300 Hz around the pilot, so pilot_absent_spans() sees the
    pilot's level only: it vanishes exactly where the audio was withheld.
    """
    speech = speech_like(seconds, rate, seed).astype(np.float64)
    if speech.size:
        _notch(speech, rate, pilot_hz)
    pilot = tone(pilot_hz, seconds, rate, _PILOT_LEVEL)
    return np.clip(speech + pilot, -1.0, 1.0).astype(np.float32)


# Imported into a test module, the name would otherwise be collected by pytest as a test.
test_signal.__test__ = False  # type: ignore[attr-defined]


def _notch(x: npt.NDArray[np.float64], rate: int, hz: float) -> None:
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1.0 / rate)
    spectrum[np.abs(freqs - hz) < _PILOT_NOTCH_HZ] = 0
    x[:] = np.fft.irfft(spectrum, x.size)


def to_int16(x: npt.ArrayLike) -> Int16Array:
    """Float audio (full scale 1.0) to 16-bit PCM, clipping what exceeds full scale."""
    a = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    return np.round(a * 32767.0).astype(np.int16)


def write_wav(path: str | Path, x_int16: npt.ArrayLike, rate: int) -> None:
    """Write 16-bit mono PCM WAV; float input is converted with to_int16()."""
    a = np.asarray(x_int16)
    if a.dtype != np.int16:
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError("write_wav takes int16 samples or float audio")
        a = to_int16(a)
    if a.ndim != 1:
        raise ValueError("write_wav writes mono audio only")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(a.astype("<i2").tobytes())


def read_wav(path: str | Path) -> tuple[int, Int16Array]:
    """Read a 16-bit mono PCM WAV: (rate, int16 samples)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError("read_wav reads 16-bit mono PCM only")
        rate = w.getframerate()
        data = w.readframes(w.getnframes())
    return rate, np.frombuffer(data, dtype="<i2").astype(np.int16)
