"""Gate events to MQTT publications: events, retained state, replies (SPEC §5). Core, no I/O.

Rules:
1. Every event payload carries the same fields (``event``, ``call_id``, ``keys``,
   ``agent``, ``at``, ``received_at``, ``media_ms``, ``cmd_id``, ``source``,
   ``reason``), ``null`` where they do not apply, plus the event's own fields
   (``paused`` on call_started, ``clamped`` when set, ``error``/``scope``/``key``
   on command_rejected, ``pauses``/``leaked_ms``/``verified`` on call_ended).
2. Events are published under the call's ingress Call-ID; a rejection of an
   agent-scoped command goes to ``events/agent/{agent_id}``, a rejection for a
   call key that resolved to no call to ``events/call/{key as addressed}``.
3. call_started / paused / resumed also set the retained ``state/call/{call_id}``;
   call_ended clears it with an empty retained payload.
4. Epoch times (``at``, ``since``, ``*_at``, ``effective_at``) are integer ms, rounded
   outwards (a pause's start down, a resume's time up); recorder-timeline ms
   (``media_ms``, ``start_ms``, ``leaked_ms``) keep three decimals.
5. No payload, digit or command content other than the fields above is ever
   copied into an event.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import assert_never

from pausegate.control.commands import Scope
from pausegate.control.topics import event_topic, state_topic
from pausegate.gate.events import (
    CallEnded,
    CallIdentity,
    CallStarted,
    CallStateChanged,
    CommandOutcome,
    CommandRejected,
    GateEvent,
    PauseRecord,
    StreamSpan,
)

ONLINE = b"online"
OFFLINE = b"offline"


@dataclass(frozen=True, slots=True)
class Publication:
    """One MQTT message to publish (QoS 1)."""

    topic: str
    payload: bytes
    retained: bool = False


def _epoch(value: float | None, *, up: bool = False) -> int | None:
    """Epoch ms as an integer, rounded outwards: starts down, ends up (the one rule)."""
    if value is None:
        return None
    return math.ceil(value) if up else math.floor(value)


def _ms(value: float | None) -> int | float | None:
    if value is None:
        return None
    rounded = round(value, 3)
    return int(rounded) if float(rounded).is_integer() else rounded


def _encode(obj: Mapping[str, object]) -> bytes:
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:  # a lone surrogate from a peer: escape it, stay valid JSON
        return json.dumps(obj, separators=(",", ":")).encode()


def _common(name: str, call: CallIdentity | None) -> dict[str, object]:
    return {
        "event": name,
        "call_id": call.call_id if call else None,
        "keys": list(call.keys) if call else [],
        "agent": call.agent if call else None,
        "at": None,
        "received_at": None,
        "media_ms": None,
        "cmd_id": None,
        "source": None,
        "reason": None,
    }


def _stream(span: StreamSpan) -> dict[str, object]:
    return {
        "label": span.label,
        "ssrc": span.ssrc,
        "rtp_ts_start": span.rtp_ts_start,
        "rtp_ts_end": span.rtp_ts_end,
        "seq_start": span.seq_start,
        "seq_end": span.seq_end,
    }


def _pause(record: PauseRecord) -> dict[str, object]:
    return {
        "start_ms": _ms(record.start_ms),
        "end_ms": _ms(record.end_ms),
        "start_at": _epoch(record.start_at_ms),
        "end_at": _epoch(record.end_at_ms, up=True),
        "reason": record.reason,
        "source": record.source,
        "streams": [_stream(s) for s in record.streams],
    }


def _state(prefix: str, call: CallIdentity, paused: bool, since_ms: float) -> Publication:
    body = {
        "paused": paused,
        "since": _epoch(since_ms, up=not paused),
        "call_id": call.call_id,
        "keys": list(call.keys),
        "agent": call.agent,
    }
    return Publication(state_topic(prefix, call.call_id), _encode(body), retained=True)


def event_payload(event: GateEvent) -> dict[str, object]:
    """The JSON object of SPEC §5 for one event (before encoding)."""
    match event:
        case CallStarted():
            body = _common("call_started", event.call)
            body["at"] = _epoch(event.at_ms)
            body["paused"] = event.paused
        case CallStateChanged():
            body = _common("paused" if event.paused else "resumed", event.call)
            body.update(
                at=_epoch(event.at_ms, up=not event.paused),
                received_at=_epoch(event.received_at_ms),
                media_ms=_ms(event.media_ms),
                cmd_id=event.cmd_id,
                source=event.source,
                reason=event.reason,
            )
            if event.clamped:
                body["clamped"] = True
            if event.paused:
                body["leaked_ms"] = _ms(event.leaked_ms)
        case CommandRejected():
            body = _common("command_rejected", event.call)
            body.update(
                at=_epoch(event.received_at_ms),
                received_at=_epoch(event.received_at_ms),
                cmd_id=event.cmd_id,
                source=event.source,
                scope=event.scope.value,
                key=event.key,
                error=event.error,
            )
        case CallEnded():
            body = _common("call_ended", event.call)
            body.update(
                at=_epoch(event.at_ms),
                pauses=[_pause(p) for p in event.pauses],
                leaked_ms=_ms(event.leaked_ms),
                verified=event.verified,
            )
        case _:
            assert_never(event)
    return body


def event_publications(prefix: str, event: GateEvent) -> list[Publication]:
    """Everything one event publishes: the event itself, then the retained state."""
    payload = _encode(event_payload(event))
    match event:
        case CallStarted():
            return [
                Publication(event_topic(prefix, Scope.CALL, event.call.call_id), payload),
                _state(prefix, event.call, event.paused, event.at_ms),
            ]
        case CallStateChanged():
            return [
                Publication(event_topic(prefix, Scope.CALL, event.call.call_id), payload),
                _state(prefix, event.call, event.paused, event.at_ms),
            ]
        case CommandRejected():
            if event.scope is Scope.AGENT or event.call is None:
                topic = event_topic(prefix, event.scope, event.key)
            else:
                topic = event_topic(prefix, Scope.CALL, event.call.call_id)
            return [Publication(topic, payload)]
        case CallEnded():
            return [
                Publication(event_topic(prefix, Scope.CALL, event.call.call_id), payload),
                Publication(state_topic(prefix, event.call.call_id), b"", retained=True),
            ]
        case _:
            assert_never(event)


def reply_object(outcome: CommandOutcome) -> dict[str, object]:
    """``{"ok", "paused", "effective_at", "error"}`` (MQTT 5 reply and HTTP body)."""
    return {
        "ok": outcome.ok,
        "paused": outcome.paused,
        "effective_at": _epoch(outcome.effective_at_ms, up=outcome.paused is False),
        "error": outcome.error,
    }


def reply_payload(outcome: CommandOutcome) -> bytes:
    return _encode(reply_object(outcome))
