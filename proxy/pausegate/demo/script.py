"""Demo core: the synthetic call's audio, DTMF and RTP packets (RFC 3550, 3551, 4733). No I/O.

Rules:
1. Everything the caller sends is decided here, before the call, from the call
   length and a seed: the audio (test_signal with in-band DTMF mixed in), the RTP
   packets with their send offsets, and when pause and resume are published.
2. PCMU packets carry 20 ms (160 samples); RFC 4733 events share the SSRC and the
   sequence space, carry the event's start timestamp, grow ``duration`` by one
   packet each 20 ms, set the marker on the first packet and repeat the end
   packet three times (RFC 4733 §2.5.1.4).
3. Every DTMF burst lies inside the span to be paused, at least 300 ms from either
   edge. Digit values exist only inside the packets and the audio: never in a
   field that is printed, logged or stored.
"""

from __future__ import annotations

import enum
import random
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pausegate.rtp.packet import RtpHeader
from pausegate_codecs.g711 import decode_ulaw, encode_ulaw
from pausegate_codecs.synth import dtmf_tone, test_signal, to_int16

RATE = 8000
PTIME_MS = 20
SAMPLES_PER_PACKET = RATE * PTIME_MS // 1000
PCMU_PT = 0
DTMF_PT = 101
DTMF_VOLUME = 10  # -10 dBm0
END_REPEATS = 3
MIN_SECONDS = 4.0
_EVENTS = "0123456789*#ABCD"  # RFC 4733 §3.2 event codes 0-15


class PacketKind(enum.StrEnum):
    AUDIO = "audio"
    DTMF = "dtmf"


@dataclass(frozen=True, slots=True)
class ScheduledPacket:
    offset_s: float  # send time after the stream's start
    kind: PacketKind
    rtp_ts: int  # audio: first sample's timestamp; dtmf: the event's start timestamp
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class DtmfBurst:
    start_s: float  # aligned to a packet boundary
    duration_s: float
    event: int  # RFC 4733 event code; never printed


@dataclass(frozen=True, slots=True)
class CallScript:
    seconds: float
    pause_at_s: float  # after the stream's start
    resume_at_s: float
    bursts: tuple[DtmfBurst, ...]
    audio: npt.NDArray[np.float32]  # what the caller sends, full scale 1.0, before PCMU
    reference: npt.NDArray[np.float32]  # the same after a PCMU round trip
    packets: tuple[ScheduledPacket, ...]
    ssrc: int
    first_ts: int  # RTP timestamp of audio[0]


def _align(seconds: float) -> float:
    """Round down to a packet boundary."""
    return int(seconds * 1000 // PTIME_MS) * PTIME_MS / 1000.0


def plan_bursts(
    pause_at_s: float, resume_at_s: float, count: int, rng: random.Random
) -> tuple[DtmfBurst, ...]:
    """``count`` digit bursts of 100-160 ms, evenly spread inside the paused span."""
    lo, hi = pause_at_s + 0.3, resume_at_s - 0.3
    slot = (hi - lo) / count
    bursts = []
    for i in range(count):
        duration = PTIME_MS / 1000.0 * rng.randint(5, 8)
        start = _align(lo + i * slot + max(0.0, slot - duration) / 2)
        bursts.append(DtmfBurst(start, duration, rng.randrange(10)))
    return tuple(bursts)


def _dtmf_payload(event: int, end: bool, duration: int) -> bytes:
    return struct.pack("!BBH", event, (0x80 if end else 0) | DTMF_VOLUME, duration)


def build_script(seconds: float = 8.0, seed: int = 0, digits: int = 4) -> CallScript:
    """The whole call: pause at 5/16 of it (2.5 s of 8), resume at 11/16 (5.5 s)."""
    if seconds < MIN_SECONDS:
        raise ValueError(f"the demo call needs at least {MIN_SECONDS:.0f} s")
    rng = random.Random(seed)
    pause_at = _align(seconds * 5 / 16) + 0.005  # between packets, as a human would
    resume_at = _align(seconds * 11 / 16) + 0.013
    bursts = plan_bursts(pause_at, resume_at, digits, rng)
    n_packets = round(seconds * 1000 / PTIME_MS)
    audio = test_signal(n_packets * PTIME_MS / 1000.0, RATE, seed=seed).astype(np.float64)
    for burst in bursts:
        tone = dtmf_tone(_EVENTS[burst.event], burst.duration_s, RATE)
        start = round(burst.start_s * RATE)
        audio[start : start + tone.size] += tone
    audio = np.clip(audio, -1.0, 1.0)
    payload = encode_ulaw(to_int16(audio))
    reference = decode_ulaw(payload).astype(np.float64) / 32768.0
    ssrc = rng.getrandbits(32)
    seq = rng.getrandbits(16)
    first_ts = rng.getrandbits(32)
    packets: list[ScheduledPacket] = []

    def add(offset_s: float, kind: PacketKind, ts: int, pt: int, mark: bool, body: bytes) -> None:
        nonlocal seq
        header = RtpHeader(pt, seq, ts, ssrc, marker=mark)
        packets.append(ScheduledPacket(offset_s, kind, ts, header.serialize(body)))
        seq = (seq + 1) & 0xFFFF

    events: dict[int, list[tuple[bool, bool, int, int, int]]] = {}
    for burst in bursts:
        k0 = round(burst.start_s * 1000 / PTIME_MS)
        n = round(burst.duration_s * 1000 / PTIME_MS)
        ts = (first_ts + k0 * SAMPLES_PER_PACKET) & 0xFFFFFFFF
        # Sent at the end of each 20 ms it covers, alongside the audio packet of that time.
        for j in range(n):
            last = j == n - 1
            for _ in range(END_REPEATS if last else 1):
                dur = (j + 1) * SAMPLES_PER_PACKET
                events.setdefault(k0 + j, []).append((j == 0, last, ts, burst.event, dur))
    for k in range(n_packets):
        ts = (first_ts + k * SAMPLES_PER_PACKET) & 0xFFFFFFFF
        chunk = payload[k * SAMPLES_PER_PACKET : (k + 1) * SAMPLES_PER_PACKET]
        offset = k * PTIME_MS / 1000.0
        add(offset, PacketKind.AUDIO, ts, PCMU_PT, k == 0, bytes(chunk))
        for first, end, ev_ts, event, dur in events.get(k, []):
            add(offset, PacketKind.DTMF, ev_ts, DTMF_PT, first, _dtmf_payload(event, end, dur))
    return CallScript(
        seconds=n_packets * PTIME_MS / 1000.0,
        pause_at_s=pause_at,
        resume_at_s=resume_at,
        bursts=bursts,
        audio=audio.astype(np.float32),
        reference=np.asarray(reference, dtype=np.float32),
        packets=tuple(packets),
        ssrc=ssrc,
        first_ts=first_ts,
    )
