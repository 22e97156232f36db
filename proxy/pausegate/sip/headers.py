"""SIP header values: URIs, name-addr, Via, CSeq (RFC 3261 §19, §20, §25). Core, no I/O.

Rules:
1. Every ``parse`` raises only ``SipParseError`` naming the header and the defect.
2. ``str(x)`` of a parsed value is a valid header value that parses back to an equal value.
3. Parameter names are compared case-insensitively and kept in their original order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pausegate.errors import SipParseError

Params = tuple[tuple[str, str | None], ...]

_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
BRANCH_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7


def is_token(text: str) -> bool:
    return bool(text) and all(ch in _TOKEN_CHARS for ch in text)


def split_top_level(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double quotes and angle brackets (RFC 3261 §7.3.1)."""
    if '"' not in text and "<" not in text and ">" not in text:
        return text.split(sep)  # the common case, without the character loop
    parts: list[str] = []
    current: list[str] = []
    in_quotes = False
    in_angle = False
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif in_quotes and ch == "\\":
            escaped = True
        elif ch == '"' and not in_angle:
            in_quotes = not in_quotes
        elif ch == "<" and not in_quotes:
            in_angle = True
        elif ch == ">" and not in_quotes:
            in_angle = False
        elif ch == sep and not in_quotes and not in_angle:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if in_quotes or in_angle:
        raise SipParseError("header value has an unterminated quote or angle bracket")
    parts.append("".join(current))
    return parts


def parse_params(text: str, what: str) -> Params:
    """``;a=b;c`` (leading ``;`` already removed from each item) into ordered pairs."""
    params: list[tuple[str, str | None]] = []
    for raw in split_top_level(text, ";"):
        item = raw.strip()
        if not item:
            raise SipParseError(f"{what} has an empty parameter")
        name, eq, value = item.partition("=")
        name = name.strip()
        if not is_token(name):
            raise SipParseError(f"{what} has a malformed parameter name")
        params.append((name, value.strip() if eq else None))
    return tuple(params)


def format_params(params: Params) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)


def get_param(params: Params, name: str) -> str | None:
    lname = name.lower()
    for k, v in params:
        if k.lower() == lname:
            return v if v is not None else ""
    return None


def set_param(params: Params, name: str, value: str | None) -> Params:
    lname = name.lower()
    kept = tuple((k, v) for k, v in params if k.lower() != lname)
    return (*kept, (name, value))


def _parse_hostport(text: str, what: str) -> tuple[str, int | None]:
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"{what} has an unterminated IPv6 reference")
        host, rest = text[: end + 1], text[end + 1 :]
    else:
        host, _, port_text = text.partition(":")
        rest = ":" + port_text if _ else ""
    if not host or any(ch in host for ch in ' \t<>"@;?,'):
        raise SipParseError(f"{what} has a malformed host")
    if not rest:
        return host, None
    if not rest.startswith(":") or not rest[1:].isdigit() or not 0 < int(rest[1:]) < 65536:
        raise SipParseError(f"{what} has a malformed port")
    return host, int(rest[1:])


def format_hostport(host: str, port: int | None) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return host if port is None else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class SipUri:
    """``sip:user@host:port;params?headers`` (RFC 3261 §19.1); ``tel:`` kept with host ''."""

    scheme: str
    user: str | None
    host: str
    port: int | None = None
    params: Params = ()
    headers: str = ""
    password: str | None = None

    @classmethod
    def parse(cls, text: str) -> SipUri:
        text = text.strip()
        scheme, colon, rest = text.partition(":")
        scheme = scheme.lower()
        if not colon or scheme not in ("sip", "sips", "tel"):
            raise SipParseError("URI has an unsupported or missing scheme")
        rest, _, headers = rest.partition("?")
        if scheme == "tel":
            number, _, ptext = rest.partition(";")
            if not number:
                raise SipParseError("tel URI has no number")
            return cls(scheme, number, "", None, parse_params(ptext, "URI") if _ else (), headers)
        userinfo, at, hostpart = rest.rpartition("@")
        user: str | None = None
        password: str | None = None
        if at:
            user, pcolon, pw = userinfo.partition(":")
            password = pw if pcolon else None
            if not user:
                raise SipParseError("URI has an empty user part")
        hostport, semi, ptext = hostpart.partition(";")
        host, port = _parse_hostport(hostport, "URI")
        params = parse_params(ptext, "URI") if semi else ()
        return cls(scheme, user, host, port, params, headers, password)

    def __str__(self) -> str:
        if self.scheme == "tel":
            out = f"tel:{self.user}{format_params(self.params)}"
        else:
            userinfo = ""
            if self.user is not None:
                pw = f":{self.password}" if self.password is not None else ""
                userinfo = f"{self.user}{pw}@"
            hp = format_hostport(self.host, self.port)
            out = f"{self.scheme}:{userinfo}{hp}{format_params(self.params)}"
        return f"{out}?{self.headers}" if self.headers else out

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    @property
    def transport(self) -> str:
        """Lower-case transport (``udp`` unless ``;transport=`` says otherwise)."""
        return (self.param("transport") or "udp").lower()

    @property
    def host_no_brackets(self) -> str:
        return self.host[1:-1] if self.host.startswith("[") else self.host

    def default_port(self) -> int:
        return self.port if self.port is not None else (5061 if self.scheme == "sips" else 5060)


@dataclass(frozen=True, slots=True)
class NameAddr:
    """From, To, Contact, Route, Record-Route values (RFC 3261 §20.10, §25.1 name-addr)."""

    uri: SipUri
    display: str | None = None
    params: Params = ()
    bracketed: bool = True

    @classmethod
    def parse(cls, text: str, what: str = "address") -> NameAddr:
        text = text.strip()
        if not text:
            raise SipParseError(f"{what} is empty")
        display: str | None = None
        if "<" in text and not _quoted_before(text, text.find("<")):
            head, _, tail = text.partition("<")
            uri_text, close, after = tail.partition(">")
            if not close:
                raise SipParseError(f"{what} has an unterminated '<'")
            display = head.strip() or None
            if display is not None and display.startswith('"'):
                if len(display) < 2 or not display.endswith('"'):
                    raise SipParseError(f"{what} has a malformed display name")
                display = display[1:-1]
            elif display is not None and '"' in display:
                raise SipParseError(f"{what} has a malformed display name")
            after = after.strip()
            if after and not after.startswith(";"):
                raise SipParseError(f"{what} has text after the URI")
            params = parse_params(after[1:], what) if after else ()
            try:
                uri = SipUri.parse(uri_text)
            except SipParseError as exc:
                raise SipParseError(f"{what}: {exc}") from None
            return cls(uri, display, params, True)
        if text.startswith('"'):
            raise SipParseError(f"{what} has a display name but no '<URI>'")
        # addr-spec without brackets: parameters after it belong to the header (§20.10).
        uri_text, semi, ptext = text.partition(";")
        if " " in uri_text.strip() or "," in uri_text:
            raise SipParseError(f"{what} is malformed")
        try:
            uri = SipUri.parse(uri_text)
        except SipParseError as exc:
            raise SipParseError(f"{what}: {exc}") from None
        return cls(uri, None, parse_params(ptext, what) if semi else (), False)

    def __str__(self) -> str:
        display = ""
        if self.display is not None:
            display = (
                f"{self.display} "
                if is_token(self.display.replace(" ", ""))
                else f'"{self.display}" '
            )
        return f"{display}<{self.uri}>{format_params(self.params)}"

    @property
    def tag(self) -> str | None:
        tag = get_param(self.params, "tag")
        return tag or None

    def with_tag(self, tag: str) -> NameAddr:
        return replace(self, params=set_param(self.params, "tag", tag))

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)


def _quoted_before(text: str, index: int) -> bool:
    return text[:index].count('"') % 2 == 1


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=...`` (RFC 3261 §20.42)."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    @classmethod
    def parse(cls, text: str) -> Via:
        text = text.strip()
        proto, sep, rest = _split_ws(text)
        if not sep:
            raise SipParseError("Via has no sent-by")
        parts = [p.strip() for p in proto.split("/")]
        if len(parts) != 3 or parts[0].upper() != "SIP" or parts[1] != "2.0" or not parts[2]:
            raise SipParseError("Via has a malformed sent-protocol")
        hostport, semi, ptext = rest.partition(";")
        host, port = _parse_hostport(hostport, "Via")
        params = parse_params(ptext, "Via") if semi else ()
        return cls(parts[2].upper(), host, port, params)

    def __str__(self) -> str:
        hp = format_hostport(self.host, self.port)
        return f"SIP/2.0/{self.transport} {hp}{format_params(self.params)}"

    @property
    def branch(self) -> str | None:
        return get_param(self.params, "branch") or None

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    def with_param(self, name: str, value: str | None) -> Via:
        return replace(self, params=set_param(self.params, name, value))

    @property
    def sent_by(self) -> tuple[str, int]:
        return self.host.lower(), self.port if self.port is not None else 5060


def _split_ws(text: str) -> tuple[str, str, str]:
    """Split at the first run of whitespace that is not around a '/' (``SIP / 2.0 / UDP``)."""
    compact = "/".join(part.strip() for part in text.split("/", 2)[:2])
    tail = text.split("/", 2)[2].lstrip() if text.count("/") >= 2 else ""
    transport, sep, rest = tail.partition(" ")
    if not sep:
        transport, sep, rest = tail.partition("\t")
    return f"{compact}/{transport}", sep, rest.strip()


@dataclass(frozen=True, slots=True)
class CSeq:
    """``CSeq: 314159 INVITE`` (RFC 3261 §20.16)."""

    seq: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        num, _, method = text.strip().partition(" ")
        method = method.strip()
        if not num.isdigit() or len(num) > 10 or int(num) >= 2**31:
            raise SipParseError("CSeq has a malformed sequence number")
        if not is_token(method):
            raise SipParseError("CSeq has a malformed method")
        return cls(int(num), method)

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"
