"""Error hierarchy: one root, remote errors (peer garbage) vs local errors (our bugs)."""

from __future__ import annotations


class PausegateError(Exception):
    """Root of every error pausegate raises on purpose."""


class RemoteError(PausegateError):
    """Bad input from a peer or publisher: counted, answered and dropped, never fatal."""


class ConfigError(PausegateError):
    """Bad configuration: stops start-up with a message naming the key."""


class SipParseError(RemoteError):
    """A SIP message that cannot be parsed (answered 400 where possible)."""


class SdpError(RemoteError):
    """An SDP body that cannot be parsed or negotiated."""


class RtpError(RemoteError):
    """A malformed RTP or RTCP packet."""


class CommandError(RemoteError):
    """A control command (MQTT or HTTP) that is malformed or not acceptable."""


class TopicError(CommandError):
    """An MQTT topic that does not name a known control target."""


class ResourceExhausted(PausegateError):
    """No ports left or over the call limit: answered 503 with Retry-After."""
