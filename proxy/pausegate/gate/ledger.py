"""The call_ended pause ledger (SPEC §5 `pauses`): withheld runs per stream. Core, no I/O.

Rules:
1. A run is a sequence of withheld packets of one SSRC with no forwarded packet
   between; it remembers the mapped time of its first withheld sample and the
   RTP timestamp and sequence range it covered.
2. At the end of a call each pause collects the runs that started inside it
   (guards included); a stream's span is its first run's start and last run's end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pausegate.gate.events import PauseRecord, StreamSpan
from pausegate.gate.timeline import INF, Span

MAX_RUNS = 4096


@dataclass(slots=True)
class Run:
    ssrc: int
    start: float  # mapped time of the first withheld sample (monotonic s)
    ts_start: int
    ts_end: int
    seq_start: int
    seq_end: int


class RunRecorder:
    __slots__ = ("_open", "runs")

    def __init__(self) -> None:
        self.runs: list[Run] = []
        self._open: Run | None = None

    def note(self, ssrc: int, start: float | None, ts_start: int, ts_end: int, seq: int) -> None:
        r = self._open
        if r is None or r.ssrc != ssrc:
            if start is None:
                start = self.runs[-1].start if self.runs else -INF
            if len(self.runs) >= MAX_RUNS:
                return
            r = Run(ssrc, start, ts_start, ts_end, seq, seq)
            self.runs.append(r)
            self._open = r
            return
        # Wrap-aware comparisons (RFC 3550 arithmetic), inlined: this runs per withheld packet.
        if (ts_end - r.ts_end) & 0xFFFFFFFF < 0x80000000:
            r.ts_end = ts_end
        elif (ts_start - r.ts_start) & 0xFFFFFFFF >= 0x80000000:
            r.ts_start = ts_start
        if (seq - r.seq_end) & 0xFFFF < 0x8000:
            r.seq_end = seq
        elif (seq - r.seq_start) & 0xFFFF >= 0x8000:
            r.seq_start = seq

    def close(self) -> None:
        self._open = None


def build_records(
    spans: Sequence[Span],
    streams: Sequence[tuple[str, RunRecorder]],
    guard_s: float,
    recorder_ms: Callable[[float], float],
    epoch_ms: Callable[[float], float],
) -> tuple[PauseRecord, ...]:
    # Each run belongs to the first pause that has not ended (guard included) when the
    # run starts: a run opened by the arrival rule starts just before its pause.
    assigned: list[list[list[Run]]] = [[[] for _ in streams] for _ in spans]
    for si, (_, rec) in enumerate(streams):
        for run in rec.runs:
            for pi, span in enumerate(spans):
                if run.start < span.end + guard_s:
                    assigned[pi][si].append(run)
                    break
    out: list[PauseRecord] = []
    for pi, span in enumerate(spans):
        stream_spans: list[StreamSpan] = []
        for si, (label, _) in enumerate(streams):
            runs = assigned[pi][si]
            if runs:
                first, last = runs[0], runs[-1]
                stream_spans.append(
                    StreamSpan(
                        label,
                        first.ssrc,
                        first.ts_start,
                        last.ts_end,
                        first.seq_start,
                        last.seq_end,
                    )
                )
            else:
                stream_spans.append(StreamSpan(label, None, None, None, None, None))
        opened = span.opened_by
        closed = span.closed_by
        out.append(
            PauseRecord(
                start_ms=recorder_ms(span.start),
                end_ms=recorder_ms(span.end) if span.end < INF else None,
                start_at_ms=opened.effective_at_ms if opened is not None else epoch_ms(span.start),
                end_at_ms=(
                    closed.effective_at_ms
                    if closed is not None
                    else (epoch_ms(span.end) if span.end < INF else None)
                ),
                reason=opened.command.reason,
                source=opened.command.source,
                streams=tuple(stream_spans),
            )
        )
    return tuple(out)
