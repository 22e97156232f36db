"""multipart/mixed bodies of SIPREC INVITEs (RFC 2046 §5.1, RFC 7866 §9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pausegate.errors import RemoteError
from pausegate.sdp import SessionDescription
from pausegate.siprec import (
    BodyPart,
    SiprecError,
    build_multipart,
    parse_multipart,
    split_siprec_body,
)
from pausegate.siprec.multipart import content_type_parameters

FIXTURES = Path(__file__).parents[2] / "fixtures"
INVITE_CT = 'multipart/mixed;boundary="pausegate-fixture-7f3a"'


def invite_body() -> bytes:
    return (FIXTURES / "siprec" / "siprec_invite_body.mime").read_bytes()


def test_fixture_invite_body_parts() -> None:
    parts = parse_multipart(INVITE_CT, invite_body())
    assert [p.media_type for p in parts] == ["application/sdp", "application/rs-metadata+xml"]
    assert parts[0].headers == {}
    assert parts[1].header("content-disposition") == "recording-session"
    assert parts[1].headers == {"Content-Disposition": "recording-session"}
    sdp_text = (FIXTURES / "sdp" / "cisco_siprec_offer.sdp").read_text().replace("\n", "\r\n")
    assert parts[0].body == sdp_text.encode()
    assert parts[1].body.startswith(b"<?xml")
    assert parts[1].body.endswith(b"</recording>\r\n")


def test_split_siprec_body_multipart_and_plain() -> None:
    sdp, xml = split_siprec_body(INVITE_CT, invite_body())
    assert sdp is not None
    assert xml is not None
    assert [m.label for m in SessionDescription.parse(sdp).media] == ["1", "2"]
    assert b"<recording" in xml
    assert split_siprec_body("application/sdp", b"v=0\r\n") == (b"v=0\r\n", None)
    assert split_siprec_body("Application/SDP; charset=utf-8", b"x") == (b"x", None)
    assert split_siprec_body("application/rs-metadata+xml", b"<r/>") == (None, b"<r/>")
    assert split_siprec_body("text/plain", b"hello") == (None, None)
    assert split_siprec_body("", b"") == (None, None)


def test_split_keeps_first_of_each_and_ignores_others() -> None:
    parts = [
        BodyPart("text/plain", b"note"),
        BodyPart("application/sdp", b"first"),
        BodyPart("application/sdp", b"second"),
        BodyPart("application/rs-metadata", b"<old/>"),
    ]
    ct, body = build_multipart(parts, "b1")
    assert split_siprec_body(ct, body) == (b"first", b"<old/>")
    ct2, body2 = build_multipart([BodyPart("application/sdp", b"only")], "b1")
    assert split_siprec_body(ct2, body2) == (b"only", None)


def test_build_writes_rfc2046_shape_and_round_trips() -> None:
    parts = [
        BodyPart("application/sdp", b"v=0\r\n"),
        BodyPart(
            "application/rs-metadata+xml",
            b"<recording/>",
            {"Content-Disposition": "recording-session", "Content-ID": "<m1@pg>"},
        ),
    ]
    ct, body = build_multipart(parts, "unique-boundary-1")
    assert ct == "multipart/mixed;boundary=unique-boundary-1"
    assert body == (
        b"--unique-boundary-1\r\n"
        b"Content-Type: application/sdp\r\n\r\n"
        b"v=0\r\n\r\n"
        b"--unique-boundary-1\r\n"
        b"Content-Type: application/rs-metadata+xml\r\n"
        b"Content-Disposition: recording-session\r\n"
        b"Content-ID: <m1@pg>\r\n\r\n"
        b"<recording/>\r\n"
        b"--unique-boundary-1--\r\n"
    )
    assert parse_multipart(ct, body) == parts


def test_build_quotes_boundary_with_specials_and_refuses_bad_input() -> None:
    ct, body = build_multipart([BodyPart("text/plain", b"x")], "a b:c")
    assert ct == 'multipart/mixed;boundary="a b:c"'
    assert parse_multipart(ct, body) == [BodyPart("text/plain", b"x")]
    with pytest.raises(ValueError, match="boundary occurs inside"):
        build_multipart([BodyPart("text/plain", b"x\r\n--b\r\n")], "b")
    with pytest.raises(ValueError, match="valid boundary"):
        build_multipart([BodyPart("text/plain", b"x")], "")
    with pytest.raises(ValueError, match="valid boundary"):
        build_multipart([BodyPart("text/plain", b"x")], "x" * 71)
    with pytest.raises(ValueError, match="valid boundary"):
        build_multipart([], "b")
    with pytest.raises(ValueError, match="line break"):
        build_multipart([BodyPart("text/plain", b"x", {"X": "a\r\nInjected: 1"})], "b")


def test_lf_only_padding_preamble_epilogue_folding() -> None:
    body = (
        b"preamble --b not a delimiter\n"
        b"--b  \t\n"
        b"content-type: application/sdp\n"
        b"X-Folded: one\n"
        b"  two\n"
        b"\n"
        b"v=0\n"
        b"--bx is not a delimiter either\n"
        b"\n--b\n"
        b"\n"
        b"default type\n"
        b"--b--  \n"
        b"epilogue --b\n"
    )
    parts = parse_multipart("multipart/mixed; boundary=b", body)
    assert parts == [
        BodyPart(
            "application/sdp", b"v=0\n--bx is not a delimiter either\n", {"X-Folded": "one two"}
        ),
        BodyPart("text/plain", b"default type"),
    ]


def test_close_delimiter_at_end_without_line_end() -> None:
    assert parse_multipart("multipart/mixed;boundary=z", b"--z\r\n\r\nx\r\n--z--") == [
        BodyPart("text/plain", b"x")
    ]


@pytest.mark.parametrize(
    ("content_type", "body", "defect"),
    [
        ("application/sdp", b"", "not multipart"),
        ("multipart/mixed", b"--b\r\n\r\nx\r\n--b--\r\n", "no boundary parameter"),
        ("multipart/mixed;boundary=", b"", "no boundary parameter"),
        ("multipart/mixed;boundary=" + "x" * 71, b"", "invalid characters or length"),
        ("multipart/mixed;boundary=b", b"no delimiters at all", "no delimiter line"),
        ("multipart/mixed;boundary=b", b"--b\r\n\r\nx\r\n", "no closing delimiter"),
        (
            "multipart/mixed;boundary=b",
            b"--b\r\nContent-Type: a/b\r\nno blank\r\n--b--",
            "blank line",
        ),
        (
            "multipart/mixed;boundary=b",
            b"--b\r\nbad header line\r\n\r\nx\r\n--b--",
            "malformed header",
        ),
        ("multipart/mixed;boundary=b", b"--b\r\nA\xff: 1\r\n\r\nx\r\n--b--", "not UTF-8"),
        ("multipart/mixed;boundary=b", b"--b\r\n\r\nx\r\n" * 17 + b"--b--", "too many parts"),
    ],
)
def test_defects(content_type: str, body: bytes, defect: str) -> None:
    with pytest.raises(SiprecError, match=defect) as e:
        parse_multipart(content_type, body)
    assert isinstance(e.value, RemoteError)


def test_split_propagates_broken_multipart() -> None:
    with pytest.raises(SiprecError):
        split_siprec_body("multipart/mixed;boundary=b", b"--b\r\n\r\nx")


def test_content_type_parameters() -> None:
    assert content_type_parameters('multipart/mixed; Boundary="a\\"b"; x=1') == {
        "boundary": 'a"b',
        "x": "1",
    }
    assert content_type_parameters("multipart/mixed;junk;boundary=q") == {"boundary": "q"}
    assert content_type_parameters("multipart/mixed;junk") == {}


def test_build_refuses_boundary_in_headers() -> None:
    with pytest.raises(ValueError, match="boundary occurs inside"):
        build_multipart([BodyPart("text/plain", b"x", {"--b": "1"})], "b")
