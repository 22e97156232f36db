"""Per-stream release decision at hold-back expiry (SPEC §3-§4; RFC 3550, RFC 4733). Core, no I/O.

Rules:
1. Samples map to time through the windowed anchor of ``gate/anchor.py``.
2. A sample is withheld if its mapped time or its packet's arrival falls in a
   (guarded) span. Sample codecs are gated to the sample, others by whole packets.
3. An RFC 4733 event is withheld if its coverage [start, end] (unended: up to
   now) touches a span or its packet arrived inside one; once withheld, every
   later packet of it (same SSRC and timestamp) is withheld too. Events are
   mapped through the audio's anchor but do not feed it (they may run ahead).
4. Fast path: when no span can touch the packet and nothing needs rewriting, only
   the anchor is fed and ``data`` itself is returned. No span can touch it when
   ``now < quiet_until`` (no span starts before now that did not before) and its
   first sample maps at or after ``quiet_end`` (every span begun by now ended
   before it; its samples end by its arrival): the slow path's decision, computed
   exactly, so packets after a pause leave the slow path once their audio is clear of
   it rather than a fixed look-back later. A withheld packet (a run noted) sends the
   next packet the slow way, which closes the run.
5. Peer data never raises: malformed packets are counted as invalid and dropped.
6. Paused fast path: a plain packet (``0x80``, 12-byte header) of a sample codec that
   arrived inside a `silence` span is cut whole by rule 2's arrival rule; it leaves as
   its header plus one cached run of silence, with the anchor fed and the run noted
   exactly as the slow path does (no DTMF memory, no skip shift in force).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pausegate.control.commands import Behaviour
from pausegate.errors import RtpError
from pausegate.gate import ledger
from pausegate.gate.anchor import ANCHOR_JUMP_S, Anchor
from pausegate.gate.payload import shift_sender_reports, silence_cut, verify_cut
from pausegate.gate.skip import SkipShift
from pausegate.rtp.packet import check_rtp
from pausegate_codecs.dtmf import end_and_duration
from pausegate_codecs.registry import Codec

if TYPE_CHECKING:
    from pausegate.gate.call_gate import CallGate

_SEQ_TS_SSRC = struct.Struct("!HII")
_SEQ_TS = struct.Struct("!HI")
_unpack_seq_ts_ssrc = _SEQ_TS_SSRC.unpack_from
_SILENCE = Behaviour.SILENCE
EVENT_MEMORY_S = 2.0
_BEHAVIOUR_CODE = {Behaviour.SILENCE: 0, Behaviour.DROP: 1, Behaviour.SKIP: 2, Behaviour.SIGNAL: 1}


def _tick_index(x: float) -> int:
    """ceil(x), but an x within 1e-6 of an integer counts as that integer (float noise)."""
    r = round(x)
    return int(r) if abs(x - r) < 1e-6 else math.ceil(x)


class StreamGate(Anchor):
    """One media stream (one m-line) of a call: the media path's only call into the gate."""

    __slots__ = (
        "_audio_pt",
        "_call",
        "_codecs",
        "_events",
        "_fast_ok",
        "_fwd_seq",
        "_fwd_ssrc",
        "_ptime_ticks",
        "_shifts",
        "_sil",
        "_sil_pt",
        "_whole",
        "dropped",
        "dtmf_withheld",
        "forwarded",
        "invalid",
        "label",
        "quiet_end",
        "quiet_until",
        "released_until",
        "runs",
        "silenced",
    )

    def __init__(self, call: CallGate, label: str, codecs: Mapping[int, Codec]) -> None:
        self._call = call
        self.label = label
        self.forwarded = self.silenced = self.dropped = self.dtmf_withheld = self.invalid = 0
        Anchor.__init__(self)
        self._events: dict[tuple[int, int], list[float]] = {}  # -> [last arrival, duration]
        self._shifts: dict[int, SkipShift] = {}  # ssrc -> what skip removed
        self._fast_ok = False  # the first packet goes the slow way (media start)
        self._fwd_seq = self._fwd_ssrc = -1  # the highest packet forwarded (skip rule 4)
        self.quiet_end = -math.inf  # copies of the call's (call_gate rule 3)
        self.quiet_until = math.inf
        self.released_until = -math.inf  # the last arrival this stream released
        self.runs = ledger.RunRecorder()
        self._sil, self._sil_pt = b"", -1  # the last whole-payload silence built (rule 6)
        self._set_codecs(codecs)

    def _set_codecs(self, codecs: Mapping[int, Codec]) -> None:
        self._codecs = dict(codecs)
        # Fast path only for codecs on the anchor's clock (a re-INVITE may add others).
        self._bpt_by_rate = {}
        for pt, c in self._codecs.items():
            if c.bytes_per_tick:
                self._bpt_by_rate.setdefault(c.clock_rate, {})[pt] = c.bytes_per_tick
        self._fast_bpt = self._bpt_by_rate.get(self._a_rate, {})
        # Rule 6: codecs a whole payload of which one cached run of silence replaces.
        self._whole = {
            pt: (c.bytes_per_tick, c.clock_rate, c)
            for pt, c in self._codecs.items()
            if c.silence_byte is not None and c.bytes_per_tick and not (c.is_dtmf or c.is_cn)
        }
        audio = [(pt, c) for pt, c in self._codecs.items() if not (c.is_dtmf or c.is_cn)]
        self._audio_pt: int | None = audio[0][0] if audio else None
        self._ptime_ticks = audio[0][1].clock_rate // 50 if audio else 160  # 20 ms

    def update_codecs(self, codecs: Mapping[int, Codec]) -> None:
        """A re-INVITE changed the codecs: the anchor re-seeds on a clock change by itself."""
        self._set_codecs(codecs)

    @property
    def call(self) -> CallGate:
        return self._call

    # -- RTP -------------------------------------------------------------------------

    def release_rtp(self, data: bytes, arrival: float, now: float) -> bytes | None:
        """Decide one packet as it leaves the hold-back: ``data``, new bytes, or None."""
        if (
            self._fast_ok
            and self.quiet_end <= arrival
            and now < self.quiet_until
            and len(data) > 12
            and data[0] == 0x80
        ):
            bpt = self._fast_bpt.get(data[1] & 0x7F)
            if bpt:
                seq, ts, ssrc = _unpack_seq_ts_ssrc(data, 2)
                if ssrc == self._a_ssrc:
                    # Rule 1 inline for the common case: in order, same block, no jump.
                    d = ((ts - self._a_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
                    if d > 0 and arrival < self._a_until:
                        ext = self._a_ext + d
                        rate = self._a_rate
                        off = arrival - (ext + (len(data) - 12) // bpt) / rate
                        base = self._a_offset
                        if -ANCHOR_JUMP_S <= off - base <= ANCHOR_JUMP_S and (
                            # what _observe returns: the first sample's mapped time
                            (off if off < base else base) + ext / rate >= self.quiet_end
                        ):
                            self._a_ts = ts
                            self._a_ext = ext
                            if off < self._a_cur:
                                self._a_cur = off
                                if off < self._a_offset:
                                    self._a_offset = off
                            self.released_until = arrival
                            if (seq - self._fwd_seq) & 0xFFFF < 0x8000:
                                self._fwd_seq = seq  # the highest sent (skip rule 4)
                            self.forwarded += 1
                            return data
                    elif (
                        self._observe(ssrc, ts, (len(data) - 12) // bpt, self._a_rate, arrival)
                        >= self.quiet_end  # else it may map into a span: look
                    ):
                        self.released_until = arrival
                        if (seq - self._fwd_seq) & 0xFFFF < 0x8000:
                            self._fwd_seq = seq
                        self.forwarded += 1
                        return data
        try:
            if (
                not (self._events or self._shifts)
                and len(data) > 12
                and data[0] == 0x80
                and (data[1] & 0x7F) in self._whole
            ):
                out = self._silence_whole(data, arrival, now)
                if out is not None:
                    return out
            return self._release_slow(data, arrival, now)
        except (RtpError, IndexError, struct.error):
            self.invalid += 1
            return None

    def _silence_whole(self, data: bytes, arrival: float, now: float) -> bytes | None:
        """Rule 6: a plain packet (12-byte header, no padding) of a sample codec that
        arrived inside a `silence` span: the slow path's outcome without its general
        machinery. None (nothing changed) when that is not the case."""
        call = self._call
        call.refresh_quiet(now)
        for s, e, b in call.guarded:
            if s <= arrival < e:
                if b is not _SILENCE:
                    return None
                break
        else:
            return None
        pt = data[1] & 0x7F
        bpt, rate, codec = self._whole[pt]
        seq, ts, ssrc = _unpack_seq_ts_ssrc(data, 2)
        n = len(data) - 12
        ticks = n // bpt
        m0 = self._observe(ssrc, ts, ticks, rate, arrival)
        call.saw_media(m0)
        self._audio_pt = pt
        if ticks:
            self._ptime_ticks = ticks
        call.note_withheld(now)
        self.runs.note(ssrc, m0, ts, ts + ticks, seq)
        self._fast_ok = False
        sil = self._sil
        if self._sil_pt != pt or len(sil) != n:
            sil = self._sil = codec.silence(n)
            self._sil_pt = pt
        self.released_until = arrival
        self.silenced += 1
        return data[:12] + sil  # header as it came, payload all silence: as built

    def _release_slow(self, data: bytes, arrival: float, now: float) -> bytes | None:
        start, end = check_rtp(data)
        pt = data[1] & 0x7F
        seq, ts, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
        call = self._call
        call.refresh_quiet(now)
        if self._events:
            self._prune_events(arrival)
        spans = call.guarded
        codec = self._codecs.get(pt)
        if codec is None:
            call.saw_media(arrival - call.lookback_s)
            # No clock to map it: withheld while any span is near (SPEC §3: dropped, counted).
            if any(s < now and e > arrival - call.lookback_s for s, e, _ in spans):
                return self._remove(data, seq, ts, ssrc, 0, arrival, now, None)
            return self._forward(data, seq, ts, ssrc, arrival)
        payload = memoryview(data)[start:end]
        if codec.is_dtmf:
            return self._release_dtmf(data, start, end, seq, ts, ssrc, codec, arrival, now)
        rate = codec.clock_rate
        ticks = codec.samples(payload)
        m0 = self._observe(ssrc, ts, ticks, rate, arrival)
        call.saw_media(m0)
        if not codec.is_cn:
            self._audio_pt = pt
            if ticks:
                self._ptime_ticks = ticks
        # Which ticks [k0, k1) fall in spans (rule 2); the arrival rule takes the packet.
        m1 = m0 + ticks / rate
        cut: list[tuple[int, int]] = []
        beh: Behaviour | None = None
        for s, e, b in spans:
            if s <= arrival < e:
                cut = [(0, ticks)]
                beh = b
                break
            if (s < m1 and e > m0) or (ticks == 0 and s <= m0 < e):
                k0 = max(0, _tick_index((s - m0) * rate))
                k1 = min(ticks, _tick_index((e - m0) * rate))
                if k1 > k0 or ticks == 0:
                    cut.append((k0, k1))
                    if beh is None:
                        beh = b
        if not cut:
            self.runs.close()
            return self._forward(data, seq, ts, ssrc, arrival, m0, ticks)
        assert beh is not None
        call.note_withheld(now)
        self.runs.note(ssrc, m0 + cut[0][0] / rate, ts + cut[0][0], ts + cut[-1][1], seq)
        self._fast_ok = False  # rule 4: the next forward closes the run the slow way
        if beh is Behaviour.SILENCE and codec.can_silence and ticks:
            if codec.silence_byte is not None and cut[0] == (0, ticks) and len(cut) == 1:
                # The whole payload (sample codecs, G.722): one slice of cached silence.
                sil = codec.silence(end - start)
                out = data[:start] + sil + data[end:]
                self.released_until = arrival
                self.silenced += 1
                if out[start:end] != sil or out[:start] != data[:start]:  # SPEC §5 verified
                    call.verified = False
                return self._shift(out, seq, ts, ssrc) if self._shifts else out
            out = silence_cut(data, start, end, codec, cut, ticks)
            self.released_until = arrival  # the samples outside the spans did leave
            self.silenced += 1
            if not verify_cut(out, data, start, end, codec, cut):
                call.verified = False
            return self._shift(out, seq, ts, ssrc)
        return self._remove(data, seq, ts, ssrc, ticks, arrival, now, beh)

    def _forward(
        self,
        data: bytes,
        seq: int,
        ts: int,
        ssrc: int,
        arrival: float,
        m0: float = 0.0,
        ticks: int = 0,
    ) -> bytes | None:
        if ssrc != self._fwd_ssrc or (seq - self._fwd_seq) & 0xFFFF < 0x8000:
            self._fwd_seq, self._fwd_ssrc = seq, ssrc  # the highest sent (skip rule 4)
        self.released_until = arrival
        self.forwarded += 1
        self._fast_ok = not self._events and not self._shifts
        return self._shift(data, seq, ts, ssrc, m0, ticks)

    def _shift(
        self, data: bytes, seq: int, ts: int, ssrc: int, m0: float = 0.0, ticks: int = 0
    ) -> bytes | None:
        shift = self._shifts.get(ssrc)
        if shift is None:
            return data
        rate, spans = self._a_rate, self._call.guarded

        def cut_before(k: int) -> bool:  # skip rule 3: would packet k before this be cut?
            a = m0 - k * ticks / rate
            return any(s < a + ticks / rate and e > a for s, e, _ in spans)

        got = shift.forward(seq, ts, ticks, cut_before if ticks and rate else None)
        if got is None:  # skip rule 4: no number left for it
            self.forwarded -= 1
            self.dropped += 1
            return None
        n_seq, n_ts = got
        if not (n_seq or n_ts):
            return data
        return data[:2] + _SEQ_TS.pack((seq - n_seq) & 0xFFFF, (ts - n_ts) & 0xFFFFFFFF) + data[8:]

    def _remove(
        self,
        data: bytes,
        seq: int,
        ts: int,
        ssrc: int,
        ticks: int,
        arrival: float,
        now: float,
        beh: Behaviour | None,
    ) -> bytes | None:
        """Send nothing; under `skip` later packets of this SSRC close the gap (SPEC §4)."""
        call = self._call
        self.dropped += 1
        self._fast_ok = False
        call.note_withheld(now)
        if beh is Behaviour.SKIP:
            self._skip(ssrc, seq, ts)
            if ticks and self._a_ssrc == ssrc and self._a_rate:
                m0 = (
                    self._a_offset
                    + (self._a_ext + ((ts - self._a_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000)
                    / self._a_rate
                )
                call.note_cut(m0, m0 + ticks / self._a_rate)
        return None

    def _skip(self, ssrc: int, seq: int, ts: int) -> None:
        shift = self._shifts.get(ssrc)
        if shift is None:
            last = self._fwd_seq if self._fwd_ssrc == ssrc else None
            shift = self._shifts[ssrc] = SkipShift(seq, last)
        shift.removed(seq, ts)

    # -- RFC 4733 (rule 3) -----------------------------------------------------------

    def _release_dtmf(
        self,
        data: bytes,
        start: int,
        end: int,
        seq: int,
        ts: int,
        ssrc: int,
        codec: Codec,
        arrival: float,
        now: float,
    ) -> bytes | None:
        info = end_and_duration(memoryview(data)[start:end])
        if info is None:
            self.invalid += 1
            return None
        is_end, duration = info
        call = self._call
        key = (ssrc, ts)
        rate = codec.clock_rate
        if self._a_ssrc == ssrc and self._a_rate != rate and self._a_rate:
            rate = self._a_rate  # RFC 4733 §2.1: events share the audio stream's clock
        remembered = self._events.get(key)
        beh: Behaviour | None = None
        if self._a_ssrc == ssrc and self._a_rate == rate:
            # Events map but do not feed the anchor: senders may claim their duration a
            # packet ahead of the audio (baresip does), which would drag it early.
            d = ((ts - self._a_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            m0 = self._a_offset + (self._a_ext + d) / rate
        else:
            m0 = self._observe(ssrc, ts, duration, rate, arrival)  # seeds a new anchor
        call.saw_media(m0)
        if remembered is None:
            hi = m0 + duration / rate if is_end else max(m0 + duration / rate, now)
            for s, e, b in call.guarded:
                if s <= arrival < e or (s <= hi and e > m0):
                    beh = b
                    break
            if beh is None:
                return self._forward(data, seq, ts, ssrc, arrival, m0, self._ptime_ticks)
            began_inside = any(s <= m0 < e for s, e, _ in call.guarded)
            code = _BEHAVIOUR_CODE[beh]
            self._events[key] = remembered = [arrival, 0.0, float(code), float(began_inside)]
            self.runs.note(ssrc, m0, ts, ts + duration, seq)
        else:
            self.runs.note(ssrc, None, ts, ts + duration, seq)
        remembered[0] = arrival
        remembered[1] = float(max(duration, int(remembered[1])))
        self.dtmf_withheld += 1
        self._fast_ok = False
        call.note_withheld(now)
        silence = remembered[2] == 0.0
        audio_pt = self._audio_pt
        audio = self._codecs.get(audio_pt) if audio_pt is not None else None
        if silence and audio_pt is not None and audio is not None and audio.can_silence:
            # SPEC §4: a codec-silence packet, same sequence number, the audio
            # timestamp the event packet stands for (start + duration - one packet).
            n = self._ptime_ticks
            out_ts = (ts + max(0, duration - n)) & 0xFFFFFFFF
            b1 = audio_pt  # marker cleared: this is not the start of a talkspurt
            out = (
                data[:1]
                + bytes((b1,))
                + data[2:4]
                + out_ts.to_bytes(4, "big")
                + data[8:start]
                + audio.silence_ticks(n)
            )
            if data[0] & 0x20:  # drop padding with the event payload
                out = bytes((out[0] & 0xDF,)) + out[1:]
            return self._shift(out, seq, out_ts, ssrc, m0 + max(0, duration - n) / rate, n)
        if remembered[2] == 2.0 and remembered[3]:
            # Under skip only an event that began inside a span cuts (its timestamp is where
            # the cut begins); one withheld from before a span leaves a gap, like a lost
            # packet, or closes with the audio cut around it (skip rules 2-3).
            self._skip(ssrc, seq, ts)
        return None

    def _prune_events(self, arrival: float) -> None:
        old = [k for k, v in self._events.items() if arrival - v[0] > EVENT_MEMORY_S]
        for k in old:
            del self._events[k]

    # -- RTCP ------------------------------------------------------------------------

    def release_rtcp(self, data: bytes, arrival: float, now: float) -> bytes | None:
        """RTCP leaves with the media; under `skip` sender reports follow the shift."""
        if not self._shifts:
            return data
        out = shift_sender_reports(data, {k: v.total() for k, v in self._shifts.items()})
        if out is None:
            self.invalid += 1
        return out
