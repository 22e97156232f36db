"""Unit tests for pausegate.config (SPEC §7): precedence and every error path naming the key."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from pausegate.config import (
    KNOWN_KEYS,
    Config,
    ControlLoss,
    DtmfInband,
    LogFormat,
    MqttUrl,
    config_summary,
    load_config,
    parse_mqtt_url,
)
from pausegate.control.commands import Behaviour
from pausegate.errors import ConfigError

REC = {"sip.recorder": "sip:rec@127.0.0.1:5070"}


def load(**kw: object) -> Config:
    kw.setdefault("env", {})
    return load_config(**kw)  # type: ignore[arg-type]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pausegate.toml"
    path.write_text(text)
    return path


def test_defaults_match_spec_table() -> None:
    cfg = load(require_recorder=False)
    assert cfg.instance_id == socket.gethostname()
    assert cfg.sip.listen == ("0.0.0.0", 5060)
    assert cfg.sip.advertise == "0.0.0.0"
    assert cfg.sip.recorder is None
    assert cfg.sip.max_calls == 5000
    assert cfg.sip.drain_timeout_s == 300
    assert cfg.rtp.ports == (40000, 59999)
    assert cfg.rtp.holdback_ms == 200
    assert cfg.rtp.inactivity_timeout_s == 60
    assert cfg.rtp.latch is False
    assert cfg.rtp.port_quarantine_s == 30
    assert cfg.gate.behaviour is Behaviour.SILENCE
    assert cfg.gate.guard_ms == 0
    assert cfg.gate.max_backdate_ms == 2000
    assert cfg.gate.dtmf_inband is DtmfInband.OFF
    assert cfg.gate.on_control_loss is ControlLoss.KEEP
    assert cfg.gate.control_loss_grace_ms == 5000
    assert cfg.gate.pending_command_ttl_s == 30
    assert cfg.mqtt.url == "mqtt://127.0.0.1:1883"
    assert cfg.mqtt.protocol == 5
    assert cfg.mqtt.topic_prefix == "pausegate"
    assert cfg.http.listen == ("127.0.0.1", 9090)
    assert cfg.http.token is None
    assert cfg.log.format is LogFormat.TEXT
    assert cfg.log.audit_log is None


def test_recorder_required_unless_waived() -> None:
    with pytest.raises(ConfigError, match=r"^sip\.recorder: required"):
        load()
    assert load(overrides=REC).sip.recorder == "sip:rec@127.0.0.1:5070"


def test_precedence_defaults_file_env_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
instance_id = "from-file"
[sip]
listen = "10.0.0.1:5080"
recorder = "sip:rec@10.0.0.9"
[rtp]
holdback_ms = 300
ports = "30000-30999"
[gate]
behaviour = "drop"
""",
    )
    env = {"PAUSEGATE_RTP_HOLDBACK_MS": "400", "PAUSEGATE_INSTANCE_ID": "from-env"}
    cfg = load(path=path, env=env, overrides={"instance_id": "from-cli"})
    assert cfg.instance_id == "from-cli"
    assert cfg.rtp.holdback_ms == 400
    assert cfg.rtp.ports == (30000, 30999)
    assert cfg.sip.listen == ("10.0.0.1", 5080)
    assert cfg.sip.advertise == "10.0.0.1"  # defaults to the listen host
    assert cfg.gate.behaviour is Behaviour.DROP
    cfg = load(path=path, env=env, overrides={"rtp.holdback_ms": "500"})
    assert cfg.instance_id == "from-env"
    assert cfg.rtp.holdback_ms == 500


def test_env_keys_with_underscores_and_cli_style_overrides() -> None:
    env = {
        "PAUSEGATE_SIP_AGENT_AOR_PATTERN": r"^agent-\d+$",
        "PAUSEGATE_GATE_ON_CONTROL_LOSS": "pause",
        "PAUSEGATE_RTP_LATCH": "yes",
        "PAUSEGATE_CONFIG": "/ignored.toml",
        "HOME": "/root",
    }
    overrides = {
        "sip.listen": "[::1]:5062",
        "rtp.ports": "40000-40099",
        "sip.recorder": "sips:srs.example.com:5061;transport=tls",
        "mqtt.url": "mqtts://user:p%40ss@broker:8884",
        "http.listen": "0.0.0.0:0",
        "mqtt.protocol": "3",
        "log.format": "JSON",
        "http.token": "s3cret-token",
        "sip.advertise": "203.0.113.7",
    }
    cfg = load(env=env, overrides=overrides)
    assert cfg.sip.agent_aor_pattern == r"^agent-\d+$"
    assert cfg.gate.on_control_loss is ControlLoss.PAUSE
    assert cfg.rtp.latch is True
    assert cfg.sip.listen == ("::1", 5062)
    assert cfg.sip.advertise == "203.0.113.7"
    assert cfg.mqtt.protocol == 3
    assert cfg.mqtt.broker == MqttUrl("broker", 8884, True, "user", "p@ss")
    assert cfg.http.listen == ("0.0.0.0", 0)
    assert cfg.log.format is LogFormat.JSON
    assert "s3cret" not in repr(cfg)
    assert "p%40ss" not in repr(cfg)
    summary = config_summary(cfg)
    assert summary["http.token"] == "<secret>"
    assert summary["mqtt.url"] == "mqtts://user:***@broker:8884"
    assert set(summary) == set(KNOWN_KEYS)


def test_toml_native_types(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[rtp]
ports = [20000, 20999]
latch = true
inactivity_timeout_s = 2.5
[mqtt]
protocol = 3
""",
    )
    cfg = load(path=path, require_recorder=False)
    assert cfg.rtp.ports == (20000, 20999)
    assert cfg.rtp.latch is True
    assert cfg.rtp.inactivity_timeout_s == 2.5
    assert cfg.mqtt.protocol == 3


BAD_VALUES = [
    ("sip.listen", "nohost", r"HOST:PORT"),
    ("sip.listen", "host:70000", r"HOST:PORT"),
    ("http.listen", "1.2.3.4", r"HOST:PORT"),
    ("sip.advertise", "a b", r"host name"),
    ("sip.recorder", "http://x", r"SIP URI"),
    ("sip.agent_header", "X Agent", r"header name"),
    ("sip.agent_aor_pattern", "(unclosed", r"regular expression"),
    ("sip.max_calls", "0", r"integer >= 1"),
    ("sip.max_calls", "many", r"an integer"),
    ("sip.drain_timeout_s", "-1", r"seconds"),
    ("rtp.ports", "40001-50000", r"even LOW < HIGH within 1024-65535"),
    ("rtp.ports", "50000-40000", r"even LOW < HIGH"),
    ("rtp.ports", "80-1000", r"within 1024-65535"),
    ("rtp.ports", "lots", r"LOW-HIGH"),
    ("rtp.holdback_ms", "0", r"integer within 1-10000"),
    ("rtp.holdback_ms", "1.5", r"an integer"),
    ("rtp.inactivity_timeout_s", "0", r"positive number"),
    ("rtp.inactivity_timeout_s", "nan", r"finite"),
    ("rtp.latch", "maybe", r"true or false"),
    ("gate.behaviour", "mute", r"silence\|drop\|skip\|signal"),
    ("gate.guard_ms", "-5", r"integer within 0-60000"),
    ("gate.dtmf_inband", "detect", r"off\|mask"),
    ("gate.on_control_loss", "panic", r"keep\|pause"),
    ("gate.pending_command_ttl_s", "x", r"seconds"),
    ("mqtt.url", "http://broker", r"scheme must be mqtt or mqtts"),
    ("mqtt.url", "mqtt://:1883", r"mqtt\[s\]://"),
    ("mqtt.url", "mqtt://b:99999", r"mqtt\[s\]://"),
    ("mqtt.protocol", "4", r"5 or 3"),
    ("mqtt.topic_prefix", "a/+/b", r"topic levels"),
    ("mqtt.topic_prefix", "a//b", r"empty levels"),
    ("mqtt.tls_ca", "/does/not/exist.pem", r"readable file"),
    ("http.token", "short", r"at least 8"),
    ("log.format", "xml", r"text\|json"),
    ("instance_id", "a/b", r"printable characters"),
]


@pytest.mark.parametrize(("key", "value", "expected"), BAD_VALUES)
def test_bad_values_name_the_key_and_expectation(key: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(overrides={**REC, key: value})
    message = str(info.value)
    assert message.startswith(f"{key}: "), message
    assert re.search(expected, message), message
    assert "command line" in message


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(
        ConfigError, match=r"^rtp\.holdback_ms: .*environment PAUSEGATE_RTP_HOLDBACK_MS"
    ):
        load(env={"PAUSEGATE_RTP_HOLDBACK_MS": "soon"}, overrides=REC)


def test_unknown_keys_everywhere(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^rtp\.holdback: unknown key \(from command line\)"):
        load(overrides={"rtp.holdback": "1"})
    with pytest.raises(ConfigError, match=r"^PAUSEGATE_RPT_HOLDBACK_MS: unknown"):
        load(env={"PAUSEGATE_RPT_HOLDBACK_MS": "1"})
    with pytest.raises(ConfigError, match=r"^gate\.colour: unknown key"):
        load(path=write(tmp_path, "[gate]\ncolour = 'red'\n"))
    with pytest.raises(ConfigError, match=r"^video: unknown key"):
        load(path=write(tmp_path, "[video]\nx = 1\n"))
    with pytest.raises(ConfigError, match=r"^sip: expected a \[sip\] table"):
        load(path=write(tmp_path, "sip = 'x'\n"))


def test_bad_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read"):
        load(path=tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r"invalid TOML"):
        load(path=write(tmp_path, "[sip\n"))
    with pytest.raises(
        ConfigError, match=r"^rtp\.holdback_ms: expected an integer.*pausegate\.toml"
    ):
        load(path=write(tmp_path, "[rtp]\nholdback_ms = true\n"))


def test_secrets_never_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        load(overrides={**REC, "http.token": "bad token with spaces"})
    assert "spaces" not in str(info.value).split("expected", 1)[0]
    assert "bad token" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        load(overrides={**REC, "mqtt.url": "ftp://user:hunter2@broker"})
    assert "hunter2" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        load(overrides={**REC, "mqtt.url": "mqtt://user:hunter2@broker:port"})
    assert "hunter2" not in str(info.value)


def test_tls_combinations(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    with pytest.raises(ConfigError, match=r"^mqtt\.tls_ca: set, but mqtt\.url is not mqtts://"):
        load(overrides={**REC, "mqtt.tls_ca": str(ca)})
    with pytest.raises(ConfigError, match=r"^mqtt\.tls_key: set without mqtt\.tls_cert"):
        load(overrides={**REC, "mqtt.url": "mqtts://b", "mqtt.tls_key": str(ca)})
    cfg = load(overrides={**REC, "mqtt.url": "mqtts://b", "mqtt.tls_ca": str(ca)})
    assert cfg.mqtt.tls_ca == ca
    assert cfg.mqtt.broker.port == 8883


def test_parse_mqtt_url() -> None:
    assert parse_mqtt_url("mqtt://127.0.0.1") == MqttUrl("127.0.0.1", 1883, False)
    assert parse_mqtt_url("mqtt://[::1]:1884/") == MqttUrl("::1", 1884, False)
    url = parse_mqtt_url("mqtts://u@h")
    assert (url.username, url.password, url.tls) == ("u", None, True)
    assert parse_mqtt_url("mqtts://u:pw@h:1").redacted() == "mqtts://u:***@h:1"
    for bad in ("mqtt://h/path", "mqtt://h?x=1", "tcp://h", "mqtt://"):
        with pytest.raises(ConfigError, match=r"^mqtt\.url: "):
            parse_mqtt_url(bad)
