"""Gate core acceptance on the media path: codecs, behaviours, RFC 4733, SSRC, skip (SPEC §3-§4)."""

from __future__ import annotations

import itertools

import pytest
from tests.unit.gate.acceptance_sim import (
    SEQ0,
    SSRC,
    T0,
    TS0,
    Sim,
    audio,
    codecs,
    event,
    rtp,
    silenced,
)

from pausegate.control.commands import Action, Behaviour


def test_pause_carries_over_an_ssrc_change_and_a_codec_update() -> None:
    sim = Sim.start()
    sim.packets(0, 4)
    sim.command(Action.PAUSE, received=1.15)
    outs = sim.packets(5, 9)
    assert all(silenced(o) for o in outs[2:])  # from packet 7, arriving 1.16
    gate = sim.core.call("call-1")
    assert gate is not None
    assert sim.stream is not None
    gate.update_stream(sim.stream, codecs())  # type: ignore[arg-type]
    # New SSRC, new random timestamp and sequence base, same capture clock.
    outs = [
        sim.release(audio(i, ssrc=0x5151, ts0=12345 - 160 * 10, seq0=777 - 10), T0 + 0.02 * (i + 1))
        for i in range(10, 20)
    ]
    assert all(silenced(o) for o in outs)
    assert all(o is not None and o[8:12] == (0x5151).to_bytes(4, "big") for o in outs)


def test_drop_sends_nothing_while_paused() -> None:
    sim = Sim.start(behaviour=Behaviour.DROP)
    sim.command(Action.PAUSE, received=1.105, at=1.105)
    sim.command(Action.RESUME, received=1.305)
    outs = sim.packets(0, 20)
    assert outs[4] == audio(4)  # [1.08, 1.10), arrives 1.10
    assert all(o is None for o in outs[5:16])  # [1.10, 1.12) .. [1.30, 1.32) touch the span
    assert outs[16] == audio(16)


def test_skip_shifts_later_sequence_numbers_and_timestamps() -> None:
    sim = Sim.start(behaviour=Behaviour.SKIP)
    sim.command(Action.PAUSE, received=1.1, at=1.1)
    sim.command(Action.RESUME, received=1.3)
    outs = sim.packets(0, 20)
    kept = [o for o in outs if o is not None]
    assert len(kept) == 21 - 11
    for prev, cur in itertools.pairwise(kept):
        seq_step = (int.from_bytes(cur[2:4], "big") - int.from_bytes(prev[2:4], "big")) & 0xFFFF
        ts_step = (int.from_bytes(cur[4:8], "big") - int.from_bytes(prev[4:8], "big")) & 0xFFFFFFFF
        assert (seq_step, ts_step) == (1, 160)
    assert kept[-1][12:] == audio(20)[12:]


def test_command_behaviour_overrides_the_config_for_that_pause() -> None:
    sim = Sim.start()
    sim.command(Action.PAUSE, received=1.1, at=1.1, behaviour=Behaviour.DROP)
    outs = sim.packets(0, 10)
    assert all(o is None for o in outs[5:])


def test_event_begun_before_the_pause_is_withheld_and_silenced_with_audio_timestamps() -> None:
    sim = Sim.start()
    sim.packets(0, 4)  # audio until 1.10
    ev_ts = TS0 + 160 * 5
    # Event from 1.10; its packets every 20 ms with growing duration, then three end packets.
    first = sim.release(event(SEQ0 + 5, ev_ts, 160), 1.12)
    assert first == event(SEQ0 + 5, ev_ts, 160)  # before any pause
    sim.command(Action.PAUSE, received=1.33, at=1.15)
    outs = [
        sim.release(event(SEQ0 + 5 + j, ev_ts, 160 * (j + 1)), 1.12 + 0.02 * j) for j in range(1, 5)
    ]
    outs += [sim.release(event(SEQ0 + 10 + j, ev_ts, 800, end=True), 1.22) for j in range(3)]
    for j, out in enumerate(outs):
        assert out is not None
        assert out[1] & 0x7F == 0, "telephone-event left while paused"
        seq = SEQ0 + 5 + j + 1 if j < 4 else SEQ0 + 10 + (j - 4)
        duration = 160 * (j + 2) if j < 4 else 800
        assert int.from_bytes(out[2:4], "big") == seq & 0xFFFF
        assert int.from_bytes(out[4:8], "big") == (ev_ts + duration - 160) & 0xFFFFFFFF
        assert out[12:] == b"\xff" * 160


def test_event_begun_inside_the_pause_is_withheld_after_the_resume() -> None:
    sim = Sim.start(behaviour=Behaviour.DROP)
    sim.command(Action.PAUSE, received=1.0)
    sim.packets(0, 4)
    ev_ts = TS0 + 160 * 5
    sim.command(Action.RESUME, received=1.15)
    outs = [
        sim.release(event(SEQ0 + 5 + j, ev_ts, 160 * (j + 1)), 1.12 + 0.02 * j) for j in range(10)
    ]
    outs += [sim.release(event(SEQ0 + 15 + j, ev_ts, 1600, end=True), 1.32) for j in range(3)]
    assert all(o is None for o in outs)


def _stream_with(codecs: dict[int, object]) -> Sim:
    sim = Sim.start()
    gate = sim.core.call("call-1")
    assert gate is not None
    sim.stream = gate.add_stream("1", codecs)  # type: ignore[arg-type]
    return sim


def test_frame_codec_is_gated_by_whole_packets_rounding_outwards() -> None:
    from pausegate_codecs.registry import G722

    sim = _stream_with({9: G722})
    sim.command(Action.PAUSE, received=1.3, at=1.205)
    sim.command(Action.RESUME, received=1.41)
    outs = [
        sim.release(rtp(9, SEQ0 + i, TS0 + 160 * i, b"\x42" * 160), T0 + 0.02 * (i + 1))
        for i in range(30)
    ]
    assert outs[9] is not None
    assert outs[9][12:] == b"\x42" * 160  # [1.18, 1.20), arrives 1.20
    # Packet 20 [1.40, 1.42) is only half inside: the whole packet is silenced.
    for out in outs[10:21]:
        assert out is not None
        assert out[12:] == bytes((G722.silence_byte,)) * 160  # type: ignore[arg-type]
    assert outs[21] is not None
    assert outs[21][12:] == b"\x42" * 160


def test_l16_is_gated_to_the_sample() -> None:
    from pausegate_codecs.registry import lookup

    l16 = lookup("L16", 8000, 1)
    sim = _stream_with({96: l16})
    sim.command(Action.PAUSE, received=1.1)
    sim.command(Action.RESUME, received=1.51)
    out = None
    for i in range(26):
        out = sim.release(rtp(96, SEQ0 + i, TS0 + 160 * i, b"\x12\x34" * 160), T0 + 0.02 * (i + 1))
    assert out is not None  # packet 25 [1.50, 1.52): 80 samples before the resume
    assert out[12:] == b"\x00\x00" * 80 + b"\x12\x34" * 80


def test_codec_change_mid_pause_uses_the_new_codec_silence() -> None:
    from pausegate_codecs.registry import PCMA

    sim = Sim.start()
    sim.command(Action.PAUSE, received=1.0)
    sim.packets(0, 4)
    gate = sim.core.call("call-1")
    assert gate is not None
    assert sim.stream is not None
    gate.update_stream(sim.stream, {8: PCMA})
    out = sim.release(rtp(8, SEQ0 + 5, TS0 + 800, b"\x11" * 160), 1.12)
    assert out is not None
    assert out[12:] == b"\xd5" * 160
    assert gate.paused


def test_signal_is_exposed_and_behaves_as_drop() -> None:
    sim = Sim.start(behaviour=Behaviour.SIGNAL)
    gate = sim.core.call("call-1")
    assert gate is not None
    assert not gate.signal
    sim.command(Action.PAUSE, received=1.0)
    assert gate.signal
    assert all(o is None for o in sim.packets(0, 4))
    sim.command(Action.RESUME, received=1.5)
    assert not gate.signal


def test_skip_rewrites_sender_reports_after_the_cut() -> None:
    sim = Sim.start(behaviour=Behaviour.SKIP)
    sim.command(Action.PAUSE, received=1.105, at=1.105)
    sim.command(Action.RESUME, received=1.305)
    outs = sim.packets(0, 20)
    removed = sum(1 for o in outs if o is None)
    assert removed == 11  # packets 5 [1.10, 1.12) .. 15 [1.30, 1.32)
    # RFC 3550 §6.4.1 SR: V=2, PT=200, length 6, SSRC, NTP (8), RTP ts, packets, octets.
    rtp_ts = (TS0 + 160 * 21) & 0xFFFFFFFF
    sr = (
        bytes((0x80, 200))
        + (6).to_bytes(2, "big")
        + SSRC.to_bytes(4, "big")
        + bytes(8)
        + rtp_ts.to_bytes(4, "big")
        + (21).to_bytes(4, "big")
        + (21 * 160).to_bytes(4, "big")
    )
    assert sim.stream is not None
    out = sim.stream.release_rtcp(sr, 1.44, 1.64)
    assert out is not None
    assert int.from_bytes(out[16:20], "big") == (rtp_ts - 160 * removed) & 0xFFFFFFFF
    assert int.from_bytes(out[20:24], "big") == 21 - removed


def test_audio_delayed_past_a_short_pause_by_a_stall_is_still_withheld() -> None:
    sim = Sim.start()
    sim.packets(0, 9)  # captured until 1.20, arrived by 1.20
    sim.command(Action.PAUSE, received=1.25, at=1.22)
    sim.command(Action.RESUME, received=1.6)
    # The network stalls: everything captured in [1.20, 2.70) arrives in a burst from 2.70.
    outs = [sim.release(audio(i), 2.70 + 0.001 * (i - 10)) for i in range(10, 85)]
    inside = [i for i in range(10, 85) if T0 + 0.02 * i >= 1.22 and T0 + 0.02 * (i + 1) <= 1.6]
    assert inside == list(range(11, 30))
    # SPEC §1: when pausegate cannot tell a stall from a timestamp jump, it errs towards silence.
    assert [i for i in inside if not silenced(outs[i - 10])] == []
    assert sim.end().leaked_ms == 0.0


def test_skip_keeps_sequence_numbers_unique_under_reordering() -> None:
    sim = Sim.start(behaviour=Behaviour.SKIP)
    sim.command(Action.PAUSE, received=1.105, at=1.105)
    sim.command(Action.RESUME, received=1.305)
    sim.packets(0, 14)
    # Packet 15 [1.30, 1.32) touches the span but arrives after 16 (normal jitter reordering).
    order = [(16, 1.34), (15, 1.345), (17, 1.36), (18, 1.38)]
    outs = {i: sim.release(audio(i), arrival) for i, arrival in order}
    assert outs[15] is None
    kept = [outs[i] for i in (16, 17, 18)]
    seqs = [(int.from_bytes(o[2:4], "big") - SEQ0) & 0xFFFF for o in kept if o is not None]
    # Packets 5..15 were cut: 16, 17, 18 follow 4 as 5, 6, 7.
    assert seqs == [5, 6, 7]


def test_recording_time_after_skip_counts_what_was_cut() -> None:
    sim = Sim.start(behaviour=Behaviour.SKIP)
    sim.command(Action.PAUSE, received=1.105, at=1.105)
    sim.command(Action.RESUME, received=1.305)  # cuts packets 5..15: 220 ms of audio
    sim.packets(0, 29)
    sim.command(Action.PAUSE, received=1.61, at=1.605, behaviour=Behaviour.SILENCE)
    sim.command(Action.RESUME, received=1.7)
    sim.packets(30, 60)
    first, second = sim.end().pauses
    assert first.start_ms == pytest.approx(100.0, abs=1.0)
    assert first.end_ms == pytest.approx(100.0, abs=1.0)
    # 1.605 s is 605 ms after the first sample, 220 ms of which were cut.
    assert second.start_ms == pytest.approx(385.0, abs=1.0)


def test_skip_keeps_order_when_packets_after_the_cut_arrive_reordered() -> None:
    sim = Sim.start(behaviour=Behaviour.SKIP)
    sim.command(Action.PAUSE, received=1.105, at=1.105)
    sim.command(Action.RESUME, received=1.305)
    sim.packets(0, 15)  # 5..15 are cut
    # 17 overtakes 16 (normal jitter), then the stream goes on in order.
    order = [(17, 1.36), (16, 1.362)] + [(i, T0 + 0.02 * (i + 1)) for i in range(18, 31)]
    outs = {i: sim.release(audio(i), arrival) for i, arrival in order}
    sent = sorted(
        (i, (int.from_bytes(o[2:4], "big") - SEQ0) & 0xFFFF) for i, o in outs.items() if o
    )
    seqs = [s for _, s in sent]
    # Whatever it does with 16 (renumber or withhold), the recorder sees no duplicate and
    # no step back: sequence numbers follow the order of the audio.
    assert seqs == sorted(set(seqs))
    assert seqs[-1] == 30 - 11


def test_skip_continues_after_the_highest_packet_sent() -> None:
    sim = Sim.start(behaviour=Behaviour.SKIP)
    sim.command(Action.PAUSE, received=1.155, at=1.155)
    sim.command(Action.RESUME, received=1.3)
    # 3 is late but arrives before the pause; 5 is late and arrives inside it.
    order = [(0, 1.02), (1, 1.04), (2, 1.06), (4, 1.10), (6, 1.14), (3, 1.145), (7, 1.16)]
    order += [(5, 1.161)] + [(i, T0 + 0.02 * (i + 1)) for i in range(8, 25)]
    outs = [(i, sim.release(audio(i), arrival)) for i, arrival in order]
    sent = [(i, (int.from_bytes(o[2:4], "big") - SEQ0) & 0xFFFF) for i, o in outs if o]
    assert [i for i, _ in sent] == [0, 1, 2, 4, 6, 3, *range(15, 25)]
    seqs = [s for _, s in sent]
    assert len(set(seqs)) == len(seqs), f"sequence numbers reused: {sent}"
    # After the cut the recording goes on from the highest number sent (6).
    assert seqs[6:] == list(range(7, 17))
