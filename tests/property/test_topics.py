"""Property tests for pausegate.control.topics (SPEC §5 topic-level escaping)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausegate.control.commands import Scope
from pausegate.control.topics import (
    control_subscriptions,
    control_topic,
    decode_level,
    encode_level,
    event_topic,
    is_publishable,
    parse_control_topic,
    presence_topic,
    raw_event_topic_for,
    state_topic,
)
from pausegate.errors import TopicError

keys = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=40
) | st.sampled_from(["%", "/", "+", "#", " ", "\x00", "a%2Fb", "ü/€", "%25"])
prefixes = st.lists(
    st.text(alphabet="abcxyz-_.019", min_size=1, max_size=6), min_size=1, max_size=3
).map("/".join)


@given(keys)
def test_round_trip(key: str) -> None:
    level = encode_level(key)
    assert decode_level(level) == key
    assert not any(c in level for c in "/+#")
    assert all(ord(c) >= 0x21 for c in level)


@given(st.text(max_size=30))
def test_decode_is_strict_or_canonical(level: str) -> None:
    try:
        key = decode_level(level)
    except TopicError:
        return
    assert encode_level(key) == level  # one key, one spelling


@given(prefixes, st.sampled_from(list(Scope)), keys)
def test_control_topic_round_trip(prefix: str, scope: Scope, key: str) -> None:
    assert parse_control_topic(prefix, control_topic(prefix, scope, key)) == (scope, key)


def test_exact_encoding() -> None:
    assert encode_level("a/b+c#d%e f\tg") == "a%2Fb%2Bc%23d%25e%20f%09g"
    assert encode_level("agent-7@example.com") == "agent-7@example.com"
    assert encode_level("ünï€") == "ünï€"
    assert encode_level("\x00\x20\x21") == "%00%20!"


@pytest.mark.parametrize(
    "level", ["%2f", "%", "%2", "%ZZ", "%41", "a b", "a+b", "x#", "%C3%BC", "\x00"]
)
def test_decode_rejects(level: str) -> None:
    with pytest.raises(TopicError):
        decode_level(level)


def test_builders() -> None:
    p = "acme/prod"
    assert control_topic(p, Scope.CALL, "a/b") == "acme/prod/v1/control/call/a%2Fb"
    assert control_topic(p, Scope.AGENT, "7") == "acme/prod/v1/control/agent/7"
    assert event_topic(p, Scope.CALL, "c1") == "acme/prod/v1/events/call/c1"
    assert event_topic(p, Scope.AGENT, "a 1") == "acme/prod/v1/events/agent/a%201"
    assert state_topic(p, "c#1") == "acme/prod/v1/state/call/c%231"
    assert presence_topic(p, "pg-1") == "acme/prod/v1/instances/pg-1"
    assert control_subscriptions(p) == (
        "acme/prod/v1/control/call/+",
        "acme/prod/v1/control/agent/+",
    )


@pytest.mark.parametrize(
    "topic",
    [
        "other/v1/control/call/x",
        "pausegate/v2/control/call/x",
        "pausegate/v1/control/call",
        "pausegate/v1/control/call/",
        "pausegate/v1/control/room/x",
        "pausegate/v1/control/call/x/y",
        "pausegate/v1/control/call/%2f",
    ],
)
def test_parse_rejects(topic: str) -> None:
    with pytest.raises(TopicError):
        parse_control_topic("pausegate", topic)


def test_raw_event_topic_for_bad_levels() -> None:
    assert raw_event_topic_for("pausegate", "pausegate/v1/control/call/%2f") == (
        Scope.CALL,
        "%2f",
        "pausegate/v1/events/call/%2f",
    )
    assert raw_event_topic_for("pausegate", "pausegate/v1/control/room/x") is None
    assert raw_event_topic_for("pausegate", "pausegate/v1/control/call/a/b") is None
    assert raw_event_topic_for("pausegate", "elsewhere/x") is None


def test_is_publishable() -> None:
    assert is_publishable("a/b/c")
    assert is_publishable(control_topic("p", Scope.CALL, "+#/\x00"))
    for bad in ("", "a/+/b", "a/#", "a\x00b", "x" * 70000, "bad\udcff"):
        assert not is_publishable(bad)


@given(st.text(max_size=60), prefixes)
def test_parse_control_topic_raises_only_topic_error(topic: str, prefix: str) -> None:
    for candidate in (topic, f"{prefix}/v1/control/{topic}", f"{prefix}/v1/control/call/{topic}"):
        try:
            scope, key = parse_control_topic(prefix, candidate)
        except TopicError:
            continue
        assert control_topic(prefix, scope, key) == candidate


def test_reply_topics_may_not_point_into_pausegates_tree() -> None:
    from pausegate.control.topics import reply_allowed

    assert reply_allowed("pausegate", "desk/42/replies")
    assert reply_allowed("pausegate", "pausegate/v1/replies/ctl/abc")
    assert not reply_allowed("pausegate", "pausegate/v1/events/call/x")
    assert not reply_allowed("pausegate", "pausegate/v1/state/call/x")
    assert not reply_allowed("pausegate", "pausegate/v1/instances/pg-1")
