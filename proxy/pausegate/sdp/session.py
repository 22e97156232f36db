"""SDP session descriptions: parse and write (RFC 8866, formerly RFC 4566). Core, no I/O.

Rules:
1. ``SessionDescription.parse`` accepts CRLF or bare LF line ends and skips empty
   lines; ``str()``/``bytes()`` always write CRLF lines in RFC 8866 §5 order, so
   write -> parse -> write is stable.
2. Strict on what pausegate relies on (v=, o=, s=, c=, t=, m=, a=rtpmap, a=rtcp,
   a=label, direction attributes): a defect raises ``SdpError`` naming the line
   type and the defect, never the text. Lenient on the rest: unknown line types
   and unknown attributes are kept, in order, and written back.
3. Objects are frozen; build changed copies with ``dataclasses.replace``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pausegate.calls.model import Direction
from pausegate.errors import SdpError
from pausegate.sdp.fields import (
    DIGITS,
    Connection,
    Origin,
    Rtcp,
    RtpMap,
    parse_int,
    parse_port,
    split_fields,
)

Attribute = tuple[str, str | None]  # a=name[:value]; None when the attribute has no value

MAX_SDP_BYTES = 65536
_DIRECTIONS = frozenset(d.value for d in Direction)
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_SESSION_PRE_C = ("i", "u", "e", "p")  # between s= and c= (RFC 8866 §5)
_MEDIA_PRE_C = ("i",)


def _check_attributes(attributes: Sequence[Attribute], level: str) -> None:
    """Validate the attributes pausegate relies on; raises SdpError."""
    for name, value in attributes:
        if not _TOKEN.fullmatch(name):
            raise SdpError(f"SDP {level} attribute has a bad name")
        if name in _DIRECTIONS and value is not None:
            raise SdpError(f"SDP {level} direction attribute has a value")
        if name == "rtpmap":
            RtpMap.parse(value or "")
        elif name == "rtcp":
            Rtcp.parse(value or "")
        elif name == "label" and not value:
            raise SdpError(f"SDP {level} a=label is empty")
        elif name == "fmtp" and not DIGITS.fullmatch((value or "").partition(" ")[0]):
            raise SdpError(f"SDP {level} a=fmtp has a bad payload type")


def _direction(attributes: Sequence[Attribute]) -> Direction | None:
    found = [Direction(n) for n, _ in attributes if n in _DIRECTIONS]
    return found[-1] if found else None


def _first(attributes: Iterable[Attribute], name: str) -> str | None:
    for n, v in attributes:
        if n == name:
            return "" if v is None else v
    return None


def _attribute_lines(attributes: Iterable[Attribute]) -> list[str]:
    return [f"a={n}" if v is None else f"a={n}:{v}" for n, v in attributes]


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """One m= section (RFC 8866 §5.14) with its c=, b= and a= lines."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None
    connection: Connection | None = None
    bandwidths: tuple[str, ...] = ()  # b= values, e.g. "AS:64"
    attributes: tuple[Attribute, ...] = ()
    info: tuple[tuple[str, str], ...] = ()  # i= (written before c=)
    other: tuple[tuple[str, str], ...] = ()  # k= and unknown line types (written before a=)

    def __post_init__(self) -> None:
        for name in ("formats", "bandwidths", "attributes", "info", "other"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def attribute(self, name: str) -> str | None:
        """Value of the first a=<name> ("" when it has no value), None when absent."""
        return _first(self.attributes, name)

    def attribute_values(self, name: str) -> list[str]:
        return ["" if v is None else v for n, v in self.attributes if n == name]

    def has_attribute(self, name: str) -> bool:
        return any(n == name for n, _ in self.attributes)

    def rtpmaps(self) -> dict[int, RtpMap]:
        """a=rtpmap by payload type (the first one wins on duplicates)."""
        maps: dict[int, RtpMap] = {}
        for value in self.attribute_values("rtpmap"):
            rtpmap = RtpMap.parse(value)
            maps.setdefault(rtpmap.payload_type, rtpmap)
        return maps

    def rtpmap(self, payload_type: int) -> RtpMap | None:
        return self.rtpmaps().get(payload_type)

    def fmtp(self, payload_type: int) -> str | None:
        """The parameters of a=fmtp:<pt> <params>, None when absent."""
        for value in self.attribute_values("fmtp"):
            pt_text, _, params = value.partition(" ")
            if pt_text == str(payload_type):
                return params.strip()
        return None

    @property
    def direction(self) -> Direction | None:
        """The media-level direction attribute, None when absent (see SessionDescription)."""
        return _direction(self.attributes)

    @property
    def label(self) -> str | None:
        """a=label (RFC 4574), as SIPREC names its streams."""
        return self.attribute("label")

    @property
    def rtcp(self) -> Rtcp | None:
        value = self.attribute("rtcp")
        return None if value is None else Rtcp.parse(value)

    @property
    def rtcp_mux(self) -> bool:
        return self.has_attribute("rtcp-mux")

    @property
    def crypto(self) -> list[str]:
        """a=crypto values (RFC 4568 SDES); only detected, SRTP is not implemented."""
        return self.attribute_values("crypto")

    @property
    def is_secure(self) -> bool:
        """A secure profile (SAVP, SAVPF, DTLS) or SDES keys offered."""
        return "SAVP" in self.proto.upper() or bool(self.crypto)

    def lines(self) -> list[str]:
        count = f"/{self.port_count}" if self.port_count is not None else ""
        fmts = "".join(f" {f}" for f in self.formats)
        out = [f"m={self.media} {self.port}{count} {self.proto}{fmts}"]
        out += [f"{k}={v}" for k, v in self.info]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"b={b}" for b in self.bandwidths]
        out += [f"{k}={v}" for k, v in self.other]
        out += _attribute_lines(self.attributes)
        return out

    @classmethod
    def parse_m_line(cls, value: str) -> MediaDescription:
        parts = split_fields(value)
        if len(parts) < 3:
            raise SdpError("SDP m= line has fewer than three fields")
        media, port_spec, proto, *formats = parts
        port_text, slash, count_text = port_spec.partition("/")
        port = parse_port(port_text, "m= line")
        count = parse_int(count_text, "m= port count") if slash else None
        return cls(media, port, proto, tuple(formats), count)


@dataclass(frozen=True, slots=True)
class Timing:
    """t= with its r= lines (RFC 8866 §5.9, §5.10)."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        return [f"t={self.start} {self.stop}"] + [f"r={r}" for r in self.repeats]


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A whole SDP body."""

    origin: Origin
    session_name: str = "-"
    connection: Connection | None = None
    timing: tuple[Timing, ...] = (Timing(),)
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = ()
    version: int = 0
    bandwidths: tuple[str, ...] = ()
    info: tuple[tuple[str, str], ...] = ()  # i= u= e= p= (written between s= and c=)
    other: tuple[tuple[str, str], ...] = ()  # z= k= and unknown line types (before a=)

    def __post_init__(self) -> None:
        for name in ("timing", "attributes", "media", "bandwidths", "info", "other"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def direction(self) -> Direction | None:
        """The session-level direction attribute, None when absent."""
        return _direction(self.attributes)

    def media_direction(self, media: MediaDescription) -> Direction:
        """Direction of one m-line: media level over session level, default sendrecv."""
        return media.direction or self.direction or Direction.SENDRECV

    def media_connection(self, media: MediaDescription) -> Connection | None:
        """c= of one m-line: media level over session level."""
        return media.connection or self.connection

    def attribute(self, name: str) -> str | None:
        """Value of the first session-level a=<name> ("" when it has no value), or None."""
        return _first(self.attributes, name)

    def lines(self) -> list[str]:
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        out += [f"{k}={v}" for k, v in self.info]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"b={b}" for b in self.bandwidths]
        for timing in self.timing:
            out += timing.lines()
        out += [f"{k}={v}" for k, v in self.other]
        out += _attribute_lines(self.attributes)
        for media in self.media:
            out += media.lines()
        return out

    def __str__(self) -> str:
        return "".join(f"{line}\r\n" for line in self.lines())

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8")

    @classmethod
    def parse(cls, text: str | bytes) -> SessionDescription:
        """Parse an SDP body; raises SdpError naming the defect."""
        try:
            data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
            if len(data) > MAX_SDP_BYTES:
                raise SdpError("SDP body is too large")
            return _Parser().run(data.decode("utf-8"))
        except UnicodeError:
            raise SdpError("SDP body is not UTF-8") from None


@dataclass(slots=True)
class _MediaBuilder:
    m: MediaDescription
    info: list[tuple[str, str]] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[str] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)

    def build(self) -> MediaDescription:
        _check_attributes(self.attributes, "media-level")
        m = self.m
        return MediaDescription(
            m.media, m.port, m.proto, m.formats, m.port_count, self.connection,
            tuple(self.bandwidths), tuple(self.attributes), tuple(self.info), tuple(self.other),
        )  # fmt: skip


@dataclass(slots=True)
class _Parser:
    version: int | None = None
    origin: Origin | None = None
    session_name: str | None = None
    info: list[tuple[str, str]] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[str] = field(default_factory=list)
    timing: list[Timing] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)
    media: list[_MediaBuilder] = field(default_factory=list)

    def run(self, text: str) -> SessionDescription:
        for raw in text.split("\n"):
            line = raw.removesuffix("\r")
            if not line.strip():
                continue
            if len(line) < 2 or line[1] != "=" or not line[0].isascii() or not line[0].isalpha():
                raise SdpError("SDP line is not of the form <type>=<value>")
            if "\r" in line or "\x00" in line:
                raise SdpError("SDP line contains a control character")
            self.line(line[0], line[2:])
        if self.version is None:
            raise SdpError("SDP has no v= line")
        if self.origin is None:
            raise SdpError("SDP has no o= line")
        if self.session_name is None:
            raise SdpError("SDP has no s= line")
        _check_attributes(self.attributes, "session-level")
        return SessionDescription(
            self.origin, self.session_name, self.connection,
            tuple(self.timing) or (Timing(),), tuple(self.attributes),
            tuple(m.build() for m in self.media), self.version,
            tuple(self.bandwidths), tuple(self.info), tuple(self.other),
        )  # fmt: skip

    def line(self, kind: str, value: str) -> None:
        if self.version is None:
            if kind != "v":
                raise SdpError("SDP does not start with a v= line")
            if value != "0":
                raise SdpError("SDP v= line is not 0")
            self.version = 0
            return
        if kind == "m":
            self.media.append(_MediaBuilder(MediaDescription.parse_m_line(value)))
        elif self.media:
            self.media_line(self.media[-1], kind, value)
        else:
            self.session_line(kind, value)

    def session_line(self, kind: str, value: str) -> None:
        match kind:
            case "v":
                raise SdpError("SDP has a second v= line")
            case "o":
                if self.origin is not None:
                    raise SdpError("SDP has a second o= line")
                self.origin = Origin.parse(value)
            case "s":
                if self.session_name is not None:
                    raise SdpError("SDP has a second s= line")
                self.session_name = value
            case "c":
                if self.connection is not None:
                    raise SdpError("SDP has a second session-level c= line")
                self.connection = Connection.parse(value)
            case "b":
                self.bandwidths.append(value)
            case "t":
                times = split_fields(value)
                if len(times) != 2:
                    raise SdpError("SDP t= line does not have two fields")
                start, stop = (parse_int(t, "t= time") for t in times)
                self.timing.append(Timing(start, stop))
            case "r":
                if not self.timing:
                    raise SdpError("SDP r= line without a t= line")
                last = self.timing[-1]
                self.timing[-1] = Timing(last.start, last.stop, (*last.repeats, value))
            case "a":
                self.attributes.append(_attribute(value))
            case _ if kind in _SESSION_PRE_C:
                self.info.append((kind, value))
            case _:
                self.other.append((kind, value))

    @staticmethod
    def media_line(m: _MediaBuilder, kind: str, value: str) -> None:
        match kind:
            case "c":
                if m.connection is not None:
                    raise SdpError("SDP m= section has a second c= line")
                m.connection = Connection.parse(value)
            case "b":
                m.bandwidths.append(value)
            case "a":
                m.attributes.append(_attribute(value))
            case "v" | "o" | "s" | "t" | "r":
                raise SdpError(f"SDP {kind}= line inside an m= section")
            case _ if kind in _MEDIA_PRE_C:
                m.info.append((kind, value))
            case _:
                m.other.append((kind, value))


def _attribute(value: str) -> Attribute:
    name, colon, rest = value.partition(":")
    return (name, rest if colon else None)
