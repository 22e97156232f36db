"""Unit tests for pausegate.control.events: SPEC §5 JSON shapes, topics, retained state."""

from __future__ import annotations

import json

from pausegate.control.commands import Scope
from pausegate.control.events import (
    Publication,
    event_payload,
    event_publications,
    reply_object,
    reply_payload,
)
from pausegate.gate.events import (
    CallEnded,
    CallIdentity,
    CallStarted,
    CallStateChanged,
    CommandOutcome,
    CommandRejected,
    PauseRecord,
    StreamSpan,
)

CALL = CallIdentity("c/1@host", ("c/1@host", "IX-9", "rec-sess"), "agent 7")
COMMON = {"event", "call_id", "keys", "agent", "at", "received_at", "media_ms", "cmd_id",
          "source", "reason"}  # fmt: skip


def body(pub: Publication) -> dict[str, object]:
    obj = json.loads(pub.payload)
    assert isinstance(obj, dict)
    return obj


def test_call_started_event_and_state() -> None:
    pubs = event_publications("pg", CallStarted(CALL, 1_700_000_000_000.0, paused=True))
    assert [p.topic for p in pubs] == [
        "pg/v1/events/call/c%2F1@host",
        "pg/v1/state/call/c%2F1@host",
    ]
    assert [p.retained for p in pubs] == [False, True]
    event = body(pubs[0])
    assert set(event) == COMMON | {"paused"}
    assert event["event"] == "call_started"
    assert event["keys"] == ["c/1@host", "IX-9", "rec-sess"]
    assert event["agent"] == "agent 7"
    assert event["at"] == 1_700_000_000_000
    assert event["paused"] is True
    assert body(pubs[1]) == {
        "paused": True,
        "since": 1_700_000_000_000,
        "call_id": "c/1@host",
        "keys": ["c/1@host", "IX-9", "rec-sess"],
        "agent": "agent 7",
    }


def test_paused_and_resumed() -> None:
    paused = CallStateChanged(CALL, True, 1000.0, 1500.0, 250.5, "id-1", "desk", "card", True)
    pubs = event_publications("pg", paused)
    event = body(pubs[0])
    assert set(event) == COMMON | {"clamped", "leaked_ms"}
    assert event == {
        "event": "paused",
        "call_id": "c/1@host",
        "keys": ["c/1@host", "IX-9", "rec-sess"],
        "agent": "agent 7",
        "at": 1000,
        "received_at": 1500,
        "media_ms": 250.5,
        "cmd_id": "id-1",
        "source": "desk",
        "reason": "card",
        "clamped": True,
        "leaked_ms": 0.0,
    }
    assert body(pubs[1])["paused"] is True
    assert body(pubs[1])["since"] == 1000
    resumed = CallStateChanged(CALL, False, 2000.0, 2000.0, None, None, None, None)
    pubs = event_publications("pg", resumed)
    event = body(pubs[0])
    assert event["event"] == "resumed"
    assert "clamped" not in event
    assert "leaked_ms" not in event  # a resume leaks nothing
    assert event["media_ms"] is None
    assert body(pubs[1])["paused"] is False


def test_rejections_route_by_scope() -> None:
    agent = CommandRejected(Scope.AGENT, "a/7", None, "bad field 'at'", 5.0, "id", "crm")
    (pub,) = event_publications("pg", agent)
    assert pub.topic == "pg/v1/events/agent/a%2F7"
    assert not pub.retained
    event = body(pub)
    assert event["event"] == "command_rejected"
    assert event["error"] == "bad field 'at'"
    assert event["scope"] == "agent"
    assert event["key"] == "a/7"
    assert event["call_id"] is None
    assert event["keys"] == []
    assert event["cmd_id"] == "id"
    unknown = CommandRejected(Scope.CALL, "IX 9", None, "no such call", 5.0)
    assert event_publications("pg", unknown)[0].topic == "pg/v1/events/call/IX%209"
    known = CommandRejected(Scope.CALL, "IX-9", CALL, "not JSON", 5.0)
    (pub,) = event_publications("pg", known)
    assert pub.topic == "pg/v1/events/call/c%2F1@host"
    assert body(pub)["call_id"] == "c/1@host"


def test_call_ended_with_pauses_and_cleared_state() -> None:
    span = StreamSpan("left", 0xDEADBEEF, 160, 8160, 10, 60)
    ended = CallEnded(
        CALL,
        9000.0,
        (
            PauseRecord(100.0, 1100.0, 5000.0, 6000.0, "card", "desk", (span,)),
            PauseRecord(2000.125, None, 7000.0, None, None, None),
        ),
        leaked_ms=12.5,
        verified=True,
    )
    event_pub, state_pub = event_publications("pg", ended)
    assert state_pub == Publication("pg/v1/state/call/c%2F1@host", b"", retained=True)
    event = body(event_pub)
    assert set(event) == COMMON | {"pauses", "leaked_ms", "verified"}
    assert event["event"] == "call_ended"
    assert event["leaked_ms"] == 12.5
    assert event["verified"] is True
    assert event["pauses"] == [
        {
            "start_ms": 100,
            "end_ms": 1100,
            "start_at": 5000,
            "end_at": 6000,
            "reason": "card",
            "source": "desk",
            "streams": [
                {
                    "label": "left",
                    "ssrc": 0xDEADBEEF,
                    "rtp_ts_start": 160,
                    "rtp_ts_end": 8160,
                    "seq_start": 10,
                    "seq_end": 60,
                }
            ],
        },
        {
            "start_ms": 2000.125,
            "end_ms": None,
            "start_at": 7000,
            "end_at": None,
            "reason": None,
            "source": None,
            "streams": [],
        },
    ]


def test_reply() -> None:
    ok = CommandOutcome(True, True, 1234.0, None)
    assert reply_object(ok) == {"ok": True, "paused": True, "effective_at": 1234, "error": None}
    bad = CommandOutcome(False, None, None, "command payload is not valid JSON")
    assert json.loads(reply_payload(bad)) == {
        "ok": False,
        "paused": None,
        "effective_at": None,
        "error": "command payload is not valid JSON",
    }


def test_event_payload_is_json_serialisable_for_non_ascii() -> None:
    call = CallIdentity("ü", ("ü",), None)
    assert event_payload(CallStarted(call, 1.0, False))["call_id"] == "ü"
    (pub, _) = event_publications("pg", CallStarted(call, 1.0, False))
    assert json.loads(pub.payload.decode("utf-8"))["call_id"] == "ü"
