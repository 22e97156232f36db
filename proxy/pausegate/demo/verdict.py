"""Demo core: did the recording withhold exactly the commanded spans (SPEC §1, §4)? No I/O.

Rules:
1. Time bases. A packet carries the 20 ms of audio captured before it was sent:
   its last sample ends when it leaves (the gate anchors the same way, on
   arrival, SPEC §4). The caller logs when each packet left (epoch ms), which
   gives ``SendClock``: a commanded epoch time becomes an RTP timestamp through
   it, then a WAV sample index through the recording's ``first_rtp_ts`` (the
   recorder writes by RTP timestamp; the hold-back only delays the whole
   recording and does not move samples).
2. The one rule: a measured withheld span may start earlier and end later than
   commanded by at most ``VerdictLimits.extra_ms`` (one packet), plus what SPEC §4
   makes pausegate withhold on top and the demo measured: at the pause, the
   lateness of packets sent around it (a packet arriving inside a span is
   withheld whole); at the resume, the command's transit (a resume takes effect
   when received). It must never start later or end earlier than commanded
   beyond ``VerdictLimits.short_ms`` (send-log jitter, far below one packet),
   which also blurs the "more" limits by as much.
3. Outside the withheld spans the recording must match what was sent
   (correlation >= ``min_correlation``); inside, no in-band DTMF energy and no
   RFC 4733 packet.
4. Nothing here looks at a digit value: DTMF is measured as energy and counted
   as packets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pausegate.rtp.packet import TS_MOD, ts_diff

FloatArray = npt.NDArray[np.floating]


@dataclass(frozen=True, slots=True)
class SendClock:
    """Sample time at the caller: RTP timestamp ``base_ts`` was captured at ``base_at_ms``.

    Built from the send log with the earliest offset (a packet sent late by the
    event loop does not drag the clock), the same way the gate anchors on arrival.
    """

    base_ts: int
    base_at_ms: float
    clock_rate: int

    @classmethod
    def from_send_log(cls, log: Sequence[tuple[int, float]], clock_rate: int) -> SendClock:
        """``log``: (RTP timestamp just past the packet's last sample, epoch ms it was
        sent) per audio packet: the packet's audio ends when it leaves."""
        if not log:
            raise ValueError("send log is empty")
        base_ts = log[0][0]
        base_at = min(at - ts_diff(ts, base_ts) * 1000.0 / clock_rate for ts, at in log)
        return cls(base_ts, base_at, clock_rate)

    def at_of(self, ts: int) -> float:
        """Epoch ms at which the sample with RTP timestamp ``ts`` was captured."""
        return self.base_at_ms + ts_diff(ts, self.base_ts) * 1000.0 / self.clock_rate

    def lateness_ms(
        self, log: Sequence[tuple[int, float]], around_ms: float, window_ms: float = 40.0
    ) -> float:
        """How late (>= 0) the packets sent within ``window_ms`` of ``around_ms`` left,
        against this clock; ``log`` as for ``from_send_log``."""
        late = [
            sent - self.at_of(ts_end) for ts_end, sent in log if abs(sent - around_ms) <= window_ms
        ]
        return max(0.0, *late) if late else 0.0

    def ts_at(self, at_ms: float) -> int:
        """The RTP timestamp of the sample captured at epoch ``at_ms``."""
        samples = round((at_ms - self.base_at_ms) * self.clock_rate / 1000.0)
        return (self.base_ts + samples) % TS_MOD


@dataclass(frozen=True, slots=True)
class CommandedSpan:
    """A pause and its resume as published (``at`` of each command, epoch ms), with
    the extra withholding SPEC §4 allows at each edge, as measured (rule 2)."""

    pause_at_ms: float
    resume_at_ms: float
    pause_lateness_ms: float = 0.0  # packets around the pause left this late
    resume_transit_ms: float = 0.0  # the resume was received this long after its `at`


@dataclass(frozen=True, slots=True)
class Recording:
    """One stream as the recorder wrote it: decoded audio plus its sidecar facts."""

    samples: FloatArray  # full scale 1.0
    clock_rate: int
    first_rtp_ts: int
    dtmf_ts: tuple[int, ...] = ()  # RTP timestamp of every RFC 4733 packet the recorder got

    def index_of_ts(self, ts: int) -> int:
        return ts_diff(ts, self.first_rtp_ts)

    def ms_of_index(self, index: float) -> float:
        return index * 1000.0 / self.clock_rate


@dataclass(frozen=True, slots=True)
class Reference:
    """What the caller sent, decoded the way the recorder decodes it."""

    samples: FloatArray
    first_rtp_ts: int  # RTP timestamp of samples[0]


@dataclass(frozen=True, slots=True)
class VerdictLimits:
    extra_ms: float = 20.0  # may withhold this much more at each edge
    short_ms: float = 2.5  # never less beyond this (send-log jitter)
    min_correlation: float = 0.95
    max_dtmf_level: float = 0.01  # in-band DTMF amplitude allowed in a withheld span
    guard_ms: float = 30.0  # excluded around spans when correlating the rest


DEFAULT_LIMITS = VerdictLimits()


@dataclass(frozen=True, slots=True)
class SpanCheck:
    """One commanded span against the recording, in ms of the recording."""

    expected_ms: tuple[float, float]
    measured_ms: tuple[float, float] | None  # None: nothing withheld there
    early_start_ms: float | None  # > 0: withholding began before the command (allowed)
    late_end_ms: float | None  # > 0: withholding ended after the command (allowed)
    allowed_early_ms: float  # the most early_start_ms may be
    allowed_late_ms: float  # the most late_end_ms may be
    dtmf_level: float  # in-band DTMF amplitude measured inside the expected span
    dtmf_packets: int  # RFC 4733 packets the recorder received inside the expected span


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    reasons: tuple[str, ...]  # why it failed; empty on PASS
    spans: tuple[SpanCheck, ...]
    measured_ms: tuple[tuple[float, float], ...]  # every withheld span found
    correlation: float | None  # outside the withheld spans; None when nothing to compare
    recording_ms: float


def expected_spans(
    commanded: Sequence[CommandedSpan], clock: SendClock, rec: Recording
) -> list[tuple[int, int]]:
    """Commanded spans as [start, end) sample indices of the recording."""
    return [
        (
            rec.index_of_ts(clock.ts_at(span.pause_at_ms)),
            rec.index_of_ts(clock.ts_at(span.resume_at_ms)),
        )
        for span in commanded
    ]


def silence_runs(x: FloatArray, min_samples: int) -> list[tuple[int, int]]:
    """[start, end) runs of exact digital silence at least ``min_samples`` long."""
    zero = np.concatenate(([False], np.asarray(x) == 0, [False]))
    edges = np.flatnonzero(np.diff(zero.astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True) if e - s >= min_samples]


def refine_spans(
    coarse: Sequence[tuple[int, int]], x: FloatArray, slack: int
) -> list[tuple[int, int]]:
    """Snap coarse (pilot-analysis) spans to the digital-silence runs they sit on.

    Withheld G.711 audio is codec silence, which decodes to exact zeros, so a
    run's edges are the withheld span to the sample. Each coarse span is replaced
    by the runs (at least ``slack`` samples long) that overlap it widened by
    ``slack``; audio leaking inside a span thus shows as two pieces. A span with
    no such run (a recorder filling gaps with noise) keeps its coarse edges.
    """
    runs = silence_runs(x, max(1, slack))
    out: set[tuple[int, int]] = set()
    for start, end in coarse:
        hits = [(rs, re_) for rs, re_ in runs if rs < end + slack and re_ > start - slack]
        out.update(hits or [(start, end)])
    return sorted(out)


def correlation_outside(
    rec: Recording, ref: Reference, withheld: Sequence[tuple[int, int]], guard: int
) -> float | None:
    """Pearson correlation of recording and reference, aligned by RTP timestamp,
    over the samples outside every withheld span (widened by ``guard``)."""
    offset = ts_diff(rec.first_rtp_ts, ref.first_rtp_ts)  # reference index of recording[0]
    lo = max(0, -offset)
    hi = min(rec.samples.size, ref.samples.size - offset)
    if hi - lo < 2:
        return None
    keep = np.zeros(rec.samples.size, dtype=bool)
    keep[lo:hi] = True
    for start, end in withheld:
        keep[max(0, start - guard) : max(0, end + guard)] = False
    idx = np.flatnonzero(keep)
    if idx.size < 2:
        return None
    a = np.asarray(rec.samples, dtype=np.float64)[idx]
    b = np.asarray(ref.samples, dtype=np.float64)[idx + offset]
    if float(np.std(a)) == 0.0 or float(np.std(b)) == 0.0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def judge(
    rec: Recording,
    ref: Reference,
    commanded: Sequence[CommandedSpan],
    clock: SendClock,
    measured: Sequence[tuple[int, int]],
    dtmf_levels: Sequence[float],
    limits: VerdictLimits = DEFAULT_LIMITS,
) -> Verdict:
    """Compare measured withheld spans (sample indices) with the commanded ones.

    ``dtmf_levels[i]`` is the in-band DTMF amplitude the analysis found inside the
    i-th expected span (see ``expected_spans``).
    """
    ms = rec.ms_of_index
    expected = expected_spans(commanded, clock, rec)
    reasons: list[str] = []
    checks: list[SpanCheck] = []
    used: set[int] = set()
    for i, (span, (e_start, e_end)) in enumerate(zip(commanded, expected, strict=True)):
        # short_ms is the send log's timing uncertainty: it blurs both edges both ways.
        allowed = {
            "start": limits.extra_ms + span.pause_lateness_ms + limits.short_ms,
            "end": limits.extra_ms + span.resume_transit_ms + limits.short_ms,
        }
        overlapping = [
            j for j, (m_start, m_end) in enumerate(measured) if m_start < e_end and m_end > e_start
        ]
        dtmf_packets = sum(1 for ts in rec.dtmf_ts if e_start <= rec.index_of_ts(ts) < e_end)
        level = dtmf_levels[i] if i < len(dtmf_levels) else 0.0
        label = f"span {i + 1} ({ms(e_start):.0f}-{ms(e_end):.0f} ms)"
        if not overlapping:
            reasons.append(f"{label}: nothing was withheld")
            checks.append(
                SpanCheck(
                    (ms(e_start), ms(e_end)),
                    None,
                    None,
                    None,
                    allowed["start"],
                    allowed["end"],
                    level,
                    dtmf_packets,
                )
            )
        else:
            used.update(overlapping)
            if len(overlapping) > 1:
                reasons.append(f"{label}: withheld in {len(overlapping)} pieces, audio between")
            m_start = min(measured[j][0] for j in overlapping)
            m_end = max(measured[j][1] for j in overlapping)
            early = ms(e_start - m_start)
            late = ms(m_end - e_end)
            for edge, margin in (("start", early), ("end", late)):
                if margin < -limits.short_ms:
                    reasons.append(
                        f"{label}: withheld {-margin:.1f} ms too little at the {edge}"
                        " (the one rule: never less)"
                    )
                elif margin > allowed[edge]:
                    reasons.append(
                        f"{label}: withheld {margin:.1f} ms more than asked at the {edge}"
                        f" (limit {allowed[edge]:.1f} ms)"
                    )
            checks.append(
                SpanCheck(
                    (ms(e_start), ms(e_end)),
                    (ms(m_start), ms(m_end)),
                    early,
                    late,
                    allowed["start"],
                    allowed["end"],
                    level,
                    dtmf_packets,
                )
            )
        if level > limits.max_dtmf_level:
            reasons.append(f"{label}: in-band DTMF energy in the withheld span ({level:.3f})")
        if dtmf_packets:
            reasons.append(f"{label}: {dtmf_packets} RFC 4733 packets reached the recorder")
    for j, (m_start, m_end) in enumerate(measured):
        if j not in used:
            reasons.append(
                f"unexpected withheld span {ms(m_start):.0f}-{ms(m_end):.0f} ms (not commanded)"
            )
    guard = round(limits.guard_ms * rec.clock_rate / 1000.0)
    corr = correlation_outside(rec, ref, [*measured, *expected], guard)
    if corr is None:
        reasons.append("no audio outside the withheld spans to compare with what was sent")
    elif corr < limits.min_correlation:
        reasons.append(
            f"audio outside the withheld spans differs from what was sent"
            f" (correlation {corr:.3f} < {limits.min_correlation})"
        )
    return Verdict(
        passed=not reasons,
        reasons=tuple(reasons),
        spans=tuple(checks),
        measured_ms=tuple((ms(s), ms(e)) for s, e in measured),
        correlation=corr,
        recording_ms=ms(rec.samples.size),
    )
