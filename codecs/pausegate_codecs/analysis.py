"""Recorded-audio analysis (pure media: Goertzel tone levels, pilot gaps, DTMF, lag by FFT)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pausegate_codecs.synth import DTMF_FREQUENCIES

__all__ = ["best_lag", "dtmf_level", "pilot_absent_spans", "tone_level"]

FloatArray = npt.NDArray[np.float64]

# The eight Q.23 frequencies (RFC 4733 §3.2 events 0-15 are made of these).
_DTMF_HZ: tuple[float, ...] = tuple(sorted({f for pair in DTMF_FREQUENCIES.values() for f in pair}))
_THRESHOLD_FLOOR = 1e-4  # -80 dBFS: below this a pilot is absent whatever the reference says


def _as_float(x: npt.ArrayLike) -> FloatArray:
    """Samples as float64 at full scale 1.0 (int16 PCM is scaled by 1/32768)."""
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError("analysis takes mono audio (a 1-D array)")
    if np.issubdtype(a.dtype, np.integer):
        return a.astype(np.float64) / 32768.0
    return a.astype(np.float64)


def _window_samples(rate: int, window_ms: float) -> int:
    n = round(rate * window_ms / 1000.0)
    if n < 1:
        raise ValueError("analysis window shorter than one sample")
    return n


def tone_level(x: npt.ArrayLike, rate: int, hz: float, window_ms: float = 10.0) -> FloatArray:
    """Amplitude at `hz` per consecutive window (the last partial window is dropped).

    Each value is the single-frequency DFT term Goertzel computes, at the exact
    frequency (not rounded to a bin), scaled so a sine of amplitude A reads A when the
    window holds whole cycles. Window i covers samples [i*N, (i+1)*N).
    """
    a = _as_float(x)
    n = _window_samples(rate, window_ms)
    count = a.size // n
    blocks = a[: count * n].reshape(count, n)
    basis = np.exp(-2j * np.pi * hz * np.arange(n) / rate)
    return np.asarray(2.0 * np.abs(blocks @ basis) / n, dtype=np.float64)


def dtmf_level(x: npt.ArrayLike, rate: int, window_ms: float = 10.0) -> FloatArray:
    """Per window, the largest amplitude among the eight DTMF frequencies.

    A 10 ms window resolves about 100 Hz: a 1 kHz pilot leaks into 941 Hz at about half
    its level, so use a longer window (40 ms) when a pilot is present.
    """
    a = _as_float(x)
    levels = [tone_level(a, rate, hz, window_ms) for hz in _DTMF_HZ]
    return np.asarray(np.max(np.vstack(levels), axis=0), dtype=np.float64)


def _sliding_level(a: FloatArray, rate: int, hz: float, n: int) -> FloatArray:
    """Amplitude at `hz` in a window of n samples centred on every sample (windows are
    truncated at the file edges and normalised by what they hold)."""
    z = a * np.exp(-2j * np.pi * hz * np.arange(a.size) / rate)
    csum = np.concatenate(([0j], np.cumsum(z)))
    idx = np.arange(a.size)
    lo = np.clip(idx - n // 2, 0, a.size)
    hi = np.clip(idx - n // 2 + n, 0, a.size)
    return np.asarray(2.0 * np.abs(csum[hi] - csum[lo]) / (hi - lo), dtype=np.float64)


def pilot_absent_spans(
    x: npt.ArrayLike,
    rate: int,
    pilot_hz: float = 1000.0,
    window_ms: float = 5.0,
    threshold: float | None = None,
    min_span_ms: float = 20.0,
) -> list[tuple[float, float]]:
    """Spans (start_s, end_s), in seconds from the file start, where the pilot vanished.

    Windows of `window_ms` whose pilot level is below `threshold` (default: half the
    95th percentile of the window levels, i.e. half the pilot's level when it is present
    for more than 5% of the file) make the coarse spans; each edge is then refined with
    a window centred on every sample near it, where the level crosses half the pilot's
    level at the true edge, to about a millisecond. Spans shorter than `min_span_ms`
    are dropped. A span running to the end of the file ends at len(x) / rate.
    """
    a = _as_float(x)
    n = _window_samples(rate, window_ms)
    levels = tone_level(a, rate, pilot_hz, window_ms)
    if levels.size == 0:
        return []
    if threshold is None:
        threshold = 0.5 * float(np.percentile(levels, 95))
    threshold = max(threshold, _THRESHOLD_FLOOR)
    absent = levels < threshold
    # Coarse runs of absent windows: edges where `absent` flips.
    flips = np.flatnonzero(np.diff(np.concatenate(([False], absent, [False])).astype(np.int8)))
    runs = flips.reshape(-1, 2)
    fine = _sliding_level(a, rate, pilot_hz, n)
    spans: list[tuple[float, float]] = []
    for first_win, end_win in runs:
        start = _refine_start(fine, int(first_win) * n, n, threshold)
        end = (
            a.size if end_win == levels.size else _refine_end(fine, int(end_win) * n, n, threshold)
        )
        if (end - start) * 1000.0 / rate >= min_span_ms:
            spans.append((start / rate, end / rate))
    return spans


def _refine_start(fine: FloatArray, coarse: int, n: int, threshold: float) -> int:
    """First sample of the span: just after the last present sample near the coarse edge."""
    lo, hi = max(0, coarse - n), min(fine.size, coarse + n)
    present = np.flatnonzero(fine[lo:hi] >= threshold)
    return coarse if present.size == 0 else lo + int(present[-1]) + 1


def _refine_end(fine: FloatArray, coarse: int, n: int, threshold: float) -> int:
    """End (exclusive) of the span: the first present sample near the coarse edge."""
    lo, hi = max(0, coarse - n), min(fine.size, coarse + n)
    present = np.flatnonzero(fine[lo:hi] >= threshold)
    return coarse if present.size == 0 else lo + int(present[0])


def best_lag(
    reference: npt.ArrayLike, recorded: npt.ArrayLike, rate: int, max_lag_s: float = 2.0
) -> tuple[int, float]:
    """The lag (samples) maximising the cross-correlation, and the normalised correlation
    over the overlap at that lag.

    A positive lag means the recording is late: recorded[n] ~ reference[n - lag].
    Lags searched: -max_lag_s..+max_lag_s (within the signals' lengths). Each signal's
    mean is removed first. The correlation is that of the overlapping parts (1.0 for an
    exact delayed copy, whatever its gain); 0.0 when either part is silent.
    """
    ref = _as_float(reference)
    rec = _as_float(recorded)
    if ref.size == 0 or rec.size == 0:
        raise ValueError("best_lag needs two non-empty signals")
    ref = ref - ref.mean()
    rec = rec - rec.mean()
    max_lag = round(max_lag_s * rate)
    nfft = 1 << int(ref.size + rec.size - 1).bit_length()
    # xc[k] = sum_m rec[m + k] * ref[m]; negative k wrap to the end of the array.
    xc = np.fft.irfft(np.fft.rfft(rec, nfft) * np.conj(np.fft.rfft(ref, nfft)), nfft)
    pos = xc[: min(max_lag, rec.size - 1) + 1]
    neg_count = min(max_lag, ref.size - 1)
    neg = xc[nfft - neg_count :] if neg_count > 0 else xc[:0]
    candidates = np.concatenate((neg, pos))  # lags -neg_count .. +len(pos)-1
    lag = int(np.argmax(candidates)) - neg_count
    start = max(0, lag)
    stop = min(rec.size, ref.size + lag)
    rec_part = rec[start:stop]
    ref_part = ref[start - lag : stop - lag]
    energy = float(np.dot(rec_part, rec_part) * np.dot(ref_part, ref_part))
    corr = float(np.dot(rec_part, ref_part) / np.sqrt(energy)) if energy > 0 else 0.0
    return lag, corr
