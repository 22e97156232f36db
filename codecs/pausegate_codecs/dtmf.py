"""RFC 4733 telephone-event payload (§2.3): parse and serialise. Pure media code.

Rules:
1. Only the first 4-byte event block is read; RFC 2198 redundancy is not used by
   the gate (a packet is withheld or not as a whole).
2. No digit value is ever logged, stored or published: ``__repr__`` hides it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

_EVENT = struct.Struct("!BBH")
EVENT_BYTES = 4


class DtmfError(ValueError):
    """A telephone-event payload too short to hold one event block."""


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    event: int = field(repr=False)  # 0-255; digits are 0-15 (RFC 4733 §3.2)
    end: bool = False
    volume: int = 0  # 0-63, -dBm0
    duration: int = 0  # RTP clock ticks since the event's timestamp

    @classmethod
    def parse(cls, payload: bytes | memoryview) -> DtmfEvent:
        if len(payload) < EVENT_BYTES:
            raise DtmfError("telephone-event payload shorter than one event block")
        ev, flags, duration = _EVENT.unpack_from(payload)
        return cls(ev, bool(flags & 0x80), flags & 0x3F, duration)

    def __bytes__(self) -> bytes:
        if not (0 <= self.event <= 255 and 0 <= self.volume <= 63):
            raise ValueError("telephone-event field out of range")
        if not 0 <= self.duration <= 0xFFFF:
            raise ValueError("telephone-event duration out of range")
        return _EVENT.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)


def end_and_duration(payload: bytes | memoryview) -> tuple[bool, int] | None:
    """The hot path's view: (end bit, duration), or None when too short."""
    if len(payload) < EVENT_BYTES:
        return None
    return bool(payload[1] & 0x80), (payload[2] << 8) | payload[3]
