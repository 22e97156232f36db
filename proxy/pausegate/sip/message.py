"""SIP requests and responses: parse from bytes, serialise to bytes (RFC 3261 §7, §18.3). Core.

Rules:
1. ``parse_message`` raises only ``SipParseError`` (naming the defect, never a body).
2. Header names are case-insensitive; compact forms (§7.3.3) are expanded to their
   long canonical names at parse time, so lookups and serialisation use long names.
3. Comma-separated multi-value headers (Via, Route, Record-Route, Contact, ...) are
   split by ``get_all``; ``headers`` keeps the field lines as received.
4. ``bytes(msg)`` always writes a Content-Length equal to the body length.
5. Over a stream transport Content-Length is mandatory (§18.3); over UDP a body
   longer than Content-Length is truncated and a shorter one is an error.
6. The typed accessors (From, To, CSeq, top Via) parse once per message and keep the
   result in it: a call's handling asks for them dozens of times. A parse error is not
   kept (it raises again). Plain lookups scan the few header lines (no index: messages
   kept for a call's life would carry it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TypeVar, cast

from pausegate.errors import SipParseError
from pausegate.sip.headers import (
    CSeq,
    NameAddr,
    SipUri,
    Via,
    is_token,
    split_top_level,
)
from pausegate.sip.names import MULTI_VALUE, canonical_name, reason_phrase

T = TypeVar("T")
_MISSING = object()
MAX_MESSAGE_BYTES = 65535
Header = tuple[str, str]
SIP_VERSION = "SIP/2.0"


@dataclass(frozen=True, slots=True)
class _Message:
    headers: tuple[Header, ...] = ()
    body: bytes = b""
    # Rule 6: parsed headers, filled on first use. A message is immutable
    # (``replace`` builds a new one with an empty cache), so nothing goes stale.
    _cache: dict[object, object] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    # -- generic header access -------------------------------------------------------
    def get(self, name: str) -> str | None:
        """The first field value of ``name`` (whole line, not split on commas)."""
        cname = canonical_name(name).lower()
        for k, v in self.headers:
            if k.lower() == cname:
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in order; multi-value headers split on top-level commas."""
        cname = canonical_name(name).lower()
        out: list[str] = []
        for k, v in self.headers:
            if k.lower() != cname:
                continue
            if cname in MULTI_VALUE and v.strip() != "*":
                out.extend(p.strip() for p in split_top_level(v, ",") if p.strip())
            else:
                out.append(v)
        return out

    def _parsed(self, key: str, parse: Callable[[], T]) -> T:
        got = self._cache.get(key, _MISSING)
        if got is _MISSING:
            got = self._cache[key] = parse()
        return cast(T, got)

    def has(self, name: str) -> bool:
        return self.get(name) is not None

    # -- typed accessors (valid after parse_message; local bug otherwise) ------------
    @property
    def call_id(self) -> str:
        return self._required("Call-ID")

    @property
    def cseq(self) -> CSeq:
        return self._parsed("cseq", lambda: CSeq.parse(self._required("CSeq")))

    @property
    def from_(self) -> NameAddr:
        return self._parsed("from", lambda: NameAddr.parse(self._required("From"), "From"))

    @property
    def to(self) -> NameAddr:
        return self._parsed("to", lambda: NameAddr.parse(self._required("To"), "To"))

    @property
    def vias(self) -> list[Via]:
        return [Via.parse(v) for v in self.get_all("Via")]

    @property
    def top_via(self) -> Via:
        return self._parsed("top_via", self._top_via)

    def _top_via(self) -> Via:
        values = self.get_all("Via")
        if not values:
            raise SipParseError("message has no Via")
        return Via.parse(values[0])

    @property
    def branch(self) -> str | None:
        return self.top_via.branch

    @property
    def contact(self) -> NameAddr | None:
        values = self.get_all("Contact")
        if not values or values[0].strip() == "*":
            return None
        return NameAddr.parse(values[0], "Contact")

    @property
    def record_route(self) -> list[NameAddr]:
        return [NameAddr.parse(v, "Record-Route") for v in self.get_all("Record-Route")]

    @property
    def content_type(self) -> str | None:
        return self.get("Content-Type")

    def option_tags(self, name: str) -> set[str]:
        """Require / Supported / Unsupported as a set of lower-case tokens."""
        return {v.strip().lower() for v in self.get_all(name) if v.strip()}

    def _required(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise SipParseError(f"message has no {name}")
        return value

    def _serialise(self, start_line: str) -> bytes:
        lines = [start_line]
        lines.extend(f"{k}: {v}" for k, v in self.headers if k.lower() != "content-length")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass(frozen=True, slots=True)
class SipRequest(_Message):
    method: str = "OPTIONS"
    uri: SipUri = field(default_factory=lambda: SipUri("sip", None, "invalid"))

    def __bytes__(self) -> bytes:
        return self._serialise(f"{self.method} {self.uri} {SIP_VERSION}")

    def with_header(self, name: str, value: str, *, first: bool = False) -> SipRequest:
        h = (name, value)
        return replace(self, headers=(h, *self.headers) if first else (*self.headers, h))

    def replace_header(self, name: str, value: str | None) -> SipRequest:
        return replace(self, headers=_replaced(self.headers, name, value))

    @property
    def is_request(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class SipResponse(_Message):
    status: int = 200
    reason: str = "OK"

    def __bytes__(self) -> bytes:
        return self._serialise(f"{SIP_VERSION} {self.status} {self.reason}")

    def with_header(self, name: str, value: str, *, first: bool = False) -> SipResponse:
        h = (name, value)
        return replace(self, headers=(h, *self.headers) if first else (*self.headers, h))

    def replace_header(self, name: str, value: str | None) -> SipResponse:
        return replace(self, headers=_replaced(self.headers, name, value))

    @property
    def is_request(self) -> bool:
        return False


SipMessage = SipRequest | SipResponse


def _replaced(headers: tuple[Header, ...], name: str, value: str | None) -> tuple[Header, ...]:
    """Drop every ``name`` field; put ``value`` where the first one was (or at the end)."""
    cname = canonical_name(name).lower()
    out: list[Header] = []
    placed = value is None
    for k, v in headers:
        if k.lower() == cname:
            if not placed and value is not None:
                out.append((canonical_name(name), value))
                placed = True
            continue
        out.append((k, v))
    if not placed and value is not None:
        out.append((canonical_name(name), value))
    return tuple(out)


def split_head(data: bytes) -> tuple[bytes, bytes]:
    """Head (start line + headers) and the rest, split at the first empty line."""
    idx = data.find(b"\r\n\r\n")
    if idx >= 0:
        return data[:idx], data[idx + 4 :]
    idx = data.find(b"\n\n")  # bare LF: tolerated on input (robustness, §7.5 spirit)
    if idx >= 0:
        return data[:idx], data[idx + 2 :]
    raise SipParseError("message has no end of headers")


def parse_header_lines(head: bytes) -> tuple[str, list[Header]]:
    """Start line and (canonical name, value) pairs, continuation lines unfolded (§7.3.1)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("message head is not UTF-8") from None
    raw_lines = text.replace("\r\n", "\n").split("\n")
    while raw_lines and raw_lines[0] == "":
        raw_lines.pop(0)  # leading CRLFs are keep-alives (§7.5)
    if not raw_lines:
        raise SipParseError("message is empty")
    start = raw_lines[0]
    headers: list[Header] = []
    for line in raw_lines[1:]:
        if "\r" in line or "\x00" in line:
            raise SipParseError("header line has a bare CR or NUL")
        if line[:1] in (" ", "\t"):
            if not headers:
                raise SipParseError("continuation line before any header")
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}".strip())
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not is_token(name):
            raise SipParseError("header line has a malformed name")
        headers.append((canonical_name(name), value.strip()))
    return start, headers


def parse_message(data: bytes, *, stream: bool = False) -> SipMessage:
    """One SIP message from a datagram (or a framed stream message when ``stream``)."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError("message is too large")
    head, rest = split_head(data)
    start, headers = parse_header_lines(head)
    body = _body(headers, rest, stream)
    parts = start.split(" ", 2)
    if len(parts) != 3:
        raise SipParseError("start line is malformed")
    msg: SipMessage
    if parts[0] == SIP_VERSION:
        code = parts[1]
        if len(code) != 3 or not code.isdigit() or not 100 <= int(code) <= 699:
            raise SipParseError("status line has a malformed status code")
        msg = SipResponse(tuple(headers), body, int(code), parts[2])
    else:
        method, uri_text, version = parts
        if version != SIP_VERSION:
            raise SipParseError("request line has an unsupported SIP version")
        if not is_token(method):
            raise SipParseError("request line has a malformed method")
        try:
            uri = SipUri.parse(uri_text)
        except SipParseError as exc:
            raise SipParseError(f"Request-URI: {exc}") from None
        msg = SipRequest(tuple(headers), body, method, uri)
    validate(msg)
    return msg


def _body(headers: list[Header], rest: bytes, stream: bool) -> bytes:
    lengths = [v for k, v in headers if k == "Content-Length"]
    if not lengths:
        if stream:
            raise SipParseError("stream message has no Content-Length")
        return rest
    if len(set(lengths)) != 1 or not lengths[0].isdigit():
        raise SipParseError("Content-Length is malformed")
    length = int(lengths[0])
    if length > len(rest):
        raise SipParseError("body is shorter than Content-Length")
    if stream and length != len(rest):
        raise SipParseError("stream message has bytes beyond Content-Length")
    return rest[:length]


def validate(msg: SipMessage) -> None:
    """The mandatory headers of §8.1.1 are present and parse (raises SipParseError)."""
    for name in ("Call-ID", "From", "To", "CSeq"):
        if msg.get(name) is None:
            raise SipParseError(f"message has no {name}")
    if not msg.get_all("Via"):
        raise SipParseError("message has no Via")
    for v in msg.get_all("Via"):
        Via.parse(v)
    msg.from_  # noqa: B018  (parse for validation)
    msg.to  # noqa: B018
    cseq = msg.cseq
    if isinstance(msg, SipRequest):
        if cseq.method != msg.method:
            raise SipParseError("CSeq method does not match the request method")
        mf = msg.get("Max-Forwards")
        if mf is not None and (not mf.strip().isdigit() or int(mf) > 255):
            raise SipParseError("Max-Forwards is malformed")
    for c in msg.get_all("Contact"):
        if c.strip() != "*":
            NameAddr.parse(c, "Contact")
    for name in ("Route", "Record-Route"):
        for r in msg.get_all(name):
            NameAddr.parse(r, name)


def parse_request(data: bytes, *, stream: bool = False) -> SipRequest:
    msg = parse_message(data, stream=stream)
    if not isinstance(msg, SipRequest):
        raise SipParseError("expected a request")
    return msg


def build_response(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[Header] = (),
    body: bytes = b"",
) -> SipResponse:
    """A response to ``request`` (RFC 3261 §8.2.6): Via, From, To, Call-ID, CSeq copied.

    ``to_tag`` is added to To unless it already has a tag (or the status is 100).
    Record-Route is copied for dialog-forming responses (§12.1.1).
    """
    copied: list[Header] = [(k, v) for k, v in request.headers if k == "Via"]
    to = request.to
    if to_tag is not None and to.tag is None and status != 100:
        to = to.with_tag(to_tag)
    copied.append(("From", request.get("From") or ""))
    copied.append(("To", str(to)))
    copied.append(("Call-ID", request.call_id))
    copied.append(("CSeq", str(request.cseq)))
    if 100 < status < 300:
        copied.extend((k, v) for k, v in request.headers if k == "Record-Route")
    copied.extend(headers)
    return SipResponse(tuple(copied), body, status, reason or reason_phrase(status))


def best_effort_error(data: bytes, status: int, reason: str) -> SipResponse | None:
    """A response to a request that failed to parse, when Via/From/To/Call-ID/CSeq allow one.

    Used to answer 400 to malformed requests (§8.2); ``None`` when no response can be
    addressed (a response, or a message without the headers a response copies).
    """
    try:
        head, _ = split_head(data)
        start, headers = parse_header_lines(head)
    except SipParseError:
        return None
    if start.startswith(SIP_VERSION) or start.startswith("ACK "):
        return None
    get = {k: v for k, v in reversed(headers)}
    if not all(n in get for n in ("Via", "From", "To", "Call-ID", "CSeq")):
        return None
    vias = [(k, v) for k, v in headers if k == "Via"]
    try:
        for _, v in vias:
            for part in split_top_level(v, ","):
                Via.parse(part)
    except SipParseError:
        return None
    hdrs = (*vias, ("From", get["From"]), ("To", get["To"]), ("Call-ID", get["Call-ID"]),
            ("CSeq", get["CSeq"]))  # fmt: skip
    return SipResponse(hdrs, b"", status, reason)
