"""Offer/answer for the recording B2BUA (RFC 3264) with hand-computed expectations."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pausegate.calls.model import Direction, LocalStream, StreamAnswer, StreamOffer
from pausegate.errors import SdpError
from pausegate.sdp import (
    SessionDescription,
    UnsupportedMedia,
    build_answer,
    build_recorder_offer,
    is_session_refresh,
    parse_answer,
    streams_from_offer,
)
from pausegate_codecs.registry import CN, G722, OPUS, PCMA, PCMU, TELEPHONE_EVENT

FIXTURES = Path(__file__).parents[2] / "fixtures" / "sdp"
ADVERTISE = "203.0.113.1"
L1 = LocalStream(40000, 40001, 40002, 40003)
L2 = LocalStream(40004, 40005, 40006, 40007)


def load(name: str) -> SessionDescription:
    return SessionDescription.parse((FIXTURES / name).read_bytes())


def sdp(*lines: str) -> SessionDescription:
    return SessionDescription.parse("".join(f"{line}\r\n" for line in lines))


HEAD = ("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0")


def crlf(*lines: str) -> str:
    return "".join(f"{line}\r\n" for line in lines)


# --- streams_from_offer -------------------------------------------------------------


def test_freeswitch_offer_stream() -> None:
    [stream] = streams_from_offer(load("freeswitch_offer.sdp"))
    assert stream == StreamOffer(
        label="0",
        rtp=("192.0.2.10", 16384),
        rtcp=("192.0.2.10", 16385),
        rtcp_mux=False,
        codecs={0: PCMU, 8: PCMA, 9: G722, 101: TELEPHONE_EVENT, 13: CN},
        direction=Direction.SENDRECV,
    )
    assert list(stream.codecs) == [0, 8, 9, 101, 13]


def test_baresip_offer_stream_with_opus_and_rtcp_mux() -> None:
    [stream] = streams_from_offer(load("baresip_offer.sdp"))
    assert stream == StreamOffer(
        "0", ("127.0.0.1", 10000), None, True, {96: OPUS, 0: PCMU, 8: PCMA, 101: TELEPHONE_EVENT}
    )


def test_cisco_siprec_two_labelled_sendonly_streams() -> None:
    streams = streams_from_offer(load("cisco_siprec_offer.sdp"))
    assert [s.label for s in streams] == ["1", "2"]
    assert [s.rtp for s in streams] == [("198.51.100.5", 16386), ("198.51.100.5", 16388)]
    assert [s.rtcp for s in streams] == [("198.51.100.5", 16387), ("198.51.100.5", 16389)]
    assert all(s.direction is Direction.SENDONLY for s in streams)
    assert all(s.codecs == {0: PCMU, 101: TELEPHONE_EVENT} for s in streams)


def test_ipv6_address_normalised_and_mux() -> None:
    [stream] = streams_from_offer(load("ipv6_mux_offer.sdp"))
    assert stream.rtp == ("2001:db8::10", 30000)
    assert stream.rtcp is None
    assert stream.rtcp_mux
    assert stream.codecs == {8: PCMA, 101: TELEPHONE_EVENT}


def test_video_m_line_skipped_index_kept() -> None:
    [stream] = streams_from_offer(load("video_offer.sdp"))
    assert stream.label == "0"
    assert stream.codecs == {9: G722, 0: PCMU, 101: TELEPHONE_EVENT}


def test_index_label_after_a_video_line() -> None:
    offer = sdp(*HEAD, "m=video 5000 RTP/AVP 31", "m=audio 4000 RTP/AVP 0")
    assert [s.label for s in streams_from_offer(offer)] == ["1"]


def test_savp_offer_is_488() -> None:
    with pytest.raises(UnsupportedMedia, match="RTP/SAVP offered; SRTP not implemented yet") as e:
        streams_from_offer(load("savp_offer.sdp"))
    assert e.value.status == 488
    assert isinstance(e.value, SdpError)


@pytest.mark.parametrize(
    ("proto", "message"),
    [
        ("RTP/SAVPF", "RTP/SAVPF offered; SRTP not implemented yet"),
        ("UDP/TLS/RTP/SAVPF", "SRTP not implemented yet"),
        ("TCP/RTP/AVP", "unsupported profile"),
        ("udp", "unsupported profile"),
    ],
)
def test_other_profiles_are_488(proto: str, message: str) -> None:
    with pytest.raises(UnsupportedMedia, match=message):
        streams_from_offer(sdp(*HEAD, f"m=audio 4000 {proto} 0"))


def test_avpf_accepted_and_answered_in_kind() -> None:
    offer = sdp(*HEAD, "m=audio 4000 RTP/AVPF 0")
    streams = streams_from_offer(offer)
    answer = build_answer(offer, streams, [L1], ADVERTISE, 1, 1)
    assert answer.media[0].proto == "RTP/AVPF"


def test_disabled_savp_line_is_not_refused() -> None:
    offer = sdp(*HEAD, "m=audio 0 RTP/SAVP 0", "m=audio 4000 RTP/AVP 0")
    streams = streams_from_offer(offer)
    assert [(s.label, s.rtp, s.direction) for s in streams] == [
        ("0", None, Direction.INACTIVE),
        ("1", ("192.0.2.1", 4000), Direction.SENDRECV),
    ]


@pytest.mark.parametrize(
    "m_lines",
    [
        ("m=audio 4000 RTP/AVP 18",),  # G.729 only
        ("m=audio 4000 RTP/AVP 101", "a=rtpmap:101 telephone-event/8000"),
        ("m=audio 4000 RTP/AVP 13",),  # CN alone
        ("m=audio 4000 RTP/AVP 96",),  # dynamic without rtpmap
        ("m=video 4000 RTP/AVP 31",),
        (),
    ],
)
def test_no_supported_audio_codec_is_488(m_lines: tuple[str, ...]) -> None:
    with pytest.raises(UnsupportedMedia, match="no audio stream with a supported codec") as e:
        streams_from_offer(sdp(*HEAD, *m_lines))
    assert e.value.status == 488


def test_unsupported_audio_line_among_supported_is_skipped() -> None:
    offer = sdp(*HEAD, "m=audio 4000 RTP/AVP 18", "m=audio 4002 RTP/AVP 8 0")
    [stream] = streams_from_offer(offer)
    assert stream.label == "1"
    assert list(stream.codecs) == [8, 0]


def test_static_pt_with_rtpmap_is_looked_up_by_name_and_odd_formats_ignored() -> None:
    offer = sdp(*HEAD, "m=audio 4000 RTP/AVP 0 x 200 97", "a=rtpmap:97 L16/16000")
    [stream] = streams_from_offer(offer)
    assert set(stream.codecs) == {0, 97}
    assert stream.codecs[97].clock_rate == 16000


def test_hold_by_unspecified_address() -> None:
    offer = sdp(*HEAD[:3], "c=IN IP4 0.0.0.0", "t=0 0", "m=audio 4000 RTP/AVP 0")
    [stream] = streams_from_offer(offer)
    assert (stream.rtp, stream.rtcp, stream.direction) == (None, None, Direction.SENDONLY)
    offer6 = sdp(*HEAD[:3], "c=IN IP6 ::", "t=0 0", "m=audio 4000 RTP/AVP 0", "a=recvonly")
    [stream6] = streams_from_offer(offer6)
    assert (stream6.rtp, stream6.direction) == (None, Direction.INACTIVE)


@pytest.mark.parametrize(
    ("attribute", "direction"),
    [
        ("a=inactive", Direction.INACTIVE),
        ("a=sendonly", Direction.SENDONLY),
        ("a=recvonly", Direction.RECVONLY),
        ("a=sendrecv", Direction.SENDRECV),
    ],
)
def test_direction_attributes(attribute: str, direction: Direction) -> None:
    [stream] = streams_from_offer(sdp(*HEAD, "m=audio 4000 RTP/AVP 0", attribute))
    assert stream.direction is direction
    assert stream.rtp == ("192.0.2.1", 4000)


def test_session_level_direction_applies() -> None:
    [stream] = streams_from_offer(sdp(*HEAD, "a=sendonly", "m=audio 4000 RTP/AVP 0"))
    assert stream.direction is Direction.SENDONLY


def test_port_zero_stream() -> None:
    [stream] = streams_from_offer(sdp(*HEAD, "m=audio 0 RTP/AVP 0"))
    assert (stream.rtp, stream.rtcp, stream.direction) == (None, None, Direction.INACTIVE)


def test_rtcp_attribute_variants() -> None:
    [port_only] = streams_from_offer(sdp(*HEAD, "m=audio 4000 RTP/AVP 0", "a=rtcp:5001"))
    assert port_only.rtcp == ("192.0.2.1", 5001)
    [other_host] = streams_from_offer(
        sdp(*HEAD, "m=audio 4000 RTP/AVP 0", "a=rtcp:5001 IN IP6 2001:DB8::5")
    )
    assert other_host.rtcp == ("2001:db8::5", 5001)
    [unspecified] = streams_from_offer(
        sdp(*HEAD, "m=audio 4000 RTP/AVP 0", "a=rtcp:5001 IN IP4 0.0.0.0")
    )
    assert unspecified.rtcp is None
    [top_port] = streams_from_offer(sdp(*HEAD, "m=audio 65535 RTP/AVP 0"))
    assert top_port.rtcp is None


def test_offer_defects() -> None:
    with pytest.raises(SdpError, match="same label"):
        streams_from_offer(
            sdp(*HEAD, "m=audio 4000 RTP/AVP 0", "a=label:x", "m=audio 4002 RTP/AVP 0", "a=label:x")
        )
    with pytest.raises(SdpError, match="has no c= line"):
        streams_from_offer(sdp(*HEAD[:3], "t=0 0", "m=audio 4000 RTP/AVP 0"))
    with pytest.raises(SdpError, match="host name"):
        streams_from_offer(sdp(*HEAD, "m=audio 4000 RTP/AVP 0", "c=IN IP4 media.example.com"))
    with pytest.raises(SdpError, match="host name"):
        streams_from_offer(sdp(*HEAD, "m=audio 4000 RTP/AVP 0", "a=rtcp:9 IN IP4 rtcp.example"))


# --- build_answer -------------------------------------------------------------------


def test_answer_to_freeswitch_offer() -> None:
    offer = load("freeswitch_offer.sdp")
    answer = build_answer(offer, streams_from_offer(offer), [L1], ADVERTISE, 99, 1)
    assert str(answer) == crlf(
        "v=0",
        "o=pausegate 99 1 IN IP4 203.0.113.1",
        "s=-",
        "c=IN IP4 203.0.113.1",
        "t=0 0",
        "m=audio 40000 RTP/AVP 0 8 9 101 13",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=rtpmap:13 CN/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=rtcp:40001",
        "a=recvonly",
    )


def test_answer_to_baresip_offer_with_rtcp_mux() -> None:
    offer = load("baresip_offer.sdp")
    answer = build_answer(offer, streams_from_offer(offer), [L1], ADVERTISE, 5, 2)
    assert str(answer).endswith(
        crlf(
            "m=audio 40000 RTP/AVP 96 0 8 101",
            "a=rtpmap:96 opus/48000/2",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:96 stereo=1;sprop-stereo=1",
            "a=fmtp:101 0-15",
            "a=ptime:20",
            "a=rtcp:40000",
            "a=rtcp-mux",
            "a=recvonly",
        )
    )


def test_answer_to_siprec_offer_keeps_labels_and_order() -> None:
    offer = load("cisco_siprec_offer.sdp")
    answer = build_answer(offer, streams_from_offer(offer), [L1, L2], ADVERTISE, 3, 4)
    assert [(m.port, m.label, m.direction) for m in answer.media] == [
        (40000, "1", Direction.RECVONLY),
        (40004, "2", Direction.RECVONLY),
    ]
    assert [m.rtcp.port if m.rtcp else None for m in answer.media] == [40001, 40005]


def test_answer_ipv6() -> None:
    offer = load("ipv6_mux_offer.sdp")
    answer = build_answer(offer, streams_from_offer(offer), [L1], "2001:db8::1", 1, 1)
    text = str(answer)
    assert "o=pausegate 1 1 IN IP6 2001:db8::1\r\n" in text
    assert "c=IN IP6 2001:db8::1\r\n" in text
    assert answer.media[0].rtcp_mux


def test_answer_rejects_video_with_port_zero() -> None:
    offer = load("video_offer.sdp")
    answer = build_answer(offer, streams_from_offer(offer), [L1], ADVERTISE, 1, 1)
    assert len(answer.media) == 2
    assert answer.media[0].port == 40000
    video = answer.media[1]
    assert (video.media, video.port, video.proto, video.formats) == (
        "video",
        0,
        "RTP/AVP",
        ("109",),
    )
    assert video.attributes == ()
    assert str(answer).endswith("m=video 0 RTP/AVP 109\r\n")


def test_answer_rejects_unsupported_audio_line() -> None:
    offer = sdp(*HEAD, "m=audio 4000 RTP/AVP 18", "m=audio 4002 RTP/AVP 8 0")
    answer = build_answer(offer, streams_from_offer(offer), [L1], ADVERTISE, 1, 1)
    assert [(m.port, m.formats) for m in answer.media] == [(0, ("18",)), (40000, ("8", "0"))]


@pytest.mark.parametrize(
    ("offered", "answered"),
    [
        ("a=sendrecv", Direction.RECVONLY),
        ("a=sendonly", Direction.RECVONLY),
        ("a=recvonly", Direction.INACTIVE),
        ("a=inactive", Direction.INACTIVE),
    ],
)
def test_answer_direction_rfc3264_6_1(offered: str, answered: Direction) -> None:
    offer = sdp(*HEAD, "m=audio 4000 RTP/AVP 0", offered)
    answer = build_answer(offer, streams_from_offer(offer), [L1], ADVERTISE, 1, 1)
    assert answer.media[0].direction is answered


def test_answer_to_old_style_hold_is_recvonly() -> None:
    offer = sdp(*HEAD[:3], "c=IN IP4 0.0.0.0", "t=0 0", "m=audio 4000 RTP/AVP 0")
    answer = build_answer(offer, streams_from_offer(offer), [L1], ADVERTISE, 1, 1)
    assert answer.media[0].direction is Direction.RECVONLY


def test_answer_forced_inactive() -> None:
    offer = load("cisco_siprec_offer.sdp")
    answer = build_answer(
        offer, streams_from_offer(offer), [L1, L2], ADVERTISE, 1, 2, inactive=True
    )
    assert all(m.direction is Direction.INACTIVE for m in answer.media)
    assert all(m.port != 0 for m in answer.media)


def test_answer_port_zero_stays_zero() -> None:
    offer = sdp(*HEAD, "m=audio 0 RTP/AVP 0", "m=audio 4000 RTP/AVP 0")
    answer = build_answer(offer, streams_from_offer(offer), [L1, L2], ADVERTISE, 1, 1)
    assert [m.port for m in answer.media] == [0, 40004]


def test_answer_without_stream_for_a_line_rejects_it() -> None:
    offer = load("cisco_siprec_offer.sdp")
    streams = streams_from_offer(offer)
    answer = build_answer(offer, streams[1:], [L2], ADVERTISE, 1, 1)
    assert [m.port for m in answer.media] == [0, 40004]


def test_answer_username_and_length_mismatch() -> None:
    offer = load("freeswitch_offer.sdp")
    streams = streams_from_offer(offer)
    answer = build_answer(offer, streams, [L1], ADVERTISE, 1, 1, sdp_username="pg")
    assert answer.origin.username == "pg"
    with pytest.raises(ValueError, match="one LocalStream"):
        build_answer(offer, streams, [], ADVERTISE, 1, 1)


# --- build_recorder_offer -----------------------------------------------------------


def test_recorder_offer_for_siprec_streams_with_offer() -> None:
    offer = load("cisco_siprec_offer.sdp")
    streams = streams_from_offer(offer)
    ours = build_recorder_offer(streams, [L1, L2], ADVERTISE, 7, 1, offer=offer)
    block = ("a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16")
    assert str(ours) == crlf(
        "v=0",
        "o=pausegate 7 1 IN IP4 203.0.113.1",
        "s=-",
        "c=IN IP4 203.0.113.1",
        "t=0 0",
        "m=audio 40002 RTP/AVP 0 101",
        *block,
        "a=ptime:20",
        "a=label:1",
        "a=rtcp:40003",
        "a=sendonly",
        "m=audio 40006 RTP/AVP 0 101",
        *block,
        "a=ptime:20",
        "a=label:2",
        "a=rtcp:40007",
        "a=sendonly",
    )


def test_recorder_offer_without_telephony_offer() -> None:
    streams = streams_from_offer(load("baresip_offer.sdp"))
    ours = build_recorder_offer(streams, [L1], "2001:db8::1", 7, 3, sdp_username="pg")
    assert str(ours) == crlf(
        "v=0",
        "o=pg 7 3 IN IP6 2001:db8::1",
        "s=-",
        "c=IN IP6 2001:db8::1",
        "t=0 0",
        "m=audio 40002 RTP/AVP 96 0 8 101",
        "a=rtpmap:96 opus/48000/2",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=label:0",
        "a=rtcp:40003",
        "a=rtcp-mux",
        "a=sendonly",
    )


def test_recorder_offer_inactive_when_asked_or_telephony_idle() -> None:
    streams = streams_from_offer(load("cisco_siprec_offer.sdp"))
    paused = build_recorder_offer(streams, [L1, L2], ADVERTISE, 7, 2, inactive=True)
    assert all(m.direction is Direction.INACTIVE for m in paused.media)
    idle = [replace(streams[0], direction=Direction.INACTIVE), streams[1]]
    held = build_recorder_offer(idle, [L1, L2], ADVERTISE, 7, 2)
    assert [m.direction for m in held.media] == [Direction.INACTIVE, Direction.SENDONLY]
    with pytest.raises(ValueError, match="one LocalStream"):
        build_recorder_offer(streams, [L1], ADVERTISE, 7, 2)


def test_recorder_offer_reads_back_as_the_same_streams() -> None:
    offer = load("freeswitch_offer.sdp")
    streams = streams_from_offer(offer)
    ours = SessionDescription.parse(bytes(build_recorder_offer(streams, [L1], ADVERTISE, 1, 1)))
    [back] = streams_from_offer(ours)
    assert back.codecs == streams[0].codecs
    assert back.label == streams[0].label
    assert back.rtp == (ADVERTISE, L1.egress_rtp_port)


# --- parse_answer -------------------------------------------------------------------


def _siprec_our_offer() -> SessionDescription:
    offer = load("cisco_siprec_offer.sdp")
    return build_recorder_offer(streams_from_offer(offer), [L1, L2], ADVERTISE, 7, 1, offer=offer)


def test_parse_recorder_answer() -> None:
    answers = parse_answer(_siprec_our_offer(), load("recorder_answer.sdp"))
    assert answers == [
        StreamAnswer(
            "1", ("192.0.2.99", 50000), ("192.0.2.99", 50001), False,
            {0: PCMU, 101: TELEPHONE_EVENT},
        ),
        StreamAnswer("2", ("192.0.2.99", 50002), ("192.0.2.98", 50009), False, {0: PCMU}),
    ]  # fmt: skip


def _answer(*media: str) -> SessionDescription:
    return sdp("v=0", "o=srs 1 1 IN IP4 192.0.2.99", "s=-", "c=IN IP4 192.0.2.99", "t=0 0", *media)


def test_parse_answer_mux_rejected_inactive_and_hold() -> None:
    baresip = streams_from_offer(load("baresip_offer.sdp"))
    ours = build_recorder_offer(baresip, [L1], ADVERTISE, 1, 1)
    [muxed] = parse_answer(ours, _answer("m=audio 6000 RTP/AVP 0", "a=rtcp-mux", "a=recvonly"))
    assert (muxed.rtp, muxed.rtcp, muxed.rtcp_mux) == (("192.0.2.99", 6000), None, True)
    [plain] = parse_answer(ours, _answer("m=audio 6000 RTP/AVP 0"))
    assert (plain.rtcp, plain.rtcp_mux) == (("192.0.2.99", 6001), False)
    [rejected] = parse_answer(ours, _answer("m=audio 0 RTP/AVP 0"))
    assert rejected == StreamAnswer("0", None, None, False)
    [inactive] = parse_answer(ours, _answer("m=audio 6000 RTP/AVP 0", "a=inactive"))
    assert (inactive.rtp, inactive.rtcp) == (None, ("192.0.2.99", 6001))
    [held] = parse_answer(ours, _answer("m=audio 6000 RTP/AVP 0", "c=IN IP4 0.0.0.0"))
    assert (held.rtp, held.rtcp) == (None, None)


def test_parse_answer_without_mux_offered_ignores_answer_mux() -> None:
    streams = streams_from_offer(load("freeswitch_offer.sdp"))
    ours = build_recorder_offer(streams, [L1], ADVERTISE, 1, 1)
    [answer] = parse_answer(ours, _answer("m=audio 6000 RTP/AVP 8", "a=rtcp-mux"))
    assert (answer.rtcp_mux, answer.rtcp, answer.codecs) == (False, ("192.0.2.99", 6001), {8: PCMA})


def test_parse_answer_renumbered_dynamic_payload_type() -> None:
    streams = streams_from_offer(load("baresip_offer.sdp"))
    ours = build_recorder_offer(streams, [L1], ADVERTISE, 1, 1)
    [answer] = parse_answer(ours, _answer("m=audio 6000 RTP/AVP 111", "a=rtpmap:111 opus/48000/2"))
    assert answer.codecs == {96: OPUS}


def test_parse_answer_defects() -> None:
    ours = _siprec_our_offer()
    with pytest.raises(SdpError, match="answer has 1 m-lines, the offer had 2"):
        parse_answer(ours, _answer("m=audio 6000 RTP/AVP 0"))
    with pytest.raises(SdpError, match="m-line 1 picks no offered codec"):
        parse_answer(ours, _answer("m=audio 6000 RTP/AVP 0", "m=audio 6002 RTP/AVP 8"))
    with pytest.raises(SdpError, match="picks no offered codec"):
        parse_answer(ours, _answer("m=audio 6000 RTP/AVP 101", "m=audio 6002 RTP/AVP 0"))
    with pytest.raises(SdpError, match="another media type"):
        parse_answer(ours, _answer("m=audio 6000 RTP/AVP 0", "m=video 6002 RTP/AVP 0"))
    no_c = sdp("v=0", "o=srs 1 1 IN IP4 192.0.2.99", "s=-", "t=0 0", "m=audio 6000 RTP/AVP 0")
    one = build_recorder_offer(
        streams_from_offer(load("freeswitch_offer.sdp")), [L1], ADVERTISE, 1, 1
    )
    with pytest.raises(SdpError, match="has no c= line"):
        parse_answer(one, no_c)


# --- is_session_refresh -------------------------------------------------------------


def test_session_refresh() -> None:
    offer = load("freeswitch_offer.sdp")
    assert is_session_refresh(offer, offer)
    bumped = replace(
        offer, origin=replace(offer.origin, sess_version=offer.origin.sess_version + 1)
    )
    assert is_session_refresh(offer, bumped)
    moved = replace(bumped, media=(replace(offer.media[0], port=17000),))
    assert not is_session_refresh(offer, moved)
    held = replace(bumped, media=(replace(offer.media[0], attributes=(("inactive", None),)),))
    assert not is_session_refresh(offer, held)
    other_session = replace(offer, origin=replace(offer.origin, sess_id="1"))
    assert not is_session_refresh(offer, other_session)
    same_version_changed = replace(offer, media=(replace(offer.media[0], port=17000),))
    assert is_session_refresh(offer, same_version_changed)  # RFC 3264 §8: same version


def test_too_many_streams_is_488() -> None:
    lines = [f"m=audio {4000 + 2 * i} RTP/AVP 0" for i in range(17)]
    with pytest.raises(UnsupportedMedia, match="more than 16 audio streams") as e:
        streams_from_offer(sdp(*HEAD, *lines))
    assert e.value.status == 488
    assert len(streams_from_offer(sdp(*HEAD, *lines[:16]))) == 16
    with pytest.raises(UnsupportedMedia, match="more than 1 audio streams"):
        streams_from_offer(sdp(*HEAD, *lines[:2]), max_streams=1)


def test_real_baresip_1_0_offer_all_codecs_kept() -> None:
    # Captured from /usr/bin/baresip 1.0.0 dialling a socket on 127.0.0.1.
    offer = load("baresip_1_0_real_offer.sdp")
    [stream] = streams_from_offer(offer)
    assert stream.label == "1"
    assert stream.rtp == ("192.0.2.2", 10004)
    assert stream.rtcp == ("192.0.2.2", 10005)
    assert not stream.rtcp_mux
    assert list(stream.codecs) == [96, 9, 0, 8, 97, 10, 98, 99, 100, 101, 11, 102, 103, 104, 105]
    assert stream.codecs[105] == TELEPHONE_EVENT
    assert (stream.codecs[98].name, stream.codecs[98].clock_rate, stream.codecs[98].channels) == (
        "L16",
        32000,
        2,
    )
    answer = build_answer(offer, [stream], [L1], ADVERTISE, 1, 1)
    assert answer.media[0].formats == offer.media[0].formats
    assert answer.media[0].fmtp(105) == "0-15"
    assert answer.media[0].attribute("ptime") == "20"
    ours = build_recorder_offer([stream], [L1], ADVERTISE, 1, 1, offer=offer)
    assert ours.media[0].rtpmaps() == offer.media[0].rtpmaps()


def test_empty_fmtp_is_not_copied() -> None:
    offer = sdp(
        *HEAD, "m=audio 4000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101"
    )
    answer = build_answer(offer, streams_from_offer(offer), [L1], ADVERTISE, 1, 1)
    assert not answer.media[0].has_attribute("fmtp")
