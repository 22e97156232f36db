"""MQTT topic names and topic-level escaping (SPEC §5). Core, no I/O.

Rules:
1. A level that carries a call key, agent id, call id or instance id encodes
   exactly ``%``, ``/``, ``+``, ``#`` and characters below U+0021 as ``%XX``
   with upper-case hex digits; every other character is kept as it is (MQTT
   topics are UTF-8, so nothing else needs escaping).
2. Decoding is strict, so one key has exactly one spelling: a ``%`` must be
   followed by two upper-case hex digits naming a character of rule 1, and a
   character of rule 1 must not appear unescaped. ``%2f`` (lower case) and
   ``%41`` ("A" needlessly escaped) are rejected with ``TopicError``. Hence
   ``decode_level(encode_level(k)) == k`` and ``encode_level(decode_level(t)) == t``.
3. Topics live under ``{prefix}/v1/``; the prefix may have several levels.
"""

from __future__ import annotations

from pausegate.control.commands import Scope
from pausegate.errors import TopicError

VERSION_LEVEL = "v1"
_ESCAPED = frozenset("%/+#") | frozenset(chr(c) for c in range(0x21))
_HEX = "0123456789ABCDEF"
_SCOPE_WORDS = frozenset(s.value for s in Scope)


def _must_escape(ch: str) -> bool:
    return ch in _ESCAPED


def encode_level(value: str) -> str:
    """Escape one topic level (rule 1)."""
    return "".join(f"%{ord(ch):02X}" if _must_escape(ch) else ch for ch in value)


def decode_level(level: str) -> str:
    """Undo ``encode_level``; raise TopicError for any non-canonical spelling (rule 2)."""
    out: list[str] = []
    i = 0
    n = len(level)
    while i < n:
        ch = level[i]
        if ch == "%":
            hex_digits = level[i + 1 : i + 3]
            if len(hex_digits) != 2 or any(d not in _HEX for d in hex_digits):
                raise TopicError("topic level has an invalid %-escape (expected %XX, upper-case)")
            decoded = chr(int(hex_digits, 16))
            if not _must_escape(decoded):
                raise TopicError("topic level escapes a character that must not be escaped")
            out.append(decoded)
            i += 3
        elif _must_escape(ch):
            raise TopicError("topic level has a character that must be escaped")
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _base(prefix: str) -> str:
    return f"{prefix}/{VERSION_LEVEL}"


def control_topic(prefix: str, scope: Scope, key: str) -> str:
    """``{prefix}/v1/control/{call|agent}/{key}``."""
    return f"{_base(prefix)}/control/{scope.value}/{encode_level(key)}"


def control_subscriptions(prefix: str) -> tuple[str, ...]:
    """The filters the control adapter subscribes to (QoS 1)."""
    return tuple(f"{_base(prefix)}/control/{scope.value}/+" for scope in Scope)


def event_topic(prefix: str, scope: Scope, ident: str) -> str:
    """``{prefix}/v1/events/call/{call_id}`` or ``.../events/agent/{agent_id}``."""
    return f"{_base(prefix)}/events/{scope.value}/{encode_level(ident)}"


def state_topic(prefix: str, call_id: str) -> str:
    """``{prefix}/v1/state/call/{call_id}`` (retained)."""
    return f"{_base(prefix)}/state/call/{encode_level(call_id)}"


def presence_topic(prefix: str, instance_id: str) -> str:
    """``{prefix}/v1/instances/{instance_id}`` (retained online/offline)."""
    return f"{_base(prefix)}/instances/{encode_level(instance_id)}"


def reply_topic(prefix: str, instance_id: str, nonce: str) -> str:
    """A private response topic for `pausegate ctl` (MQTT 5 Response Topic)."""
    return f"{_base(prefix)}/replies/{encode_level(instance_id)}/{encode_level(nonce)}"


def parse_control_topic(prefix: str, topic: str) -> tuple[Scope, str]:
    """Split a control topic into (scope, decoded key); TopicError if it names no target."""
    head = f"{_base(prefix)}/control/"
    if not topic.startswith(head):
        raise TopicError("topic is not under the control prefix")
    scope_word, sep, level = topic[len(head) :].partition("/")
    if not sep:
        raise TopicError("control topic has no key level")
    try:
        scope = Scope(scope_word)
    except ValueError:
        raise TopicError("control topic scope must be 'call' or 'agent'") from None
    if "/" in level:
        raise TopicError("control topic has more than one key level")
    key = decode_level(level)
    if not key:
        raise TopicError("control topic has an empty key")
    return scope, key


def raw_event_topic_for(prefix: str, topic: str) -> tuple[Scope, str, str] | None:
    """For a control topic that ``parse_control_topic`` rejected: (scope, raw level,
    event topic with that same raw level), so the publisher hears the rejection on
    the spelling it used; None when not even the scope can be told."""
    head = f"{_base(prefix)}/control/"
    if not topic.startswith(head):
        return None
    scope_word, sep, level = topic[len(head) :].partition("/")
    if not sep or not level or "/" in level or scope_word not in _SCOPE_WORDS:
        return None
    scope = Scope(scope_word)
    return scope, level, f"{_base(prefix)}/events/{scope.value}/{level}"


def reply_allowed(prefix: str, topic: str) -> bool:
    """A Response Topic may not point into pausegate's own tree (events, state, presence,
    control), so a publisher cannot forge pausegate's events; replies/ is allowed."""
    base = _base(prefix) + "/"
    return not topic.startswith(base) or topic.startswith(base + "replies/")


def is_publishable(topic: str) -> bool:
    """True when ``topic`` is a valid MQTT topic name to publish to (MQTT 5 §4.7): not
    empty, no wildcards, no NUL, at most 65535 UTF-8 bytes. Used on Response Topics."""
    if not topic or any(c in topic for c in "+#\0"):
        return False
    try:
        return len(topic.encode("utf-8")) <= 65535
    except UnicodeEncodeError:
        return False
