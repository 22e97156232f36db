"""Load harness: judge each received packet against what was sent and commanded (SPEC §1, §4).

Rules:
1. Time of a sample: packet ``i`` of stream ``s`` carries the 20 ms of audio that
   ends at its due time ``t0 + 0.02 i + 0.001 (s % 20)``; sample j's midpoint is
   (159.5 - j) / 8000 s before that (the gate anchors the same way, on arrival).
2. A sample must be withheld when its midpoint lies in [pause at + tol, resume at
   - tol] of one of its call's pauses; ``tol`` (default 1 ms, 8 samples) covers
   the 1 ms granularity of the event loop's clock pausegate converts ``at`` with.
   Such a sample that arrived as the original is leaked. A pause that reached
   pausegate later than hold-back after its ``at`` (from the ``paused`` event's
   ``received_at``) may leak by SPEC §4: those samples are counted apart, as are
   those of pauses whose ``paused`` event never came (receipt unknown).
3. Silence is allowed from a pause's ``at`` - 22 ms to its resume's receipt + 22 ms
   (one packet and 2 ms), and over a whole packet that may have reached pausegate
   inside the span (SPEC §4's arrival rule: sink arrival - hold-back >= ``at`` - 2 ms);
   silence elsewhere is ``unexpected_silence``; a sample that is neither the
   original nor silence is ``bad``.
4. Latency: kernel arrival at the sink - send time carried in the payload -
   hold-back, over packets whose send time survived (not silenced).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from loadtest.payload import PTIME_S, SAMPLES, SLOTS

F64 = npt.NDArray[np.float64]
RATE = 8000.0
ALLOW_S = 0.022
EDGE_S = 0.002


def pct(values: npt.ArrayLike, q: float) -> float | None:
    arr = np.asarray(values, np.float64)
    arr = arr[np.isfinite(arr)]
    return float(np.percentile(arr, q)) if arr.size else None


def due_time(t0: float, stream: npt.NDArray[np.int64], index: npt.NDArray[np.int64]) -> F64:
    return t0 + index * PTIME_S + (stream % SLOTS) * (PTIME_S / SLOTS)


def _ranges(t_end: F64, lo_t: F64, hi_t: F64) -> tuple[npt.NDArray[np.int64], ...]:
    """Sample index range [lo, hi] whose midpoints lie in [lo_t, hi_t] (empty: lo > hi)."""
    with np.errstate(invalid="ignore"):
        lo = np.ceil((lo_t - t_end) * RATE + (SAMPLES - 0.5))
        hi = np.floor((hi_t - t_end) * RATE + (SAMPLES - 0.5))
    lo = np.nan_to_num(lo, nan=SAMPLES)
    hi = np.nan_to_num(hi, nan=-1)
    return np.clip(lo, 0, SAMPLES).astype(np.int64), np.clip(hi, -1, SAMPLES - 1).astype(np.int64)


def _overlap(
    a0: npt.NDArray[np.int64],
    a1: npt.NDArray[np.int64],
    b0: npt.NDArray[np.int64],
    b1: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    out: npt.NDArray[np.int64] = np.maximum(0, np.minimum(a1, b1) - np.maximum(a0, b0) + 1)
    return out


def judge(
    gen: dict[str, Any],
    rec: dict[str, np.ndarray],
    holdback_s: float,
    window: tuple[float, float],
    tol_s: float = 0.001,
) -> dict[str, Any]:
    t0 = float(gen["t0"])
    stream = rec["stream"].astype(np.int64)
    index = rec["index"].astype(np.int64)
    arrival = rec["arrival"].astype(np.float64)
    sent_at = rec["sent"].astype(np.float64)
    first = np.asarray(gen["streams_first"], np.int64)
    stop = np.asarray(gen["streams_stop"], np.int64)
    sent = np.asarray(gen["streams_sent"], np.int64)
    n_streams = len(sent)
    known = (stream >= 0) & (stream < n_streams)
    known &= (index >= first[np.clip(stream, 0, n_streams - 1)]) & (
        index < stop[np.clip(stream, 0, n_streams - 1)]
    )
    foreign = int(np.count_nonzero(~known))
    stream, index, arrival, sent_at = stream[known], index[known], arrival[known], sent_at[known]
    cols = {
        k: rec[k][known].astype(np.int64)
        for k in ("n_orig", "n_sil", "bad", "first_sil", "last_sil")
    }
    key = stream * (1 << 32) + index
    unique = np.unique(key)
    duplicates = len(key) - len(unique)
    total_sent = int(sent.sum())
    lost = total_sent - len(unique)

    added = arrival - sent_at - holdback_s
    t_end = due_time(t0, stream, index)

    # commanded spans per call, padded to the longest list
    pauses = gen.get("pauses", [])
    calls = (n_streams + 1) // 2 + 1
    per_call: dict[int, list[dict[str, Any]]] = {}
    for p in pauses:
        if "published" in p:
            per_call.setdefault(p["call"], []).append(p)
    received = _received_times(gen.get("events", []))
    k_max = max((len(v) for v in per_call.values()), default=0)
    leaked = np.zeros(len(stream), np.int64)
    leaked_excused = np.zeros(len(stream), np.int64)
    leaked_unknown = np.zeros(len(stream), np.int64)
    must = np.zeros(len(stream), np.int64)
    allowed_sil = np.zeros(len(stream), np.int64)
    call_of = stream // 2
    apply_delays: list[float] = []
    contiguous = (cols["n_sil"] == 0) | (cols["last_sil"] - cols["first_sil"] + 1 == cols["n_sil"])
    late_pauses = 0
    unknown_pauses = 0
    for k in range(k_max):
        p_at = np.full(max(calls, 1), np.nan)
        r_at = np.full(max(calls, 1), np.nan)
        r_rx = np.full(max(calls, 1), np.nan)
        excused = np.zeros(max(calls, 1), bool)
        unknown = np.zeros(max(calls, 1), bool)
        for c, plist in per_call.items():
            if k < len(plist):
                p = plist[k]
                p_at[c], r_at[c] = p["at"], p["resume_at"]
                rx = received.get(p["pause_id"])
                if rx is None:
                    unknown[c] = True
                elif rx - p["at"] > holdback_s - PTIME_S:
                    excused[c] = True
                r_rx[c] = max(
                    received.get(p["resume_id"], p.get("resume_published", p["resume_at"])),
                    p["resume_at"],
                )
        late_pauses += int(excused.sum())
        unknown_pauses += int(unknown.sum())
        cidx = np.clip(call_of, 0, len(p_at) - 1)
        lo, hi = _ranges(t_end, p_at[cidx] + tol_s, r_at[cidx] - tol_s)
        n_must = np.maximum(0, hi - lo + 1)
        withheld = np.where(
            contiguous,
            _overlap(lo, hi, cols["first_sil"], cols["last_sil"]),
            np.minimum(cols["n_sil"], n_must),
        )
        leak = np.maximum(0, n_must - withheld)
        ex, unk = excused[cidx], unknown[cidx]
        leaked += np.where(ex | unk, 0, leak)
        leaked_excused += np.where(ex, leak, 0)
        leaked_unknown += np.where(unk, leak, 0)
        must += n_must
        alo, ahi = _ranges(t_end, p_at[cidx] - ALLOW_S, r_rx[cidx] + ALLOW_S)
        # SPEC §4: a packet that arrived inside the span is withheld whole; it reached
        # pausegate at most (sink arrival - hold-back), and not before its audio ended
        whole = (arrival - holdback_s >= p_at[cidx] - EDGE_S) & (t_end <= r_rx[cidx] + ALLOW_S)
        allowed_sil += np.where(
            whole,
            cols["n_sil"],
            np.where(contiguous, _overlap(alo, ahi, cols["first_sil"], cols["last_sil"]), 0),
        )
        # apply delay: first packet of the span that arrives with silence, from the pause's at
        hit = (n_must > 0) & (withheld > 0)
        if hit.any():
            first_arr = np.full(len(p_at), np.inf)
            np.minimum.at(first_arr, cidx[hit], arrival[hit])
            ok = np.isfinite(first_arr) & np.isfinite(p_at)
            apply_delays += (first_arr[ok] - p_at[ok]).tolist()
    unexpected_sil = np.maximum(0, np.where(contiguous, cols["n_sil"] - allowed_sil, 0))
    in_win = (arrival >= window[0]) & (arrival < window[1])
    per_second = _per_second(arrival, added, t0)
    return {
        "packets_sent": total_sent,
        "packets_received": len(key),
        "packets_unique": len(unique),
        "packets_lost": int(lost),
        "loss_pct": 100.0 * lost / total_sent if total_sent else 0.0,
        "duplicates": int(duplicates),
        "foreign_packets": foreign,
        "packets_in_window": int(np.count_nonzero(in_win)),
        "added_latency_ms": {
            "p50": _ms(pct(added, 50)),
            "p99": _ms(pct(added, 99)),
            "max": _ms(float(np.nanmax(added)) if np.isfinite(added).any() else None),
            "samples": int(np.count_nonzero(np.isfinite(added))),
        },
        "samples_must_withhold": int(must.sum()),
        "leaked_samples": int(leaked.sum()),
        "leaked_packets": int(np.count_nonzero(leaked)),
        "leaked_samples_late_commands": int(leaked_excused.sum()),
        "leaked_samples_receipt_unknown": int(leaked_unknown.sum()),
        "late_pauses": late_pauses,
        "pauses_receipt_unknown": unknown_pauses,
        "unexpected_silence_samples": int(unexpected_sil.sum()),
        "bad_samples": int(cols["bad"].sum()),
        "fragmented_packets": int(np.count_nonzero(~contiguous)),
        "pauses_judged": sum(len(v) for v in per_call.values()),
        "pause_apply_delay_ms": {
            "p50": _ms(pct(apply_delays, 50)),
            "p99": _ms(pct(apply_delays, 99)),
            "n": len(apply_delays),
        },
        "per_second": per_second,
    }


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000.0, 3)


def _received_times(events: list[dict[str, Any]]) -> dict[str, float]:
    """cmd_id -> earliest received_at (epoch s) that pausegate reported for it."""
    out: dict[str, float] = {}
    for e in events:
        cid, rx = e.get("cmd_id"), e.get("received_at")
        if isinstance(cid, str) and isinstance(rx, int | float):
            out[cid] = min(out.get(cid, float("inf")), rx / 1000.0)
    return out


def _per_second(arrival: F64, added: F64, t0: float) -> list[dict[str, float | None]]:
    if not len(arrival):
        return []
    sec = np.floor(arrival - t0).astype(np.int64)
    out: list[dict[str, float | None]] = []
    order = np.argsort(sec, kind="stable")
    sec_sorted = sec[order]
    bounds = np.flatnonzero(np.diff(sec_sorted)) + 1
    for chunk in np.split(order, bounds):
        if not len(chunk):
            continue
        vals = added[chunk]
        out.append(
            {
                "t": int(sec[chunk[0]]),
                "packets": len(chunk),
                "p50_ms": _ms(pct(vals, 50)),
                "p99_ms": _ms(pct(vals, 99)),
            }
        )
    return out


def lag_stats(gen: dict[str, Any]) -> dict[str, Any]:
    """Generator send lag against schedule (histogram in 0.1 ms bins)."""
    hist = np.asarray(gen["lag_hist_01ms"], np.int64)
    total = int(hist.sum())
    if not total:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None, "late_10ms_pct": 0.0}
    cum = np.cumsum(hist)
    p50 = float(np.searchsorted(cum, 0.5 * total)) * 0.1
    p99 = float(np.searchsorted(cum, 0.99 * total)) * 0.1
    late = int(hist[100:].sum())
    return {
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": round(gen["lag_max_s"] * 1000.0, 3),
        "late_10ms_pct": 100.0 * late / total,
    }
