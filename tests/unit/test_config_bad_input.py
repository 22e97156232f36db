"""Unit tests: config values that would only fail at the first command stop start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from pausegate.config import load_config
from pausegate.errors import ConfigError

REC = {"sip.recorder": "sip:rec@127.0.0.1:5070"}


def test_audit_log_in_a_missing_directory_names_the_key(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "audit.jsonl"
    with pytest.raises(ConfigError, match=r"^log\.audit_log: .*appended to"):
        load_config(env={}, overrides={**REC, "log.audit_log": str(missing)})


def test_audit_log_that_is_a_directory_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^log\.audit_log: "):
        load_config(env={}, overrides={**REC, "log.audit_log": str(tmp_path)})


def test_audit_log_new_or_existing_file_is_accepted(tmp_path: Path) -> None:
    new = tmp_path / "audit.jsonl"
    cfg = load_config(env={}, overrides={**REC, "log.audit_log": str(new)})
    assert cfg.log.audit_log == new
    new.write_text("")
    cfg = load_config(env={}, overrides={**REC, "log.audit_log": str(new)})
    assert cfg.log.audit_log == new
