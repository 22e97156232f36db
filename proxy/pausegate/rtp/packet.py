"""RTP/RTCP header views (RFC 3550 §5.1, §6.4; RFC 5761 §4 demultiplexing). Core, no I/O.

Rules:
1. Only the header fields the media path needs are read, with ``struct`` at fixed
   offsets; nothing is copied until a payload is replaced.
2. ``check_rtp`` is the one validation of the receive path: version 2, header,
   CSRC list, extension and padding all inside the datagram. It returns the
   payload bounds or raises ``RtpError`` naming the defect (never the bytes).
3. Sequence numbers and timestamps are compared only through the wrap-aware
   helpers below.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pausegate.errors import RtpError

RTP_HEADER_BYTES = 12
_HDR = struct.Struct("!BBHII")
_EXT = struct.Struct("!HH")

SEQ_MOD = 1 << 16
TS_MOD = 1 << 32


def check_rtp(data: bytes) -> tuple[int, int]:
    """Validate an RTP packet; return (payload_start, payload_end).

    Raises RtpError for version != 2, a truncated header, or a CSRC list,
    header extension or padding that overruns the datagram.
    """
    n = len(data)
    if n < RTP_HEADER_BYTES:
        raise RtpError("RTP packet shorter than its fixed header")
    b0 = data[0]
    if b0 >> 6 != 2:
        raise RtpError("RTP packet has version other than 2")
    start = RTP_HEADER_BYTES + 4 * (b0 & 0x0F)
    if start > n:
        raise RtpError("RTP packet has truncated CSRC list")
    if b0 & 0x10:
        if start + 4 > n:
            raise RtpError("RTP packet has truncated header extension")
        start += 4 + 4 * _EXT.unpack_from(data, start)[1]
        if start > n:
            raise RtpError("RTP header extension overruns the packet")
    end = n
    if b0 & 0x20:
        pad = data[n - 1]
        if pad == 0 or start + pad > n:
            raise RtpError("RTP padding overruns the packet")
        end = n - pad
    return start, end


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 §4: on a muxed port, packet types 192-223 in byte 1 are RTCP."""
    return len(data) >= 2 and 192 <= data[1] <= 223


def payload_type(data: bytes) -> int:
    return data[1] & 0x7F


def marker(data: bytes) -> bool:
    return bool(data[1] & 0x80)


def sequence(data: bytes) -> int:
    return int.from_bytes(data[2:4], "big")


def timestamp(data: bytes) -> int:
    return int.from_bytes(data[4:8], "big")


def ssrc(data: bytes) -> int:
    return int.from_bytes(data[8:12], "big")


def seq_diff(a: int, b: int) -> int:
    """a - b on the 16-bit sequence circle, in [-32768, 32767]."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def ts_diff(a: int, b: int) -> int:
    """a - b on the 32-bit timestamp circle, in [-2**31, 2**31 - 1]."""
    return ((a - b + 0x80000000) & 0xFFFFFFFF) - 0x80000000


@dataclass(frozen=True, slots=True)
class RtpHeader:
    """A parsed RTP header, for cold paths and tests (the hot path uses the functions)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: bytes | None = None  # profile (2 bytes) + length (2) + words, as on the wire

    @classmethod
    def parse(cls, data: bytes) -> tuple[RtpHeader, bytes]:
        start, end = check_rtp(data)
        b0, b1, seq, ts, ss = _HDR.unpack_from(data)
        cc = b0 & 0x0F
        csrcs = struct.unpack_from(f"!{cc}I", data, RTP_HEADER_BYTES) if cc else ()
        ext = None
        if b0 & 0x10:
            ext = bytes(data[RTP_HEADER_BYTES + 4 * cc : start])
        hdr = cls(b1 & 0x7F, seq, ts, ss, bool(b1 & 0x80), tuple(csrcs), ext)
        return hdr, bytes(data[start:end])

    def serialize(self, payload: bytes = b"") -> bytes:
        b0 = 0x80 | len(self.csrcs) | (0x10 if self.extension is not None else 0)
        b1 = (0x80 if self.marker else 0) | self.payload_type
        out = _HDR.pack(b0, b1, self.sequence, self.timestamp, self.ssrc)
        if self.csrcs:
            out += struct.pack(f"!{len(self.csrcs)}I", *self.csrcs)
        if self.extension is not None:
            out += self.extension
        return out + payload
