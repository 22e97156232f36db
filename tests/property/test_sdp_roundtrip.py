"""Hypothesis: SDP write -> parse -> write is stable; garbage raises only SdpError."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pausegate.calls.model import LocalStream
from pausegate.errors import SdpError
from pausegate.sdp import (
    Connection,
    MediaDescription,
    Origin,
    SessionDescription,
    Timing,
    build_answer,
    build_recorder_offer,
    parse_answer,
    streams_from_offer,
)

TOKEN_CHARS = "!#$%&'*+-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz{|}~"
RESERVED_ATTRIBUTES = {
    "rtpmap",
    "rtcp",
    "label",
    "fmtp",
    "sendrecv",
    "sendonly",
    "recvonly",
    "inactive",
}

FORMATS = ["0", "8", "9", "13", "96", "101"]
tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
# Line values: any text without line breaks, NUL or surrogates.
values = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=30)
digits = st.integers(0, 10**12).map(str)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)


@st.composite
def connections(draw: st.DrawFn) -> Connection:
    if draw(st.booleans()):
        return Connection(draw(ipv4), "IP4")
    return Connection(draw(ipv6), "IP6")


def attribute_lists() -> st.SearchStrategy[list[tuple[str, str | None]]]:
    plain = st.tuples(tokens.filter(lambda n: n not in RESERVED_ATTRIBUTES), st.none() | values)
    known = st.sampled_from(
        [
            ("rtpmap", "96 opus/48000/2"),
            ("rtpmap", "101 telephone-event/8000"),
            ("fmtp", "101 0-16"),
            ("rtcp", "5001"),
            ("rtcp", "5001 IN IP6 ::1"),
            ("rtcp-mux", None),
            ("label", "1"),
            ("sendonly", None),
            ("inactive", None),
            ("ptime", "20"),
        ]
    )
    return st.lists(plain | known, max_size=6)


@st.composite
def media_descriptions(draw: st.DrawFn) -> MediaDescription:
    return MediaDescription(
        media=draw(st.sampled_from(["audio", "video", "text"]) | tokens),
        port=draw(st.integers(0, 65535)),
        proto=draw(st.sampled_from(["RTP/AVP", "RTP/AVPF", "RTP/SAVP", "udp"]) | tokens),
        formats=tuple(draw(st.lists(st.sampled_from(FORMATS) | tokens, max_size=5))),
        port_count=draw(st.none() | st.integers(1, 8)),
        connection=draw(st.none() | connections()),
        bandwidths=tuple(
            draw(st.lists(st.sampled_from(["AS:64", "TIAS:64000", "CT:1"]), max_size=2))
        ),
        attributes=tuple(draw(attribute_lists())),
        info=tuple(draw(st.lists(st.tuples(st.just("i"), values), max_size=1))),
        other=tuple(draw(st.lists(st.tuples(st.sampled_from("kxyz"), values), max_size=2))),
    )


@st.composite
def session_descriptions(draw: st.DrawFn) -> SessionDescription:
    conn = draw(st.none() | connections())
    origin = Origin(
        draw(tokens),
        draw(digits),
        draw(st.integers(0, 2**64)),
        "IN",
        conn.addrtype if conn else "IP4",
        conn.address if conn else "0.0.0.0",
    )
    timing = draw(
        st.lists(
            st.builds(
                Timing,
                st.integers(0, 2**40),
                st.integers(0, 2**40),
                st.lists(values.filter(bool), max_size=2).map(tuple),
            ),
            min_size=1,
            max_size=2,
        )
    )
    return SessionDescription(
        origin=origin,
        session_name=draw(values),
        connection=conn,
        timing=tuple(timing),
        attributes=tuple(draw(attribute_lists())),
        media=tuple(draw(st.lists(media_descriptions(), max_size=4))),
        bandwidths=tuple(draw(st.lists(st.just("AS:128"), max_size=1))),
        info=tuple(draw(st.lists(st.tuples(st.sampled_from("iuep"), values), max_size=3))),
        other=tuple(draw(st.lists(st.tuples(st.sampled_from("zkqy"), values), max_size=2))),
    )


@given(session_descriptions())
def test_write_parse_write_is_stable(sd: SessionDescription) -> None:
    text = str(sd)
    parsed = SessionDescription.parse(text)
    assert parsed == sd
    assert str(parsed) == text
    assert SessionDescription.parse(bytes(sd)) == sd


@given(st.binary(max_size=600))
def test_random_bytes_raise_only_sdp_error(data: bytes) -> None:
    with contextlib.suppress(SdpError):
        SessionDescription.parse(data)


SDP_LINES = st.sampled_from(
    [
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "o=- 1 1 IN IP6 ::1",
        "s=-",
        "t=0 0",
        "c=IN IP4 192.0.2.1",
        "c=IN IP4 0.0.0.0",
        "c=IN IP6 2001:db8::1",
        "c=IN IP4 host.example",
        "m=audio 4000 RTP/AVP 0 8 101",
        "m=audio 0 RTP/AVP 0",
        "m=audio 65535 RTP/AVP 96",
        "m=audio 4000 RTP/SAVP 0",
        "m=video 4002 RTP/AVP 31",
        "m=audio 4000 RTP/AVP 96 97",
        "a=rtpmap:96 opus/48000/2",
        "a=rtpmap:97 telephone-event/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=rtcp:4001",
        "a=rtcp:4001 IN IP4 192.0.2.9",
        "a=rtcp-mux",
        "a=label:1",
        "a=label:2",
        "a=sendonly",
        "a=recvonly",
        "a=inactive",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x",
    ]
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(SDP_LINES | values.map(lambda v: f"a={v}"), min_size=3, max_size=14),
    st.lists(SDP_LINES, min_size=3, max_size=10),
)
def test_sdp_like_offers_and_answers_raise_only_sdp_error(
    lines: list[str], reply: list[str]
) -> None:
    head = ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-"]
    try:
        offer = SessionDescription.parse("\r\n".join(head + lines))
        streams = streams_from_offer(offer)
    except SdpError:
        return
    local = [
        LocalStream(40000 + 4 * i, 40001 + 4 * i, 40002 + 4 * i, 40003 + 4 * i)
        for i in range(len(streams))
    ]
    answer = SessionDescription.parse(bytes(build_answer(offer, streams, local, "::1", 1, 1)))
    assert len(answer.media) == len(offer.media)
    ingress = {p.ingress_rtp_port for p in local}
    assert all(m.port == 0 or m.port in ingress for m in answer.media)
    ours = SessionDescription.parse(
        bytes(build_recorder_offer(streams, local, "192.0.2.7", 1, 1, offer=offer))
    )
    assert [m.label for m in ours.media] == [s.label for s in streams]
    try:
        recorder = SessionDescription.parse("\r\n".join(head + reply))
        answers = parse_answer(ours, recorder)
    except SdpError:
        return
    assert [a.label for a in answers] == [s.label for s in streams]
