"""SIP message parsing and serialising (RFC 3261 §7, §18.3, §20)."""

from __future__ import annotations

import pytest
from tests.fixtures.sip import load

from pausegate.errors import SipParseError
from pausegate.sip.framer import StreamFramer
from pausegate.sip.headers import CSeq, NameAddr, SipUri, Via, split_top_level
from pausegate.sip.message import (
    SipRequest,
    SipResponse,
    best_effort_error,
    build_response,
    parse_message,
    parse_request,
)

FIXTURES = [
    "baresip_invite.sip",
    "sbc_siprec_invite.sip",
    "compact_invite.sip",
    "options_keepalive.sip",
    "response_180.sip",
]

MINIMAL = (
    b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: c1\r\nCSeq: 7 OPTIONS\r\n"
)


@pytest.mark.parametrize("name", FIXTURES)
def test_fixtures_round_trip(name: str) -> None:
    msg = parse_message(load(name))
    again = parse_message(bytes(msg))
    assert again == msg
    assert bytes(again) == bytes(msg)


def test_baresip_invite_fields() -> None:
    req = parse_request(load("baresip_invite.sip"))
    assert req.method == "INVITE"
    assert req.uri == SipUri("sip", "agent1001", "127.0.0.1", 5060)
    assert req.call_id == "6b1c9e3f0a7d4b28"
    assert req.cseq == CSeq(16247, "INVITE")
    assert req.from_.tag == "8f2d4c1e6b3a9d07"
    assert req.from_.display == "Caller"
    assert req.to.tag is None
    assert req.branch == "z9hG4bK4c3a9d7e2f1b8a60"
    assert req.top_via.param("rport") == ""
    assert req.contact is not None
    assert req.contact.uri.transport == "udp"
    assert req.get("x-interaction-id") == "INT-2026-0042"
    assert req.body.startswith(b"v=0\r\n")
    assert req.content_type == "application/sdp"


def test_siprec_invite_fields() -> None:
    req = parse_request(load("sbc_siprec_invite.sip"))
    assert req.option_tags("Require") == {"siprec"}
    assert req.option_tags("Supported") == {"timer", "replaces"}
    assert req.top_via.transport == "TCP"
    assert req.uri.transport == "tcp"
    assert req.contact is not None
    assert req.contact.param("+sip.src") == ""
    assert (req.content_type or "").startswith("multipart/mixed")


def test_compact_forms_folding_and_multi_value_via() -> None:
    req = parse_request(load("compact_invite.sip"))
    assert req.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert req.from_.display == "Alice Liddell"
    assert req.to.display == "Bob"
    vias = req.vias
    assert [v.host for v in vias] == [
        "pc33.atlanta.example.com",
        "bigbox3.site3.atlanta.example.com",
        "[2001:db8::9]",
    ]
    assert vias[2].port == 5070
    assert vias[0].sent_by == ("pc33.atlanta.example.com", 5060)
    assert req.get("Subject") == "long folded header"
    assert req.option_tags("k") == {"timer"}
    assert req.get("l") is not None
    assert req.get("Content-Length") == req.get("l")


def test_response_parse() -> None:
    resp = parse_message(load("response_180.sip"))
    assert isinstance(resp, SipResponse)
    assert (resp.status, resp.reason) == (180, "Ringing")
    assert resp.to.tag == "as6b1e"
    assert resp.top_via.param("received") == "127.0.0.1"


def test_content_length_truncates_udp_body_and_serialise_rewrites_it() -> None:
    data = MINIMAL + b"Content-Length: 3\r\n\r\nabcdef"
    msg = parse_message(data)
    assert msg.body == b"abc"
    assert b"Content-Length: 3\r\n" in bytes(msg)
    replaced = msg.replace_header("Content-Length", "99")
    assert b"Content-Length: 3\r\n" in bytes(replaced)


def test_header_helpers() -> None:
    msg = parse_request(MINIMAL + b"\r\n")
    added = msg.with_header("X-A", "1").with_header(
        "Via", "SIP/2.0/UDP h;branch=z9hG4bKt", first=True
    )
    assert added.get("x-a") == "1"
    assert added.headers[0] == ("Via", "SIP/2.0/UDP h;branch=z9hG4bKt")
    assert added.replace_header("X-A", None).get("X-A") is None
    assert added.replace_header("X-B", "2").get("X-B") == "2"
    assert msg.has("call-id")
    assert msg.is_request


@pytest.mark.parametrize(
    ("data", "defect"),
    [
        (b"", "no end of headers"),
        (b"\r\n\r\n", "empty"),
        (b"INVITE sip:x SIP/2.0\r\n", "no end of headers"),
        (MINIMAL.replace(b"SIP/2.0\r\nVia", b"SIP/3.0\r\nVia") + b"\r\n", "version"),
        (MINIMAL.replace(b"OPTIONS sip:x@127.0.0.1", b"OPTIONS") + b"\r\n", "start line"),
        (MINIMAL.replace(b"Call-ID: c1\r\n", b"") + b"\r\n", "no Call-ID"),
        (
            MINIMAL.replace(b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc\r\n", b"")
            + b"\r\n",
            "no Via",
        ),
        (MINIMAL.replace(b"7 OPTIONS", b"x OPTIONS") + b"\r\n", "CSeq"),
        (MINIMAL.replace(b"7 OPTIONS", b"7 INVITE") + b"\r\n", "does not match"),
        (MINIMAL + b"Content-Length: 10\r\n\r\nabc", "shorter than Content-Length"),
        (MINIMAL + b"Content-Length: x\r\n\r\n", "Content-Length is malformed"),
        (MINIMAL + b"Max-Forwards: many\r\n\r\n", "Max-Forwards"),
        (MINIMAL + b"Bad Header\r\n\r\n", "malformed name"),
        (MINIMAL + b"\xff: x\r\n\r\n", "UTF-8"),
        (MINIMAL.replace(b"To: <sip:x@y>", b"To: <sip:x@y") + b"\r\n", "To"),
        (MINIMAL.replace(b"sip:x@127.0.0.1", b"http://x") + b"\r\n", "scheme"),
        (b"SIP/2.0 99 Odd\r\n" + MINIMAL.split(b"\r\n", 1)[1] + b"\r\n", "status code"),
        (
            MINIMAL.replace(b"SIP/2.0/UDP 127.0.0.1:5070", b"SIP/2.0/UDP 127.0.0.1:99999")
            + b"\r\n",
            "port",
        ),
    ],
)
def test_malformed_messages_name_the_defect(data: bytes, defect: str) -> None:
    with pytest.raises(SipParseError, match=defect):
        parse_message(data)


def test_stream_parse_requires_content_length() -> None:
    with pytest.raises(SipParseError, match="no Content-Length"):
        parse_message(MINIMAL + b"\r\n", stream=True)
    with pytest.raises(SipParseError, match="beyond"):
        parse_message(MINIMAL + b"Content-Length: 1\r\n\r\nab", stream=True)
    assert parse_message(MINIMAL + b"Content-Length: 2\r\n\r\nab", stream=True).body == b"ab"


def test_parse_request_rejects_responses() -> None:
    with pytest.raises(SipParseError, match="expected a request"):
        parse_request(load("response_180.sip"))


def test_build_response_copies_and_tags() -> None:
    req = parse_request(load("compact_invite.sip")).with_header(
        "Record-Route", "<sip:p1;lr>, <sip:p2;lr>"
    )
    trying = build_response(req, 100, to_tag="x")
    assert trying.to.tag is None
    ok = build_response(req, 200, to_tag="abc", headers=[("Contact", "<sip:me@h>")])
    assert ok.to.tag == "abc"
    assert ok.vias == req.vias
    assert ok.call_id == req.call_id
    assert ok.cseq == req.cseq
    assert ok.from_ == req.from_
    assert ok.get_all("Record-Route") == ["<sip:p1;lr>", "<sip:p2;lr>"]
    assert ok.reason == "OK"
    err = build_response(req, 486, to_tag="abc")
    assert err.get("Record-Route") is None
    tagged = build_response(build_request_with_to_tag(req), 200, to_tag="new")
    assert tagged.to.tag == "old"
    assert build_response(req, 299).reason == "Unknown"


def build_request_with_to_tag(req: SipRequest) -> SipRequest:
    return req.replace_header("To", "<sip:bob@biloxi.example.com>;tag=old")


def test_best_effort_error() -> None:
    broken = MINIMAL.replace(b"7 OPTIONS", b"7 INVITE") + b"\r\n"
    resp = best_effort_error(broken, 400, "Bad Request")
    assert resp is not None
    assert resp.status == 400
    assert resp.get("Call-ID") == "c1"
    assert best_effort_error(b"garbage", 400, "x") is None
    assert best_effort_error(MINIMAL.replace(b"Call-ID: c1\r\n", b"") + b"\r\n", 400, "x") is None
    assert best_effort_error(load("response_180.sip"), 400, "x") is None
    ack = MINIMAL.replace(b"OPTIONS sip", b"ACK sip") + b"\r\n"
    assert best_effort_error(ack, 400, "x") is None
    bad_via = MINIMAL.replace(b"SIP/2.0/UDP 127.0.0.1:5070", b"HTTP/1.1 h") + b"\r\n"
    assert best_effort_error(bad_via, 400, "x") is None
    assert best_effort_error(b"\xff\r\n\r\n", 400, "x") is None


# -- header values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "sip:alice@atlanta.com",
        "sips:alice:secret@atlanta.com:5061;transport=tcp",
        "sip:[2001:db8::1]:5070;lr",
        "sip:+1-212-555-1212:1234@gateway.com;user=phone",
        "sip:atlanta.com;maddr=239.255.255.1;ttl=15",
        "sip:alice@atlanta.com?subject=project",
        "tel:+358-555-1234567;postd=pp22",
    ],
)
def test_uri_round_trip(text: str) -> None:
    uri = SipUri.parse(text)
    assert str(uri) == text
    assert SipUri.parse(str(uri)) == uri


def test_uri_fields() -> None:
    uri = SipUri.parse("sips:alice:secret@atlanta.com;transport=TCP")
    assert (uri.user, uri.password, uri.host, uri.port) == ("alice", "secret", "atlanta.com", None)
    assert uri.transport == "tcp"
    assert uri.default_port() == 5061
    v6 = SipUri.parse("sip:[::1]:5070")
    assert v6.host_no_brackets == "::1"
    assert SipUri("sip", None, "::1", 5060).__str__() == "sip:[::1]:5060"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sip:",
        "sip:@host",
        "mailto:a@b",
        "sip:host:0",
        "sip:host:x",
        "sip:[::1",
        "tel:",
        "sip:a b",
    ],
)
def test_bad_uris(text: str) -> None:
    with pytest.raises(SipParseError):
        SipUri.parse(text)


def test_name_addr_forms() -> None:
    a = NameAddr.parse('"A, \\"B\\"" <sip:a@b;lr>;tag=x;q=0.5')
    assert a.display == 'A, \\"B\\"'
    assert a.uri.param("lr") == ""
    assert a.tag == "x"
    b = NameAddr.parse("sip:a@b;tag=y")
    assert b.tag == "y"
    assert not b.bracketed
    assert b.uri.params == ()
    assert NameAddr.parse("Bob <sip:b@c>").display == "Bob"
    assert str(NameAddr.parse("<sip:a@b>").with_tag("t")) == "<sip:a@b>;tag=t"
    assert str(NameAddr.parse('"x y!" <sip:a@b>')) == "x y! <sip:a@b>"
    assert str(NameAddr.parse('"A,B" <sip:a@b>')) == '"A,B" <sip:a@b>'


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<sip:a@b",
        '"x <sip:a@b>',
        "<sip:a@b> junk",
        '"x" sip:a@b',
        "a b",
        'x"y <sip:a@b>',
        "<sip:a@b>;=x",
    ],
)
def test_bad_name_addrs(text: str) -> None:
    with pytest.raises(SipParseError):
        NameAddr.parse(text)


def test_via_forms() -> None:
    v = Via.parse("SIP / 2.0 / UDP  host.example:5062 ;branch=z9hG4bKx;received=1.2.3.4")
    assert (v.transport, v.host, v.port, v.branch) == ("UDP", "host.example", 5062, "z9hG4bKx")
    assert v.with_param("rport", "5062").param("rport") == "5062"
    assert str(Via.parse(str(v))) == str(v)
    for bad in ("SIP/2.0/UDP", "SIP/1.0/UDP h", "HTTP/2.0/UDP h", "SIP/2.0/UDP h;;x"):
        with pytest.raises(SipParseError):
            Via.parse(bad)


def test_cseq() -> None:
    assert str(CSeq.parse("  12   INVITE")) == "12 INVITE"
    for bad in ("INVITE", "1", "99999999999 INVITE", "-1 INVITE", "1 IN VITE"):
        with pytest.raises(SipParseError):
            CSeq.parse(bad)


def test_split_top_level() -> None:
    assert split_top_level('"a,b" <sip:x;a=1,2>, <sip:y>', ",") == [
        '"a,b" <sip:x;a=1,2>',
        " <sip:y>",
    ]
    with pytest.raises(SipParseError):
        split_top_level('"open', ",")


# -- TCP framing ---------------------------------------------------------------------------------


def test_framer_splits_and_joins() -> None:
    one = MINIMAL + b"Content-Length: 3\r\n\r\nabc"
    two = MINIMAL + b"l: 0\r\n\r\n"
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n" + one + two) == [one, two]
    for i, byte in enumerate(one):
        out = framer.feed(bytes([byte]))
        assert out == ([one] if i == len(one) - 1 else [])
    assert framer.buffered_bytes == 0


@pytest.mark.parametrize(
    "data",
    [
        MINIMAL + b"\r\n",
        MINIMAL + b"Content-Length: x\r\n\r\n",
        MINIMAL + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n",
        MINIMAL + b"Content-Length: 70000\r\n\r\n",
        b"A" * 70000,
    ],
)
def test_framer_rejects_unframeable(data: bytes) -> None:
    with pytest.raises(SipParseError):
        StreamFramer().feed(data)


def test_lookups_are_cached_per_message_and_a_copy_starts_afresh() -> None:
    from pausegate.sip.message import parse_message

    raw = (
        b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        b"From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
        b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    m = parse_message(raw)
    assert m.from_ is m.from_  # parsed once
    assert m.get_all("Via") == ["SIP/2.0/UDP h;branch=z9hG4bK1"]
    m.get_all("Via").append("x")  # callers get their own list
    assert len(m.get_all("Via")) == 1
    m2 = m.with_header("Via", "SIP/2.0/UDP z;branch=z9hG4bK2", first=True)
    assert m2.top_via.branch == "z9hG4bK2"
    assert m.top_via.branch == "z9hG4bK1"
    assert m2 != m
    assert parse_message(raw) == m
