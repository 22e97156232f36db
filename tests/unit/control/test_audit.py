"""Unit tests for pausegate.control.audit: the SHA-256 chain and its verification."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pausegate.control.audit import GENESIS, AuditLog, command_record, event_record, verify_chain
from pausegate.control.commands import Action, Command, Scope
from pausegate.gate.events import (
    CallIdentity,
    CallStateChanged,
    CommandOutcome,
    CommandRejected,
)


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def test_chain_links_each_line_to_the_previous(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, fsync=False)
    h1 = log.append({"kind": "x", "n": 1})
    h2 = log.append({"kind": "x", "n": 2})
    first, second = lines(path)
    assert json.loads(first)["prev"] == GENESIS
    assert h1 == hashlib.sha256(first).hexdigest()
    assert json.loads(second)["prev"] == h1
    assert h2 == hashlib.sha256(second).hexdigest()
    assert verify_chain(path) == (True, None)


def test_reopen_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    AuditLog(path, fsync=False).append({"n": 1})
    log = AuditLog(path)
    log.append({"n": 2})
    assert verify_chain(path) == (True, None)
    assert len(lines(path)) == 2


def test_tampering_is_found_at_the_next_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, fsync=False)
    for n in range(5):
        log.append({"n": n})
    raw = lines(path)
    raw[2] = raw[2].replace(b'"n":2', b'"n":9')
    path.write_bytes(b"\n".join(raw) + b"\n")
    assert verify_chain(path) == (False, 4)
    del raw[3]
    path.write_bytes(b"\n".join(raw) + b"\n")
    assert verify_chain(path) == (False, 4)


def test_garbage_and_torn_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, fsync=False)
    log.append({"n": 1})
    with path.open("ab") as f:
        f.write(b'{"prev": "torn')
    assert verify_chain(path) == (False, 2)
    AuditLog(path, fsync=False).append({"n": 2})  # closes the torn line, chains onto it
    assert verify_chain(path) == (False, 2)
    assert len(lines(path)) == 3
    path.write_bytes(b"not json\n")
    assert verify_chain(path) == (False, 1)
    path.write_bytes(b"")
    assert verify_chain(path) == (True, None)


def test_record_must_not_carry_prev(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="prev"):
        AuditLog(tmp_path / "a.jsonl").append({"prev": "x"})


def test_records() -> None:
    cmd = Command(Action.PAUSE, 1000.0, "id-1", "card", "desk")
    rec = command_record(
        channel="mqtt",
        scope=Scope.CALL,
        key="k",
        cmd=cmd,
        outcome=CommandOutcome(True, True, 1000.0, None),
        received_at_ms=1100.0,
        who={"user": "alice"},
    )
    assert rec["kind"] == "command"
    assert rec["action"] == "pause"
    assert rec["cmd_id"] == "id-1"
    assert rec["who"] == {"user": "alice"}
    assert rec["effective_at"] == 1000.0
    call = CallIdentity("c", ("c",), "a")
    change = CallStateChanged(call, True, 1.0, 2.0, None, "id", "s", "r")
    assert event_record(change) == {"kind": "event", **event_record(change)}  # type: ignore[dict-item]
    assert event_record(change)["event"] == "paused"  # type: ignore[index]
    assert event_record(CommandRejected(Scope.CALL, "k", None, "e", 1.0)) is None


def test_unencodable_text_is_escaped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog(path, fsync=False)
    log.append({"key": "bad\udcff"})
    log.append({"key": "ünï"})
    assert verify_chain(path) == (True, None)
    assert json.loads(lines(path)[0])["key"] == "bad\udcff"


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.dictionaries(st.sampled_from("abc"), st.integers() | st.text()), min_size=2),
    st.data(),
)
def test_any_edit_before_the_last_line_is_caught(
    tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, object]], data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("chain") / "a.jsonl"
    log = AuditLog(path, fsync=False)
    for record in records:
        log.append(record)
    assert verify_chain(path) == (True, None)
    raw = lines(path)
    index = data.draw(st.integers(0, len(raw) - 2))
    obj = json.loads(raw[index])
    obj["edited"] = True
    raw[index] = json.dumps(obj, separators=(",", ":")).encode()
    path.write_bytes(b"\n".join(raw) + b"\n")
    assert verify_chain(path) == (False, index + 2)


def test_a_failed_write_is_counted_and_does_not_raise(tmp_path: Path) -> None:
    """Fail open: a vanished directory must not stop the control loop."""
    sub = tmp_path / "gone"
    sub.mkdir()
    audit = AuditLog(sub / "audit.jsonl", fsync=False)
    first = audit.append({"event": "paused"})
    sub.joinpath("audit.jsonl").unlink()
    sub.rmdir()
    assert audit.append({"event": "resumed"}) == first
    assert audit.write_failures == 1
