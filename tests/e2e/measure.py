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
        return float(self.arrival[k]) - holdback_ms - (n - offset) * 1000.0 / self.rate

    def index_at_arrival(self, at_ms: float) -> int:
        """The first sample of the first packet arriving at the recorder at or after ``at_ms``."""
        k = int(np.searchsorted(self.arrival, at_ms, side="left"))
        return int(self.index[min(k, self.index.size - 1)])


def load_recording(call_dir: Path, label: str | None = None) -> Recorded:
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
    return Recorded(
        side_path.with_suffix(".wav"), rate, samples, sidecar, audio, dtmf, index, arrival
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
    """A withheld span against the asked one, in ms at pausegate's ingress.

    ``early_ms`` > 0: withholding began before the pause's effective time (allowed up
    to the tolerance); < 0: it began later (audio leaked). ``late_ms`` likewise at the end.
    """

    span_samples: tuple[int, int]
    start_ms: float
    end_ms: float
    early_ms: float
    late_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "withheld_samples": list(self.span_samples),
            "withheld_start_epoch_ms": round(self.start_ms, 2),
            "withheld_end_epoch_ms": round(self.end_ms, 2),
            "start_early_ms": round(self.early_ms, 2),
            "end_late_ms": round(self.late_ms, 2),
        }


def edge_check(
    rec: Recorded, span: tuple[int, int], pause_ms: float, resume_ms: float, holdback_ms: float
) -> EdgeCheck:
    start = rec.boundary_ingress_ms(span[0], holdback_ms)
    end = rec.boundary_ingress_ms(span[1], holdback_ms)
    return EdgeCheck(span, start, end, pause_ms - start, end - resume_ms)


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
