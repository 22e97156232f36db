"""Demo output: the recording's waveform as a PNG, withheld spans shaded (matplotlib Agg)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import numpy.typing as npt

matplotlib.use("Agg")  # no display: a file is the only output

import matplotlib.pyplot as plt

Span = tuple[float, float]


def plot_recording(
    path: Path,
    samples: npt.NDArray[np.floating],
    rate: int,
    withheld_ms: Sequence[Span],
    commanded_ms: Sequence[Span],
    title: str,
) -> Path:
    """Write ``path``: waveform over seconds of the recording; measured withheld spans
    shaded red, commanded spans drawn as dashed lines. Returns ``path``."""
    x = np.asarray(samples, dtype=np.float64)
    t = np.arange(x.size) / rate
    fig, ax = plt.subplots(figsize=(12, 4), dpi=100)
    try:
        ax.plot(t, x, linewidth=0.4, color="#1f4e79", label="recording")
        for i, (start, end) in enumerate(withheld_ms):
            ax.axvspan(
                start / 1000.0,
                end / 1000.0,
                color="#d62728",
                alpha=0.25,
                label="withheld (measured)" if i == 0 else None,
            )
        for i, (start, end) in enumerate(commanded_ms):
            for j, edge in enumerate((start, end)):
                ax.axvline(
                    edge / 1000.0,
                    color="black",
                    linestyle="--",
                    linewidth=1.0,
                    label="commanded pause / resume" if i == 0 and j == 0 else None,
                )
        ax.set_xlim(0.0, max(t[-1] if t.size else 0.0, 1e-3))
        ax.set_ylim(-1.0, 1.0)
        ax.set_xlabel("time in the recording (s)")
        ax.set_ylabel("amplitude (full scale 1.0)")
        ax.set_title(title)
        ax.legend(loc="upper right", fontsize="small")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
