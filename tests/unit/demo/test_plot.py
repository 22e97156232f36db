"""The waveform PNG: written without a display, with and without spans."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pausegate.demo.plot import plot_recording
from pausegate_codecs.synth import test_signal


def test_png_with_spans_and_edge_panels(tmp_path: Path) -> None:
    x = test_signal(2.0, 8000).astype(np.float64)
    x[4000:12000] = 0.0
    path = plot_recording(
        tmp_path / "sub" / "w.png", x, 8000, [(500.0, 1500.0)], [(502.0, 1498.0)], "PASS"
    )
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000


def test_png_without_spans(tmp_path: Path) -> None:
    path = plot_recording(tmp_path / "w.png", np.zeros(10), 8000, [], [], "FAIL")
    assert path.read_bytes().startswith(b"\x89PNG")
