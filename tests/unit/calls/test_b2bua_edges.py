"""B2BUA edge cases: late and stray answers, timeouts of re-offers, unknown ids (SPEC §2)."""

from __future__ import annotations

from tests.fixtures.sip.flows import REC, Net, TelUa, rec_reply, rec_sdp, tel_sdp

from pausegate.sip.dialog import Dialog, local_via
from pausegate.sip.layer import Target
from pausegate.sip.message import SipMessage, SipRequest


def establish(net: Net, ua: TelUa) -> None:
    net.from_tel(ua.make_invite())
    inv = net.rec_requests("INVITE")[-1]
    net.from_rec(rec_reply(inv, 200, sdp=rec_sdp(1)))
    net.from_tel(ua.confirm(net.tel_responses(200)[-1]))


def test_recorder_answering_after_the_call_is_gone_gets_ack_and_bye() -> None:
    net = Net.make()
    ua = TelUa()
    net.from_tel(ua.make_invite())
    inv = net.rec_requests("INVITE")[0]
    net.from_rec(rec_reply(inv, 180))
    net.from_tel(ua.cancel())
    net.run_timers_until(net.now + 70)  # no 487 ever: give up on the recorder leg
    assert net.b2b.active_calls() == 0
    net.from_rec(rec_reply(inv, 200, sdp=rec_sdp(1)))
    acks = net.rec_requests("ACK")
    byes = net.rec_requests("BYE")
    assert acks[-1].to.tag == "rec-tag"
    assert byes[-1].call_id == inv.call_id
    assert byes[-1].uri.host == "10.0.0.9"
    net.from_rec(rec_reply(inv, 180))  # a provisional for a gone call: nothing
    assert net.b2b.receive(rec_reply(inv, 486), rec_target(), net.now) == []


def rec_target() -> Target:

    return REC


def test_reoffer_timeout_ends_the_call() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    net.from_tel(ua.request("INVITE", tel_sdp(version=2, port=22000)))
    net.run_timers_until(net.now + 40)
    oks = [r for r in net.tel_responses(200) if r.cseq.method == "INVITE"]
    assert len({r.cseq.seq for r in oks}) == 2  # telephony still got its answer
    assert net.tel_requests("BYE")
    assert net.teardowns == [ua.call_id]


def test_recorder_reinvite_during_our_reoffer_gets_491() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    net.run(net.b2b.signal_recorder(ua.call_id, True, net.now))
    d = Dialog.as_uas(net.rec_requests("INVITE")[0], "rec-tag")
    via = local_via("udp", "10.0.0.9", 5080, "z9hG4bKr9")
    net.from_rec(
        d.create_request(
            "INVITE", via, body=rec_sdp(1), headers=[("Content-Type", "application/sdp")]
        )
    )
    assert net.rec_responses(491)


def test_forked_or_retransmitted_answers_and_unusable_reanswer() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    inv = net.rec_requests("INVITE")[0]
    acks = len(net.rec_requests("ACK"))
    net.from_rec(rec_reply(inv, 200, sdp=rec_sdp(1), tag="other-fork"))
    assert len(net.rec_requests("ACK")) == acks + 1  # another fork: ACKed, then BYEd
    assert net.rec_requests("BYE")[-1].to.tag == "other-fork"
    assert net.b2b.active_calls() == 1
    net.run(net.b2b.signal_recorder(ua.call_id, True, net.now))
    reoffer = net.rec_requests("INVITE")[-1]
    net.from_rec(rec_reply(reoffer, 180))
    net.from_rec(rec_reply(reoffer, 200, sdp=b"v=0\r\nbroken\r\n"))
    assert any(log.state == "warning" for log in net.logs)
    net.from_rec(rec_reply(reoffer, 200, sdp=rec_sdp(1, version=2)))  # retransmitted 2xx
    assert net.rec_requests("ACK")[-1].cseq.seq == reoffer.cseq.seq


def test_unknown_call_ids_are_ignored() -> None:
    net = Net.make()
    b = net.b2b
    assert b.media_released("nope", 0.0) == []
    assert b.media_failed("nope", 0.0) == []
    assert b.terminate_call("nope", "x", 0.0) == []
    assert len(b.media_ready("nope", [], 0.0)) == 1  # tear down what was set up for nothing
    ua = TelUa()
    inv = ua.make_invite()
    assert b.send_failed(inv, 0.0) == []
    ack: SipMessage = SipRequest(inv.replace_header("CSeq", "1 ACK").headers, b"", "ACK", inv.uri)
    assert b.send_failed(ack, 0.0) == []
    assert b.statistics().transactions == 0


def test_telephony_reoffer_while_answered_but_not_acked() -> None:
    net = Net.make()
    ua = TelUa()
    net.from_tel(ua.make_invite())
    inv = net.rec_requests("INVITE")[0]
    net.from_rec(rec_reply(inv, 200, sdp=rec_sdp(1)))
    ok = net.tel_responses(200)[0]
    ua.dialog = Dialog.as_uac(ua.invite, ok)  # type: ignore[arg-type]
    net.from_tel(ua.request("UPDATE", tel_sdp(version=2, port=22000)))
    assert len(net.rec_requests("INVITE")) == 2  # re-offered to the recorder


def test_siprec_reoffer_updates_metadata() -> None:
    net = Net.make()
    ua = TelUa()
    meta = b"<?xml version='1.0'?><recording xmlns='urn:ietf:params:xml:ns:recording:1'/>"
    body = (
        b"--b\r\nContent-Type: application/sdp\r\n\r\n" + tel_sdp() + b"\r\n"
        b"--b\r\nContent-Type: application/rs-metadata+xml\r\n\r\n" + meta + b"\r\n--b--\r\n"
    )
    net.from_tel(ua.make_invite(body, content_type="multipart/mixed;boundary=b"))
    assert net.setups[0].call.agent is None  # SIPREC: never the To user
    inv = net.rec_requests("INVITE")[0]
    net.from_rec(rec_reply(inv, 200, sdp=rec_sdp(1)))
    net.from_tel(ua.confirm(net.tel_responses(200)[0]))
    body2 = (
        body.replace(b"1 1 IN", b"1 2 IN")
        .replace(b"20000", b"22000")
        .replace(b"'/>", b"'><datamode>complete</datamode></recording>")
    )
    net.from_tel(ua.request("INVITE", body2, "multipart/mixed;boundary=b"))
    reoffer = net.rec_requests("INVITE")[-1]
    assert b"datamode" in reoffer.body


def test_recorder_direction_sendrecv() -> None:
    net = Net.make(recorder_direction="sendrecv")
    ua = TelUa()
    establish(net, ua)
    offer = net.rec_requests("INVITE")[0]
    assert b"a=sendrecv" in offer.body
    assert b"a=sendonly" not in offer.body
    net.run(net.b2b.signal_recorder(ua.call_id, True, net.now))
    assert b"a=inactive" in net.rec_requests("INVITE")[-1].body


def test_recorder_answer_during_teardown_is_byed_after_it() -> None:
    net = Net.make(auto_media=False)
    ua = TelUa()
    net.from_tel(ua.make_invite())
    net.media_ready(ua.call_id, 1)
    inv = net.rec_requests("INVITE")[0]
    net.from_rec(rec_reply(inv, 180))
    net.from_tel(ua.cancel())
    net.run_timers_until(net.now + 70)  # no answer to the CANCEL: teardown starts
    assert net.teardowns == [ua.call_id]
    net.from_rec(rec_reply(inv, 200, sdp=rec_sdp(1)))
    assert net.rec_requests("ACK")
    assert net.rec_requests("BYE") == []
    net.run(net.b2b.media_released(ua.call_id, net.now))
    assert len(net.rec_requests("BYE")) == 1
