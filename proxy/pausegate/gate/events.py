"""Events the gate and control cores emit (SPEC §5 payload fields). Core, no I/O.

The control adapter serialises these to the JSON of SPEC §5; field names map 1:1
(``*_at_ms`` → ``*_at``). Times: ``*_at_ms`` are epoch milliseconds; ``media_ms``
is on the recorder's timeline (ms since the call's first forwarded packet, after
``skip``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pausegate.control.commands import Scope


@dataclass(frozen=True, slots=True)
class CallIdentity:
    call_id: str  # ingress SIP Call-ID (for SIPREC, the recording session's)
    keys: tuple[str, ...]  # every key the call answers to, call_id first
    agent: str | None


@dataclass(frozen=True, slots=True)
class CallStarted:
    call: CallIdentity
    at_ms: float
    paused: bool  # True when it starts inside an agent pause


@dataclass(frozen=True, slots=True)
class CallStateChanged:
    """Published as ``paused`` or ``resumed``: only on a real state change."""

    call: CallIdentity
    paused: bool
    at_ms: float  # effective time
    received_at_ms: float
    media_ms: float | None  # None until the call has forwarded a packet
    cmd_id: str | None
    source: str | None
    reason: str | None
    clamped: bool = False  # `at` was older than max_backdate_ms
    leaked_ms: float = 0.0  # audio already sent when this pause arrived (SPEC §4)


@dataclass(frozen=True, slots=True)
class CommandRejected:
    scope: Scope
    key: str  # call key or agent id as addressed
    call: CallIdentity | None  # the call, when the key resolved to one
    error: str  # names the defect, never the payload
    received_at_ms: float
    cmd_id: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class StreamSpan:
    label: str
    ssrc: int | None
    rtp_ts_start: int | None
    rtp_ts_end: int | None
    seq_start: int | None
    seq_end: int | None


@dataclass(frozen=True, slots=True)
class PauseRecord:
    start_ms: float  # recorder timeline
    end_ms: float | None  # None when the call ended paused
    start_at_ms: float  # epoch
    end_at_ms: float | None
    reason: str | None
    source: str | None
    streams: tuple[StreamSpan, ...] = ()


@dataclass(frozen=True, slots=True)
class CallEnded:
    call: CallIdentity
    at_ms: float
    pauses: tuple[PauseRecord, ...] = field(default_factory=tuple)
    leaked_ms: float = 0.0
    verified: bool = True


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What one command did: the MQTT 5 / HTTP reply plus events to publish."""

    ok: bool
    paused: bool | None  # state after the command (None when no call/agent resolved)
    effective_at_ms: float | None
    error: str | None
    events: tuple[CallStarted | CallStateChanged | CommandRejected | CallEnded, ...] = ()


GateEvent = CallStarted | CallStateChanged | CommandRejected | CallEnded
