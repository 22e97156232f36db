"""SDP offer/answer for the recording B2BUA (RFC 3264, RFC 3605, RFC 4574, RFC 5761). Core.

Rules:
1. A stream is one audio m-line of telephony's offer with at least one supported
   audio codec; its label is a=label, else the m-line index as text. Labels are
   unique. Every other m-line (video, text, audio with nothing we can carry, a
   stream disabled with port 0 and nothing supported) is answered with port 0
   (RFC 3264 §6) and keeps its index.
2. A secure or unknown profile on a live audio m-line is ``UnsupportedMedia``
   (488): SRTP is not implemented yet and is never silently downgraded (SPEC §3).
3. No transcoding: the recorder is offered exactly the payload types telephony
   offered and we accepted, with their rtpmap/fmtp/ptime when the offer is passed.
4. Directions follow RFC 3264 §6.1: we only ever receive from telephony
   (sendrecv/sendonly -> recvonly, recvonly/inactive -> inactive) and only ever
   send to the recorder (sendonly, or inactive while telephony holds or when asked).
5. c=0.0.0.0 / :: (RFC 3264 §8.4) means "do not send to me": the address is
   None and the offerer's receive half is removed from its direction.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import replace

from pausegate.calls.model import Address, Direction, LocalStream, StreamAnswer, StreamOffer
from pausegate.errors import SdpError
from pausegate.sdp.fields import Connection, Origin, Rtcp, addrtype_of
from pausegate.sdp.session import Attribute, MediaDescription, SessionDescription, Timing
from pausegate_codecs.registry import STATIC_PAYLOAD_TYPES, Codec, lookup

MAX_STREAMS = 16  # SIPREC records 2 per call; a conference a few more
SUPPORTED_PROFILES = frozenset({"RTP/AVP", "RTP/AVPF"})
_COPIED_ATTRIBUTES = ("ptime", "maxptime")
# Conventional spelling of encoding names we may have to write without the offer's rtpmap.
_ENCODING_SPELLING = {"TELEPHONE-EVENT": "telephone-event", "OPUS": "opus"}


class UnsupportedMedia(SdpError):
    """An offer pausegate cannot record (answered 488 Not Acceptable Here)."""

    status = 488


def _is_audio_codec(codec: Codec) -> bool:
    return not codec.is_dtmf and not codec.is_cn


def offered_codecs(m: MediaDescription) -> dict[int, Codec]:
    """Supported payload types of one m-line, in format order.

    Static payload types (< 96) without a=rtpmap are looked up by number
    (RFC 3551 §6); any a=rtpmap is looked up by encoding name, rate and channels.
    """
    rtpmaps = m.rtpmaps()
    codecs: dict[int, Codec] = {}
    for fmt in m.formats:
        if not fmt.isdigit() or int(fmt) > 127:
            continue
        pt = int(fmt)
        rtpmap = rtpmaps.get(pt)
        if rtpmap is not None:
            codec = lookup(rtpmap.encoding, rtpmap.clock_rate, rtpmap.channels or 1)
        elif pt < 96:
            codec = STATIC_PAYLOAD_TYPES.get(pt)
        else:
            codec = None
        if codec is not None:
            codecs.setdefault(pt, codec)
    return codecs


def stream_labels(sd: SessionDescription) -> list[str]:
    """The label of every m-line: a=label, else its index as text."""
    return [m.label or str(index) for index, m in enumerate(sd.media)]


def _ip(address: str, what: str) -> str:
    """Normalised IP literal (as sockets report sources); host names are refused."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        raise SdpError(f"SDP {what} address is a host name, not an IP literal") from None


def _rtcp_address(m: MediaDescription, host: str, port: int) -> Address | None:
    """Where RTCP goes: a=rtcp (RFC 3605), else RTP port + 1 (RFC 3550 §11)."""
    rtcp = m.rtcp
    if rtcp is None:
        return (host, port + 1) if port < 65535 else None
    if rtcp.connection is None:
        return (host, rtcp.port)
    if rtcp.connection.is_unspecified:
        return None
    return (_ip(rtcp.connection.address, "a=rtcp"), rtcp.port)


def _check_profile(m: MediaDescription, index: int) -> None:
    proto = m.proto.upper()
    if "SAVP" in proto:
        raise UnsupportedMedia(f"{m.proto} offered; SRTP not implemented yet")
    if proto not in SUPPORTED_PROFILES:
        raise UnsupportedMedia(f"SDP m-line {index} uses unsupported profile {m.proto}")


def streams_from_offer(
    sd: SessionDescription, *, max_streams: int = MAX_STREAMS
) -> list[StreamOffer]:
    """The audio streams of telephony's offer that pausegate will receive and relay.

    Raises UnsupportedMedia (488) for a secure/unknown profile on a live audio m-line,
    when no audio m-line has a supported audio codec, or for more than ``max_streams``
    streams (each costs two port pairs); SdpError for duplicate labels or a live
    audio m-line without a usable c= address.
    """
    streams: list[StreamOffer] = []
    seen: set[str] = set()
    for index, (m, label) in enumerate(zip(sd.media, stream_labels(sd), strict=True)):
        if m.media != "audio":
            continue
        if m.port != 0:
            _check_profile(m, index)
        codecs = offered_codecs(m)
        if not any(_is_audio_codec(c) for c in codecs.values()):
            continue
        if label in seen:
            raise SdpError("SDP offer has two streams with the same label")
        seen.add(label)
        streams.append(_stream(sd, m, label, index, codecs))
    if not streams:
        raise UnsupportedMedia("SDP offer has no audio stream with a supported codec")
    if len(streams) > max_streams:
        raise UnsupportedMedia(f"SDP offer has more than {max_streams} audio streams")
    return streams


def _stream(
    sd: SessionDescription, m: MediaDescription, label: str, index: int, codecs: dict[int, Codec]
) -> StreamOffer:
    direction = sd.media_direction(m)
    if m.port == 0:
        return StreamOffer(label, None, None, m.rtcp_mux, codecs, Direction.INACTIVE)
    conn = sd.media_connection(m)
    if conn is None:
        raise SdpError(f"SDP m-line {index} has no c= line")
    if conn.is_unspecified:
        direction = _WITHOUT_RECEIVE[direction]
        return StreamOffer(label, None, None, m.rtcp_mux, codecs, direction)
    host = _ip(conn.address, "c=")
    rtcp = None if m.rtcp_mux else _rtcp_address(m, host, m.port)
    return StreamOffer(label, (host, m.port), rtcp, m.rtcp_mux, codecs, direction)


# RFC 3264 §8.4: c=0.0.0.0 removes the offerer's receive half.
_WITHOUT_RECEIVE = {
    Direction.SENDRECV: Direction.SENDONLY,
    Direction.SENDONLY: Direction.SENDONLY,
    Direction.RECVONLY: Direction.INACTIVE,
    Direction.INACTIVE: Direction.INACTIVE,
}
# RFC 3264 §6.1 for an answerer that only receives.
ANSWER_DIRECTION = {
    Direction.SENDRECV: Direction.RECVONLY,
    Direction.SENDONLY: Direction.RECVONLY,
    Direction.RECVONLY: Direction.INACTIVE,
    Direction.INACTIVE: Direction.INACTIVE,
}


def _session(
    advertise: str, session_id: int, version: int, username: str, media: list[MediaDescription]
) -> SessionDescription:
    addrtype = addrtype_of(advertise)
    origin = Origin(username, str(session_id), version, "IN", addrtype, advertise)
    conn = Connection(advertise, addrtype)
    return SessionDescription(origin, "-", conn, (Timing(),), (), tuple(media))


def _rtpmap_line(pt: int, codec: Codec, source: MediaDescription | None) -> Attribute:
    rtpmap = source.rtpmap(pt) if source is not None else None
    if rtpmap is not None:
        return ("rtpmap", str(rtpmap))
    name = _ENCODING_SPELLING.get(codec.name, codec.name)
    tail = f"/{codec.channels}" if codec.channels != 1 else ""
    return ("rtpmap", f"{pt} {name}/{codec.clock_rate}{tail}")


def _format_attributes(
    pts: Sequence[int], codecs: Mapping[int, Codec], source: MediaDescription | None
) -> list[Attribute]:
    attrs = [_rtpmap_line(pt, codecs[pt], source) for pt in pts]
    if source is not None:
        attrs += [("fmtp", f"{pt} {p}") for pt in pts if (p := source.fmtp(pt))]
        attrs += [(n, source.attribute(n)) for n in _COPIED_ATTRIBUTES if source.has_attribute(n)]
    return attrs


def build_recorder_offer(
    streams: Sequence[StreamOffer],
    local: Sequence[LocalStream],
    advertise: str,
    session_id: int,
    version: int,
    *,
    sdp_username: str = "pausegate",
    offer: SessionDescription | None = None,
    inactive: bool = False,
    send_direction: Direction = Direction.SENDONLY,
) -> SessionDescription:
    """Our offer to the recorder: one sendonly audio m-line per stream, at the egress ports.

    ``send_direction`` may be SENDRECV for recorders that record nothing on a
    sendonly offer (baresip 1.0.0 answers it recvonly and drops its recording
    filter); pausegate still sends only, and drops what such a recorder sends back.

    Pass telephony's ``offer`` to copy its a=rtpmap, a=fmtp and a=ptime verbatim;
    without it rtpmap lines are written from the codec registry. A stream is
    a=inactive when ``inactive`` (SPEC §4 ``signal``) or when telephony will not send it.
    """
    if len(streams) != len(local):
        raise ValueError("one LocalStream is needed per StreamOffer")
    sources = dict(zip(stream_labels(offer), offer.media, strict=True)) if offer else {}
    media: list[MediaDescription] = []
    for stream, ports in zip(streams, local, strict=True):
        source = sources.get(stream.label)
        pts = list(stream.codecs)
        attrs = _format_attributes(pts, stream.codecs, source)
        attrs.append(("label", stream.label))
        attrs.append(("rtcp", str(Rtcp(ports.egress_rtcp_port))))
        if stream.rtcp_mux:
            attrs.append(("rtcp-mux", None))
        idle = inactive or stream.direction in (Direction.RECVONLY, Direction.INACTIVE)
        attrs.append((Direction.INACTIVE if idle else send_direction, None))
        fmts = tuple(str(pt) for pt in pts)
        media.append(
            MediaDescription(
                "audio", ports.egress_rtp_port, "RTP/AVP", fmts, attributes=tuple(attrs)
            )
        )
    return _session(advertise, session_id, version, sdp_username, media)


def build_answer(
    offer: SessionDescription,
    streams: Sequence[StreamOffer],
    local: Sequence[LocalStream],
    advertise: str,
    session_id: int,
    version: int,
    *,
    inactive: bool = False,
    sdp_username: str = "pausegate",
) -> SessionDescription:
    """Our answer to telephony: the offer's m-lines in order, streams at the ingress ports.

    Streams are matched to m-lines by label; m-lines without a stream, and streams
    whose m-line has port 0 or no accepted format left, are rejected with port 0.
    """
    if len(streams) != len(local):
        raise ValueError("one LocalStream is needed per StreamOffer")
    by_label = {s.label: (s, p) for s, p in zip(streams, local, strict=True)}
    media: list[MediaDescription] = []
    for m, label in zip(offer.media, stream_labels(offer), strict=True):
        found = by_label.get(label) if m.media == "audio" else None
        pts = [int(f) for f in m.formats if f.isdigit() and found and int(f) in found[0].codecs]
        if found is None or m.port == 0 or not pts:
            media.append(MediaDescription(m.media, 0, m.proto, m.formats))
            continue
        stream, ports = found
        attrs = _format_attributes(pts, stream.codecs, m)
        if m.label is not None:
            attrs.append(("label", m.label))
        if m.rtcp_mux:
            attrs += [("rtcp", str(Rtcp(ports.ingress_rtp_port))), ("rtcp-mux", None)]
        else:
            attrs.append(("rtcp", str(Rtcp(ports.ingress_rtcp_port))))
        direction = Direction.INACTIVE if inactive else ANSWER_DIRECTION[stream.direction]
        attrs.append((direction, None))
        fmts = tuple(str(pt) for pt in pts)
        media.append(
            MediaDescription(
                "audio", ports.ingress_rtp_port, m.proto, fmts, attributes=tuple(attrs)
            )
        )
    return _session(advertise, session_id, version, sdp_username, media)


def _answered_codecs(o: MediaDescription, a: MediaDescription) -> dict[int, Codec]:
    """Offered payload types the answer kept, by number or by rtpmap (RFC 3264 §6.1)."""
    offered = offered_codecs(o)
    by_codec = {codec: pt for pt, codec in reversed(offered.items())}
    kept: dict[int, Codec] = {}
    for pt, codec in offered_codecs(a).items():
        if pt in offered and offered[pt] == codec:
            kept.setdefault(pt, codec)
        elif codec in by_codec:
            kept.setdefault(by_codec[codec], codec)
    return kept


def parse_answer(our_offer: SessionDescription, answer: SessionDescription) -> list[StreamAnswer]:
    """Where the recorder wants each stream of our offer, in m-line order.

    A stream the recorder rejected (port 0) or will not receive (sendonly/inactive)
    has rtp=None. Raises SdpError when the m-line count or media differ, or a live
    m-line picks no offered audio codec.
    """
    if len(answer.media) != len(our_offer.media):
        raise SdpError(
            f"SDP answer has {len(answer.media)} m-lines, the offer had {len(our_offer.media)}"
        )
    result: list[StreamAnswer] = []
    labels = stream_labels(our_offer)
    for index, (o, a, label) in enumerate(zip(our_offer.media, answer.media, labels, strict=True)):
        if a.media != o.media:
            raise SdpError(f"SDP answer m-line {index} has another media type")
        if a.port == 0 or o.port == 0:
            result.append(StreamAnswer(label, None, None, False))
            continue
        codecs = _answered_codecs(o, a)
        if not any(_is_audio_codec(c) for c in codecs.values()):
            raise SdpError(f"SDP answer m-line {index} picks no offered codec")
        conn = answer.media_connection(a)
        if conn is None:
            raise SdpError(f"SDP answer m-line {index} has no c= line")
        mux = o.rtcp_mux and a.rtcp_mux
        if conn.is_unspecified:
            result.append(StreamAnswer(label, None, None, mux, codecs))
            continue
        host = _ip(conn.address, "c=")
        rtcp = None if mux else _rtcp_address(a, host, a.port)
        receives = answer.media_direction(a) in (Direction.RECVONLY, Direction.SENDRECV)
        rtp = (host, a.port) if receives else None
        result.append(StreamAnswer(label, rtp, rtcp, mux, codecs))
    return result


def is_session_refresh(previous: SessionDescription, new: SessionDescription) -> bool:
    """True when a re-offer changes nothing (RFC 3264 §8): same o= or identical but o= version."""
    if new.origin == previous.origin:
        return True
    same_version = replace(new.origin, sess_version=previous.origin.sess_version)
    return replace(new, origin=same_version) == previous
