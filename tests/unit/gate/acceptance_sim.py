"""Fake-time driver for the gate acceptance examples (SPEC §4-§5), independent of the gate.

Every stream is PCMU, 20 ms packets, zero jitter unless a test says otherwise: packet i
holds the samples captured in [T0 + 0.02 i, T0 + 0.02 (i + 1)) and arrives at the end of
that interval, so the windowed anchor maps each sample exactly to its capture time.
Each packet is released at arrival + 0.2 s (the hold-back), in arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pausegate.control.commands import Action, Behaviour, Command, Scope
from pausegate.gate import GateConfig, GateCore, StreamGate
from pausegate.gate.events import CallEnded, CallIdentity, CommandOutcome

HOLDBACK_S = 0.2
WALL0_MS = 1_700_000_000_000.0
T0 = 1.0
SSRC = 0x0BADCAFE
TS0 = 0xFFFFF000  # wraps after 26 packets
SEQ0 = 0xFFF0  # wraps after 16 packets
CALL = CallIdentity("call-1", ("call-1", "desk-1"), "agent-1")
LATER_CALL = CallIdentity("call-2", ("call-2",), "agent-1")


def codecs() -> dict[int, object]:
    from pausegate_codecs.registry import PCMU, TELEPHONE_EVENT

    return {0: PCMU, 101: TELEPHONE_EVENT}


def wall(now: float) -> float:
    return WALL0_MS + now * 1000.0


def rtp(
    pt: int, seq: int, ts: int, payload: bytes, ssrc: int = SSRC, marker: bool = False
) -> bytes:
    return (
        bytes((0x80, (0x80 if marker else 0) | pt))
        + (seq & 0xFFFF).to_bytes(2, "big")
        + (ts & 0xFFFFFFFF).to_bytes(4, "big")
        + ssrc.to_bytes(4, "big")
        + payload
    )


def audio(i: int, fill: int = 0x11, ssrc: int = SSRC, ts0: int = TS0, seq0: int = SEQ0) -> bytes:
    return rtp(0, seq0 + i, ts0 + 160 * i, bytes((fill,)) * 160, ssrc)


def event(seq: int, ts: int, duration: int, end: bool = False) -> bytes:
    return rtp(101, seq, ts, bytes((5, (0x80 if end else 0) | 10)) + duration.to_bytes(2, "big"))


@dataclass
class Sim:
    """Fake time: commands and releases in time order, releases at arrival + hold-back."""

    core: GateCore
    stream: StreamGate | None = None
    sent: list[tuple[bytes, bytes | None]] = field(default_factory=list)
    events: list[object] = field(default_factory=list)

    @classmethod
    def start(cls, call: CallIdentity = CALL, now: float = 0.5, **cfg: object) -> Sim:
        sim = cls(GateCore(GateConfig(holdback_ms=HOLDBACK_S * 1000, **cfg)))  # type: ignore[arg-type]
        gate, events = sim.core.add_call(call, now, wall(now))
        sim.events.extend(events)
        sim.stream = gate.add_stream("0", codecs())  # type: ignore[arg-type]
        return sim

    def release(self, data: bytes, arrival: float) -> bytes | None:
        assert self.stream is not None
        out = self.stream.release_rtp(data, arrival, arrival + HOLDBACK_S)
        self.sent.append((data, out))
        return out

    def packets(self, first: int, last: int, **kw: int) -> list[bytes | None]:
        """Release audio packets first..last (inclusive), zero jitter."""
        return [self.release(audio(i, **kw), T0 + 0.02 * (i + 1)) for i in range(first, last + 1)]

    def command(
        self,
        action: Action,
        received: float,
        at: float | None = None,
        scope: Scope = Scope.CALL,
        key: str = "call-1",
        cmd_id: str | None = None,
        behaviour: Behaviour | None = None,
    ) -> CommandOutcome:
        cmd = Command(action, None if at is None else wall(at), cmd_id, "card", "desk", behaviour)
        outcome = self.core.apply_command(scope, key, cmd, received, wall(received))
        self.events.extend(outcome.events)
        return outcome

    def end(self, now: float = 10.0) -> CallEnded:
        return self.core.end_call(CALL.call_id, now, wall(now))


def silenced(out: bytes | None) -> bool:
    return out is not None and out[12:] == b"\xff" * 160
