"""One recorded stream: RTP placed on a sample timeline, WAV and sidecar (RFC 3550). Core.

Rules:
1. The first packet anchors the timeline: sample index 0 is its RTP timestamp and its
   arrival time (epoch ms). Every later packet of the same SSRC lands at
   ``anchor_index + ts_diff(ts, anchor_ts)``, so sample index <-> wall-clock time is exact
   and gaps stay as zeros (silence).
2. A new SSRC re-anchors by arrival time: its first packet lands at
   ``(arrival - first_arrival) * clock_rate``. So does a forward jump of more than
   ``MAX_AHEAD_S`` past what arrival time allows (a bogus timestamp must not grow the
   buffer without bound).
3. Duplicates (same SSRC, sequence and timestamp) are logged but not placed again;
   samples before index 0 are dropped and counted.
4. PCMU, PCMA and mono L16 are decoded; other audio (G.722, Opus) and comfort noise
   leave zeros. DTMF (RFC 4733) packets are logged as kind "dtmf" with their end bit
   only: never the event code, volume or payload bytes.
"""

from __future__ import annotations

import enum
import io
import wave
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from pausegate.errors import RtpError
from pausegate.rtp.packet import check_rtp, ts_diff
from pausegate_codecs.g711 import decode_alaw, decode_ulaw
from pausegate_codecs.registry import Codec

MAX_AHEAD_S = 10.0
DEDUP_WINDOW = 4096

Decoder = Callable[[bytes], npt.NDArray[np.int16]]


class PacketKind(enum.StrEnum):
    AUDIO = "audio"
    DTMF = "dtmf"
    CN = "cn"
    OTHER = "other"


def _decode_l16(payload: bytes) -> npt.NDArray[np.int16]:
    return np.frombuffer(payload[: len(payload) & ~1], dtype=">i2").astype(np.int16)


def _decoder(codec: Codec) -> Decoder | None:
    if codec.channels != 1:
        return None
    match codec.name:
        case "PCMU":
            return decode_ulaw
        case "PCMA":
            return decode_alaw
        case "L16":
            return _decode_l16
    return None


def _kind(codec: Codec | None) -> PacketKind:
    if codec is None:
        return PacketKind.OTHER
    if codec.is_dtmf:
        return PacketKind.DTMF
    if codec.is_cn:
        return PacketKind.CN
    return PacketKind.AUDIO


class Track:
    """The recording of one stream, built in memory as packets arrive."""

    def __init__(self, label: str, codecs: Mapping[int, Codec]) -> None:
        self.label = label
        self.codecs = dict(codecs)
        audio = [c for c in codecs.values() if not c.is_dtmf and not c.is_cn]
        self.codec: Codec | None = audio[0] if audio else None
        self.clock_rate = self.codec.clock_rate if self.codec else 8000
        self._pcm = bytearray()  # 16-bit little-endian mono samples
        self._packets: list[dict[str, Any]] = []
        self._anchors: list[dict[str, Any]] = []
        self._seen: set[tuple[int, int, int]] = set()
        self._seen_order: deque[tuple[int, int, int]] = deque()
        self.first: dict[str, Any] | None = None
        self._first_at = 0.0
        self._ssrc = -1
        self._anchor_ts = 0
        self._anchor_index = 0
        self.invalid = 0
        self.duplicates = 0
        self.before_start = 0
        self.rtcp_packets = 0

    @property
    def packets(self) -> int:
        return len(self._packets)

    @property
    def samples(self) -> int:
        return len(self._pcm) // 2

    def receive(self, data: bytes, at_ms: float) -> None:
        """Place one RTP packet that arrived at ``at_ms`` (epoch ms). Never raises on peer data."""
        try:
            start, end = check_rtp(data)
        except RtpError:
            self.invalid += 1
            return
        pt = data[1] & 0x7F
        seq = int.from_bytes(data[2:4], "big")
        ts = int.from_bytes(data[4:8], "big")
        ssrc = int.from_bytes(data[8:12], "big")
        codec = self.codecs.get(pt)
        kind = _kind(codec)
        entry: dict[str, Any] = {
            "seq": seq,
            "ts": ts,
            "pt": pt,
            "m": bool(data[1] & 0x80),
            "at": at_ms,
            "len": len(data),
            "kind": kind.value,
        }
        if kind is PacketKind.DTMF:
            entry["end"] = end - start >= 2 and bool(data[start + 1] & 0x80)
        self._packets.append(entry)
        if self.first is None:
            self.first = {"ssrc": ssrc, "at": at_ms, "rtp_ts": ts, "seq": seq}
            self._first_at = at_ms
            self._anchor(ssrc, ts, 0, at_ms, seq)
        elif ssrc != self._ssrc:
            self._anchor(ssrc, ts, self._arrival_index(at_ms), at_ms, seq)
        key = (ssrc, seq, ts)
        if key in self._seen:
            self.duplicates += 1
            return
        self._remember(key)
        if kind is not PacketKind.AUDIO or codec is None:
            return
        decode = _decoder(codec)
        if decode is None:
            return
        index = self._anchor_index + ts_diff(ts, self._anchor_ts)
        expected = self._arrival_index(at_ms)
        if index - expected > MAX_AHEAD_S * self.clock_rate:
            self._anchor(ssrc, ts, expected, at_ms, seq)
            index = expected
        if index < 0:
            self.before_start += 1
            return
        self._place(index, decode(data[start:end]))

    def _arrival_index(self, at_ms: float) -> int:
        return round((at_ms - self._first_at) * self.clock_rate / 1000.0)

    def _anchor(self, ssrc: int, ts: int, index: int, at_ms: float, seq: int) -> None:
        self._ssrc, self._anchor_ts, self._anchor_index = ssrc, ts, index
        self._anchors.append({"ssrc": ssrc, "rtp_ts": ts, "seq": seq, "at": at_ms, "sample": index})

    def _remember(self, key: tuple[int, int, int]) -> None:
        self._seen.add(key)
        self._seen_order.append(key)
        if len(self._seen_order) > DEDUP_WINDOW:
            self._seen.discard(self._seen_order.popleft())

    def _place(self, index: int, samples: npt.NDArray[np.int16]) -> None:
        lo = 2 * index
        hi = lo + 2 * len(samples)
        if hi > len(self._pcm):
            self._pcm.extend(bytes(hi - len(self._pcm)))
        self._pcm[lo:hi] = samples.astype("<i2").tobytes()

    def wav_bytes(self) -> bytes:
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.clock_rate)
            w.writeframes(bytes(self._pcm))
        return buf.getvalue()

    def sidecar(self) -> dict[str, Any]:
        """The stream's timing log: maps sample 0 to its arrival time and RTP timestamp."""
        first = self.first or {}
        return {
            "label": self.label,
            "ssrc": first.get("ssrc"),
            "clock_rate": self.clock_rate,
            "codec": self.codec.name if self.codec else None,
            "first_arrival_at": first.get("at"),
            "first_rtp_ts": first.get("rtp_ts"),
            "first_seq": first.get("seq"),
            "samples": self.samples,
            "anchors": self._anchors,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "before_start": self.before_start,
            "rtcp_packets": self.rtcp_packets,
            "packets": self._packets,
        }
