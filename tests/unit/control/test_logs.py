"""Unit tests for pausegate.logs (lives here because tests/unit/control/ is this owner's)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from pausegate.logs import setup_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root")
def test_json_lines_with_structured_extras_only() -> None:
    out = io.StringIO()
    setup_logging("json", "info", stream=out)
    log = logging.getLogger("pausegate.test")
    log.info(
        "call paused",
        extra={"call_id": "c1", "agent": "a7", "state": "paused", "payload": b"\x00secret"},
    )
    log.debug("hidden")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed", extra={"counts": {"forwarded": 3}})
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["level"] == "info"
    assert first["logger"] == "pausegate.test"
    assert first["msg"] == "call paused"
    assert first["call_id"] == "c1"
    assert first["state"] == "paused"
    assert "payload" not in first
    assert first["ts"].endswith("Z")
    assert second["counts"] == {"forwarded": 3}
    assert "ValueError: boom" in second["exc"]


@pytest.mark.usefixtures("restore_root")
def test_text_format_and_idempotent_setup() -> None:
    out = io.StringIO()
    setup_logging("text", logging.DEBUG, stream=out)
    setup_logging("text", logging.DEBUG, stream=out)
    logging.getLogger("x").debug("hello", extra={"call_id": "c 1"})
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith('x: hello call_id="c 1"')
    with pytest.raises(ValueError, match="text or json"):
        setup_logging("xml")
