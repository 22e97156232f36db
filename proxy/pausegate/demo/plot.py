"""Demo output: the recording's waveform as a PNG, withheld spans shaded (matplotlib Agg)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import numpy.typing as npt

matplotlib.use("Agg")  # no display: a file is the only output

import matplotlib.pyplot as plt

Span = tuple[float, float]
ZOOM_MS = 60.0  # each edge panel shows this much either side of the commanded edge
_WAVE = "#1f4e79"
_SHADE = "#d62728"


def _shade(ax: Any, spans_s: Sequence[Span], label: str | None) -> None:
    for i, (start, end) in enumerate(spans_s):
        ax.axvspan(start, end, color=_SHADE, alpha=0.25, label=label if i == 0 else None)


def _edge_panel(
    ax: Any,
    x: npt.NDArray[np.float64],
    rate: int,
    edge_ms: float,
    withheld_ms: Sequence[Span],
    title: str,
) -> None:
    """Samples within ZOOM_MS of a commanded edge, in ms relative to it."""
    lo = max(0, int((edge_ms - ZOOM_MS) * rate / 1000.0))
    hi = min(x.size, int((edge_ms + ZOOM_MS) * rate / 1000.0) + 1)
    t_ms = np.arange(lo, hi) * 1000.0 / rate - edge_ms
    ax.plot(t_ms, x[lo:hi], linewidth=0.8, color=_WAVE, marker=".", markersize=1.5)
    _shade(ax, [(s - edge_ms, e - edge_ms) for s, e in withheld_ms], None)
    ax.axvline(0.0, color="black", linestyle="--", linewidth=1.0)
    ax.set_xlim(-ZOOM_MS, ZOOM_MS)
    ax.set_ylim(-1.0, 1.0)
    ax.set_xlabel("ms from the commanded time")
    ax.set_title(title, fontsize="medium")
    ax.grid(alpha=0.3)


def plot_recording(
    path: Path,
    samples: npt.NDArray[np.floating],
    rate: int,
    withheld_ms: Sequence[Span],
    commanded_ms: Sequence[Span],
    title: str,
) -> Path:
    """Write ``path``: the waveform over the recording's seconds with measured withheld
    spans shaded and commanded pause/resume as dashed lines; under it, the first
    commanded span's two edges zoomed to the millisecond. Returns ``path``."""
    x = np.asarray(samples, dtype=np.float64)
    t = np.arange(x.size) / rate
    fig = plt.figure(figsize=(12, 6.5), dpi=100)
    try:
        grid = fig.add_gridspec(2, 2, height_ratios=(3, 2))
        ax = fig.add_subplot(grid[0, :])
        ax.plot(t, x, linewidth=0.4, color=_WAVE, label="recording")
        _shade(ax, [(s / 1000.0, e / 1000.0) for s, e in withheld_ms], "withheld (measured)")
        for i, (start, end) in enumerate(commanded_ms):
            for j, edge in enumerate((start, end)):
                label = "commanded pause / resume" if i == 0 and j == 0 else None
                ax.axvline(edge / 1000.0, color="black", linestyle="--", linewidth=1.0, label=label)
        ax.set_xlim(0.0, max(float(t[-1]) if t.size else 0.0, 1e-3))
        ax.set_ylim(-1.0, 1.0)
        ax.set_xlabel("time in the recording (s)")
        ax.set_ylabel("amplitude (full scale 1.0)")
        ax.set_title(title)
        ax.legend(loc="upper right", fontsize="small")
        ax.grid(alpha=0.3)
        if commanded_ms:
            start, end = commanded_ms[0]
            for col, (edge, name) in enumerate(((start, "pause"), (end, "resume"))):
                panel = fig.add_subplot(grid[1, col])
                _edge_panel(panel, x, rate, edge, withheld_ms, f"{name} edge at {edge:.1f} ms")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
