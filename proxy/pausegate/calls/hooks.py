"""What the B2BUA core asks of the media side: MediaHooks and the effects naming each call. Core.

The B2BUA core never calls the hooks itself (it is sans-IO): it returns effects,
and the adapter (``pausegate.io.sip_service``) runs them against ``MediaHooks``,
feeding the results of the async ones back (``media_ready``, ``media_failed``,
``media_released``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pausegate.calls.model import LocalStream, StreamAnswer, StreamOffer
from pausegate.gate.events import CallIdentity
from pausegate.sip.layer import Target
from pausegate.sip.message import SipMessage


class MediaHooks(Protocol):
    """docs/architecture.md "Call service": implemented by ``io.call_service.CallService``."""

    async def setup_call(
        self, call: CallIdentity, streams: Sequence[StreamOffer]
    ) -> Sequence[LocalStream]:
        """Allocate ports and gates; raises ResourceExhausted when ports run out."""
        ...

    def recorder_answered(self, call_id: str, answers: Sequence[StreamAnswer]) -> None: ...

    def update_call(self, call_id: str, streams: Sequence[StreamOffer]) -> None: ...

    async def teardown_call(self, call_id: str) -> None:
        """Wait until the call's held-back packets have left, then end the call."""
        ...


@dataclass(frozen=True, slots=True)
class SendMessage:
    message: SipMessage
    target: Target


@dataclass(frozen=True, slots=True)
class SetupMedia:
    """Run ``hooks.setup_call``; then ``media_ready`` or ``media_failed``."""

    call: CallIdentity
    streams: tuple[StreamOffer, ...]


@dataclass(frozen=True, slots=True)
class MediaAnswered:
    """Run ``hooks.recorder_answered``."""

    call_id: str
    answers: tuple[StreamAnswer, ...]


@dataclass(frozen=True, slots=True)
class UpdateMedia:
    """Run ``hooks.update_call``."""

    call_id: str
    streams: tuple[StreamOffer, ...]


@dataclass(frozen=True, slots=True)
class TeardownMedia:
    """Run ``hooks.teardown_call``; then ``media_released``."""

    call_id: str


@dataclass(frozen=True, slots=True)
class CallLog:
    """One call state change, for the adapter's log (never bodies, never digits)."""

    call_id: str
    agent: str | None
    state: str
    detail: str = ""


Effect = SendMessage | SetupMedia | MediaAnswered | UpdateMedia | TeardownMedia | CallLog
