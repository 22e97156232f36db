"""SIPREC recording metadata: the keys and participants pausegate needs (RFC 7865). Core.

Rules:
1. Lenient on shape, strict on safety. Elements are matched by local name, in
   any namespace and any letter case, wherever they occur, because real SRCs
   (Cisco, Avaya, Oracle/Acme SBC, FreeSWITCH, OpenSIPS, BroadWorks) differ:
   ``session``, ``sipSessionID``, ``participant`` with ``nameID aor=`` or an
   ``aor`` child (pre-RFC drafts), ``stream`` with ``label``,
   ``participantstreamassoc`` or ``send``/``recv`` inside ``participant``, and
   vendor call ids (``call-id``, ``callid``, ``call_id``, ``ucid``).
2. Bodies over ``max_bytes``, not UTF-8, declaring another encoding, or carrying
   a DOCTYPE/ENTITY declaration (entity expansion) are refused before parsing;
   any XML error is a ``SiprecError`` naming the defect, never the content.
3. Only identifiers and AORs are kept; display names are not read.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from pausegate.siprec.multipart import SiprecError

NAMESPACE = "urn:ietf:params:xml:ns:recording:1"
MAX_METADATA_BYTES = 262144
_CALL_ID_NAMES = frozenset({"call-id", "callid", "call_id", "ucid"})
_DECLARED_ENCODING = re.compile(rb"""\A<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']""")
_UTF8_NAMES = frozenset({b"utf-8", b"utf8", b"us-ascii", b"ascii"})
_REFUSED = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MetaSession:
    """<session>: one recorded communication session."""

    session_id: str
    sip_session_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MetaStream:
    """<stream>: one media stream, tied to an SDP a=label."""

    stream_id: str
    label: str | None = None
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class Participant:
    """<participant>: its AORs and the labels of the streams it sends and receives."""

    participant_id: str
    aors: tuple[str, ...] = ()
    send: tuple[str, ...] = ()  # stream labels (or stream ids when no <stream> names them)
    recv: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RecordingMetadata:
    """What pausegate reads from application/rs-metadata+xml."""

    sessions: tuple[MetaSession, ...] = ()
    participants: tuple[Participant, ...] = ()
    streams: tuple[MetaStream, ...] = ()
    sip_session_ids: tuple[str, ...] = ()  # every <sipSessionID>, document order
    call_ids: tuple[str, ...] = ()  # vendor Call-ID elements, document order
    datamode: str | None = None

    def participants_sending(self, label: str) -> list[Participant]:
        """Participants whose voice a stream carries."""
        return [p for p in self.participants if label in p.send]


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _text(element: ET.Element) -> str:
    return (element.text or "").strip()


def _attr(element: ET.Element, *names: str) -> str:
    for key, value in element.attrib.items():
        if _local(key) in names:
            return value.strip()
    return ""


def _dedup(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in element.iter() if _local(c.tag) == name and c is not element]


def _check_bytes(xml: bytes, max_bytes: int) -> bytes:
    if len(xml) > max_bytes:
        raise SiprecError("recording metadata is too large")
    data = xml.removeprefix(b"\xef\xbb\xbf").lstrip()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise SiprecError("recording metadata is not UTF-8") from None
    declared = _DECLARED_ENCODING.match(data)
    if declared is not None and declared.group(1).lower() not in _UTF8_NAMES:
        raise SiprecError("recording metadata declares an encoding other than UTF-8")
    if _REFUSED.search(data):
        raise SiprecError("recording metadata has a DOCTYPE or ENTITY declaration")
    return data


def parse_metadata(xml: bytes, *, max_bytes: int = MAX_METADATA_BYTES) -> RecordingMetadata:
    """Parse recording metadata; raises SiprecError for unsafe or malformed XML."""
    data = _check_bytes(xml, max_bytes)
    try:
        root = ET.fromstring(data)
    except (ET.ParseError, ValueError):
        raise SiprecError("recording metadata is not well-formed XML") from None
    if _local(root.tag) != "recording":
        raise SiprecError("recording metadata root element is not <recording>")
    elements = list(root.iter())
    streams = tuple(
        MetaStream(
            _attr(e, "stream_id", "id"),
            next((_text(c) for c in _children(e, "label")), None),
            _attr(e, "session_id", "session") or None,
        )
        for e in elements
        if _local(e.tag) == "stream" and _attr(e, "stream_id", "id")
    )
    sessions = tuple(
        MetaSession(
            _attr(e, "session_id", "id"),
            _dedup([_text(c) for c in _children(e, "sipsessionid")]),
        )
        for e in elements
        if _local(e.tag) == "session" and _attr(e, "session_id", "id")
    )
    datamode = next((_text(e) for e in elements if _local(e.tag) == "datamode"), None)
    return RecordingMetadata(
        sessions=sessions,
        participants=_participants(elements, streams),
        streams=streams,
        sip_session_ids=_dedup([_text(e) for e in elements if _local(e.tag) == "sipsessionid"]),
        call_ids=_dedup([_text(e) for e in elements if _local(e.tag) in _CALL_ID_NAMES]),
        datamode=datamode or None,
    )


def _participants(
    elements: list[ET.Element], streams: tuple[MetaStream, ...]
) -> tuple[Participant, ...]:
    labels = {s.stream_id: s.label or s.stream_id for s in streams}
    order: list[str] = []
    aors: dict[str, list[str]] = {}
    send: dict[str, list[str]] = {}
    recv: dict[str, list[str]] = {}

    def directions(owner: str, element: ET.Element) -> None:
        for child in element:
            name = _local(child.tag)
            if name in ("send", "recv") and _text(child):
                stream = labels.get(_text(child), _text(child))
                (send if name == "send" else recv).setdefault(owner, []).append(stream)

    for element in elements:
        match _local(element.tag):
            case "participant":
                pid = _attr(element, "participant_id", "id")
                if not pid:
                    continue
                if pid not in aors:
                    order.append(pid)
                found = aors.setdefault(pid, [])
                found += [_attr(n, "aor") for n in _children(element, "nameid")]
                found += [_text(a) for a in _children(element, "aor")]
                directions(pid, element)
            case "participantstreamassoc":
                pid = _attr(element, "participant_id", "id")
                if pid:
                    directions(pid, element)
            case _:
                pass
    return tuple(
        Participant(pid, _dedup(aors[pid]), _dedup(send.get(pid, [])), _dedup(recv.get(pid, [])))
        for pid in order
    )


def _session_id_keys(value: str) -> list[str]:
    """A Session-ID value (RFC 7989 "local;remote=other") and its UUIDs."""
    local, _, params = value.partition(";")
    keys = [value, local.strip()]
    for param in params.split(";"):
        name, _, uuid = param.partition("=")
        if name.strip().lower() == "remote" and uuid.strip().strip("0"):
            keys.append(uuid.strip())
    return keys


def call_keys(meta: RecordingMetadata) -> list[str]:
    """Keys a command may use for the recorded call: Call-IDs, Session-IDs, session ids."""
    keys = list(meta.call_ids)
    for value in meta.sip_session_ids:
        keys += _session_id_keys(value)
    keys += [s.session_id for s in meta.sessions]
    return list(_dedup(keys))


def aor_user(aor: str) -> str | None:
    """The user part of a sip:/sips:/tel: AOR, None when it has none."""
    uri = aor.strip().removeprefix("<").removesuffix(">")
    scheme, colon, rest = uri.partition(":")
    if not colon or scheme.lower() not in ("sip", "sips", "tel"):
        return None
    if scheme.lower() == "tel":
        user = rest.split(";", 1)[0]
    else:
        user, at, _ = rest.rpartition("@")
        user = user.split(";", 1)[0] if at else ""
    return user.split(":", 1)[0] or None


def agent_from_metadata(meta: RecordingMetadata, pattern: re.Pattern[str]) -> str | None:
    """User part of the first participant AOR that ``pattern`` finds (re.search), if any."""
    for participant in meta.participants:
        for aor in participant.aors:
            if pattern.search(aor) and (user := aor_user(aor)):
                return user
    return None
