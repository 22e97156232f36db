"""Unit tests: parse_command rejects hostile payloads with CommandError only (SPEC §5)."""

from __future__ import annotations

import pytest

from pausegate.control.commands import Action, parse_command
from pausegate.errors import CommandError


@pytest.mark.parametrize(
    "payload",
    [
        b'{"action":"pause","at":' + b"9" * 400 + b"}",  # int too large for a float
        b'{"action":"pause","at":-' + b"9" * 400 + b"}",
        b'{"action":"pause","at":NaN}',
        b'{"action":"pause","at":Infinity}',
        b'{"action":"pause","at":-Infinity}',
        b'{"action":"pause","at":1e400}',
        b'{"action":"pause","at":-1}',
        b'{"action":"pause","at":true}',
        b'{"action":"pause","at":"1"}',
        b'{"action":"pause","at":' + b"9" * 5000 + b"}",  # over int_max_str_digits
        b'{"action":"pause","x":' + b"[" * 2000 + b"]" * 2000 + b"}",
        b"[" * 100_000,
        b"\xff\xfe",
        b"NaN",
    ],
)
def test_hostile_payload_raises_command_error_only(payload: bytes) -> None:
    with pytest.raises(CommandError):
        parse_command(payload)


def test_large_but_finite_at_is_accepted() -> None:
    cmd = parse_command(b'{"action":"resume","at":' + b"9" * 300 + b"}")
    assert cmd.action is Action.RESUME
    assert cmd.at_ms is not None
    assert cmd.at_ms > 1e299
