"""Logging setup: text or JSON lines with structured extras (SPEC §6 "Logs"). Operations layer.

Rules:
1. Structured fields travel in ``extra=`` (``log.info("call paused", extra={"call_id": c})``);
   only names in ``STRUCTURED_FIELDS`` are emitted, so an accidental ``extra`` can
   not leak a payload.
2. Never log audio payloads, DTMF digits, card data or credentials: messages name
   the thing and the defect (STYLE §5).
3. JSON lines: ``{"ts", "level", "logger", "msg", ...fields, "exc"}``, one per line,
   ``ts`` in ISO 8601 UTC with milliseconds.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Literal

STRUCTURED_FIELDS = (
    "call_id",
    "agent",
    "keys",
    "state",
    "event",
    "scope",
    "action",
    "cmd_id",
    "source",
    "reason",
    "error",
    "counts",
    "stream",
    "method",
    "status",
    "peer",
    "port",
    "duration_s",
    "delay_s",
    "attempt",
    "instance_id",
)


def _fields(record: logging.LogRecord) -> dict[str, object]:
    return {name: record.__dict__[name] for name in STRUCTURED_FIELDS if name in record.__dict__}


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, tz=UTC)
        obj: dict[str, object] = {
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            obj["exc"] = self.formatException(record.exc_info)
        return json.dumps(obj, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        if fields:
            line += " " + " ".join(
                f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in fields.items()
            )
        return line


def setup_logging(
    format: Literal["text", "json"] | str = "text",
    level: int | str = logging.INFO,
    *,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Configure the root logger once (idempotent: replaces the handler it installed before)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name("pausegate")
    match str(format):
        case "json":
            handler.setFormatter(JsonFormatter())
        case "text":
            handler.setFormatter(TextFormatter())
        case other:
            raise ValueError(f"log format must be text or json, not {other!r}")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "pausegate":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for noisy in ("aiohttp.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
