"""Configuration loading and validation (SPEC §7): defaults < TOML < environment < overrides.

Rules:
1. ``Config`` is a frozen dataclass tree whose attribute paths are SPEC §7's keys
   (``cfg.rtp.holdback_ms``); values are already typed and validated.
2. Every key is parsed by one converter that accepts a TOML value or a string
   (environment variables and ``--set`` overrides are strings).
3. Unknown keys and bad values raise ``ConfigError`` naming the key, what was
   expected and where the value came from; secrets (``http.token``, the password
   in ``mqtt.url``) are never echoed.
4. Environment: ``PAUSEGATE_<SECTION>_<KEY>`` (``PAUSEGATE_INSTANCE_ID`` for the
   top-level key); any other ``PAUSEGATE_*`` variable is an unknown key, except
   the names in ``ENV_IGNORED`` (reserved for the command line).
"""

from __future__ import annotations

import enum
import os
import re
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from pausegate.control.commands import Behaviour
from pausegate.errors import ConfigError

Address = tuple[str, int]

ENV_PREFIX = "PAUSEGATE_"
ENV_IGNORED = frozenset({"PAUSEGATE_CONFIG"})
DEFAULT_SIP_LISTEN: Address = ("0.0.0.0", 5060)
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"


class DtmfInband(enum.StrEnum):
    OFF = "off"
    MASK = "mask"


class RecorderDirection(enum.StrEnum):
    """The direction pausegate offers the recorder (SPEC §2 says sendonly; sendrecv is an
    interoperability knob for recorders that record nothing on a sendonly offer)."""

    SENDONLY = "sendonly"
    SENDRECV = "sendrecv"


class ControlLoss(enum.StrEnum):
    KEEP = "keep"
    PAUSE = "pause"


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


class LogLevel(enum.StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class MqttUrl:
    """A parsed ``mqtt[s]://[user:pass@]host[:port]`` broker address."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def redacted(self) -> str:
        """The URL with the password replaced, safe for logs."""
        scheme = "mqtts" if self.tls else "mqtt"
        auth = ""
        if self.username is not None:
            auth = self.username + (":***" if self.password is not None else "") + "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{auth}{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class SipSection:
    listen: Address = DEFAULT_SIP_LISTEN
    advertise: str = "0.0.0.0"  # defaults to the listen host
    recorder: str | None = None
    agent_header: str | None = None
    key_header: str | None = None
    agent_aor_pattern: str | None = None  # validated to compile with re
    max_calls: int = 5000
    drain_timeout_s: float = 300.0
    recorder_direction: RecorderDirection = RecorderDirection.SENDONLY


@dataclass(frozen=True, slots=True)
class RtpSection:
    ports: tuple[int, int] = (40000, 59999)  # inclusive
    holdback_ms: int = 200
    inactivity_timeout_s: float = 60.0
    latch: bool = False
    port_quarantine_s: float = 30.0


@dataclass(frozen=True, slots=True)
class GateSection:
    behaviour: Behaviour = Behaviour.SILENCE
    guard_ms: int = 0
    max_backdate_ms: int = 2000
    dtmf_inband: DtmfInband = DtmfInband.OFF
    on_control_loss: ControlLoss = ControlLoss.KEEP
    control_loss_grace_ms: int = 5000
    pending_command_ttl_s: float = 30.0


@dataclass(frozen=True, slots=True)
class MqttSection:
    url: str = field(default=DEFAULT_MQTT_URL, repr=False)
    protocol: int = 5
    topic_prefix: str = "pausegate"
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @property
    def broker(self) -> MqttUrl:
        return parse_mqtt_url(self.url)


@dataclass(frozen=True, slots=True)
class HttpSection:
    listen: Address = ("127.0.0.1", 9090)
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class LogSection:
    format: LogFormat = LogFormat.TEXT
    level: LogLevel = LogLevel.INFO
    audit_log: Path | None = None


@dataclass(frozen=True, slots=True)
class Config:
    instance_id: str
    sip: SipSection = SipSection()
    rtp: RtpSection = RtpSection()
    gate: GateSection = GateSection()
    mqtt: MqttSection = MqttSection()
    http: HttpSection = HttpSection()
    log: LogSection = LogSection()


_E = TypeVar("_E", bound=enum.StrEnum)


class _Bad(ValueError):
    """A converter's complaint: what was expected (the caller adds key and source)."""


# --- converters: TOML value or string -> typed value, raising _Bad ---------------

_HEADER_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")


def _as_str(raw: object) -> str:
    if not isinstance(raw, str):
        raise _Bad("a string")
    return raw


def _optional_str(raw: object) -> str | None:
    value = _as_str(raw).strip()
    return value or None


def _host_port(raw: object, *, what: str = "HOST:PORT with PORT 0-65535") -> Address:
    text = _as_str(raw).strip()
    m = re.fullmatch(r"\[([0-9A-Fa-f:.%a-zA-Z]+)\]:(\d{1,5})|([^\s:\[\]/]+):(\d{1,5})", text)
    if m is None:
        raise _Bad(what)
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    if port > 65535:
        raise _Bad(what)
    return (host, port)


def _host(raw: object) -> str:
    text = _as_str(raw).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text or re.search(r"[\s/\[\]]", text):
        raise _Bad("a host name or IP address")
    return text


def _int(raw: object, *, minimum: int, maximum: int | None = None) -> int:
    if isinstance(raw, bool):
        raise _Bad("an integer")
    if isinstance(raw, str):
        if not re.fullmatch(r"[+-]?\d+", raw.strip()):
            raise _Bad("an integer")
        raw = int(raw.strip())
    if not isinstance(raw, int):
        raise _Bad("an integer")
    if raw < minimum or (maximum is not None and raw > maximum):
        bound = f">= {minimum}" if maximum is None else f"within {minimum}-{maximum}"
        raise _Bad(f"an integer {bound}")
    return raw


def _seconds(raw: object, *, positive: bool = True) -> float:
    value: float
    if isinstance(raw, bool):
        raise _Bad("a number of seconds")
    if isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise _Bad("a number of seconds") from None
    elif isinstance(raw, int | float):
        value = float(raw)
    else:
        raise _Bad("a number of seconds")
    if value != value or value in (float("inf"), float("-inf")):
        raise _Bad("a finite number of seconds")
    if value < 0 or (positive and value == 0):
        raise _Bad("a positive number of seconds" if positive else "a number of seconds >= 0")
    return value


def _bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in ("true", "1", "yes", "on"):
            return True
        if word in ("false", "0", "no", "off"):
            return False
    raise _Bad("true or false")


def _port_range(raw: object) -> tuple[int, int]:
    what = "LOW-HIGH with even LOW < HIGH within 1024-65535"
    if isinstance(raw, list) and len(raw) == 2 and all(type(v) is int for v in raw):
        low, high = raw
    else:
        m = re.fullmatch(r"\s*(\d{1,5})\s*-\s*(\d{1,5})\s*", raw if isinstance(raw, str) else "")
        if m is None:
            raise _Bad(what)
        low, high = int(m.group(1)), int(m.group(2))
    if not (1024 <= low < high <= 65535) or low % 2:
        raise _Bad(what)
    return (low, high)


def _enum(cls: type[_E]) -> Callable[[object], _E]:
    def convert(raw: object) -> _E:
        try:
            return cls(_as_str(raw).strip().lower())
        except (ValueError, _Bad):
            raise _Bad("one of " + "|".join(m.value for m in cls)) from None

    return convert


def _protocol(raw: object) -> int:
    text = str(raw).strip() if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
    if text in ("5", "3", "3.1.1", "311"):
        return 5 if text == "5" else 3
    raise _Bad("5 or 3 (3.1.1)")


def _mqtt_url(raw: object) -> str:
    text = _as_str(raw).strip()
    parse_mqtt_url(text)  # raises ConfigError without the password
    return text


def _recorder(raw: object) -> str | None:
    text = _optional_str(raw)
    if text is not None and not re.fullmatch(
        r"sips?:([^@\s]+@)?[^@\s;?:]+(:\d{1,5})?([;?]\S*)?", text
    ):
        raise _Bad("a SIP URI like sip:recorder@10.0.0.5:5060")
    return text


def _header(raw: object) -> str | None:
    text = _optional_str(raw)
    if text is not None and not _HEADER_TOKEN.fullmatch(text):
        raise _Bad("a SIP header name like X-Agent-ID")
    return text


def _regex(raw: object) -> str | None:
    text = _optional_str(raw)
    if text is not None:
        try:
            re.compile(text)
        except re.error as exc:
            raise _Bad(f"a regular expression that compiles ({exc.msg})") from None
    return text


def _prefix(raw: object) -> str:
    text = _as_str(raw).strip()
    if (
        not text
        or any(c in text for c in "+#\0")
        or any(level == "" for level in text.split("/"))
        or any(ord(c) < 0x20 for c in text)
    ):
        raise _Bad("topic levels separated by '/', without '+', '#' or empty levels")
    return text


def _path(raw: object) -> Path | None:
    text = _optional_str(raw)
    return None if text is None else Path(text).expanduser()


def _file(raw: object) -> Path | None:
    path = _path(raw)
    if path is not None and not path.is_file():
        raise _Bad("the path of a readable file")
    return path


def _appendable(raw: object) -> Path | None:
    """A file to append to: its directory must exist and be writable, and the file,
    if it exists, must be a writable regular file (else the first command would fail)."""
    path = _path(raw)
    if path is None:
        return None
    if path.exists():
        ok = path.is_file() and os.access(path, os.W_OK)
    else:
        parent = path.parent
        ok = parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)
    if not ok:
        raise _Bad("the path of a file that can be appended to (its directory must exist)")
    return path


def _instance_id(raw: object) -> str:
    text = _as_str(raw).strip()
    if not text or len(text) > 128 or any(ord(c) < 0x21 or c in "+#/" for c in text):
        raise _Bad("1-128 printable characters without spaces, '/', '+' or '#'")
    return text


def _token(raw: object) -> str | None:
    text = _optional_str(raw)
    if text is not None and (len(text) < 8 or any(ord(c) < 0x21 or ord(c) > 0x7E for c in text)):
        raise _Bad("at least 8 printable ASCII characters without spaces")
    return text


_KEYS: dict[str, Callable[[object], Any]] = {
    "instance_id": _instance_id,
    "sip.listen": _host_port,
    "sip.advertise": _host,
    "sip.recorder": _recorder,
    "sip.agent_header": _header,
    "sip.key_header": _header,
    "sip.agent_aor_pattern": _regex,
    "sip.max_calls": lambda raw: _int(raw, minimum=1),
    "sip.drain_timeout_s": lambda raw: _seconds(raw, positive=False),
    "sip.recorder_direction": _enum(RecorderDirection),
    "rtp.ports": _port_range,
    "rtp.holdback_ms": lambda raw: _int(raw, minimum=1, maximum=10_000),
    "rtp.inactivity_timeout_s": _seconds,
    "rtp.latch": _bool,
    "rtp.port_quarantine_s": lambda raw: _seconds(raw, positive=False),
    "gate.behaviour": _enum(Behaviour),
    "gate.guard_ms": lambda raw: _int(raw, minimum=0, maximum=60_000),
    "gate.max_backdate_ms": lambda raw: _int(raw, minimum=0, maximum=3_600_000),
    "gate.dtmf_inband": _enum(DtmfInband),
    "gate.on_control_loss": _enum(ControlLoss),
    "gate.control_loss_grace_ms": lambda raw: _int(raw, minimum=0),
    "gate.pending_command_ttl_s": _seconds,
    "mqtt.url": _mqtt_url,
    "mqtt.protocol": _protocol,
    "mqtt.topic_prefix": _prefix,
    "mqtt.tls_ca": _file,
    "mqtt.tls_cert": _file,
    "mqtt.tls_key": _file,
    "http.listen": _host_port,
    "http.token": _token,
    "log.format": _enum(LogFormat),
    "log.level": _enum(LogLevel),
    "log.audit_log": _appendable,
}
_SECTIONS = {key.split(".")[0] for key in _KEYS if "." in key}

KNOWN_KEYS: tuple[str, ...] = tuple(_KEYS)


def parse_mqtt_url(url: str) -> MqttUrl:
    """Parse ``mqtt[s]://[user[:pass]@]host[:port]``; ConfigError never shows the password."""
    what = "mqtt.url: expected mqtt[s]://[user:pass@]HOST[:PORT]"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise ConfigError(f"{what} (the value does not parse as a URL)") from None
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ConfigError(f"{what}; scheme must be mqtt or mqtts, got {parts.scheme!r}")
    if not host or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{what} without path, query or fragment")
    tls = parts.scheme == "mqtts"
    return MqttUrl(
        host=host,
        port=port if port is not None else (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def _shown(key: str, raw: object) -> str:
    if key == "http.token":
        return "<secret>"
    if key == "mqtt.url":
        text = raw if isinstance(raw, str) else ""
        return repr(re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", text))
    return repr(raw)


def _convert(key: str, raw: object, source: str) -> Any:
    try:
        return _KEYS[key](raw)
    except _Bad as bad:
        raise ConfigError(
            f"{key}: expected {bad}, got {_shown(key, raw)} (from {source})"
        ) from None
    except ConfigError as exc:
        raise ConfigError(f"{exc} (from {source})") from None


def _from_toml(path: Path) -> dict[str, tuple[object, str]]:
    try:
        with path.open("rb") as f:
            doc = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: invalid TOML ({exc})") from None
    found: dict[str, tuple[object, str]] = {}
    for name, value in doc.items():
        if name in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{name}: expected a [{name}] table (from {path})")
            for sub, sub_value in value.items():
                key = f"{name}.{sub}"
                if key not in _KEYS:
                    raise ConfigError(f"{key}: unknown key (from {path})")
                found[key] = (sub_value, str(path))
        elif name in _KEYS:
            found[name] = (value, str(path))
        else:
            raise ConfigError(f"{name}: unknown key (from {path})")
    return found


def _env_key(var: str) -> str | None:
    rest = var[len(ENV_PREFIX) :].lower()
    if rest in _KEYS:
        return rest
    section, _, key = rest.partition("_")
    dotted = f"{section}.{key}"
    return dotted if dotted in _KEYS else None


def load_config(
    path: Path | str | None = None,
    overrides: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    require_recorder: bool = True,
) -> Config:
    """Build the effective Config: defaults < TOML file < environment < overrides.

    ``overrides`` maps dotted keys (``rtp.holdback_ms``) to strings, as the CLI's
    flags and ``--set KEY=VALUE`` give them. ``env`` defaults to ``os.environ``.
    ``require_recorder=False`` lets `pausegate ctl`/`demo` load without sip.recorder.
    Raises ConfigError naming the key for anything unknown or invalid.
    """
    raw: dict[str, tuple[object, str]] = {}
    if path is not None:
        raw.update(_from_toml(Path(path)))
    for var, value in (os.environ if env is None else env).items():
        if not var.startswith(ENV_PREFIX) or var in ENV_IGNORED:
            continue
        key = _env_key(var)
        if key is None:
            raise ConfigError(f"{var}: unknown configuration variable (from environment)")
        raw[key] = (value, f"environment {var}")
    for key, value in (overrides or {}).items():
        if key not in _KEYS:
            raise ConfigError(f"{key}: unknown key (from command line)")
        raw[key] = (value, "command line")

    values: dict[str, Any] = {key: _convert(key, v, src) for key, (v, src) in raw.items()}
    if "instance_id" not in values:
        values["instance_id"] = _instance_id(socket.gethostname() or "pausegate")
    if "sip.advertise" not in values:
        values["sip.advertise"] = values.get("sip.listen", DEFAULT_SIP_LISTEN)[0]
    _check_combinations(values, require_recorder)

    sections: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    for key, value in values.items():
        if "." in key:
            section, sub = key.split(".", 1)
            sections[section][sub] = value
    return Config(
        instance_id=values["instance_id"],
        sip=SipSection(**sections["sip"]),
        rtp=RtpSection(**sections["rtp"]),
        gate=GateSection(**sections["gate"]),
        mqtt=MqttSection(**sections["mqtt"]),
        http=HttpSection(**sections["http"]),
        log=LogSection(**sections["log"]),
    )


def _check_combinations(values: Mapping[str, Any], require_recorder: bool) -> None:
    if require_recorder and values.get("sip.recorder") is None:
        raise ConfigError("sip.recorder: required (the recorder's SIP URI), not set")
    tls = parse_mqtt_url(values.get("mqtt.url", DEFAULT_MQTT_URL)).tls
    for key in ("mqtt.tls_ca", "mqtt.tls_cert", "mqtt.tls_key"):
        if values.get(key) is not None and not tls:
            raise ConfigError(f"{key}: set, but mqtt.url is not mqtts://")
    if values.get("mqtt.tls_key") is not None and values.get("mqtt.tls_cert") is None:
        raise ConfigError("mqtt.tls_key: set without mqtt.tls_cert")


def config_summary(cfg: Config) -> dict[str, object]:
    """Every key's effective value as plain data, secrets redacted (for logs and `--check`)."""
    out: dict[str, object] = {}
    for key in _KEYS:
        if "." in key:
            section, sub = key.split(".", 1)
            value: object = getattr(getattr(cfg, section), sub)
        else:
            value = getattr(cfg, key)
        if key == "http.token" and value is not None:
            value = "<secret>"
        elif key == "mqtt.url":
            value = cfg.mqtt.broker.redacted()
        elif isinstance(value, Path | enum.StrEnum):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out
