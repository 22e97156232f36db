"""Demo output: read the recorder's WAV + sidecar, measure what was withheld, judge and describe it.

Rules:
1. Withheld spans are found where the pilot tone vanished (pilot_absent_spans),
   then snapped to the digital-silence run under them when there is one
   (verdict.refine_spans), so edges are exact to the sample under ``silence``.
2. In-band DTMF is measured inside each expected span, away from its edges by
   ``_DTMF_EDGE_MS``, as a dual tone: a window counts only when one low-group and
   one high-group frequency (Q.23) carry most of its power, so leaked speech (which
   has energy at those frequencies too) is not mistaken for a digit; leaked speech
   is the pilot check's to find.
3. The text says what was expected, what was measured, by how much they differ,
   and why a FAIL failed; it never prints a payload or a digit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pausegate.demo.verdict import (
    DEFAULT_LIMITS,
    CommandedSpan,
    FloatArray,
    Recording,
    Reference,
    SendClock,
    Verdict,
    VerdictLimits,
    expected_spans,
    judge,
    refine_spans,
)
from pausegate.rtp.packet import ts_diff
from pausegate_codecs.analysis import best_lag, pilot_absent_spans, tone_level
from pausegate_codecs.synth import DTMF_FREQUENCIES, read_wav

PILOT_HZ = 1000.0
_DTMF_EDGE_MS = 10.0
_DTMF_WINDOW_MS = 40.0
_DTMF_POWER_SHARE = 0.5
_LOW_HZ = tuple(sorted({low for low, _ in DTMF_FREQUENCIES.values()}))
_HIGH_HZ = tuple(sorted({high for _, high in DTMF_FREQUENCIES.values()}))
_SNAP_MS = 5.0


@dataclass(frozen=True, slots=True)
class RecordedStream:
    wav: Path
    sidecar: Path
    recording: Recording
    first_arrival_at_ms: float
    packets: int


def load_stream(wav: Path, sidecar: Path) -> RecordedStream:
    """One stream the recorder wrote: ``<label>.wav`` and its ``<label>.json``."""
    rate, pcm = read_wav(wav)
    meta: dict[str, Any] = json.loads(sidecar.read_text())
    packets: list[dict[str, Any]] = list(meta.get("packets") or [])
    dtmf_ts = tuple(int(p["ts"]) for p in packets if p.get("kind") == "dtmf")
    recording = Recording(
        samples=pcm.astype(np.float64) / 32768.0,
        clock_rate=int(meta.get("clock_rate") or rate),
        first_rtp_ts=int(meta["first_rtp_ts"]),
        dtmf_ts=dtmf_ts,
    )
    return RecordedStream(wav, sidecar, recording, float(meta["first_arrival_at"]), len(packets))


def find_streams(call_dir: Path) -> list[tuple[Path, Path]]:
    """(wav, sidecar) pairs in one call's directory, by label."""
    pairs = []
    for wav in sorted(call_dir.glob("*.wav")):
        sidecar = wav.with_suffix(".json")
        if sidecar.is_file():
            pairs.append((wav, sidecar))
    return pairs


def measure_withheld(rec: Recording) -> list[tuple[int, int]]:
    """Withheld spans as [start, end) sample indices (pilot gone, snapped to silence)."""
    rate = rec.clock_rate
    coarse = [
        (round(s * rate), round(e * rate))
        for s, e in pilot_absent_spans(rec.samples, rate, PILOT_HZ)
    ]
    return refine_spans(coarse, rec.samples, round(_SNAP_MS * rate / 1000.0))


def dual_tone_level(x: FloatArray, rate: int, window_ms: float = _DTMF_WINDOW_MS) -> float:
    """Largest DTMF amplitude (the weaker of the two tones) over windows where a
    low-group plus a high-group tone hold at least ``_DTMF_POWER_SHARE`` of the power."""
    n = round(window_ms * rate / 1000.0)
    count = x.size // n
    if count == 0:
        return 0.0
    low = np.max([tone_level(x, rate, hz, window_ms) for hz in _LOW_HZ], axis=0)
    high = np.max([tone_level(x, rate, hz, window_ms) for hz in _HIGH_HZ], axis=0)
    power = np.mean(np.asarray(x[: count * n], dtype=np.float64).reshape(count, n) ** 2, axis=1)
    tonal = (low**2 + high**2) / 2.0 >= _DTMF_POWER_SHARE * np.maximum(power, 1e-12)
    both = np.minimum(low, high)
    return float(np.max(np.where(tonal, both, 0.0)))


def dtmf_levels_in(rec: Recording, spans: Sequence[tuple[int, int]]) -> list[float]:
    """In-band DTMF amplitude (``dual_tone_level``) inside each span, edges trimmed."""
    edge = round(_DTMF_EDGE_MS * rec.clock_rate / 1000.0)
    levels = []
    for start, end in spans:
        part = rec.samples[max(0, start + edge) : max(0, min(rec.samples.size, end - edge))]
        levels.append(dual_tone_level(np.asarray(part, dtype=np.float64), rec.clock_rate))
    return levels


def analyse(
    stream: RecordedStream,
    reference: Reference,
    commanded: Sequence[CommandedSpan],
    clock: SendClock,
    limits: VerdictLimits = DEFAULT_LIMITS,
) -> Verdict:
    rec = stream.recording
    measured = measure_withheld(rec)
    levels = dtmf_levels_in(rec, expected_spans(commanded, clock, rec))
    return judge(rec, reference, commanded, clock, measured, levels, limits)


def alignment_hint(stream: RecordedStream, reference: Reference) -> str:
    """Where the recording best matches what was sent, to explain a low correlation."""
    rec = stream.recording
    offset = ts_diff(rec.first_rtp_ts, reference.first_rtp_ts)
    ref = reference.samples[max(0, offset) :]
    if ref.size == 0 or rec.samples.size == 0:
        return "alignment: nothing to compare"
    lag, corr = best_lag(ref, rec.samples, rec.clock_rate, max_lag_s=1.0)
    return (
        f"alignment: the recording matches what was sent best {lag} samples"
        f" ({rec.ms_of_index(lag):+.1f} ms) from where its RTP timestamps put it"
        f" (correlation {corr:.3f} there)"
    )


def _edge(verb: str, margin_ms: float | None, more: str, less: str) -> str:
    """'started 5.8 ms early' (withheld more: fine) or 'started 92.9 ms LATE' (less)."""
    margin = margin_ms or 0.0
    if margin >= 0:
        return f"{verb} {margin:.1f} ms {more}"
    return f"{verb} {-margin:.1f} ms {less}"


def _span(span: tuple[float, float]) -> str:
    return f"{span[0]:8.1f} - {span[1]:8.1f} ms  ({span[1] - span[0]:.1f} ms)"


def describe(verdict: Verdict, limits: VerdictLimits = DEFAULT_LIMITS) -> list[str]:
    """The human-readable analysis, one line per fact."""
    lines = [f"recording length:   {verdict.recording_ms:.1f} ms"]
    for i, check in enumerate(verdict.spans, 1):
        lines.append(f"span {i} expected:    {_span(check.expected_ms)}  (commanded pause..resume)")
        if check.measured_ms is None:
            lines.append(f"span {i} measured:    nothing withheld")
        else:
            lines.append(f"span {i} measured:    {_span(check.measured_ms)}")
            lines.append(
                f"span {i} edges:       {_edge('started', check.early_start_ms, 'early', 'LATE')}"
                f" (allowed 0..{check.allowed_early_ms:.1f}),"
                f" {_edge('ended', check.late_end_ms, 'late', 'EARLY')}"
                f" (allowed 0..{check.allowed_late_ms:.1f}); never less"
            )
        lines.append(
            f"span {i} DTMF:        in-band tone level {check.dtmf_level:.4f}"
            f" (max {limits.max_dtmf_level}), RFC 4733 packets received {check.dtmf_packets}"
            " (must be 0)"
        )
    measured = ", ".join(f"{s:.1f}-{e:.1f} ms" for s, e in verdict.measured_ms) or "none"
    lines.append(f"all withheld spans: {measured}")
    if verdict.correlation is not None:
        lines.append(
            f"outside the spans:  correlation with what was sent {verdict.correlation:.4f}"
            f" (min {limits.min_correlation})"
        )
    return lines
