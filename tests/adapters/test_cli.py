"""The CLI as a user runs it: `pausegate serve` on real sockets, readiness, SIGTERM; `ctl`."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from tests.fixtures.mosquitto import Mosquitto

from pausegate.cli import build_parser, main
from pausegate.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_deploy_example_config_loads() -> None:
    cfg = load_config(ROOT / "deploy" / "pausegate.toml", {}, {})
    assert cfg.sip.recorder == "sip:srs@recorder.example.net:5060"
    assert cfg.rtp.ports == (40000, 59999)


def test_bad_config_exits_2_naming_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--recorder", "sip:r@127.0.0.1", "--set", "rtp.holdback_ms=soon"])
    assert code == 2
    assert "rtp.holdback_ms" in capsys.readouterr().err


def test_set_without_equals_is_a_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--set", "gate.behaviour"]) == 2
    assert "--set expects KEY=VALUE" in capsys.readouterr().err


def test_parser_knows_every_subcommand() -> None:
    parser = build_parser()
    for argv in (
        ["serve"],
        ["recorder"],
        ["ctl", "pause", "--call", "c1"],
        ["demo"],
        ["audit", "verify", "f"],
    ):
        assert parser.parse_args(argv).func is not None


@pytest.mark.mosquitto
def test_serve_ready_then_sigterm_stops_cleanly(mosquitto: Mosquitto, tmp_path: Path) -> None:
    sip, http = _free_port(), _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pausegate.cli",
            "serve",
            "--sip",
            f"127.0.0.1:{sip}",
            "--http",
            f"127.0.0.1:{http}",
            "--rtp-ports",
            "32000-32099",
            "--recorder",
            "sip:rec@127.0.0.1:9",
            "--mqtt",
            mosquitto.url,
            "--instance-id",
            "cli-test",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        status = 0
        while time.monotonic() < deadline:
            try:
                status, _ = _get(f"http://127.0.0.1:{http}/readyz")
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(0.1)
        assert status == 200, "pausegate never became ready"
        code, text = _get(f"http://127.0.0.1:{http}/metrics")
        assert code == 200
        assert "pausegate_calls_active 0.0" in text
        assert "pausegate_mqtt_connected 1.0" in text
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0, out.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.mosquitto
def test_ctl_publishes_and_gets_reply(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """`pausegate ctl` against a real broker with no pausegate: MQTT 3.1.1 returns after PUBACK."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pausegate.cli",
            "ctl",
            "pause",
            "--call",
            "abc@host",
            "--mqtt",
            mosquitto.url,
            "--protocol",
            "3",
            "--id",
            "x1",
        ],
        cwd=tmp_path,
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    assert "published" in out.stdout.decode()


def test_wildcard_listen_without_advertise_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--sip", "0.0.0.0:5060", "--recorder", "sip:r@127.0.0.1"])
    assert code == 2
    assert "sip.advertise" in capsys.readouterr().err


def test_ctl_without_a_broker_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    port = _free_port()  # nothing listens there
    code = main(["ctl", "pause", "--call", "c1", "--mqtt", f"mqtt://127.0.0.1:{port}"])
    assert code == 2
    assert "cannot reach the broker" in capsys.readouterr().err


@pytest.mark.mosquitto
def test_ctl_mqtt5_without_pausegate_times_out_clearly(
    mosquitto: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["ctl", "resume", "--call", "c1", "--mqtt", mosquitto.url, "--wait", "0.5"])
    assert code == 1
    assert "no reply within 0.5 s" in capsys.readouterr().err


def test_audit_verify_of_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", str(tmp_path / "none.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
