"""Bytes the gate sends instead: silenced payloads, their check, shifted RTCP (SPEC §4-§5). Core.

Rules:
1. A packet is rebuilt as header + new payload + original padding; header bytes
   are never changed here.
2. ``verify_cut`` checks the bytes actually built (SPEC §5 `verified`), not the intent.
3. RTCP sender reports (RFC 3550 §6.4.1) of a skipped SSRC get the same shift as
   its RTP: timestamp and packet count; other packets of a compound pass as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

from pausegate_codecs.registry import Codec

RTCP_SR = 200
Cut = list[tuple[int, int]]  # [k0, k1) tick ranges withheld, ascending


def silence_cut(data: bytes, start: int, end: int, codec: Codec, cut: Cut, ticks: int) -> bytes:
    """``data`` with the ticks in ``cut`` silenced (frame codecs: the whole payload)."""
    body = memoryview(data)[start:end]
    bpt = codec.bytes_per_tick
    if not codec.sample_gated or not bpt:
        new_body = codec.silence(body)
    else:
        parts: list[bytes | memoryview] = []
        pos = 0
        for k0, k1 in cut:
            if k0 > pos:
                parts.append(body[pos * bpt : k0 * bpt])
            lo = max(k0, pos)
            if k1 > lo:
                parts.append(codec.silence((k1 - lo) * bpt))
            pos = max(pos, k1)
        if pos < ticks:
            parts.append(body[pos * bpt :])
        new_body = b"".join(parts)
    return data[:start] + new_body + data[end:]


def verify_cut(out: bytes, original: bytes, start: int, end: int, codec: Codec, cut: Cut) -> bool:
    """True when every withheld tick of ``out`` is silence and the header and padding are intact."""
    tail = len(original) - end
    if out[:start] != original[:start] or out[len(out) - tail :] != original[end:]:
        return False
    sent = memoryview(out)[start : len(out) - tail]
    bpt = codec.bytes_per_tick
    if not codec.sample_gated or not bpt:
        return bytes(sent) == codec.silence(memoryview(original)[start:end])
    fill = codec.silence_byte
    assert fill is not None
    for k0, k1 in cut:
        seg = bytes(sent[k0 * bpt : k1 * bpt])
        if seg.count(fill) != len(seg):
            return False
    return True


def shift_sender_reports(data: bytes, shifts: Mapping[int, tuple[int, int]]) -> bytes | None:
    """Sender reports of shifted SSRCs with (packets, ticks) subtracted; None if malformed."""
    if len(data) < 8 or data[0] >> 6 != 2:
        return None
    out = bytearray(data)
    pos = 0
    while pos + 4 <= len(out):
        length = (int.from_bytes(out[pos + 2 : pos + 4], "big") + 1) * 4
        if out[pos + 1] == RTCP_SR and pos + 28 <= len(out):
            shift = shifts.get(int.from_bytes(out[pos + 4 : pos + 8], "big"))
            if shift is not None:
                rtp_ts = int.from_bytes(out[pos + 16 : pos + 20], "big")
                count = int.from_bytes(out[pos + 20 : pos + 24], "big")
                out[pos + 16 : pos + 20] = ((rtp_ts - shift[1]) & 0xFFFFFFFF).to_bytes(4, "big")
                out[pos + 20 : pos + 24] = max(0, count - shift[0]).to_bytes(4, "big")
        pos += length
    return bytes(out)
