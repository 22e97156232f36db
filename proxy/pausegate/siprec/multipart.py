"""SIPREC bodies: MIME multipart/mixed parse and build (RFC 2046 §5.1, RFC 7866 §9). Core.

Rules:
1. A delimiter is ``--boundary`` at the start of the body or of a line, followed
   by optional transport padding (spaces, tabs) and a line end; the close
   delimiter is ``--boundary--``. The line end before a delimiter belongs to it,
   not to the part. Preamble and epilogue are ignored. CRLF or bare LF.
2. A missing boundary parameter, no first delimiter, no close delimiter or a
   part without its header/body separator is a ``SiprecError`` naming the
   defect, never the content.
3. ``build_multipart`` writes CRLF lines and refuses (ValueError, a local error)
   a boundary that is invalid or occurs inside a part.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pausegate.errors import RemoteError

MAX_PARTS = 16
SDP_TYPE = "application/sdp"
METADATA_TYPES = ("application/rs-metadata+xml", "application/rs-metadata")
_BCHARS = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_HEADER_NAME = re.compile(rb"[!-9;-~]+")


class SiprecError(RemoteError):
    """A SIPREC body (multipart or recording metadata) that cannot be parsed."""


@dataclass(frozen=True, slots=True)
class BodyPart:
    """One MIME body part; ``headers`` holds every header but Content-Type, in order."""

    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    @property
    def media_type(self) -> str:
        """The content type without parameters, lower case ("application/sdp")."""
        return media_type(self.content_type)


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def content_type_parameters(content_type: str) -> dict[str, str]:
    """Parameters of a Content-Type value (names lower-cased, quotes removed)."""
    params: dict[str, str] = {}
    rest = content_type.partition(";")[2]
    pattern = re.compile(r'\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*(?:;|$)')
    pos = 0
    while pos < len(rest):
        match = pattern.match(rest, pos)
        if match is None:
            skip = rest.find(";", pos)
            if skip < 0:
                break
            pos = skip + 1
            continue
        name, value = match.group(1).lower(), match.group(2).strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params.setdefault(name, value)
        pos = match.end()
    return params


def _line_end(body: bytes, pos: int) -> int | None:
    """Position after the padding and line end at pos, None when something else is there."""
    while pos < len(body) and body[pos] in b" \t":
        pos += 1
    if body.startswith(b"\r\n", pos):
        return pos + 2
    if body.startswith(b"\n", pos):
        return pos + 1
    return len(body) if pos == len(body) else None


def _delimiters(body: bytes, dash: bytes) -> list[tuple[int, int, bool]]:
    """(start of the line end before it, end of the delimiter line, is_close) for each one."""
    found: list[tuple[int, int, bool]] = []
    pos = 0
    while True:
        at = body.find(dash, pos)
        if at < 0:
            return found
        pos = at + 1
        if at != 0 and body[at - 1] != 0x0A:
            continue
        start = at - 2 if at >= 2 and body[at - 2 : at] == b"\r\n" else max(at - 1, 0)
        after = at + len(dash)
        if body.startswith(b"--", after):
            end = _line_end(body, after + 2)
            found.append((start, len(body) if end is None else end, True))
            return found
        end = _line_end(body, after)
        if end is not None:
            found.append((start, end, False))
            pos = end


def _parse_part(raw: bytes) -> BodyPart:
    if raw.startswith(b"\r\n"):
        head, body = b"", raw[2:]
    elif raw.startswith(b"\n"):
        head, body = b"", raw[1:]
    else:
        crlf, lf = raw.find(b"\r\n\r\n"), raw.find(b"\n\n")
        if crlf >= 0 and (lf < 0 or crlf < lf):
            head, body = raw[:crlf], raw[crlf + 4 :]
        elif lf >= 0:
            head, body = raw[:lf], raw[lf + 2 :]
        else:
            raise SiprecError("multipart body part has no blank line after its headers")
    headers: dict[str, str] = {}
    content_type = "text/plain"  # RFC 2046 §5.1: the default of a part without one
    for name, value in _headers(head):
        if name.lower() == "content-type":
            content_type = value
        else:
            headers[name] = value
    return BodyPart(content_type, body, headers)


def _headers(head: bytes) -> list[tuple[str, str]]:
    if not head:
        return []
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SiprecError("multipart part headers are not UTF-8") from None
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()  # RFC 5322 §2.2.3 unfolding
        else:
            lines.append(line)
    out: list[tuple[str, str]] = []
    for line in lines:
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _HEADER_NAME.fullmatch(name.encode("utf-8")):
            raise SiprecError("multipart part has a malformed header line")
        out.append((name, value.strip()))
    return out


def parse_multipart(content_type: str, body: bytes) -> list[BodyPart]:
    """Split a multipart body into its parts; raises SiprecError naming the defect."""
    if not media_type(content_type).startswith("multipart/"):
        raise SiprecError("content type is not multipart")
    boundary = content_type_parameters(content_type).get("boundary")
    if not boundary:
        raise SiprecError("multipart content type has no boundary parameter")
    if not _BCHARS.fullmatch(boundary):
        raise SiprecError("multipart boundary has invalid characters or length")
    delimiters = _delimiters(body, b"--" + boundary.encode("ascii"))
    if not delimiters:
        raise SiprecError("multipart body has no delimiter line")
    if not delimiters[-1][2]:
        raise SiprecError("multipart body has no closing delimiter")
    if len(delimiters) - 1 > MAX_PARTS:
        raise SiprecError("multipart body has too many parts")
    return [
        _parse_part(body[prev_end:start])
        for (_, prev_end, _), (start, _, _) in itertools.pairwise(delimiters)
    ]


def build_multipart(parts: Sequence[BodyPart], boundary: str) -> tuple[str, bytes]:
    """Return (Content-Type header value, body) for a multipart/mixed of ``parts``."""
    if not _BCHARS.fullmatch(boundary) or not parts:
        raise ValueError("multipart needs a valid boundary and at least one part")
    dash = b"--" + boundary.encode("ascii")
    chunks: list[bytes] = []
    for part in parts:
        if dash in part.body:
            raise ValueError("multipart boundary occurs inside a part")
        head = [f"Content-Type: {part.content_type}"]
        head += [f"{name}: {value}" for name, value in part.headers.items()]
        if any("\r" in line or "\n" in line for line in head):
            raise ValueError("multipart part header contains a line break")
        head_bytes = "\r\n".join(head).encode("utf-8")
        if dash in head_bytes:
            raise ValueError("multipart boundary occurs inside a part")
        chunks += [dash, b"\r\n", head_bytes, b"\r\n\r\n", part.body]
        chunks.append(b"\r\n")
    chunks += [dash, b"--\r\n"]
    quoted = f'"{boundary}"' if not re.fullmatch(r"[0-9A-Za-z'+_\-.]+", boundary) else boundary
    return f"multipart/mixed;boundary={quoted}", b"".join(chunks)


def split_siprec_body(content_type: str, body: bytes) -> tuple[bytes | None, bytes | None]:
    """(SDP, recording metadata XML) of an INVITE body: plain application/sdp or multipart.

    Other or empty bodies give (None, None); a broken multipart raises SiprecError.
    """
    kind = media_type(content_type)
    if kind == SDP_TYPE:
        return body, None
    if kind in METADATA_TYPES:
        return None, body
    if not kind.startswith("multipart/"):
        return None, None
    sdp: bytes | None = None
    metadata: bytes | None = None
    for part in parse_multipart(content_type, body):
        if part.media_type == SDP_TYPE and sdp is None:
            sdp = part.body
        elif part.media_type in METADATA_TYPES and metadata is None:
            metadata = part.body
    return sdp, metadata
