"""Hypothesis: multipart build -> parse round-trips; garbage raises only SiprecError."""

from __future__ import annotations

import contextlib
import re
from xml.sax.saxutils import quoteattr

from hypothesis import given
from hypothesis import strategies as st

from pausegate.siprec import (
    BodyPart,
    SiprecError,
    agent_from_metadata,
    build_multipart,
    call_keys,
    parse_metadata,
    parse_multipart,
    split_siprec_body,
)

BCHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'()+_,-./:=?"
boundaries = st.text(BCHARS, min_size=1, max_size=70)
header_names = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_", min_size=1, max_size=20
).filter(lambda n: n.lower() != "content-type")
header_values = st.text(
    st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=30
).map(str.strip)
content_types = st.sampled_from(
    ["application/sdp", "application/rs-metadata+xml", "text/plain; charset=utf-8", "x/y"]
)


@st.composite
def parts(draw: st.DrawFn) -> BodyPart:
    headers = draw(st.dictionaries(header_names, header_values, max_size=3))
    return BodyPart(draw(content_types), draw(st.binary(max_size=200)), headers)


@given(st.lists(parts(), min_size=1, max_size=5), boundaries)
def test_build_parse_round_trip(body_parts: list[BodyPart], boundary: str) -> None:
    try:
        content_type, body = build_multipart(body_parts, boundary)
    except ValueError:
        dash = f"--{boundary}"
        assert any(
            dash.encode() in p.body or dash in p.content_type or dash in str(p.headers)
            for p in body_parts
        )
        return
    assert parse_multipart(content_type, body) == body_parts
    sdp, _ = split_siprec_body(content_type, body)
    first_sdp = next((p.body for p in body_parts if p.media_type == "application/sdp"), None)
    assert sdp == first_sdp


@given(st.binary(max_size=400), boundaries)
def test_random_bodies_raise_only_siprec_error(body: bytes, boundary: str) -> None:
    with contextlib.suppress(SiprecError):
        parse_multipart(f'multipart/mixed; boundary="{boundary}"', body)


@given(
    st.lists(
        st.sampled_from([b"--b", b"--b--", b"\r\n", b"\n", b"Content-Type: a/b", b":", b" ", b"x"]),
        max_size=30,
    ).map(b"".join)
)
def test_delimiter_soup_raises_only_siprec_error(body: bytes) -> None:
    with contextlib.suppress(SiprecError):
        parse_multipart("multipart/mixed;boundary=b", body)


@given(st.text(max_size=80), st.binary(max_size=100))
def test_random_content_types_raise_only_siprec_error(content_type: str, body: bytes) -> None:
    with contextlib.suppress(SiprecError):
        split_siprec_body(content_type, body)


@given(st.binary(max_size=400))
def test_random_metadata_bytes_raise_only_siprec_error(data: bytes) -> None:
    with contextlib.suppress(SiprecError):
        parse_metadata(data)


ELEMENTS = [
    "recording", "session", "sipSessionID", "participant", "nameID", "aor", "stream",
    "label", "participantstreamassoc", "send", "recv", "call-id", "datamode", "x:callid",
]  # fmt: skip


@st.composite
def xml_soup(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(st.sampled_from(ELEMENTS))
    attrs = draw(
        st.dictionaries(
            st.sampled_from(["participant_id", "stream_id", "session_id", "id", "aor"]),
            st.text("abc:@ ", max_size=6),
            max_size=2,
        )
    )
    attr_text = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
    children = draw(st.lists(xml_soup(depth + 1), max_size=3)) if depth < 3 else []
    text = draw(st.text("ab ;=", max_size=5))
    ns = ' xmlns:x="urn:x"' if depth == 0 else ""
    return f"<{name}{ns}{attr_text}>{text}{''.join(children)}</{name}>"


@given(xml_soup())
def test_recording_like_xml_parses_or_raises_siprec_error(xml: str) -> None:
    try:
        meta = parse_metadata(xml.encode())
    except SiprecError:
        return
    keys = call_keys(meta)
    assert len(keys) == len(set(keys))
    assert all(keys)
    agent = agent_from_metadata(meta, re.compile("@"))
    assert agent is None or agent


@given(
    st.lists(
        st.text("abcdefghij0123456789", min_size=1, max_size=8), min_size=1, max_size=4, unique=True
    ),
    st.lists(st.text("0123456789abcdef-@.", min_size=1, max_size=20), max_size=3),
)
def test_generated_metadata_is_read_back(users: list[str], call_ids: list[str]) -> None:
    participants = "".join(
        f'<participant participant_id="p{i}"><nameID aor="sip:{u}@h.example"/></participant>'
        f'<stream stream_id="s{i}" session_id="S"><label>{i}</label></stream>'
        f'<participantstreamassoc participant_id="p{i}"><send>s{i}</send></participantstreamassoc>'
        for i, u in enumerate(users)
    )
    ids = "".join(f"<call-id>{c}</call-id>" for c in call_ids)
    xml = (
        '<recording xmlns="urn:ietf:params:xml:ns:recording:1">'
        f'<session session_id="S"><sipSessionID>abc;remote=def</sipSessionID></session>'
        f"{ids}{participants}</recording>"
    ).encode()
    meta = parse_metadata(xml)
    assert [p.aors for p in meta.participants] == [(f"sip:{u}@h.example",) for u in users]
    assert [p.send for p in meta.participants] == [(str(i),) for i in range(len(users))]
    assert call_keys(meta) == list(dict.fromkeys([*call_ids, "abc;remote=def", "abc", "def", "S"]))
    assert agent_from_metadata(meta, re.compile(re.escape(f"sip:{users[-1]}@"))) == users[-1]
