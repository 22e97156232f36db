"""Transaction matching (RFC 3261 §17.1.3, §17.2.3) and dialogs (§12)."""

from __future__ import annotations

from pausegate.sip.dialog import Dialog, dialog_id_of_request, dialog_id_of_response, local_via
from pausegate.sip.headers import NameAddr, SipUri
from pausegate.sip.layer import (
    AckReceived,
    RequestReceived,
    ResponseReceived,
    Send,
    StrayResponse,
    Target,
    TransactionFailed,
    TransactionLayer,
    Transport,
    client_key,
    server_key,
)
from pausegate.sip.message import SipRequest, build_response, parse_request
from pausegate.sip.transaction import TimerConfig

SRC = Target(Transport.UDP, ("10.0.0.1", 5060))
TCP = Target(Transport.TCP, ("10.0.0.1", 40000), conn_id=3)


def req(method: str, branch: str = "z9hG4bK1", cseq: int = 1, to_tag: str = "") -> SipRequest:
    to = "<sip:b@h>" + (f";tag={to_tag}" if to_tag else "")
    return parse_request(
        (
            f"{method} sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\n"
            f"From: <sip:a@h>;tag=f\r\nTo: {to}\r\nCall-ID: c\r\nCSeq: {cseq} {method}\r\n"
            "Max-Forwards: 70\r\nContact: <sip:a@10.0.0.1:5060>\r\n"
            "Record-Route: <sip:p1@proxy1;lr>, <sip:p2@proxy2;lr>\r\n\r\n"
        ).encode()
    )


def test_server_invite_gets_100_then_request_event_and_retransmission_is_absorbed() -> None:
    layer = TransactionLayer()
    invite = req("INVITE")
    events = layer.receive(invite, SRC, 0.0)
    assert isinstance(events[0], Send)
    assert events[0].message.status == 100  # type: ignore[union-attr]
    assert events[0].target == SRC
    assert isinstance(events[1], RequestReceived)
    again = layer.receive(invite, SRC, 0.1)
    assert [type(e) for e in again] == [Send]
    assert len(layer) == 1


def test_2xx_ack_reaches_the_accepted_transaction_and_the_tu() -> None:
    layer = TransactionLayer(TimerConfig(t1_s=0.5))
    invite = req("INVITE")
    key = layer.receive(invite, SRC, 0.0)[1].key  # type: ignore[union-attr]
    ok = build_response(invite, 200, to_tag="t")
    assert [type(e) for e in layer.send_response(key, ok, 0.0)] == [Send]
    assert [type(e) for e in layer.handle_timer(0.5)] == [Send]  # 2xx retransmitted
    ack = req("ACK", branch="z9hG4bKack", to_tag="t")
    events = layer.receive(ack, SRC, 0.6)
    assert [type(e) for e in events] == [AckReceived]
    assert layer.handle_timer(1.5) == []  # no more 2xx retransmissions
    assert [type(e) for e in layer.receive(ack, SRC, 0.7)] == [AckReceived]  # duplicate ACK


def test_ack_for_non_2xx_is_absorbed_by_the_transaction() -> None:
    layer = TransactionLayer()
    invite = req("INVITE")
    key = layer.receive(invite, SRC, 0.0)[1].key  # type: ignore[union-attr]
    layer.send_response(key, build_response(invite, 486, to_tag="t"), 0.0)
    ack = req("ACK", to_tag="t")  # same branch as the INVITE (§17.1.1.3)
    assert layer.receive(ack, SRC, 0.1) == []


def test_cancel_is_its_own_transaction_and_finds_the_invite() -> None:
    layer = TransactionLayer()
    invite = req("INVITE")
    layer.receive(invite, SRC, 0.0)
    cancel = req("CANCEL")
    events = layer.receive(cancel, SRC, 0.1)
    assert isinstance(events[0], RequestReceived)
    assert layer.find_invite_for_cancel(cancel) == server_key(invite)
    assert layer.find_invite_for_cancel(req("CANCEL", branch="z9hG4bKother")) is None
    assert server_key(cancel)[2] == "CANCEL"


def test_client_transaction_matching_and_stray_responses() -> None:
    layer = TransactionLayer()
    invite = req("INVITE", branch="z9hG4bKout")
    sent = layer.send_request(invite, SRC, 0.0)
    assert [type(e) for e in sent] == [Send]
    trying = build_response(invite, 100)
    assert [type(e) for e in layer.receive(trying, SRC, 0.1)] == [ResponseReceived]
    other = build_response(req("INVITE", branch="z9hG4bKnot-ours"), 180)
    assert layer.receive(other, SRC, 0.1) == []
    assert layer.stray_responses == 1
    ok = build_response(invite, 200, to_tag="t")
    assert [type(e) for e in layer.receive(ok, SRC, 0.2)] == [ResponseReceived]
    assert [type(e) for e in layer.receive(ok, SRC, 0.3)] == [ResponseReceived]  # Accepted
    layer.handle_timer(40.0)
    assert [type(e) for e in layer.receive(ok, SRC, 41.0)] == [StrayResponse]
    assert client_key(ok) == ("z9hG4bKout", "", "INVITE")


def test_ack_is_sent_without_a_transaction() -> None:
    layer = TransactionLayer()
    ack = req("ACK", to_tag="t")
    assert layer.send_request(ack, SRC, 0.0) == [Send(ack, SRC)]
    assert len(layer) == 0


def test_timeout_and_transport_error_reach_the_tu() -> None:
    layer = TransactionLayer(TimerConfig(t1_s=0.01))
    bye = req("BYE", branch="z9hG4bKbye")
    layer.send_request(bye, SRC, 0.0)
    events: list[object] = []
    while (d := layer.next_deadline()) is not None:
        events += layer.handle_timer(d)
    failed = [e for e in events if isinstance(e, TransactionFailed)]
    assert len(failed) == 1
    assert failed[0].timeout
    options = req("OPTIONS", branch="z9hG4bKopt")
    layer.send_request(options, TCP, 0.0)
    out = layer.transport_error(client_key(options), 0.1)
    assert isinstance(out[0], TransactionFailed)
    assert not out[0].timeout
    assert layer.transport_error(client_key(options), 0.2) == []
    assert layer.send_response(("x", "y", "z"), build_response(options, 200), 0.0) == []


def test_tcp_server_transaction_answers_on_the_connection() -> None:
    layer = TransactionLayer()
    bye = req("BYE", to_tag="t")
    events = layer.receive(bye, TCP, 0.0)
    key = events[0].key  # type: ignore[union-attr]
    out = layer.send_response(key, build_response(bye, 200), 0.0)
    sent = out[0]
    assert isinstance(sent, Send)
    # the same connection; should it be gone, a new one to the Via sent-by (§18.2.2)
    assert sent.target == Target(Transport.TCP, ("10.0.0.1", 5060), conn_id=3)
    assert len(layer) == 0  # J = 0 over TCP
    assert layer.server_transaction(key) is None


def test_dialog_as_uas_and_in_dialog_requests() -> None:
    invite = req("INVITE")
    d = Dialog.as_uas(invite, "local")
    assert d.id == ("c", "local", "f")
    assert d.remote_target == SipUri("sip", "a", "10.0.0.1", 5060)
    assert [str(r.uri) for r in d.route_set] == ["sip:p1@proxy1;lr", "sip:p2@proxy2;lr"]
    assert d.next_hop() == SipUri.parse("sip:p1@proxy1;lr")
    bye = d.create_request("BYE", local_via("udp", "203.0.113.7", 5060, "z9hG4bKb"))
    assert bye.cseq.seq == 2
    assert bye.uri == d.remote_target
    assert bye.get_all("Route") == ["<sip:p1@proxy1;lr>", "<sip:p2@proxy2;lr>"]
    assert bye.from_.tag == "local"
    assert bye.to.tag == "f"
    assert dialog_id_of_request(req("BYE", to_tag="local")) == d.id
    assert not d.check_remote_request(req("BYE", cseq=1, to_tag="local"))
    reinvite = req("INVITE", cseq=5, to_tag="local").replace_header(
        "Contact", "<sip:a@10.0.0.2:5062>"
    )
    assert d.check_remote_request(reinvite)
    assert d.remote_target.host == "10.0.0.2"
    assert d.check_remote_request(req("ACK", cseq=5, to_tag="local"))


def test_dialog_as_uac_reverses_routes_and_acks() -> None:
    invite = req("INVITE")
    ok = build_response(invite, 200, to_tag="rt", headers=[("Contact", "<sip:b@10.0.0.9>")])
    d = Dialog.as_uac(invite, ok)
    assert d.id == ("c", "f", "rt") == dialog_id_of_response(ok)
    assert [str(r.uri) for r in d.route_set] == ["sip:p2@proxy2;lr", "sip:p1@proxy1;lr"]
    ack = d.create_ack(1, local_via("tcp", "h", 5060, "z9hG4bKa"))
    assert (ack.method, ack.cseq.seq, ack.cseq.method) == ("ACK", 1, "ACK")
    assert ack.top_via.transport == "TCP"
    assert d.local_seq == 1
    d.refresh_from_response(
        build_response(
            req("INVITE", cseq=2), 200, to_tag="rt", headers=[("Contact", "<sip:b@10.0.0.8>")]
        )
    )
    assert d.remote_target.host == "10.0.0.8"
    assert NameAddr.parse(str(d.local_uri)).tag is None


def test_received_and_rport_are_stamped_on_the_top_via() -> None:
    layer = TransactionLayer()
    invite = (
        req("INVITE")
        .replace_header("Via", "SIP/2.0/UDP sbc.example:5060;branch=z9hG4bKr;rport")
        .with_header("Via", "SIP/2.0/UDP upstream:5060;branch=z9hG4bKu")
    )
    events = layer.receive(invite, Target(Transport.UDP, ("192.0.2.1", 6000)), 0.0)
    trying = events[0].message  # type: ignore[union-attr]
    assert trying.get_all("Via")[0] == (
        "SIP/2.0/UDP sbc.example:5060;branch=z9hG4bKr;rport=6000;received=192.0.2.1"
    )
    assert trying.get_all("Via")[1] == "SIP/2.0/UDP upstream:5060;branch=z9hG4bKu"
    plain = req("OPTIONS", branch="z9hG4bKo")
    got = layer.receive(plain, SRC, 0.0)[0]
    assert isinstance(got, RequestReceived)
    assert got.request is plain  # sent-by matches the source and no rport: untouched
