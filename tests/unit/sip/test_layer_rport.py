"""Unit test: RFC 3581 §4, a Via with rport gets received even when the host matches."""

from __future__ import annotations

from pausegate.sip.layer import Target, Transport, stamp_received
from pausegate.sip.message import SipRequest, parse_message

RAW = (
    b"OPTIONS sip:pg@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKrp;rport\r\n"
    b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:pg@127.0.0.1>\r\n"
    b"Call-ID: rport-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)


def test_rport_with_matching_host_still_gets_received() -> None:
    request = parse_message(RAW)
    assert isinstance(request, SipRequest)
    stamped = stamp_received(request, Target(Transport.UDP, ("127.0.0.1", 41000)))
    assert stamped.get_all("Via")[0] == (
        "SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKrp;rport=41000;received=127.0.0.1"
    )
