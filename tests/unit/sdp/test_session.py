"""SDP syntax: parse, helpers, write, defects (RFC 8866, RFC 3605, RFC 4574, RFC 5761)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pausegate.calls.model import Direction
from pausegate.errors import SdpError
from pausegate.sdp import Connection, MediaDescription, Origin, Rtcp, RtpMap, SessionDescription

FIXTURES = Path(__file__).parents[2] / "fixtures" / "sdp"
ALL_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.sdp"))


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text().replace("\n", "\r\n")


MINIMAL = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_fixtures_round_trip_exactly(name: str) -> None:
    text = fixture(name)
    sd = SessionDescription.parse(text)
    assert str(sd) == text
    assert bytes(sd) == text.encode()
    assert SessionDescription.parse(bytes(sd)) == sd


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_bare_lf_is_accepted(name: str) -> None:
    text = fixture(name)
    assert SessionDescription.parse(text.replace("\r\n", "\n")) == SessionDescription.parse(text)


def test_baresip_offer_fields() -> None:
    sd = SessionDescription.parse(fixture("baresip_offer.sdp"))
    assert sd.version == 0
    assert sd.origin == Origin("-", "2890844526", 2890844527, "IN", "IP4", "127.0.0.1")
    assert sd.session_name == "-"
    assert sd.connection == Connection("127.0.0.1")
    assert sd.attribute("tool") == "baresip 1.0.0"
    [m] = sd.media
    assert (m.media, m.port, m.proto, m.formats) == (
        "audio",
        10000,
        "RTP/AVP",
        ("96", "0", "8", "101"),
    )
    assert m.bandwidths == ("AS:512",)
    assert m.rtpmap(96) == RtpMap(96, "opus", 48000, 2)
    assert m.rtpmap(101) == RtpMap(101, "telephone-event", 8000)
    assert m.rtpmap(9) is None
    assert m.fmtp(96) == "stereo=1;sprop-stereo=1"
    assert m.fmtp(101) == "0-15"
    assert m.fmtp(0) is None
    assert m.rtcp_mux
    assert m.rtcp is None
    assert m.direction is Direction.SENDRECV
    assert m.attribute("ptime") == "20"
    assert m.attribute("rtcp-rsize") == ""
    assert m.attribute("nope") is None
    assert m.label is None
    assert not m.is_secure


def test_freeswitch_rtcp_attribute_with_address() -> None:
    sd = SessionDescription.parse(fixture("freeswitch_offer.sdp"))
    [m] = sd.media
    assert m.rtcp == Rtcp(16385, Connection("192.0.2.10"))
    assert not m.rtcp_mux
    assert sd.media_direction(m) is Direction.SENDRECV


def test_cisco_siprec_labels_and_media_level_connection() -> None:
    sd = SessionDescription.parse(fixture("cisco_siprec_offer.sdp"))
    assert [m.label for m in sd.media] == ["1", "2"]
    assert all(m.connection == Connection("198.51.100.5") for m in sd.media)
    assert all(sd.media_direction(m) is Direction.SENDONLY for m in sd.media)


def test_ipv6_connection() -> None:
    sd = SessionDescription.parse(fixture("ipv6_mux_offer.sdp"))
    assert sd.connection == Connection("2001:DB8::10", "IP6")
    assert sd.origin.addrtype == "IP6"
    assert sd.media[0].rtcp == Rtcp(30000)


def test_savp_and_crypto_detected() -> None:
    sd = SessionDescription.parse(fixture("savp_offer.sdp"))
    assert sd.media[0].is_secure
    assert len(sd.media[0].crypto) == 1
    plain_with_crypto = replace(sd.media[0], proto="RTP/AVP")
    assert plain_with_crypto.is_secure


def test_direction_media_over_session_and_default() -> None:
    text = MINIMAL.replace("t=0 0\r\n", "t=0 0\r\na=recvonly\r\n")
    sd = SessionDescription.parse(text)
    assert sd.direction is Direction.RECVONLY
    assert sd.media_direction(sd.media[0]) is Direction.RECVONLY
    sd2 = SessionDescription.parse(text + "a=inactive\r\n")
    assert sd2.media_direction(sd2.media[0]) is Direction.INACTIVE
    sd3 = SessionDescription.parse(MINIMAL)
    assert sd3.media_direction(sd3.media[0]) is Direction.SENDRECV


def test_media_connection_over_session() -> None:
    text = MINIMAL.replace("s=-\r\n", "s=-\r\nc=IN IP4 192.0.2.1\r\n") + "c=IN IP4 192.0.2.2\r\n"
    sd = SessionDescription.parse(text)
    assert sd.media_connection(sd.media[0]) == Connection("192.0.2.2")
    session_only = SessionDescription.parse(text.removesuffix("c=IN IP4 192.0.2.2\r\n"))
    assert session_only.media_connection(session_only.media[0]) == Connection("192.0.2.1")
    bare = SessionDescription.parse(MINIMAL)
    assert bare.media_connection(bare.media[0]) is None


def test_multicast_suffixes_kept() -> None:
    text = MINIMAL + "c=IN IP4 224.2.1.1/127/3\r\n"
    sd = SessionDescription.parse(text)
    assert sd.media[0].connection == Connection("224.2.1.1", ttl=127, count=3)
    assert str(sd) == text
    text6 = MINIMAL + "c=IN IP6 ff15::101/3\r\n"
    assert SessionDescription.parse(text6).media[0].connection == Connection(
        "ff15::101", "IP6", count=3
    )


def test_unspecified_connection() -> None:
    assert Connection("0.0.0.0").is_unspecified
    assert Connection("::", "IP6").is_unspecified
    assert not Connection("192.0.2.1").is_unspecified
    assert not Connection("host.example.com").is_unspecified


def test_unknown_lines_and_attributes_kept_in_place() -> None:
    text = (
        "v=0\r\no=alice 1 2 IN IP4 h.example.com\r\ns=talk\r\ni=info\r\nu=http://x.example/\r\n"
        "e=a@example.com\r\np=+1 555\r\nc=IN IP4 host.example.com\r\nb=CT:128\r\n"
        "t=2873397496 2873404696\r\nr=7d 1h 0 25h\r\nz=2882844526 -1h\r\nk=prompt\r\n"
        "y=unknown\r\na=x-vendor:thing\r\na=flag\r\n"
        "m=audio 4000/2 RTP/AVP 0\r\ni=voice\r\nc=IN IP4 192.0.2.1\r\nb=AS:64\r\nk=clear:x\r\n"
        "a=empty:\r\na=ptime:20\r\n"
    )
    sd = SessionDescription.parse(text)
    assert str(sd) == text
    assert sd.info == (
        ("i", "info"),
        ("u", "http://x.example/"),
        ("e", "a@example.com"),
        ("p", "+1 555"),
    )
    assert sd.other == (("z", "2882844526 -1h"), ("k", "prompt"), ("y", "unknown"))
    assert sd.timing[0].repeats == ("7d 1h 0 25h",)
    assert sd.media[0].port_count == 2
    assert sd.media[0].attribute("empty") == ""
    assert sd.media[0].attributes[0] == ("empty", "")


def test_writer_of_built_description() -> None:
    m = MediaDescription("audio", 4000, "RTP/AVP", ("0", "101"), attributes=(("sendonly", None),))
    sd = SessionDescription(Origin("pg", "1", 2, address="192.0.2.1"), media=(m,))
    assert str(sd) == (
        "v=0\r\no=pg 1 2 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0 101\r\na=sendonly\r\n"
    )
    listed = MediaDescription("audio", 4000, "RTP/AVP", ["0"])  # type: ignore[arg-type]
    assert listed.formats == ("0",)  # sequences are frozen into tuples


def test_trailing_blank_lines_and_rejected_m_line_without_formats() -> None:
    sd = SessionDescription.parse(MINIMAL + "m=video 0 RTP/AVP\r\n\r\n\r\n")
    assert sd.media[1].formats == ()
    assert sd.media[1].port == 0


@pytest.mark.parametrize(
    ("text", "defect"),
    [
        ("", "no v= line"),
        ("o=- 1 1 IN IP4 192.0.2.1\r\n", "does not start with a v= line"),
        ("v=1\r\n", "v= line is not 0"),
        ("v=0\r\ns=-\r\n", "no o= line"),
        ("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n", "no s= line"),
        ("v=0\r\no=- 1 1 IN IP4\r\ns=-\r\n", "o= line does not have six fields"),
        ("v=0\r\no=- x 1 IN IP4 192.0.2.1\r\ns=-\r\n", "non-numeric session id"),
        ("v=0\r\no=- 1 y IN IP4 192.0.2.1\r\ns=-\r\n", "o= version"),
        ("v=0\r\nv=0\r\n", "second v= line"),
        (MINIMAL + "o=- 1 1 IN IP4 192.0.2.1\r\n", "o= line inside an m= section"),
        (MINIMAL.replace("m=audio 4000", "m=audio 70000"), "bad port"),
        (MINIMAL.replace("m=audio 4000", "m=audio x"), "bad port"),
        (MINIMAL.replace("m=audio 4000 RTP/AVP 0", "m=audio 4000"), "fewer than three"),
        (MINIMAL.replace("m=audio 4000", "m=audio 4000/x"), "port count"),
        (MINIMAL + "c=IN IP4 300.1.1.1\r\n", "bad IP4 address"),
        (MINIMAL + "c=IN IP4 bad_host!\r\n", "bad IP4 address"),
        (MINIMAL + "c=IN IP6 fe80:::1\r\n", "bad IP6 address"),
        (MINIMAL + "c=IN IPX 192.0.2.1\r\n", "unknown address type"),
        (MINIMAL + "c=ATM NSAP 47.0005\r\n", "network type other than IN"),
        (MINIMAL + "c=IN IP4\r\n", "three fields"),
        (MINIMAL + "c=IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.2\r\n", "second c= line"),
        (MINIMAL + "c=IN IP6 ff15::1/1/2\r\n", "TTL on an IP6"),
        (MINIMAL + "c=IN IP4 224.0.0.1/1/2/3\r\n", "too many"),
        (MINIMAL + "a=rtpmap:96\r\n", "a=rtpmap is malformed"),
        (MINIMAL + "a=rtpmap:200 foo/8000\r\n", "a=rtpmap is malformed"),
        (MINIMAL + "a=rtpmap:96 foo/rate\r\n", "clock rate"),
        (MINIMAL + "a=rtcp:abc\r\n", "a=rtcp has a bad port"),
        (MINIMAL + "a=rtcp:5000 IN IP4 224.0.0.1/3\r\n", "multicast"),
        (MINIMAL + "a=sendonly:yes\r\n", "direction attribute has a value"),
        (MINIMAL + "a=label:\r\n", "a=label is empty"),
        (MINIMAL + "a=fmtp:xx 0-15\r\n", "a=fmtp has a bad payload type"),
        (MINIMAL + "a=bad name\r\n", "attribute has a bad name"),
        (MINIMAL + "garbage\r\n", "not of the form"),
        (MINIMAL + "t=now 0\r\n", "t= line inside"),
        ("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=now 0\r\n", "t= time"),
        ("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0\r\n", "t= line does not have two"),
        ("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nr=1d 1h 0\r\n", "r= line without"),
        (MINIMAL.replace("s=-", "s=-\rx"), "control character"),
    ],
)
def test_defects_raise_sdp_error_naming_them(text: str, defect: str) -> None:
    with pytest.raises(SdpError, match=defect):
        SessionDescription.parse(text)


def test_non_utf8_and_oversize() -> None:
    with pytest.raises(SdpError, match="not UTF-8"):
        SessionDescription.parse(b"v=0\r\ns=\xff\r\n")
    with pytest.raises(SdpError, match="too large"):
        SessionDescription.parse(b"v=0\r\n" + b"a=x\r\n" * 20000)
    with pytest.raises(SdpError, match="too large"):
        SessionDescription.parse("v=0\r\n" + "a=x\r\n" * 20000)


def test_second_session_lines() -> None:
    head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
    with pytest.raises(SdpError, match="second o= line"):
        SessionDescription.parse(head + "o=- 1 1 IN IP4 192.0.2.1\r\n")
    with pytest.raises(SdpError, match="second s= line"):
        SessionDescription.parse(head + "s=x\r\n")
    with pytest.raises(SdpError, match="second session-level c= line"):
        SessionDescription.parse(head + "c=IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.1\r\n")


def test_missing_timing_gets_default() -> None:
    sd = SessionDescription.parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n")
    assert "t=0 0\r\n" in str(sd)


def test_lenient_field_spacing_is_normalised_on_write() -> None:
    sd = SessionDescription.parse(
        "v=0\r\no=-  1 1 IN\tIP4 192.0.2.1\r\ns=-\r\nc=IN IP4  192.0.2.1 \r\n"
        "t=0  0\r\nm=audio  4000 RTP/AVP 0  8 \r\n"
    )
    assert sd.origin == Origin("-", "1", 1, address="192.0.2.1")
    assert sd.media[0].formats == ("0", "8")
    assert str(sd) == (
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\n"
    )


def test_host_names_in_c_lines_parse() -> None:
    sd = SessionDescription.parse(MINIMAL + "c=IN IP6 media6.example.com\r\n")
    assert sd.media[0].connection == Connection("media6.example.com", "IP6")
    assert SessionDescription.parse(MINIMAL).attribute("anything") is None


def test_unencodable_text_is_sdp_error() -> None:
    with pytest.raises(SdpError, match="not UTF-8"):
        SessionDescription.parse(MINIMAL.replace("s=-", "s=\ud800"))
    assert SessionDescription.parse(MINIMAL.encode()) == SessionDescription.parse(MINIMAL)
