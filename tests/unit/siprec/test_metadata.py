"""Recording metadata (RFC 7865): keys, participants, stream labels, safety limits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pausegate.errors import RemoteError
from pausegate.siprec import (
    MetaSession,
    MetaStream,
    Participant,
    SiprecError,
    agent_from_metadata,
    aor_user,
    call_keys,
    parse_metadata,
    split_siprec_body,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "siprec"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_rfc7865_two_party() -> None:
    meta = parse_metadata(load("rfc7865_two_party.xml"))
    sid = "c2Vzc2lvbi1vbmUtMTIzNA=="
    session_id_value = "7a3c1e90b2d44f6a8e5b0c1d2e3f4a5b;remote=0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert meta.datamode == "complete"
    assert meta.sessions == (MetaSession(sid, (session_id_value,)),)
    assert meta.sip_session_ids == (session_id_value,)
    assert meta.call_ids == ()
    assert meta.streams == (
        MetaStream("c3RyZWFtLWN1c3RvbWVyLTE=", "1", sid),
        MetaStream("c3RyZWFtLWFnZW50LTAwMg==", "2", sid),
    )
    assert meta.participants == (
        Participant(
            "cGFydGljaXBhbnQtY3VzdA==", ("sip:+15551230001@carrier.example.net",), ("1",), ("2",)
        ),
        Participant("cGFydGljaXBhbnQtYWdlbnQ=", ("sip:agent-4711@cc.example.com",), ("2",), ("1",)),
    )
    assert [p.participant_id for p in meta.participants_sending("2")] == [
        "cGFydGljaXBhbnQtYWdlbnQ="
    ]
    assert call_keys(meta) == [
        session_id_value,
        "7a3c1e90b2d44f6a8e5b0c1d2e3f4a5b",
        "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        sid,
    ]
    assert agent_from_metadata(meta, re.compile(r"^sip:agent-")) == "agent-4711"
    assert agent_from_metadata(meta, re.compile(r"@cc\.example\.com$")) == "agent-4711"
    assert agent_from_metadata(meta, re.compile(r"example")) == "+15551230001"
    assert agent_from_metadata(meta, re.compile(r"AGENT")) is None  # case-sensitive
    assert agent_from_metadata(meta, re.compile(r"nobody")) is None


def test_cisco_like_callid_extension_and_null_remote() -> None:
    meta = parse_metadata(load("cisco_like.xml"))
    assert meta.call_ids == ("A1B2C3D4-E5F60718-9A0B1C2D-3E4F5061@198.51.100.5",)
    assert call_keys(meta) == [
        "A1B2C3D4-E5F60718-9A0B1C2D-3E4F5061@198.51.100.5",
        "3c1b8f2a9d0e5b4c6a7f8e9d0c1b2a3f;remote=00000000000000000000000000000000",
        "3c1b8f2a9d0e5b4c6a7f8e9d0c1b2a3f",
        "MTAwMDEyMzQ1Njc4OTA=",
    ]
    assert [p.aors for p in meta.participants] == [
        ("sip:2001@198.51.100.5",),
        ("sip:5550100@198.51.100.1",),
    ]
    assert [(p.send, p.recv) for p in meta.participants] == [(("1",), ("2",)), (("2",), ("1",))]
    assert agent_from_metadata(meta, re.compile(r"^sip:2\d{3}@")) == "2001"


def test_oracle_sbc_like_ucid_call_id_and_sips_agent() -> None:
    meta = parse_metadata(load("oracle_sbc_like.xml"))
    assert meta.call_ids == (
        "00FA080018803B69830C8F;encoding=hex",
        "5f2e9a0c-71d3-4c1b-9e55-0a1b2c3d4e5f@10.20.30.40",
    )
    assert meta.sip_session_ids == ()
    assert call_keys(meta)[-1] == "T3JhY2xlU2Vzc2lvbjAwMQ=="
    assert [p.send for p in meta.participants] == [("917",), ("918",)]
    assert agent_from_metadata(meta, re.compile(r"Agent\.")) == "Agent.Jones"


def test_draft_style_opensips_like() -> None:
    meta = parse_metadata(load("draft_style_opensips_like.xml"))
    assert meta.call_ids == ("8d1f3b2a77c94e0c@10.0.0.5",)
    assert meta.sessions == (MetaSession("b3BlbnNpcHNzZXNzaW9u"),)
    assert meta.streams[0] == MetaStream("c3RyZWFtMA==", "0", "b3BlbnNpcHNzZXNzaW9u")
    assert meta.participants == (
        Participant("cGFydHlGUk9N", ("sip:customer@10.0.0.5",), ("0",), ("1",)),
        Participant("cGFydHlUTw==", ("sip:agent_007@pbx.example.com",), ("1",), ("0",)),
    )
    assert call_keys(meta) == ["8d1f3b2a77c94e0c@10.0.0.5", "b3BlbnNpcHNzZXNzaW9u"]
    assert agent_from_metadata(meta, re.compile(r"agent_")) == "agent_007"


def test_metadata_from_the_invite_body() -> None:
    ct = 'multipart/mixed;boundary="pausegate-fixture-7f3a"'
    _, xml = split_siprec_body(ct, load("siprec_invite_body.mime"))
    assert xml is not None
    assert parse_metadata(xml) == parse_metadata(load("rfc7865_two_party.xml"))


def test_lenient_shapes() -> None:
    xml = b"""\xef\xbb\xbf
    <RECORDING xmlns:x="urn:other">
      <x:participant participant_id="p1"><x:nameID aor=" sip:a@h "/></x:participant>
      <participant participant_id="p1"><aor>tel:+4930123;phone-context=x</aor></participant>
      <participant><aor>sip:no-id@h</aor></participant>
      <stream stream_id="s1"/>
      <stream><label>ignored</label></stream>
      <participantstreamassoc participant_id="p1">
        <send>s1</send><recv>unknown</recv><send/>
      </participantstreamassoc>
      <participantstreamassoc><send>s1</send></participantstreamassoc>
      <session><sipSessionID>orphan</sipSessionID></session>
      <x:CallID>c-1</x:CallID><call_id>c-1</call_id><call-id> </call-id>
      <datamode/>
    </RECORDING>"""
    meta = parse_metadata(xml)
    assert meta.participants == (
        Participant("p1", ("sip:a@h", "tel:+4930123;phone-context=x"), ("s1",), ("unknown",)),
    )
    assert meta.streams == (MetaStream("s1"),)
    assert meta.sessions == ()
    assert meta.sip_session_ids == ("orphan",)
    assert meta.call_ids == ("c-1",)
    assert meta.datamode is None
    assert call_keys(meta) == ["c-1", "orphan"]
    assert agent_from_metadata(meta, re.compile(r"^tel:")) == "+4930123"


@pytest.mark.parametrize(
    ("aor", "user"),
    [
        ("sip:alice@example.com", "alice"),
        ("<sips:bob@example.com;transport=tls>", "bob"),
        ("sip:carol:secret@example.com", "carol"),
        ("sip:+1555;phone-context=x@example.com", "+1555"),
        ("SIP:Dave@example.com", "Dave"),
        ("tel:+15550100", "+15550100"),
        ("sip:example.com", None),
        ("sip:@example.com", None),
        ("mailto:x@example.com", None),
        ("alice", None),
    ],
)
def test_aor_user(aor: str, user: str | None) -> None:
    assert aor_user(aor) == user


def test_agent_skips_aors_without_user_part() -> None:
    xml = (
        b"<recording xmlns='urn:ietf:params:xml:ns:recording:1'>"
        b"<participant participant_id='a'><nameID aor='sip:agents.example.com'/></participant>"
        b"<participant participant_id='b'><nameID aor='sip:7001@agents.example.com'/></participant>"
        b"</recording>"
    )
    assert agent_from_metadata(parse_metadata(xml), re.compile("agents")) == "7001"


@pytest.mark.parametrize(
    ("xml", "defect"),
    [
        (b"", "not well-formed"),
        (b"<recording>", "not well-formed"),
        (b"<recording></recordin>", "not well-formed"),
        (b"not xml at all", "not well-formed"),
        (b"<other/>", "root element is not <recording>"),
        (b"<recording>\xff</recording>", "not UTF-8"),
        (b'<?xml version="1.0" encoding="ISO-8859-1"?><recording/>', "encoding other than UTF-8"),
        (b"\xff\xfe<\x00r\x00/\x00>\x00", "not UTF-8"),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><recording>&a;</recording>',
            "DOCTYPE or ENTITY",
        ),
        (b'<!doctype recording SYSTEM "http://127.0.0.1/x.dtd"><recording/>', "DOCTYPE"),
        (b"<recording>&undefined;</recording>", "not well-formed"),
        (b"<recording>" + b" " * 262144 + b"</recording>", "too large"),
    ],
)
def test_bad_xml_is_siprec_error(xml: bytes, defect: str) -> None:
    with pytest.raises(SiprecError, match=defect) as e:
        parse_metadata(xml)
    assert isinstance(e.value, RemoteError)


def test_size_limit_is_configurable_and_deep_nesting_is_fine() -> None:
    with pytest.raises(SiprecError, match="too large"):
        parse_metadata(b"<recording/>", max_bytes=5)
    deep = b"<recording>" + b"<a>" * 20000 + b"</a>" * 20000 + b"</recording>"
    assert parse_metadata(deep).participants == ()


def test_utf8_declaration_accepted() -> None:
    xml = b"<?xml version='1.0' encoding='us-ascii'?><recording><call-id>k</call-id></recording>"
    assert parse_metadata(xml).call_ids == ("k",)
