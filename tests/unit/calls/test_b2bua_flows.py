"""B2BUA call flows with telephony and recorder wired in memory (SPEC §2)."""

from __future__ import annotations

from tests.fixtures.sip import load
from tests.fixtures.sip.flows import (
    ADVERTISE,
    Net,
    TelUa,
    offer_streams,
    rec_reply,
    rec_sdp,
    tel_sdp,
)

from pausegate.calls.bodies import sdp_of
from pausegate.sip.dialog import Dialog, local_via
from pausegate.sip.layer import Target, Transport
from pausegate.sip.message import SipRequest
from pausegate.siprec.multipart import split_siprec_body


def establish(net: Net, ua: TelUa, **invite_kw: object) -> None:
    net.from_tel(ua.make_invite(**invite_kw))  # type: ignore[arg-type]
    inv = net.rec_requests("INVITE")[-1]
    net.from_rec(rec_reply(inv, 100))
    net.from_rec(rec_reply(inv, 200, sdp=rec_sdp(offer_streams(inv))))
    ok = net.tel_responses(200)[-1]
    net.from_tel(ua.confirm(ok))


def rec_dialog(net: Net) -> Dialog:
    """The recorder's view of the dialog our INVITE created."""
    return Dialog.as_uas(net.rec_requests("INVITE")[0], "rec-tag")


def rec_request(net: Net, dialog: Dialog, method: str, body: bytes = b"") -> SipRequest:
    via = local_via("udp", "10.0.0.9", 5080, f"z9hG4bKrec{len(net.rec_in)}")
    headers = [("Content-Type", "application/sdp")] if body else []
    return dialog.create_request(method, via, headers=headers, body=body)


def test_basic_call_and_bye_from_telephony() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    assert net.order == [
        "tel:100 INVITE",
        "setup",
        "rec:INVITE",
        "rec:ACK",
        "answered",
        "tel:200 INVITE",
    ]
    ok = net.tel_responses(200)[0]
    assert ok.to.tag is not None
    assert f"c=IN IP4 {ADVERTISE}".encode() in ok.body
    assert b"a=recvonly" in ok.body
    assert ok.contact is not None
    assert ok.contact.uri.host == ADVERTISE
    invite = net.rec_requests("INVITE")[0]
    assert invite.top_via.host == ADVERTISE
    assert invite.get("Require") is None
    assert b"a=sendonly" in invite.body
    assert b"m=audio 40002 RTP/AVP 0 101" in invite.body
    assert net.b2b.active_calls() == 1
    assert [log.state for log in net.logs] == [
        "media_setup",
        "recorder_inviting",
        "answered",
        "established",
    ]
    net.from_tel(ua.request("BYE"))
    assert [r.status for r in net.tel_responses() if r.cseq.method == "BYE"] == [200]
    assert net.order[-3:] == ["tel:200 BYE", "teardown", "rec:BYE"]
    bye = net.rec_requests("BYE")[-1]
    assert bye.to.tag == "rec-tag"
    assert bye.uri.host == "10.0.0.9"
    assert net.b2b.active_calls() == 1  # until the recorder answers the BYE
    net.from_rec(rec_reply(bye, 200))
    assert net.b2b.active_calls() == 0
    assert net.logs[-1].state == "ended"
    stats = net.b2b.statistics()
    assert stats.messages[("INVITE", "request")] == 2
    assert stats.messages[("INVITE", "200")] == 2
    assert stats.messages[("BYE", "200")] == 2
    assert stats.calls_total == 1
    assert stats.calls_active == 0


def test_teardown_waits_before_recorder_bye() -> None:
    net = Net.make(auto_media=False)
    ua = TelUa()
    net.from_tel(ua.make_invite())
    net.media_ready(ua.call_id, 1)
    inv = net.rec_requests("INVITE")[0]
    net.from_rec(rec_reply(inv, 200, sdp=rec_sdp(1)))
    net.from_tel(ua.confirm(net.tel_responses(200)[0]))
    net.from_tel(ua.request("BYE"))
    assert net.teardowns == [ua.call_id]
    assert net.rec_requests("BYE") == []  # hold-back still draining
    net.run(net.b2b.media_released(ua.call_id, net.now))
    assert len(net.rec_requests("BYE")) == 1


def test_bye_from_recorder_ends_telephony_leg() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    net.from_rec(rec_request(net, rec_dialog(net), "BYE"))
    assert [r.status for r in net.rec_responses(200) if r.cseq.method == "BYE"] == [200]
    bye = net.tel_requests("BYE")[0]
    assert bye.to.tag == "tel-tag"
    assert bye.uri.host == "10.0.0.1"
    assert net.teardowns == [ua.call_id]
    assert net.rec_requests("BYE") == []
    assert net.b2b.active_calls() == 0
    net.from_tel(rec_reply(bye, 200))  # late answer to our BYE: ignored


def test_siprec_invite_passes_metadata_and_derives_keys_and_agent() -> None:
    net = Net.make(agent_aor_pattern=r"@cc\.example\.com", key_header="X-Interaction-ID")
    invite = load("sbc_siprec_invite.sip")
    net.run(net.b2b.receive_data(invite, net_tcp(), net.now, stream=True))
    call = net.setups[0].call
    assert call.call_id == "4d1f0c8a-2b7e-11f1-9c3e-0050569a1b2c"
    assert "ab30317f1a784dc48ff824d0d3715d86" in call.keys
    assert call.keys[0] == call.call_id
    assert call.agent == "agent-7"
    assert [s.label for s in net.setups[0].streams] == ["1", "2"]
    ours = net.rec_requests("INVITE")[0]
    assert ours.get("Require") == "siprec"
    assert ours.contact is not None
    assert ours.contact.param("+sip.src") == ""
    sdp, meta = split_siprec_body(ours.content_type or "", ours.body)
    assert sdp is not None
    assert b"a=label:1" in sdp
    assert b"a=label:2" in sdp
    assert meta is not None
    assert b"sipSessionID" in meta
    net.from_rec(rec_reply(ours, 200, sdp=rec_sdp(2)))
    ok = net.tel_responses(200)[0]
    assert ok.get("Session-Expires") == "1800;refresher=uac"
    assert ok.get("Require") == "timer"
    assert ok.contact is not None
    assert ok.contact.uri.transport == "tcp"


def net_tcp() -> Target:

    return Target(Transport.TCP, ("192.0.2.10", 40001), conn_id=1)


def test_plain_invite_agent_and_keys() -> None:
    net = Net.make(key_header="X-Interaction-ID")
    net.run(net.b2b.receive_data(load("baresip_invite.sip"), net_udp(), net.now))
    call = net.setups[0].call
    assert call.agent == "agent1001"
    assert call.keys == ("6b1c9e3f0a7d4b28", "INT-2026-0042")
    net2 = Net.make(agent_header="X-Agent-ID")
    ua = TelUa()
    net2.from_tel(ua.make_invite(extra=[("X-Agent-ID", "Bob.Smith")]))
    assert net2.setups[0].call.agent == "Bob.Smith"


def net_udp() -> Target:

    return Target(Transport.UDP, ("127.0.0.1", 41234))


def test_options_in_and_out_of_dialog() -> None:
    net = Net.make()
    net.run(net.b2b.receive_data(load("options_keepalive.sip"), net_udp(), net.now))
    ok = net.tel_responses(200)[0]
    assert "INVITE" in (ok.get("Allow") or "")
    ua = TelUa()
    establish(net, ua)
    net.from_tel(ua.request("OPTIONS"))
    net.from_tel(ua.request("INFO", b"Signal=5\r\n", "application/dtmf-relay"))
    answered = [r for r in net.tel_responses(200) if r.cseq.method in ("OPTIONS", "INFO")]
    assert len(answered) == 3
    assert net.rec_requests("INFO") == []  # never forwarded (may carry digits)


def test_session_refresh_is_answered_without_reoffer() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    first = net.tel_responses(200)[0].body
    net.from_tel(ua.request("INVITE", tel_sdp(version=1)))
    refresh = [r for r in net.tel_responses(200) if r.cseq.method == "INVITE"][-1]
    assert refresh.body == first
    assert len(net.rec_requests("INVITE")) == 1
    assert net.updates == []
    net.from_tel(ua.request("UPDATE"))  # no SDP at all
    upd = [r for r in net.tel_responses(200) if r.cseq.method == "UPDATE"][-1]
    assert upd.body == b""


def test_reinvite_with_new_address_reoffers_recorder_first() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    before = len(net.tel_responses(200))
    reinvite = ua.request("INVITE", tel_sdp(version=2, port=22000))
    net.from_tel(reinvite)
    assert net.updates[-1].streams[0].rtp == ("10.0.0.1", 22000)
    reoffer = net.rec_requests("INVITE")[-1]
    assert reoffer.to.tag == "rec-tag"
    assert reoffer.cseq.seq == 2
    assert b"o=pausegate" in reoffer.body
    assert len(net.tel_responses(200)) == before  # waits for the recorder
    net.from_rec(rec_reply(reoffer, 200, sdp=rec_sdp(1, version=2)))
    assert net.rec_requests("ACK")[-1].cseq.seq == 2
    ok = net.tel_responses(200)[-1]
    assert ok.cseq.seq == reinvite.cseq.seq
    sd, _ = sdp_of(ok)
    assert sd is not None
    assert sd.origin.sess_version == 1  # one above the first answer
    assert len(net.answered) == 2


def test_update_and_hold_are_passed_to_the_recorder() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    net.from_tel(ua.request("UPDATE", tel_sdp(version=2, direction="inactive")))
    reoffer = net.rec_requests("INVITE")[-1]
    assert b"a=inactive" in reoffer.body
    net.from_rec(rec_reply(reoffer, 200, sdp=rec_sdp(1, version=2)))
    upd = [r for r in net.tel_responses(200) if r.cseq.method == "UPDATE"][-1]
    assert b"a=inactive" in upd.body


def test_signal_recorder_pause_and_resume() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    net.run(net.b2b.signal_recorder(ua.call_id, True, net.now))
    pause = net.rec_requests("INVITE")[-1]
    assert b"a=inactive" in pause.body
    net.run(net.b2b.signal_recorder(ua.call_id, False, net.now))  # queued behind the first
    assert len(net.rec_requests("INVITE")) == 2
    net.from_rec(rec_reply(pause, 200, sdp=rec_sdp(1, version=2)))
    resume = net.rec_requests("INVITE")[-1]
    assert len(net.rec_requests("INVITE")) == 3
    assert b"a=sendonly" in resume.body
    net.from_rec(rec_reply(resume, 200, sdp=rec_sdp(1, version=3)))
    net.run(net.b2b.signal_recorder(ua.call_id, False, net.now))  # nothing changes
    assert len(net.rec_requests("INVITE")) == 3
    assert net.b2b.signal_recorder("nope", True, net.now) == []


def test_recorder_glare_491_is_retried() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    net.run(net.b2b.signal_recorder(ua.call_id, True, net.now))
    first = net.rec_requests("INVITE")[-1]
    net.from_rec(rec_reply(first, 491))
    assert len(net.rec_requests("INVITE")) == 2
    net.from_tel(ua.request("INVITE", tel_sdp(version=2, port=22000)))
    assert net.tel_responses(491)  # telephony re-offer during our pending retry: glare
    net.advance(2.2)
    retry = net.rec_requests("INVITE")[-1]
    assert len(net.rec_requests("INVITE")) == 3
    assert b"a=inactive" in retry.body
    assert retry.cseq.seq > first.cseq.seq


def test_recorder_reinvite_is_answered_with_our_sdp() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    d = rec_dialog(net)
    net.from_rec(rec_request(net, d, "INVITE", rec_sdp(1, version=2)))
    ok = [r for r in net.rec_responses(200) if r.cseq.method == "INVITE"][-1]
    assert ok.body == net.rec_requests("INVITE")[0].body
    net.from_rec(rec_request(net, d, "OPTIONS"))
    assert [r for r in net.rec_responses(200) if r.cseq.method == "OPTIONS"]


def test_retransmitted_recorder_2xx_is_acked_again() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    inv = net.rec_requests("INVITE")[0]
    ok = rec_reply(inv, 200, sdp=rec_sdp(1))
    net.from_rec(ok)
    assert len(net.rec_requests("ACK")) == 2
    net.advance(40.0)  # the INVITE transaction is gone
    net.from_rec(ok)
    assert len(net.rec_requests("ACK")) == 3


def test_terminate_call_byes_both_legs() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    net.run(net.b2b.terminate_call(ua.call_id, "rtp inactivity", net.now))
    assert len(net.tel_requests("BYE")) == 1
    assert len(net.rec_requests("BYE")) == 1
    assert net.order.index("teardown") < net.order.index("rec:BYE")
    net.from_rec(rec_reply(net.rec_requests("BYE")[0], 200))
    assert net.b2b.active_calls() == 0
    assert net.b2b.terminate_call(ua.call_id, "again", net.now) == []


def test_missing_ack_ends_the_call() -> None:
    net = Net.make()
    ua = TelUa()
    net.from_tel(ua.make_invite())
    inv = net.rec_requests("INVITE")[0]
    net.from_rec(rec_reply(inv, 200, sdp=rec_sdp(1)))
    oks = len(net.tel_responses(200))
    net.run_timers_until(net.now + 40)
    assert len(net.tel_responses(200)) > oks  # 2xx retransmitted while waiting
    assert len({bye.branch for bye in net.tel_requests("BYE")}) == 1  # one BYE, retransmitted
    assert net.teardowns == [ua.call_id]


def test_recorder_bye_timeout_still_ends_the_call() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    net.from_tel(ua.request("BYE"))
    net.run_timers_until(net.now + 40)
    assert net.b2b.active_calls() == 0
