"""SIP over a byte stream: split messages by Content-Length (RFC 3261 §18.3). Core, no I/O.

Rules:
1. CRLFs between messages are keep-alives (RFC 5626 §3.5.1) and are skipped.
2. A message without a valid Content-Length, or whose head or body exceeds
   ``MAX_MESSAGE_BYTES``, cannot be framed: ``feed`` raises SipParseError and the
   connection must be closed (there is no way to find the next message).
"""

from __future__ import annotations

from pausegate.errors import SipParseError
from pausegate.sip.message import MAX_MESSAGE_BYTES
from pausegate.sip.names import canonical_name


class StreamFramer:
    """Accumulates bytes; ``feed`` returns every complete message (head + body) so far."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer.extend(data)
        out: list[bytes] = []
        while True:
            while self._buffer[:2] == b"\r\n":
                del self._buffer[:2]
            while self._buffer[:1] == b"\n":
                del self._buffer[:1]
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_MESSAGE_BYTES:
                    raise SipParseError("stream message head is too large")
                return out
            head = bytes(self._buffer[:end])
            length = _content_length(head)
            total = end + 4 + length
            if total > MAX_MESSAGE_BYTES:
                raise SipParseError("stream message is too large")
            if len(self._buffer) < total:
                return out
            out.append(bytes(self._buffer[:total]))
            del self._buffer[:total]

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)


def _content_length(head: bytes) -> int:
    found: int | None = None
    for raw in head.split(b"\r\n")[1:]:
        name, colon, value = raw.partition(b":")
        if not colon:
            continue
        try:
            cname = canonical_name(name.strip().decode("ascii"))
        except UnicodeDecodeError:
            continue
        if cname != "Content-Length":
            continue
        text = value.strip()
        if not text.isdigit() or (found is not None and found != int(text)):
            raise SipParseError("stream message has a malformed Content-Length")
        found = int(text)
    if found is None:
        raise SipParseError("stream message has no Content-Length")
    return found
