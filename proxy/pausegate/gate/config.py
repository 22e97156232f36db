"""Gate core configuration (SPEC §4, §7 `gate.*` keys and `rtp.holdback_ms`). Core, no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pausegate.control.commands import Behaviour


class OnControlLoss(enum.StrEnum):
    KEEP = "keep"
    PAUSE = "pause"


@dataclass(frozen=True, slots=True)
class GateConfig:
    behaviour: Behaviour = Behaviour.SILENCE
    guard_ms: float = 0.0
    max_backdate_ms: float = 2000.0
    on_control_loss: OnControlLoss = OnControlLoss.KEEP
    control_loss_grace_ms: float = 5000.0
    pending_command_ttl_s: float = 30.0
    holdback_ms: float = 200.0
    id_memory_s: float = 3600.0
