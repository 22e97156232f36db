"""StreamGate release decisions with hand-computed values (SPEC §3-§4).

Fixture timing: packet i of a 20 ms PCMU stream has seq i, ts 160*i and arrives
at 0.02*(i+1) with no jitter, so the anchor maps its first sample to 0.02*i and
sample k to 0.02*i + k/8000. Hold-back 0.2 s: it leaves at arrival + 0.2.
"""

from __future__ import annotations

import struct

from tests.unit.gate.support import SSRC, Harness, rtp

from pausegate.control.commands import Behaviour
from pausegate.gate import GateConfig
from pausegate.rtp.packet import RtpHeader

PAYLOAD = b"\x11" * 160


def pkt(i: int, **kw: object) -> bytes:
    return rtp(i, 160 * i, **kw)  # type: ignore[arg-type]


def arrival(i: int) -> float:
    return 0.02 * (i + 1)


def run(h: Harness, first: int, last: int, **kw: object) -> dict[int, bytes | None]:
    return {i: h.release(pkt(i, **kw), arrival(i)) for i in range(first, last)}


def silenced(out: bytes | None, fill: int = 0xFF) -> bool:
    return out is not None and out[12:] == bytes([fill]) * (len(out) - 12)


def test_unpaused_call_returns_the_same_object() -> None:
    h = Harness()
    for i in range(50):
        data = pkt(i)
        assert h.release(data, arrival(i)) is data
    assert h.stream.forwarded == 50
    assert h.gate.quiet_until == float("inf")


def test_resume_mid_packet_gates_to_the_sample() -> None:
    h = Harness()
    run(h, 0, 30)  # released up to now = 0.8
    h.command(0.8, "pause")  # effective 0.8
    run(h, 30, 60)
    h.command(1.505, "resume")  # effective 1.505: packet 75 has samples 1.500..1.51998
    out = run(h, 60, 80)
    assert all(silenced(out[i]) for i in range(60, 75))
    p75 = out[75]
    assert p75 is not None
    assert p75[:12] == pkt(75)[:12]
    # samples k < (1.505 - 1.500) * 8000 = 40 withheld, the rest as sent
    assert p75[12:] == b"\xff" * 40 + b"\x11" * 120
    assert out[76] == pkt(76)


def test_arrival_inside_span_withholds_the_whole_packet() -> None:
    h = Harness()
    run(h, 0, 40)  # released up to now = 1.0
    # Pause effective 0.905: packet 45's samples are 0.900..0.91988, arrival 0.92.
    h.command(1.0, "pause", at_s=0.905)
    out = run(h, 40, 50)
    assert out[44] == pkt(44)  # samples 0.880..0.89988, arrival 0.90: before the span
    assert silenced(out[45])  # first 40 samples are before 0.905 but it arrived inside
    assert h.end(2.0).leaked_ms == 0.0  # type: ignore[attr-defined]


def test_late_pause_still_covers_held_back_audio_without_leak() -> None:
    h = Harness()
    run(h, 0, 40)  # packets 0..39 left by now = 1.0 (arrivals up to 0.80)
    h.command(1.0, "pause", at_s=0.85)  # 150 ms old: still held back
    out = run(h, 40, 50)
    assert out[40] == pkt(40)  # 0.80..0.81988, arrival 0.82
    assert out[41] == pkt(41)  # 0.82..0.83988, arrival 0.84
    assert silenced(out[42])  # 0.84..: samples from k=80 in span, arrival 0.86 in span
    ended = h.end(2.0)
    assert ended.leaked_ms == 0.0  # type: ignore[attr-defined]
    assert ended.verified  # type: ignore[attr-defined]


def test_pause_older_than_held_audio_counts_the_sent_audio_as_leaked() -> None:
    h = Harness()
    run(h, 0, 40)  # audio up to arrival 0.80 already sent
    out = h.command(1.0, "pause", at_s=0.5)
    out_packets = run(h, 40, 45)
    assert all(silenced(p) for p in out_packets.values())
    assert out.ok  # type: ignore[attr-defined]
    ended = h.end(2.0)
    assert abs(ended.leaked_ms - 300.0) < 1e-6  # type: ignore[attr-defined]  # 0.5 to 0.8
    assert abs(h.core.statistics().leaked_audio_seconds_total - 0.3) < 1e-9


def test_guard_widens_both_sides() -> None:
    h = Harness(config=GateConfig(guard_ms=10))
    run(h, 0, 30)
    h.command(0.8, "pause", at_s=0.8)  # guarded span from 0.79
    out = run(h, 30, 60)
    assert out[38] == pkt(38)  # 0.76..0.77988, arrival 0.78
    assert silenced(out[39])  # arrival 0.80, samples from 0.78: in the guard from k=80
    h.command(1.2, "resume")  # guarded end 1.21
    out = run(h, 60, 70)
    assert out[60] is not None  # 1.20..1.21988: samples below 1.21 withheld
    assert out[60][12:] == b"\xff" * 80 + b"\x11" * 80
    assert out[61] == pkt(61)


def test_g722_is_gated_by_whole_packets_rounding_outwards() -> None:
    h = Harness()
    run(h, 0, 30, pt=9)
    h.command(0.8, "pause")
    run(h, 30, 60, pt=9)
    h.command(1.505, "resume")
    out = run(h, 60, 80, pt=9)
    assert silenced(out[75], 0xFA)  # one sample in the span: the whole frame
    assert out[76] == pkt(76, pt=9)


def test_drop_and_signal_send_nothing_while_paused() -> None:
    for behaviour in (Behaviour.DROP, Behaviour.SIGNAL):
        h = Harness(config=GateConfig(behaviour=behaviour))
        run(h, 0, 30)
        h.command(0.8, "pause")
        out = run(h, 30, 60)
        assert h.gate.signal is (behaviour is Behaviour.SIGNAL)
        h.command(1.505, "resume")
        out.update(run(h, 60, 80))
        assert out[38] == pkt(38)  # arrived at 0.78, before the span
        assert all(out[i] is None for i in range(39, 76))  # 75: partly paused, dropped whole
        assert out[76] == pkt(76)
        assert h.stream.dropped == 37


def test_skip_shifts_later_sequence_numbers_and_timestamps() -> None:
    h = Harness(config=GateConfig(behaviour=Behaviour.SKIP))
    run(h, 0, 30)
    h.command(0.8, "pause")
    out = run(h, 30, 60)
    h.command(1.4, "resume")  # packets 39..69 (arrival 0.80, m0 up to 1.38) removed: 31
    out.update(run(h, 60, 80))
    assert out[38] == pkt(38)
    assert all(out[i] is None for i in range(39, 70))
    for i in range(70, 80):
        sent = out[i]
        assert sent is not None
        hdr, payload = RtpHeader.parse(sent)
        assert (hdr.sequence, hdr.timestamp, hdr.ssrc) == (i - 31, 160 * (i - 31), SSRC)
        assert payload == PAYLOAD
    # RTCP sender report follows: RTP timestamp and packet count shifted alike
    sr = struct.pack("!BBHIIIIII", 0x80, 200, 6, SSRC, 1, 2, 160 * 80, 80, 12800)
    shifted = h.stream.release_rtcp(sr, 1.7, 1.9)
    assert shifted is not None
    assert struct.unpack_from("!II", shifted, 16) == (160 * 49, 49)


def test_rtcp_passes_untouched_without_skip() -> None:
    h = Harness()
    sr = struct.pack("!BBHIIIIII", 0x80, 200, 6, SSRC, 1, 2, 3, 4, 5)
    assert h.stream.release_rtcp(sr, 0.1, 0.3) is sr


def test_ssrc_change_and_wrap_keep_the_pause() -> None:
    h = Harness()
    run(h, 0, 30)
    h.command(0.8, "pause")
    run(h, 30, 50)
    # New SSRC, timestamps and sequence numbers about to wrap: still paused.
    outs = [
        h.release(rtp(65530 + j, 2**32 - 320 + 160 * j, ssrc=0x55), arrival(50 + j))
        for j in range(10)
    ]
    assert all(silenced(o) for o in outs)
    assert all(o is not None and o[8:12] == b"\x00\x00\x00\x55" for o in outs)
    h.command(1.3, "resume")
    later = rtp(65530 + 20, 2**32 - 320 + 160 * 20, ssrc=0x55)
    assert h.release(later, arrival(70)) is not None
    assert h.release(later, arrival(70)) == later  # a duplicate too


def test_codec_change_on_reinvite_keeps_the_pause() -> None:
    h = Harness()
    h.command(0.0, "pause")
    h.gate.update_stream(h.stream, {8: h.stream._codecs[8]})
    out = h.release(rtp(0, 0, pt=8), 0.02)
    assert silenced(out, 0xD5)


def test_unknown_payload_type_is_dropped_while_paused_and_forwarded_otherwise() -> None:
    h = Harness()
    data = rtp(0, 0, pt=96)
    assert h.release(data, 0.02) is data
    h.command(0.3, "pause")
    assert h.release(rtp(1, 160, pt=96), 0.2) is None  # leaves at 0.4
    assert h.stream.dropped == 1


def test_malformed_packets_are_counted_not_raised() -> None:
    h = Harness()
    for junk in (b"", b"\x80", b"\x40" + b"\x00" * 20, b"\x8f" + b"\x00" * 12, b"\xa0" * 13):
        assert h.release(junk, 0.1) is None
    assert h.stream.invalid == 5


def test_ledger_records_the_pause_per_stream() -> None:
    h = Harness()
    run(h, 0, 30)
    h.command(0.8, "pause", reason="payment", source="desktop")
    run(h, 30, 60)
    h.command(1.505, "resume")
    run(h, 60, 80)
    ended = h.end(2.0)
    (pause,) = ended.pauses  # type: ignore[attr-defined]
    assert abs(pause.start_ms - 800.0) < 1e-6  # the recording starts with sample 0 at 0.0
    assert abs(pause.end_ms - 1505.0) < 1e-6
    assert (pause.reason, pause.source) == ("payment", "desktop")
    (span,) = pause.streams
    # Packet 39 arrived at 0.80 (inside); its samples start at 0.78.
    assert (span.ssrc, span.seq_start, span.seq_end) == (SSRC, 39, 75)
    assert (span.rtp_ts_start, span.rtp_ts_end) == (160 * 39, 160 * 75 + 40)
    assert ended.verified  # type: ignore[attr-defined]


def test_statistics_count_outcomes_and_apply_delay() -> None:
    h = Harness()
    run(h, 0, 30)
    h.command(0.8, "pause")  # effective 0.8; first withheld packet leaves at 1.0
    run(h, 30, 40)
    stats = h.core.statistics()
    assert stats.packets["forwarded"] == 39
    assert stats.packets["silenced"] == 1
    assert stats.apply_delay_count == 1
    assert abs(stats.apply_delay_sum_s - 0.2) < 1e-9
    assert stats.apply_delay_counts[stats.apply_delay_buckets.index(0.2)] == 1
    assert stats.calls_active == 1
    assert stats.calls_paused == 1


def test_samples_left_from_a_partly_silenced_packet_count_as_leaked_later() -> None:
    h = Harness()
    run(h, 0, 40)
    h.command(0.905, "pause")  # effective 0.905
    h.command(0.911, "resume")  # effective 0.911
    out = run(h, 40, 46)
    p45 = out[45]  # samples 0.900..0.91988: k 40..87 withheld, the rest left
    assert p45 is not None
    assert p45[12:] == b"\x11" * 40 + b"\xff" * 48 + b"\x11" * 72
    h.command(1.2, "pause", at_s=0.0)  # backdated over audio already sent
    ended = h.end(2.0)
    # Newly covered and already sent: [0.0, 0.905) up to the last arrival released (0.92).
    assert abs(ended.leaked_ms - 905.0) < 1e-6  # type: ignore[attr-defined]
    assert not ended.verified  # type: ignore[attr-defined]


def test_switch_to_a_codec_on_another_clock_reanchors() -> None:
    from pausegate_codecs.registry import PCMU, lookup

    l16 = lookup("L16", 16000)
    assert l16 is not None
    h = Harness()
    h.gate.update_stream(h.stream, {0: PCMU, 96: l16})
    run(h, 0, 20)  # PCMU at 8 kHz on the fast path

    # L16 at 16 kHz, 20 ms = 320 samples = 640 bytes, timestamps in its own clock.
    def l16_pkt(j: int) -> bytes:
        return rtp(20 + j, 320 * j, payload=b"\x01\x02" * 320, pt=96)

    for j in range(10):  # arrivals 0.42 .. 0.60, samples 0.40 .. 0.60
        assert h.release(l16_pkt(j), 0.42 + 0.02 * j) == l16_pkt(j)
    h.command(0.6, "pause", at_s=0.6)
    h.command(0.705, "resume")
    outs = {j: h.release(l16_pkt(j), 0.42 + 0.02 * j) for j in range(10, 20)}
    assert outs[9 + 1] is not None
    p = outs[15]  # samples 0.70 .. 0.72: the first 0.005 * 16000 = 80 withheld
    assert p is not None
    assert p[12:] == b"\x00\x00" * 80 + b"\x01\x02" * 240
    assert outs[16] == l16_pkt(16)


def test_a_stall_longer_than_the_look_back_after_a_pause_still_withholds() -> None:
    h = Harness()
    run(h, 0, 50)  # up to arrival 1.00
    h.command(1.0, "pause", at_s=0.9)
    h.command(1.1, "resume")  # span [0.9, 1.1)
    run(h, 50, 60)  # arrivals 1.02 .. 1.20: what arrived in time
    # The network stalls: packets 60.. (captured from 1.20) are fine, but a burst of
    # old packets 45..54 captured inside the span arrives 3 s later, after the look-back.
    out = {i: h.release(pkt(i), 4.0 + 0.001 * i) for i in range(45, 55)}
    assert all(silenced(out[i]) for i in range(46, 54))  # samples inside [0.9, 1.1)


def test_the_paused_fast_path_decides_as_the_slow_path_does() -> None:
    # stream_gate rule 6: a plain packet arriving inside a silence span leaves the short
    # way; the same traffic through a stream that always takes the slow way must give the
    # same bytes, counters, anchor, ledger and leaks (PCMU, PCMA, a marker, a jitter, an
    # SSRC change, a DTMF event, a partly covered packet at each edge).
    def traffic(h: Harness, slow: bool) -> list[bytes | None]:
        if slow:
            h.stream._whole = {}  # no codec qualifies: every packet the slow way
        out = [h.release(pkt(i), arrival(i)) for i in range(30)]
        h.command(0.8, "pause", at_s=0.7031)
        for i in range(30, 70):
            jitter = 0.004 if i % 7 == 0 else 0.0
            ssrc = SSRC if i < 50 else SSRC + 1
            pt = 8 if 55 <= i < 60 else 0
            out.append(h.release(pkt(i, pt=pt, ssrc=ssrc, marker=i == 40), arrival(i) + jitter))
            if i == 64:
                h.command(1.3, "resume", at_s=1.2555)
        out += [h.release(pkt(i, ssrc=SSRC + 1), arrival(i)) for i in range(70, 90)]
        return out

    fast, slow = Harness(), Harness()
    got_fast, got_slow = traffic(fast, False), traffic(slow, True)
    assert got_fast == got_slow
    assert any(o is not None and o[12:] == b"\xff" * 160 for o in got_fast)
    assert any(o is not None and o[12:] == b"\xd5" * 160 for o in got_fast)  # PCMA silence
    for name in ("forwarded", "silenced", "dropped", "invalid", "released_until", "_a_offset"):
        assert getattr(fast.stream, name) == getattr(slow.stream, name), name
    end_fast, end_slow = fast.end(3.0), slow.end(3.0)
    assert end_fast == end_slow
