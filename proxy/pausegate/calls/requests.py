"""SIP requests and responses the B2BUA writes (RFC 3261 §8.1.1, §9.1, RFC 4028, RFC 7866). Core.

Rules:
1. Via, Contact and SDP c= carry the advertised address, never the bind address.
2. Our INVITE to the recorder of a SIPREC call says ``Require: siprec`` and puts
   ``+sip.src`` on its Contact (RFC 7866 §7.1.1); a plain call's INVITE says neither.
3. Session timers (RFC 4028): we never refresh and never enforce expiry (the RTP
   inactivity watchdog ends zombies); a 2xx to a request with Session-Expires echoes
   it with ``refresher=uac`` unless the request named a refresher.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pausegate.sip.dialog import NewToken, local_via, new_branch
from pausegate.sip.headers import NameAddr, SipUri, Via, get_param
from pausegate.sip.layer import Target, Transport
from pausegate.sip.message import SipRequest

SUPPORTED = frozenset({"siprec", "timer"})
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO"
ACCEPT = "application/sdp, multipart/mixed"
RETRY_AFTER_S = 5


@dataclass(frozen=True, slots=True)
class Local:
    """Our advertised identity: host for Via/Contact/SDP, port, User-Agent."""

    host: str
    port: int
    user_agent: str

    def via(self, transport: Transport, new_token: NewToken) -> Via:
        return local_via(transport.value, self.host, self.port, new_branch(new_token))

    def contact(self, transport: Transport, *, src: bool = False) -> NameAddr:
        params: tuple[tuple[str, str | None], ...] = ()
        if transport is Transport.TCP:
            params = (("transport", "tcp"),)
        uri = SipUri("sip", "pausegate", self.host, self.port, params)
        return NameAddr(uri, None, (("+sip.src", None),) if src else ())

    def uri(self) -> SipUri:
        return SipUri("sip", "pausegate", self.host, self.port)


def target_of(uri: SipUri, *, conn_from: Target | None = None) -> Target:
    """Where a request to ``uri`` goes (§8.1.2, no DNS SRV); TCP reuses ``conn_from``'s
    connection when it is one."""
    transport = Transport.TCP if uri.transport == "tcp" else Transport.UDP
    if conn_from is not None and conn_from.transport is Transport.TCP:
        transport = Transport.TCP
    conn_id = conn_from.conn_id if conn_from is not None and transport is Transport.TCP else None
    return Target(transport, (uri.host_no_brackets, uri.default_port()), conn_id)


def recorder_invite(
    local: Local,
    recorder: SipUri,
    target: Target,
    call_id: str,
    from_tag: str,
    content_type: str,
    body: bytes,
    *,
    siprec: bool,
    new_token: NewToken,
) -> SipRequest:
    """Our dialog-forming INVITE to the recorder (§8.1.1)."""
    headers: list[tuple[str, str]] = [
        ("Via", str(local.via(target.transport, new_token))),
        ("Max-Forwards", "70"),
        ("From", str(NameAddr(local.uri()).with_tag(from_tag))),
        ("To", str(NameAddr(recorder))),
        ("Call-ID", call_id),
        ("CSeq", "1 INVITE"),
        ("Contact", str(local.contact(target.transport, src=siprec))),
        ("Allow", ALLOW),
        ("Supported", "timer"),
        ("User-Agent", local.user_agent),
    ]
    if siprec:
        headers.append(("Require", "siprec"))
    headers.append(("Content-Type", content_type))
    return SipRequest(tuple(headers), body, "INVITE", recorder)


def cancel_for(invite: SipRequest) -> SipRequest:
    """CANCEL of our pending INVITE: same Request-URI, top Via, Call-ID, From, To, CSeq
    number (§9.1)."""
    headers: list[tuple[str, str]] = [
        ("Via", invite.get_all("Via")[0]),
        ("Max-Forwards", "70"),
        ("From", invite.get("From") or ""),
        ("To", invite.get("To") or ""),
        ("Call-ID", invite.call_id),
        ("CSeq", f"{invite.cseq.seq} CANCEL"),
    ]
    headers.extend(("Route", r) for r in invite.get_all("Route"))
    return SipRequest(tuple(headers), b"", "CANCEL", invite.uri)


def unsupported_tags(request: SipRequest) -> list[str]:
    """Require option tags we do not support (§8.2.2.3), in request order."""
    return sorted(request.option_tags("Require") - SUPPORTED)


def ok_headers(
    local: Local, request: SipRequest, transport: Transport, *, content_type: str | None = None
) -> list[tuple[str, str]]:
    """Headers of our 2xx to INVITE/UPDATE/OPTIONS: Contact, Allow, Supported, timers."""
    headers: list[tuple[str, str]] = [
        ("Contact", str(local.contact(transport))),
        ("Allow", ALLOW),
        ("Supported", ", ".join(sorted(SUPPORTED))),
        ("Server", local.user_agent),
    ]
    expires = request.get("Session-Expires")
    if expires is not None and request.method in ("INVITE", "UPDATE"):
        value, _, params = expires.partition(";")
        refresher = get_param(tuple(_params(params)), "refresher")
        headers.append(("Session-Expires", expires if refresher else f"{value};refresher=uac"))
        headers.append(("Require", "timer"))
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    return headers


def _params(text: str) -> Iterable[tuple[str, str | None]]:
    for item in text.split(";"):
        name, eq, value = item.strip().partition("=")
        if name:
            yield name, value if eq else None


def error_headers(local: Local, status: int, request: SipRequest) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = [("Server", local.user_agent)]
    if status in (500, 503):  # §14.2 (500 to a second re-offer), SPEC §2 (503)
        headers.append(("Retry-After", str(RETRY_AFTER_S)))
    if status == 420:
        headers.append(("Unsupported", ", ".join(unsupported_tags(request))))
    if status == 405:
        headers.append(("Allow", ALLOW))
    return headers
