"""SDP line values: o=, c=, a=rtpmap, a=rtcp (RFC 8866 §5.2, §5.7, §6.6; RFC 3605). Core, no I/O.

Rules:
1. Each ``parse`` raises ``SdpError`` naming the line and the defect, never the text;
   ``str()`` writes the value back so that parse(str(x)) == x.
2. Fields are separated by runs of spaces or tabs (lenient on peers' spacing);
   they are written with single spaces.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from pausegate.errors import SdpError

_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?")
DIGITS = re.compile(r"[0-9]+")


def split_fields(value: str) -> list[str]:
    """The space- or tab-separated fields of a line value."""
    return [f for f in value.replace("\t", " ").split(" ") if f]


def parse_port(text: str, what: str) -> int:
    if not DIGITS.fullmatch(text) or int(text) > 65535:
        raise SdpError(f"SDP {what} has a bad port")
    return int(text)


def parse_int(text: str, what: str) -> int:
    if not DIGITS.fullmatch(text):
        raise SdpError(f"SDP {what} is not a decimal number")
    return int(text)


def check_address(addrtype: str, address: str, what: str) -> None:
    """Check an IN address: an IP literal of the right family, or a host name."""
    if addrtype == "IP4":
        try:
            ipaddress.IPv4Address(address)
        except ValueError:
            if not _HOST.fullmatch(address) or address.replace(".", "").isdigit():
                raise SdpError(f"SDP {what} has a bad IP4 address") from None
    elif addrtype == "IP6":
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            if not _HOST.fullmatch(address):
                raise SdpError(f"SDP {what} has a bad IP6 address") from None
    else:
        raise SdpError(f"SDP {what} has an unknown address type")


def addrtype_of(address: str) -> str:
    """'IP6' for an IPv6 literal, else 'IP4' (an IPv4 literal or a host name)."""
    return "IP6" if ":" in address else "IP4"


@dataclass(frozen=True, slots=True)
class Origin:
    """o= (RFC 8866 §5.2). sess_id is opaque; sess_version is compared and incremented."""

    username: str
    sess_id: str
    sess_version: int
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"

    @classmethod
    def parse(cls, value: str) -> Origin:
        parts = split_fields(value)
        if len(parts) != 6:
            raise SdpError("SDP o= line does not have six fields")
        username, sess_id, version, nettype, addrtype, address = parts
        if not DIGITS.fullmatch(sess_id):
            raise SdpError("SDP o= line has a non-numeric session id")
        return cls(username, sess_id, parse_int(version, "o= version"), nettype, addrtype, address)

    def __str__(self) -> str:
        return (
            f"{self.username} {self.sess_id} {self.sess_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """c= (RFC 8866 §5.7); ttl/count only for multicast ("/ttl/count" suffixes)."""

    address: str
    addrtype: str = "IP4"
    nettype: str = "IN"
    ttl: int | None = None
    count: int | None = None

    @classmethod
    def parse(cls, value: str) -> Connection:
        parts = split_fields(value)
        if len(parts) != 3:
            raise SdpError("SDP c= line does not have three fields")
        nettype, addrtype, spec = parts
        if nettype != "IN":
            raise SdpError("SDP c= line has a network type other than IN")
        address, *suffix = spec.split("/")
        if len(suffix) > 2:
            raise SdpError("SDP c= line has too many '/' suffixes")
        check_address(addrtype, address, "c= line")
        numbers = [parse_int(s, "c= suffix") for s in suffix]
        ttl: int | None = None
        count: int | None = None
        if addrtype == "IP4" and numbers:
            ttl = numbers[0]
            count = numbers[1] if len(numbers) > 1 else None
        elif addrtype == "IP6" and numbers:
            if len(numbers) > 1:
                raise SdpError("SDP c= line has a TTL on an IP6 address")
            count = numbers[0]
        return cls(address, addrtype, nettype, ttl, count)

    @property
    def is_unspecified(self) -> bool:
        """0.0.0.0 or :: (RFC 3264 §8.4 old-style hold: do not send to me)."""
        try:
            return ipaddress.ip_address(self.address).is_unspecified
        except ValueError:
            return False

    def __str__(self) -> str:
        suffix = "".join(f"/{n}" for n in (self.ttl, self.count) if n is not None)
        return f"{self.nettype} {self.addrtype} {self.address}{suffix}"


@dataclass(frozen=True, slots=True)
class RtpMap:
    """a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>] (RFC 8866 §6.6)."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    @classmethod
    def parse(cls, value: str) -> RtpMap:
        pt_text, _, spec = value.partition(" ")
        pt = parse_int(pt_text, "a=rtpmap payload type")
        parts = spec.strip().split("/")
        if pt > 127 or len(parts) not in (2, 3) or not parts[0]:
            raise SdpError("SDP a=rtpmap is malformed")
        channels = parse_int(parts[2], "a=rtpmap channels") if len(parts) == 3 else None
        return cls(pt, parts[0], parse_int(parts[1], "a=rtpmap clock rate"), channels)

    def __str__(self) -> str:
        tail = f"/{self.channels}" if self.channels is not None else ""
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{tail}"


@dataclass(frozen=True, slots=True)
class Rtcp:
    """a=rtcp:<port> [IN IP4|IP6 <address>] (RFC 3605)."""

    port: int
    connection: Connection | None = None

    @classmethod
    def parse(cls, value: str) -> Rtcp:
        port_text, _, rest = value.partition(" ")
        port = parse_port(port_text, "a=rtcp")
        rest = rest.strip()
        if not rest:
            return cls(port)
        conn = Connection.parse(rest)
        if conn.ttl is not None or conn.count is not None:
            raise SdpError("SDP a=rtcp has a multicast suffix")
        return cls(port, conn)

    def __str__(self) -> str:
        return f"{self.port}" if self.connection is None else f"{self.port} {self.connection}"
