"""SIP dialogs: state from the dialog-forming INVITE, in-dialog requests (RFC 3261 §12). Core.

Rules:
1. A dialog is identified by (Call-ID, local tag, remote tag) (§12).
2. UAS side: route set = Record-Route of the request in order, remote target = its
   Contact (§12.1.1). UAC side: route set = Record-Route of the 2xx reversed, remote
   target = the 2xx's Contact (§12.1.2).
3. In-dialog requests carry the next local CSeq (ACK and CANCEL reuse the INVITE's);
   requests are loose-routed: Request-URI = remote target, Route = route set (§12.2.1.1).
4. A request whose CSeq is lower than the last remote one is out of order (§12.2.2:
   answered 500); a target-refresh request with Contact updates the remote target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pausegate.sip.headers import BRANCH_COOKIE, NameAddr, SipUri, Via
from pausegate.sip.message import SipRequest, SipResponse

NewToken = Callable[[], str]  # injected randomness (STYLE §3): tags, branches, Call-IDs
DialogId = tuple[str, str, str]  # (Call-ID, local tag, remote tag)

TARGET_REFRESH = frozenset({"INVITE", "UPDATE"})


def new_branch(new_token: NewToken) -> str:
    return f"{BRANCH_COOKIE}{new_token()}"


def local_via(transport: str, host: str, port: int, branch: str) -> Via:
    """Our Via (§18.1.1): advertised address, rport requested (RFC 3581)."""
    return Via(transport.upper(), host, port, (("branch", branch), ("rport", None)))


@dataclass(slots=True)
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: NameAddr  # our From/To value without tag
    remote_uri: NameAddr
    remote_target: SipUri
    route_set: tuple[NameAddr, ...] = ()
    local_seq: int = 1
    remote_seq: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> DialogId:
        return self.call_id, self.local_tag, self.remote_tag

    @classmethod
    def as_uas(cls, request: SipRequest, local_tag: str, local_seq: int = 1) -> Dialog:
        """The dialog a 2xx to ``request`` creates on our (server) side (§12.1.1)."""
        contact = request.contact
        target = contact.uri if contact is not None else request.from_.uri
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_.tag or "",
            local_uri=_untagged(request.to),
            remote_uri=_untagged(request.from_),
            remote_target=target,
            route_set=tuple(request.record_route),
            local_seq=local_seq,
            remote_seq=request.cseq.seq,
        )

    @classmethod
    def as_uac(cls, request: SipRequest, response: SipResponse) -> Dialog:
        """The dialog ``response`` (2xx) to our ``request`` creates (§12.1.2)."""
        contact = response.contact
        target = contact.uri if contact is not None else request.uri
        return cls(
            call_id=request.call_id,
            local_tag=request.from_.tag or "",
            remote_tag=response.to.tag or "",
            local_uri=_untagged(request.from_),
            remote_uri=_untagged(response.to),
            remote_target=target,
            route_set=tuple(reversed(response.record_route)),
            local_seq=request.cseq.seq,
            remote_seq=None,
        )

    def next_hop(self) -> SipUri:
        """Where in-dialog requests are sent: first route, else the remote target (§8.1.2)."""
        return self.route_set[0].uri if self.route_set else self.remote_target

    def create_request(
        self,
        method: str,
        via: Via,
        *,
        contact: NameAddr | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        cseq: int | None = None,
    ) -> SipRequest:
        """An in-dialog request (§12.2.1.1); a new CSeq unless ``cseq`` is given."""
        if cseq is None:
            self.local_seq += 1
            cseq = self.local_seq
        hdrs: list[tuple[str, str]] = [
            ("Via", str(via)),
            ("Max-Forwards", "70"),
            ("From", str(self.local_uri.with_tag(self.local_tag))),
            ("To", str(self.remote_uri.with_tag(self.remote_tag))),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} {method}"),
        ]
        hdrs.extend(("Route", str(r)) for r in self.route_set)
        if contact is not None:
            hdrs.append(("Contact", str(contact)))
        hdrs.extend(headers)
        return SipRequest(tuple(hdrs), body, method, self.remote_target)

    def create_ack(self, invite_cseq: int, via: Via) -> SipRequest:
        """ACK for a 2xx: same CSeq number as the INVITE, a new branch (§13.2.2.4)."""
        return self.create_request("ACK", via, cseq=invite_cseq)

    def check_remote_request(self, request: SipRequest) -> bool:
        """Accept an in-dialog request's CSeq (§12.2.2); False when out of order.

        Target-refresh requests with a Contact update the remote target.
        """
        seq = request.cseq.seq
        if request.method not in ("ACK", "CANCEL"):
            if self.remote_seq is not None and seq <= self.remote_seq:
                return False
            self.remote_seq = seq
        if request.method in TARGET_REFRESH:
            contact = request.contact
            if contact is not None:
                self.remote_target = contact.uri
        return True

    def refresh_from_response(self, response: SipResponse) -> None:
        """A 2xx to our re-INVITE/UPDATE may carry a new Contact (§12.2.1.2)."""
        contact = response.contact
        if contact is not None and response.cseq.method in TARGET_REFRESH:
            self.remote_target = contact.uri


def dialog_id_of_request(request: SipRequest) -> DialogId:
    """The dialog id a received in-dialog request names, from our side (§12.2.2)."""
    return request.call_id, request.to.tag or "", request.from_.tag or ""


def dialog_id_of_response(response: SipResponse) -> DialogId:
    """The dialog id a response to our request names, from our side."""
    return response.call_id, response.from_.tag or "", response.to.tag or ""


def _untagged(addr: NameAddr) -> NameAddr:
    params = tuple((k, v) for k, v in addr.params if k.lower() != "tag")
    return NameAddr(addr.uri, addr.display, params, addr.bracketed)
