"""RecordingSink on real UDP sockets, and the Track placement rules it relies on."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from pausegate.recorder.sink import RecordingSink, safe_name
from pausegate.recorder.track import DEDUP_WINDOW, MAX_AHEAD_S, Track
from pausegate_codecs.g711 import decode_alaw, decode_ulaw
from pausegate_codecs.registry import (
    CN,
    G722,
    L16_STEREO_44100,
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    Codec,
)

HOST = "127.0.0.1"
CODECS = {0: PCMU, 8: PCMA, 13: CN, 101: TELEPHONE_EVENT}


def rtp(
    seq: int, ts: int, payload: bytes, pt: int = 0, ssrc: int = 0xABCD, m: bool = False
) -> bytes:
    return (
        struct.pack("!BBHII", 0x80, pt | (0x80 if m else 0), seq, ts & 0xFFFFFFFF, ssrc) + payload
    )


def noise(n: int = 160, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


@pytest.mark.asyncio
async def test_sink_writes_wav_sidecar_and_metadata(tmp_path: Path) -> None:
    low = random.randrange(30000, 39000, 2)
    sink = RecordingSink(tmp_path, HOST, (low, low + 19))
    stream = await sink.open_stream("abc@host/1", "in:1", CODECS)
    assert stream.rtp_port % 2 == 0
    assert stream.rtcp_port == stream.rtp_port + 1
    sink.set_metadata("abc@host/1", "v=0\r\n", b"<recording/>")
    ts0 = 0xFFFFFFFF - 200  # the timestamp wraps inside the call
    payloads = [noise(seed=i) for i in range(6)]
    dtmf_payload = bytes([5, 0x80 | 10, 0x03, 0x20])  # event 5, end bit
    packets = [
        rtp(1000, ts0, payloads[0], m=True),
        rtp(1001, ts0 + 160, payloads[1]),
        # seq 1002 lost: 160 samples of zeros
        rtp(1003, ts0 + 480, payloads[3]),
        rtp(1003, ts0 + 480, noise(seed=99)),  # duplicate: ignored
        rtp(1004, ts0 + 640, dtmf_payload, pt=101),
        rtp(1005, ts0 + 800, payloads[5], pt=8),
        rtp(1006, ts0 + 960, b"\x00" * 1, pt=13),
        b"\x00not rtp",
    ]
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for data in packets:
            tx.sendto(data, (HOST, stream.rtp_port))
        tx.sendto(b"\x80\xc8\x00\x01\x00\x00\x00\x01", (HOST, stream.rtcp_port))
        async with asyncio.timeout(5):
            while stream.packets < len(packets) - 1 or stream.track.rtcp_packets < 1:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    finally:
        tx.close()
    call_dir = sink.close_call("abc@host/1")
    await sink.close()
    assert call_dir == tmp_path / "abc_host_1"
    rate, samples = read_wav(call_dir / "in_1.wav")
    assert rate == 8000
    expected = np.zeros(960, dtype=np.int16)
    expected[0:160] = decode_ulaw(payloads[0])
    expected[160:320] = decode_ulaw(payloads[1])
    expected[480:640] = decode_ulaw(payloads[3])
    expected[800:960] = decode_alaw(payloads[5])
    assert np.array_equal(samples, expected)
    side = json.loads((call_dir / "in_1.json").read_text())
    assert side["label"] == "in:1"
    assert (side["ssrc"], side["clock_rate"], side["codec"]) == (0xABCD, 8000, "PCMU")
    assert (side["first_rtp_ts"], side["first_seq"], side["samples"]) == (ts0, 1000, 960)
    assert side["first_arrival_at"] == side["packets"][0]["at"]
    assert side["rtcp_packets"] == 1
    assert side["invalid"] == 1
    assert side["duplicates"] == 1
    kinds = [p["kind"] for p in side["packets"]]
    assert kinds == ["audio", "audio", "audio", "audio", "dtmf", "audio", "cn"]
    dtmf = side["packets"][4]
    assert dtmf["end"] is True
    assert set(dtmf) == {"seq", "ts", "pt", "m", "at", "len", "kind", "end"}  # no event code
    assert side["packets"][0]["m"] is True
    ats = [p["at"] for p in side["packets"]]
    assert ats == sorted(ats)
    meta = json.loads((call_dir / "metadata.json").read_text())
    assert meta["call_id"] == "abc@host/1"
    assert meta["sdp_offer"] == "v=0\r\n"
    assert meta["started_at"] <= meta["ended_at"]
    assert meta["streams"] == [{"label": "in:1", "wav": "in_1.wav", "sidecar": "in_1.json"}]
    assert (call_dir / "metadata.xml").read_bytes() == b"<recording/>"


@pytest.mark.asyncio
async def test_two_streams_and_a_reused_call_id_get_distinct_files(tmp_path: Path) -> None:
    low = random.randrange(30000, 39000, 2)
    sink = RecordingSink(tmp_path, HOST, (low, low + 19))
    a = await sink.open_stream("call", "x", CODECS)
    b = await sink.open_stream("call", "x", CODECS)
    assert a.rtp_port != b.rtp_port
    first = sink.close_call("call")
    names = sorted(p.name for p in first.iterdir())
    assert names == ["metadata.json", "x-2.json", "x-2.wav", "x.json", "x.wav"]
    await sink.open_stream("call", "x", CODECS)
    await sink.close()
    assert (tmp_path / "call-2" / "x.wav").exists()
    _, samples = read_wav(first / "x.wav")
    assert len(samples) == 0


def test_an_ssrc_change_re_anchors_by_arrival_time() -> None:
    track = Track("a", {0: PCMU})
    track.receive(rtp(1, 5000, noise(seed=1), ssrc=1), at_ms=1_000_000.0)
    # a new source 1 s later with an unrelated timestamp lands at sample 8000
    track.receive(rtp(77, 123456, noise(seed=2), ssrc=2), at_ms=1_001_000.0)
    track.receive(rtp(78, 123456 + 160, noise(seed=3), ssrc=2), at_ms=1_001_020.0)
    pcm = np.frombuffer(track.wav_bytes()[44:], dtype="<i2")
    assert len(pcm) == 8000 + 320
    assert np.array_equal(pcm[8000:8160], decode_ulaw(noise(seed=2)))
    assert np.array_equal(pcm[8160:8320], decode_ulaw(noise(seed=3)))
    assert not pcm[160:8000].any()
    side = track.sidecar()
    assert [a["sample"] for a in side["anchors"]] == [0, 8000]


def test_bogus_jumps_and_early_packets_are_contained() -> None:
    track = Track("a", {0: PCMU})
    track.receive(rtp(1, 1000, noise(seed=1)), at_ms=0.0)
    track.receive(rtp(2, 1000 + 8000 * 3600, noise(seed=2)), at_ms=20.0)  # +1 h in ts, 20 ms later
    assert track.samples <= 8000 * MAX_AHEAD_S
    track.receive(rtp(3, 1000 + 8000 * 3600 - 8000 * 100, noise(seed=3)), at_ms=40.0)
    assert track.before_start == 1
    track.receive(b"\x80\x00", at_ms=60.0)
    track.receive(rtp(4, 0, b"", pt=96), at_ms=80.0)  # unknown payload type: logged only
    side = track.sidecar()
    assert side["invalid"] == 1
    assert side["packets"][-1]["kind"] == "other"


def test_safe_name() -> None:
    assert safe_name("a1b2@example.com") == "a1b2_example.com"
    assert safe_name("../../etc/passwd") == "_.._.._etc_passwd"
    assert safe_name("") == "_"
    assert safe_name("x" * 500) == "x" * 120


def test_l16_is_decoded_other_audio_leaves_silence() -> None:
    l16 = Codec("L16", 16000, 1, True, 2, 0)
    track = Track("a", {96: l16, 9: G722, 97: L16_STEREO_44100})
    assert (track.clock_rate, track.codec) == (16000, l16)
    samples = np.array([1, -2, 300, -32768], dtype=">i2")
    track.receive(rtp(1, 0, samples.tobytes() + b"\x07", pt=96), at_ms=0.0)  # odd byte ignored
    track.receive(rtp(2, 4, b"\x11" * 8, pt=9), at_ms=1.0)  # G.722: not decoded
    track.receive(rtp(3, 8, b"\x00\x01" * 4, pt=97), at_ms=2.0)  # stereo: not decoded
    pcm = np.frombuffer(track.wav_bytes()[44:], dtype="<i2")
    assert list(pcm) == [1, -2, 300, -32768]
    assert [p["kind"] for p in track.sidecar()["packets"]] == ["audio"] * 3


def test_duplicate_memory_is_bounded() -> None:
    track = Track("a", {0: PCMU})
    for i in range(DEDUP_WINDOW + 10):
        track.receive(rtp(i & 0xFFFF, i * 160, b"\xff" * 160), at_ms=i * 20.0)
    track.receive(rtp(5, 5 * 160, b"\x00" * 160), at_ms=1e6)  # forgotten: placed again
    track.receive(rtp(DEDUP_WINDOW + 9, (DEDUP_WINDOW + 9) * 160, b"\x00" * 160), at_ms=1e6)
    assert track.duplicates == 1
    pcm = np.frombuffer(track.wav_bytes()[44:], dtype="<i2")
    assert np.array_equal(pcm[800:960], decode_ulaw(b"\x00" * 160))
