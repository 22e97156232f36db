"""Test helpers for the gate core: packet builders and a fake-time driver (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pausegate.control.commands import Action, Behaviour, Command, Scope
from pausegate.gate import CallGate, GateConfig, GateCore, StreamGate
from pausegate.gate.events import CallIdentity, GateEvent
from pausegate.rtp.packet import RtpHeader
from pausegate_codecs.dtmf import DtmfEvent
from pausegate_codecs.registry import G722, PCMA, PCMU, TELEPHONE_EVENT, Codec

WALL0_MS = 1_700_000_000_000.0  # epoch ms at monotonic 0
CODECS: dict[int, Codec] = {0: PCMU, 8: PCMA, 9: G722, 101: TELEPHONE_EVENT}
SSRC = 0x1234ABCD


def wall(now: float) -> float:
    return WALL0_MS + now * 1000.0


def at(now: float) -> float:
    """Epoch ms of monotonic ``now`` (a command's `at`)."""
    return wall(now)


def rtp(
    seq: int,
    ts: int,
    payload: bytes = b"\x11" * 160,
    pt: int = 0,
    ssrc: int = SSRC,
    marker: bool = False,
) -> bytes:
    return RtpHeader(pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc, marker).serialize(payload)


def dtmf(
    seq: int, ts: int, duration: int, end: bool = False, ssrc: int = SSRC, event: int = 5
) -> bytes:
    return rtp(seq, ts, bytes(DtmfEvent(event, end, 10, duration)), pt=101, ssrc=ssrc)


def cmd(action: str, at_s: float | None = None, **kw: object) -> Command:
    return Command(
        Action(action),
        at_ms=None if at_s is None else at(at_s),
        **kw,  # type: ignore[arg-type]
    )


@dataclass
class Harness:
    """One call with one stream; commands and releases at explicit monotonic times."""

    config: GateConfig = field(default_factory=GateConfig)
    call_id: str = "call-1"
    keys: tuple[str, ...] = ("call-1", "desk-1")
    agent: str | None = "agent-7"
    start: float = 0.0
    core: GateCore = field(init=False)
    gate: CallGate = field(init=False)
    stream: StreamGate = field(init=False)
    events: list[GateEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.core = GateCore(self.config)
        self.gate, ev = self.core.add_call(
            CallIdentity(self.call_id, self.keys, self.agent), self.start, wall(self.start)
        )
        self.events.extend(ev)
        self.stream = self.gate.add_stream("0", CODECS)

    @property
    def holdback(self) -> float:
        return self.config.holdback_ms / 1000.0

    def command(
        self,
        now: float,
        action: str,
        at_s: float | None = None,
        scope: Scope = Scope.CALL,
        key: str = "desk-1",
        **kw: object,
    ) -> object:
        out = self.core.apply_command(scope, key, cmd(action, at_s, **kw), now, wall(now))
        self.events.extend(out.events)
        return out

    def release(self, data: bytes, arrival: float) -> bytes | None:
        return self.stream.release_rtp(data, arrival, arrival + self.holdback)

    def end(self, now: float) -> object:
        return self.core.end_call(self.call_id, now, wall(now))


def behaviour_config(b: Behaviour, **kw: object) -> GateConfig:
    return GateConfig(behaviour=b, **kw)  # type: ignore[arg-type]
