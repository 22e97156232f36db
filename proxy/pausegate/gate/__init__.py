"""pausegate.gate: the sans-IO gate core (SPEC §3-§5): spans, release decisions, ledger."""

from pausegate.gate.call_gate import CallGate
from pausegate.gate.config import GateConfig, OnControlLoss
from pausegate.gate.core import GateCore
from pausegate.gate.statistics import GateStatistics
from pausegate.gate.stream_gate import StreamGate

__all__ = ["CallGate", "GateConfig", "GateCore", "GateStatistics", "OnControlLoss", "StreamGate"]
