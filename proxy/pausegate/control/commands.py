"""Control command schema (SPEC §5): validated at the edge, trusted inside. Core, no I/O.

Rules:
1. A payload is a JSON object with ``action`` ("pause" | "resume") and optional
   ``at`` (epoch ms, a finite number), ``id``, ``reason``, ``source`` (strings of at most
   256 characters) and ``behaviour`` (SPEC §4 words). Anything else is a
   ``CommandError`` whose message names the field, never its value.
2. Unknown fields are ignored (forward compatibility for publishers).
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass

from pausegate.errors import CommandError

MAX_TEXT = 256
MAX_PAYLOAD_BYTES = 4096


class Action(enum.StrEnum):
    PAUSE = "pause"
    RESUME = "resume"


class Behaviour(enum.StrEnum):
    SILENCE = "silence"
    DROP = "drop"
    SKIP = "skip"
    SIGNAL = "signal"


class Scope(enum.StrEnum):
    CALL = "call"
    AGENT = "agent"


@dataclass(frozen=True, slots=True)
class Command:
    """One pause or resume as the publisher sent it (times not yet made effective)."""

    action: Action
    at_ms: float | None = None
    id: str | None = None
    reason: str | None = None
    source: str | None = None
    behaviour: Behaviour | None = None


def _text(obj: dict[str, object], name: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CommandError(f"command field '{name}' must be a string")
    if len(value) > MAX_TEXT:
        raise CommandError(f"command field '{name}' is longer than {MAX_TEXT} characters")
    return value


def parse_command(payload: bytes | str) -> Command:
    """Parse and validate one command payload; raise CommandError naming the defect."""
    if isinstance(payload, bytes | bytearray):
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise CommandError(f"command payload is larger than {MAX_PAYLOAD_BYTES} bytes")
        try:
            payload = bytes(payload).decode("utf-8")
        except UnicodeDecodeError:
            raise CommandError("command payload is not UTF-8") from None
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError):
        raise CommandError("command payload is not valid JSON") from None
    if not isinstance(obj, dict):
        raise CommandError("command payload is not a JSON object")
    raw_action = obj.get("action")
    if not isinstance(raw_action, str):
        raise CommandError("command field 'action' is missing or not a string")
    try:
        action = Action(raw_action)
    except ValueError:
        raise CommandError("command field 'action' must be 'pause' or 'resume'") from None
    at = obj.get("at")
    at_ms: float | None = None
    if at is not None:
        if isinstance(at, bool) or not isinstance(at, int | float):
            raise CommandError("command field 'at' must be a number of epoch milliseconds")
        try:
            # An integer too large for a float raises OverflowError here, not in the gate.
            at_ms = float(at)
        except OverflowError:
            at_ms = math.inf
        if not math.isfinite(at_ms):
            raise CommandError("command field 'at' must be a number of epoch milliseconds")
        if at_ms < 0:
            raise CommandError("command field 'at' must not be negative")
    raw_behaviour = _text(obj, "behaviour")
    behaviour: Behaviour | None = None
    if raw_behaviour is not None:
        try:
            behaviour = Behaviour(raw_behaviour)
        except ValueError:
            raise CommandError(
                "command field 'behaviour' must be one of silence, drop, skip, signal"
            ) from None
    return Command(
        action=action,
        at_ms=at_ms,
        id=_text(obj, "id"),
        reason=_text(obj, "reason"),
        source=_text(obj, "source"),
        behaviour=behaviour,
    )


def serialize_command(cmd: Command) -> bytes:
    """The wire form of ``cmd`` (used by `pausegate ctl` and tests); parse_command inverts it."""
    obj: dict[str, object] = {"action": str(cmd.action)}
    if cmd.at_ms is not None:
        obj["at"] = int(cmd.at_ms) if float(cmd.at_ms).is_integer() else cmd.at_ms
    for name in ("id", "reason", "source"):
        value = getattr(cmd, name)
        if value is not None:
            obj[name] = value
    if cmd.behaviour is not None:
        obj["behaviour"] = str(cmd.behaviour)
    return json.dumps(obj, separators=(",", ":")).encode()
