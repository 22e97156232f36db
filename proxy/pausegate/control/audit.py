"""Tamper-evident audit chain of commands and state changes (SPEC §5 "Audit"). Core + file.

Rules:
1. One JSON object per line (UTF-8, ``\\n``-terminated). Each line carries
   ``"prev"``: the SHA-256 (hex) of the previous line's bytes without its newline;
   the first line's ``prev`` is 64 zeros (``GENESIS``).
2. The file is only ever appended to. Reopening continues the chain from the
   last line; a torn last line (no newline) is closed with a newline and chained
   onto, so ``verify_chain`` reports it rather than hiding it.
3. Records hold who asked, command id, scope, key, times and outcome; never a
   payload, digit or credential. Callers build them with ``command_record`` and
   ``event_record``.
4. A chain proves the order and content of the lines it has; deleting lines
   from the end is only visible against an external copy of the last hash
   (``AuditLog.last_hash``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from pausegate.control.commands import Command, Scope
from pausegate.control.events import event_payload
from pausegate.gate.events import CommandOutcome, CommandRejected, GateEvent

log = logging.getLogger("pausegate.audit")

GENESIS = "0" * 64
_READ_BACK_BYTES = 1 << 16


def _sha(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _last_line(path: Path) -> tuple[bytes | None, bool]:
    """(last line without newline or None when empty, whether it was newline-terminated)."""
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size == 0:
            return None, True
        back = min(size, _READ_BACK_BYTES)
        while True:
            f.seek(size - back)
            chunk = f.read(back)
            body = chunk[:-1] if chunk.endswith(b"\n") else chunk
            cut = body.rfind(b"\n")
            if cut >= 0 or back == size:
                return body[cut + 1 :], chunk.endswith(b"\n")
            back = min(size, back * 2)


class AuditLog:
    """Append-only JSON lines, each chained to the previous one by SHA-256."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self._fsync = fsync
        self.last_hash = GENESIS
        self.write_failures = 0
        if path.exists():
            last, terminated = _last_line(path)
            if last is not None:
                self.last_hash = _sha(last)
                if not terminated:
                    with path.open("ab") as f:
                        f.write(b"\n")

    def append(self, record: Mapping[str, object]) -> str:
        """Append one record; return the SHA-256 of the written line."""
        if "prev" in record:
            raise ValueError("audit record must not carry its own 'prev'")
        obj = {"prev": self.last_hash, **record}
        try:
            line = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str).encode()
        except UnicodeEncodeError:  # a lone surrogate from a peer: keep it escaped
            line = json.dumps(obj, separators=(",", ":"), default=str).encode()
        try:
            with self.path.open("ab") as f:
                f.write(line + b"\n")
                f.flush()
                if self._fsync:
                    os.fsync(f.fileno())
        except OSError as exc:
            # Fail open: a full disk must not stop the media path or control loop;
            # the failure is counted and logged loudly (never the record's content).
            self.write_failures += 1
            log.error("audit log write failed (%s); record not written", exc.strerror)
            return self.last_hash
        self.last_hash = _sha(line)
        return self.last_hash


def verify_chain(path: Path) -> tuple[bool, int | None]:
    """Check every line's ``prev``; return (ok, 1-based number of the first bad line)."""
    prev = GENESIS
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                return False, number
            line = raw[:-1]
            try:
                obj = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                return False, number
            if not isinstance(obj, dict) or obj.get("prev") != prev:
                return False, number
            prev = _sha(line)
    return True, None


def command_record(
    *,
    channel: str,
    scope: Scope,
    key: str,
    cmd: Command | None,
    outcome: CommandOutcome,
    received_at_ms: float,
    who: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """One accepted or rejected command. ``who``: MQTT 5 user properties or the HTTP
    token's name; ``cmd.source`` is recorded as the publisher stated it."""
    return {
        "kind": "command",
        "channel": channel,
        "scope": scope.value,
        "key": key,
        "action": cmd.action.value if cmd else None,
        "cmd_id": cmd.id if cmd else None,
        "source": cmd.source if cmd else None,
        "reason": cmd.reason if cmd else None,
        "at": cmd.at_ms if cmd else None,
        "who": dict(who) if who else None,
        "received_at": received_at_ms,
        "ok": outcome.ok,
        "paused": outcome.paused,
        "effective_at": outcome.effective_at_ms,
        "error": outcome.error,
    }


def event_record(event: GateEvent) -> dict[str, object] | None:
    """A state change as an audit record (None for rejections, audited as commands)."""
    if isinstance(event, CommandRejected):
        return None
    return {"kind": "event", **event_payload(event)}
