"""The synthetic call: packet schedule, RFC 4733 events, DTMF placement, SDP helpers."""

from __future__ import annotations

import itertools
import struct

import numpy as np
import pytest

from pausegate.demo.caller import CallFailed, answer_address, offer_sdp, recording_metadata
from pausegate.demo.script import (
    DTMF_PT,
    PCMU_PT,
    SAMPLES_PER_PACKET,
    PacketKind,
    build_script,
)
from pausegate.rtp.packet import RtpHeader, seq_diff, ts_diff
from pausegate.siprec.metadata import call_keys, parse_metadata
from pausegate.siprec.multipart import BodyPart, build_multipart, split_siprec_body
from pausegate_codecs.analysis import dtmf_level, pilot_absent_spans

SCRIPT = build_script(8.0, seed=1)
UUID = "0f5c3a1e9b7d4c2a8e6f1d3b5a7c9e2f"


def test_call_length_and_command_times() -> None:
    assert SCRIPT.seconds == pytest.approx(8.0)
    assert SCRIPT.pause_at_s == pytest.approx(2.505)
    assert SCRIPT.resume_at_s == pytest.approx(5.513)
    assert SCRIPT.audio.size == SCRIPT.reference.size == 64000


def test_too_short_a_call_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        build_script(2.0)


def test_same_seed_same_call() -> None:
    again = build_script(8.0, seed=1)
    assert again.packets == SCRIPT.packets
    assert build_script(8.0, seed=2).packets != SCRIPT.packets


def test_audio_packets_are_20ms_pcmu_on_an_absolute_schedule() -> None:
    audio = [p for p in SCRIPT.packets if p.kind is PacketKind.AUDIO]
    assert len(audio) == 400
    for k, packet in enumerate(audio):
        header, payload = RtpHeader.parse(packet.data)
        assert header.payload_type == PCMU_PT
        assert header.ssrc == SCRIPT.ssrc
        assert len(payload) == SAMPLES_PER_PACKET
        assert ts_diff(header.timestamp, SCRIPT.first_ts) == k * SAMPLES_PER_PACKET
        assert packet.rtp_ts == header.timestamp
        assert packet.offset_s == pytest.approx(k * 0.02)
        assert header.marker == (k == 0)


def test_sequence_numbers_run_across_audio_and_events() -> None:
    seqs = [RtpHeader.parse(p.data)[0].sequence for p in SCRIPT.packets]
    assert all(seq_diff(b, a) == 1 for a, b in itertools.pairwise(seqs))
    offsets = [p.offset_s for p in SCRIPT.packets]
    assert offsets == sorted(offsets)


def test_rfc4733_events_grow_and_end_three_times() -> None:
    events: dict[int, list[tuple[bool, int, int, int]]] = {}
    for packet in SCRIPT.packets:
        if packet.kind is not PacketKind.DTMF:
            continue
        header, payload = RtpHeader.parse(packet.data)
        assert header.payload_type == DTMF_PT
        event, flags, duration = struct.unpack("!BBH", payload)
        assert 0 <= event <= 9
        events.setdefault(header.timestamp, []).append(
            (header.marker, flags & 0x80, flags & 0x3F, duration)
        )
    assert len(events) == len(SCRIPT.bursts) == 4
    for burst, packets in zip(SCRIPT.bursts, events.values(), strict=True):
        n = round(burst.duration_s / 0.02)
        assert [m for m, *_ in packets] == [True] + [False] * (len(packets) - 1)
        assert [d for *_, d in packets] == [SAMPLES_PER_PACKET * (j + 1) for j in range(n - 1)] + [
            SAMPLES_PER_PACKET * n
        ] * 3
        assert [bool(e) for _, e, _, _ in packets] == [False] * (n - 1) + [True] * 3
        assert all(v == 10 for _, _, v, _ in packets)


def test_every_digit_lies_well_inside_the_paused_span() -> None:
    for burst in SCRIPT.bursts:
        assert burst.start_s >= SCRIPT.pause_at_s + 0.3
        assert burst.start_s + burst.duration_s <= SCRIPT.resume_at_s - 0.3


def test_inband_tones_only_where_the_digits_are() -> None:
    levels = dtmf_level(SCRIPT.reference, 8000, 40.0)
    loud = np.flatnonzero(levels > 0.1) * 0.04
    assert loud.size > 0
    for t in loud:
        assert any(b.start_s - 0.04 <= t <= b.start_s + b.duration_s for b in SCRIPT.bursts)


def test_pilot_runs_through_the_whole_call() -> None:
    assert pilot_absent_spans(SCRIPT.reference, 8000) == []


def test_offer_sdp_offers_pcmu_and_telephone_event_sendonly() -> None:
    sdp = offer_sdp("127.0.0.1", 23456, 42).decode()
    assert "m=audio 23456 RTP/AVP 0 101\r\n" in sdp
    assert "a=rtpmap:101 telephone-event/8000\r\n" in sdp
    assert "a=sendonly\r\n" in sdp
    assert answer_address(sdp.encode()) == ("127.0.0.1", 23456)


def test_answer_address_prefers_the_media_level_connection() -> None:
    body = (
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        b"m=audio 40000 RTP/AVP 0\r\nc=IN IP4 127.0.0.2\r\nm=audio 40002 RTP/AVP 0\r\n"
    )
    assert answer_address(body) == ("127.0.0.2", 40000)


@pytest.mark.parametrize(
    "body",
    [b"", b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n", b"m=audio 4000 RTP/AVP 0\r\n"],
)
def test_answer_without_an_audio_address_fails_the_call(body: bytes) -> None:
    with pytest.raises(CallFailed):
        answer_address(body)


def test_siprec_metadata_names_the_recorded_call_and_the_label() -> None:
    meta = parse_metadata(recording_metadata(UUID, "sip:agent-demo@127.0.0.1", "1"))
    assert UUID in call_keys(meta)
    assert [s.label for s in meta.streams] == ["1"]
    (agent,) = meta.participants
    assert agent.aors == ("sip:agent-demo@127.0.0.1",)
    assert agent.send == ("1",)


def test_siprec_offer_is_multipart_with_sdp_and_metadata() -> None:
    sdp = offer_sdp("127.0.0.1", 23456, 42, label="1")
    assert b"a=label:1\r\n" in sdp
    parts = [BodyPart("application/sdp", sdp)]
    parts.append(BodyPart("application/rs-metadata+xml", recording_metadata(UUID, "sip:a@b", "1")))
    content_type, body = build_multipart(parts, "b1")
    got_sdp, got_meta = split_siprec_body(content_type, body)
    assert got_sdp == sdp
    assert got_meta is not None
