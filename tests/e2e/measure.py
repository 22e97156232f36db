"""End-to-end measurements on what the reference recorder wrote (WAV + sidecar).

The sidecar's packet log maps every recorded sample to the wall-clock time its packet
reached the recorder; pausegate forwarded it ``holdback_ms`` after it arrived, so
``ingress = recorder arrival - holdback``. A packet's 20 ms of audio end when it
arrives (the gate's anchor convention, SPEC §4), so the boundary before sample ``i``
of a packet arriving at ``a`` (epoch ms) with ``n`` samples, ``i`` being the
``k``-th, is at ``a - (n - k) / rate``.

Nothing here reads a DTMF digit value: RFC 4733 packets are counted by arrival time.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pausegate.rtp.packet import ts_diff
from pausegate_codecs.synth import read_wav

RESULTS = Path(__file__).resolve().parents[2] / "results" / "e2e_measurements.jsonl"


@dataclass(frozen=True, slots=True)
class Recorded:
    wav: Path
    rate: int
    samples: npt.NDArray[np.int16]
    sidecar: dict[str, Any]
    audio: list[dict[str, Any]]  # sidecar packets of kind "audio", by sample index
    dtmf: list[dict[str, Any]]  # sidecar packets of kind "dtmf"
    index: npt.NDArray[np.int64]  # first sample index of each audio packet
    arrival: npt.NDArray[np.float64]  # recorder arrival (epoch ms) of each audio packet
    ingress: npt.NDArray[np.float64] | None = None  # pausegate's own arrival, when tapped

    @property
    def seconds(self) -> float:
        return self.samples.size / self.rate

    def packet_samples(self) -> int:
        return round(self.rate * 0.020)

    def boundary_ingress_ms(self, i: int, holdback_ms: float) -> float:
        """Epoch ms at pausegate's ingress of the boundary just before sample ``i``."""
        k = int(np.searchsorted(self.index, i, side="right")) - 1
        k = max(k, 0)
        n = self.packet_samples()
        offset = i - int(self.index[k])
        arrived = (
            float(self.ingress[k])
            if self.ingress is not None
            else float(self.arrival[k]) - holdback_ms
        )
        return arrived - (n - offset) * 1000.0 / self.rate

    def holdbacks_ms(self) -> npt.NDArray[np.float64]:
        """Recorder arrival - pausegate ingress arrival, per tapped audio packet."""
        assert self.ingress is not None, "no ingress tap"
        ok = ~np.isnan(self.ingress)
        return np.asarray(self.arrival[ok] - self.ingress[ok], dtype=np.float64)

    def anchor_ms(self, holdback_ms: float) -> float:
        """Ingress epoch ms at which sample 0's packet would have ended, taking the earliest
        (arrival - RTP time) offset, as the gate's anchor does: a packet released late by
        the event loop, or sent late by the caller, does not drag the clock."""
        return float(np.min(self.arrival - self.index * 1000.0 / self.rate)) - holdback_ms

    def boundary_anchor_ms(self, i: int, holdback_ms: float) -> float:
        """Ingress epoch ms of the boundary before sample ``i`` on the anchored timeline."""
        n = self.packet_samples()
        return self.anchor_ms(holdback_ms) + (i - n) * 1000.0 / self.rate

    def index_at_arrival(self, at_ms: float) -> int:
        """The first sample of the first packet arriving at the recorder at or after ``at_ms``."""
        k = int(np.searchsorted(self.arrival, at_ms, side="left"))
        return int(self.index[min(k, self.index.size - 1)])


def load_recording(
    call_dir: Path, label: str | None = None, ingress: dict[int, float] | None = None
) -> Recorded:
    sidecars = sorted(call_dir.glob("*.json"))
    sidecars = [s for s in sidecars if s.name != "metadata.json"]
    assert sidecars, f"no stream in {call_dir}"
    side_path = next((s for s in sidecars if label is not None and s.stem == label), sidecars[0])
    sidecar = json.loads(side_path.read_text())
    rate, samples = read_wav(side_path.with_suffix(".wav"))
    first_ts = int(sidecar["first_rtp_ts"]) if sidecar.get("first_rtp_ts") is not None else 0
    audio = sorted(
        (p for p in sidecar["packets"] if p["kind"] == "audio"),
        key=lambda p: ts_diff(int(p["ts"]), first_ts),
    )
    dtmf = [p for p in sidecar["packets"] if p["kind"] == "dtmf"]
    index = np.array([ts_diff(int(p["ts"]), first_ts) for p in audio], dtype=np.int64)
    arrival = np.array([float(p["at"]) for p in audio], dtype=np.float64)
    tapped = (
        np.array([ingress.get(int(p["seq"]), np.nan) for p in audio], dtype=np.float64)
        if ingress is not None
        else None
    )
    return Recorded(
        side_path.with_suffix(".wav"), rate, samples, sidecar, audio, dtmf, index, arrival, tapped
    )


def zero_runs(x: npt.ArrayLike, min_samples: int = 80) -> list[tuple[int, int]]:
    """[start, end) runs of exact digital silence (withheld G.711 decodes to zeros)."""
    a = np.asarray(x)
    zero = np.concatenate(([False], a == 0, [False]))
    edges = np.flatnonzero(np.diff(zero.astype(np.int8)))
    return [
        (int(s), int(e))
        for s, e in zip(edges[0::2], edges[1::2], strict=True)
        if e - s >= min_samples
    ]


@dataclass(frozen=True, slots=True)
class EdgeCheck:
    """A withheld span [s, e) of samples against the asked one, in ms at pausegate's ingress.

    Per edge two numbers: how much more was withheld than asked (``early_ms``: pause
    time - start of the first withheld sample; ``late_ms``: end of the last withheld
    sample - resume time; allowed up to a tolerance), and the margin of the kept audio
    next to it (``start_margin_ms``: pause time - end of the last kept sample before the
    span; ``end_margin_ms``: start of the first kept sample after it - resume time),
    which must not be negative: negative is audio captured inside the asked span that
    reached the recording. Both are measured because caller jitter opens gaps in the
    timeline between packets.
    """

    span_samples: tuple[int, int]
    early_ms: float
    late_ms: float
    start_margin_ms: float
    end_margin_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "withheld_samples": list(self.span_samples),
            "start_early_ms": round(self.early_ms, 2),
            "end_late_ms": round(self.late_ms, 2),
            "start_margin_ms": round(self.start_margin_ms, 2),
            "end_margin_ms": round(self.end_margin_ms, 2),
        }


def edge_check(
    rec: Recorded, span: tuple[int, int], pause_ms: float, resume_ms: float, holdback_ms: float
) -> EdgeCheck:
    """Edges of ``span`` with each sample placed by its own packet's ingress arrival."""
    s, e = span
    step = 1000.0 / rec.rate

    def start_of(i: int) -> float:
        return rec.boundary_ingress_ms(i, holdback_ms)

    early = pause_ms - start_of(s)
    late = start_of(e - 1) + step - resume_ms
    start_margin = pause_ms - (start_of(s - 1) + step) if s > 0 else float("inf")
    end_margin = start_of(e) - resume_ms if e < rec.samples.size else float("inf")
    return EdgeCheck(span, early, late, start_margin, end_margin)


def dtmf_in(rec: Recorded, start_ms: float, end_ms: float, holdback_ms: float) -> int:
    """RFC 4733 packets that reached the recorder for ingress times in [start, end]."""
    return sum(1 for p in rec.dtmf if start_ms <= float(p["at"]) - holdback_ms <= end_ms)


def report(test: str, **data: Any) -> None:
    """Print the measurements (``pytest -s``) and append them to results/e2e_measurements.jsonl."""
    line = json.dumps({"test": test, "pid": os.getpid(), **data}, default=str)
    print(f"\n[e2e] {line}")
    try:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a") as out:
            out.write(line + "\n")
    except OSError:
        pass
