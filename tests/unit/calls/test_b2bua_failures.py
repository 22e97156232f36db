"""B2BUA failure responses and cancellation (SPEC §2): 400 420 481 482 483 488 491 500 503."""

from __future__ import annotations

import pytest
from tests.fixtures.sip.flows import TEL, Net, TelUa, offer_streams, rec_reply, rec_sdp, tel_sdp

from pausegate.sip.layer import Target
from pausegate.sip.message import SipResponse


def establish(net: Net, ua: TelUa) -> None:
    net.from_tel(ua.make_invite())
    inv = net.rec_requests("INVITE")[-1]
    net.from_rec(rec_reply(inv, 200, sdp=rec_sdp(offer_streams(inv))))
    net.from_tel(ua.confirm(net.tel_responses(200)[-1]))


def final(net: Net) -> SipResponse:
    finals = [r for r in net.tel_responses() if r.status >= 200 and r.cseq.method == "INVITE"]
    assert len({bytes(r) for r in finals}) == 1  # one final response (maybe retransmitted)
    return finals[0]


def test_malformed_request_gets_400_with_the_defect_counted() -> None:
    net = Net.make()
    ua = TelUa()
    bad = bytes(ua.make_invite()).replace(b"1 INVITE", b"1 BYE")
    net.run(net.b2b.receive_data(bad, net_src(), net.now))
    assert [r.status for r in net.tel_in] == [400]  # type: ignore[union-attr]
    assert net.b2b.statistics().parse_errors == 1
    assert net.b2b.receive_data(b"\x16\x03\x01 tls hello", net_src(), net.now) == []
    assert net.b2b.statistics().parse_errors == 2


def net_src() -> Target:

    return TEL


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"v=0\r\nthis is not sdp\r\n", "application/sdp", 400),
        (tel_sdp().replace(b"RTP/AVP", b"RTP/SAVP"), "application/sdp", 488),
        (tel_sdp().replace(b"RTP/AVP 0 101", b"RTP/AVP 99"), "application/sdp", 488),
        (b"", "application/sdp", 488),
        (b"--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n", "multipart/mixed;boundary=x", 400),
        (b"hello", "text/plain", 488),
    ],
)
def test_unusable_offers(body: bytes, content_type: str, status: int) -> None:
    net = Net.make()
    net.from_tel(TelUa().make_invite(body, content_type=content_type))
    assert final(net).status == status
    assert net.setups == []
    assert net.b2b.statistics().calls_rejected == 1


def test_broken_siprec_metadata_is_400() -> None:
    net = Net.make()
    body = (
        b"--b\r\nContent-Type: application/sdp\r\n\r\n" + tel_sdp() + b"\r\n"
        b"--b\r\nContent-Type: application/rs-metadata+xml\r\n\r\n<recording><oops>\r\n--b--\r\n"
    )
    net.from_tel(TelUa().make_invite(body, content_type="multipart/mixed;boundary=b"))
    assert final(net).status == 400


def test_unsupported_require_gets_420_with_unsupported() -> None:
    net = Net.make()
    net.from_tel(TelUa().make_invite(extra=[("Require", "100rel, foo, timer")]))
    resp = final(net)
    assert resp.status == 420
    assert resp.get("Unsupported") == "100rel, foo"


def test_unknown_dialog_gets_481() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    assert ua.dialog is not None
    ua.dialog.remote_tag = "not-ours"
    net.from_tel(ua.request("BYE"))
    assert [r.status for r in net.tel_responses() if r.cseq.method == "BYE"] == [481]
    stranger = TelUa("other-call")
    stranger.make_invite()
    net.from_tel(stranger.cancel())
    assert [r.status for r in net.tel_responses() if r.cseq.method == "CANCEL"] == [481]
    bye = stranger.make_invite().replace_header("CSeq", "2 BYE")
    net.from_tel(type(bye)(bye.headers, b"", "BYE", bye.uri))
    assert [r.status for r in net.tel_responses() if r.cseq.method == "BYE"] == [481, 481]


def test_out_of_order_cseq_gets_500() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    assert ua.dialog is not None
    ua.dialog.local_seq = 0
    net.from_tel(ua.request("OPTIONS"))
    assert net.tel_responses(500)


def test_other_methods_and_hop_limits() -> None:
    net = Net.make()
    ua = TelUa()
    inv = ua.make_invite()
    publish = type(inv)(inv.replace_header("CSeq", "1 PUBLISH").headers, b"", "PUBLISH", inv.uri)
    net.from_tel(publish)
    assert net.tel_responses(405)[0].get("Allow") is not None
    net.from_tel(TelUa("mf0").make_invite().replace_header("Max-Forwards", "0"))
    assert net.tel_responses(483)
    establish(net, ua)
    net.from_tel(ua.request("MESSAGE"))
    assert len(net.tel_responses(405)) == 2
    stats = net.b2b.statistics().messages
    assert stats[("other", "request")] == 1  # PUBLISH is not in the bounded set
    assert stats[("MESSAGE", "request")] == 1


def test_merged_request_gets_482() -> None:
    net = Net.make()
    ua = TelUa()
    net.from_tel(ua.make_invite())
    net.from_tel(ua.make_invite())  # same Call-ID, new branch
    assert net.tel_responses(482)


def test_over_the_call_limit_and_draining_get_503_retry_after() -> None:
    net = Net.make(max_calls=1)
    establish(net, TelUa("c1"))
    net.from_tel(TelUa("c2").make_invite())
    resp = net.tel_responses(503)[0]
    assert resp.get("Retry-After") == "5"
    net2 = Net.make()
    net2.b2b.begin_drain()
    assert net2.b2b.draining
    net2.from_tel(TelUa().make_invite())
    assert net2.tel_responses(503)


def test_no_ports_gets_503() -> None:
    net = Net.make(auto_media=False)
    ua = TelUa()
    net.from_tel(ua.make_invite())
    net.run(net.b2b.media_failed(ua.call_id, net.now))
    assert final(net).status == 503
    assert final(net).get("Retry-After") is not None
    assert net.b2b.active_calls() == 0
    assert net.b2b.media_failed(ua.call_id, net.now) == []


@pytest.mark.parametrize(
    ("rec_status", "tel_status"),
    [(486, 486), (404, 404), (500, 500), (603, 603), (401, 503), (302, 503)],
)
def test_recorder_failure_status_is_passed_back(rec_status: int, tel_status: int) -> None:
    net = Net.make()
    ua = TelUa()
    net.from_tel(ua.make_invite())
    inv = net.rec_requests("INVITE")[0]
    net.from_rec(rec_reply(inv, rec_status))
    assert net.rec_requests("ACK")  # the transaction ACKs the non-2xx
    assert final(net).status == tel_status
    assert net.teardowns == [ua.call_id]
    assert net.rec_requests("BYE") == []
    assert net.b2b.active_calls() == 0


def test_recorder_timeout_gets_503() -> None:
    net = Net.make()
    ua = TelUa()
    net.from_tel(ua.make_invite())
    net.run_timers_until(net.now + 33)
    assert len(net.rec_requests("INVITE")) == 7  # Timer A retransmissions until B
    assert final(net).status == 503
    assert net.b2b.active_calls() == 0


def test_recorder_ringing_forever_gets_503_and_cancel() -> None:
    net = Net.make()
    ua = TelUa()
    net.from_tel(ua.make_invite())
    inv = net.rec_requests("INVITE")[0]
    net.from_rec(rec_reply(inv, 180))
    net.run_timers_until(net.now + 33)
    assert final(net).status == 503
    cancel = net.rec_requests("CANCEL")[0]
    assert cancel.branch == inv.branch
    net.from_rec(rec_reply(cancel, 200))
    net.from_rec(rec_reply(inv, 487))
    assert net.b2b.active_calls() == 0


def test_recorder_answer_without_usable_sdp_gets_503_and_bye() -> None:
    net = Net.make()
    ua = TelUa()
    net.from_tel(ua.make_invite())
    inv = net.rec_requests("INVITE")[0]
    net.from_rec(rec_reply(inv, 200))  # no SDP answer
    assert final(net).status == 503
    assert net.rec_requests("ACK")
    assert net.rec_requests("BYE")


def test_cancel_during_media_setup() -> None:
    net = Net.make(auto_media=False)
    ua = TelUa()
    net.from_tel(ua.make_invite())
    net.from_tel(ua.cancel())
    assert [r.status for r in net.tel_responses() if r.cseq.method == "CANCEL"] == [200]
    assert final(net).status == 487
    net.media_ready(ua.call_id, 1)
    assert net.rec_requests("INVITE") == []
    assert net.teardowns == [ua.call_id]
    net.run(net.b2b.media_released(ua.call_id, net.now))
    assert net.b2b.active_calls() == 0


def test_cancel_during_media_setup_then_setup_fails() -> None:
    net = Net.make(auto_media=False)
    ua = TelUa()
    net.from_tel(ua.make_invite())
    net.from_tel(ua.cancel())
    net.run(net.b2b.media_failed(ua.call_id, net.now))
    assert final(net).status == 487
    assert net.b2b.active_calls() == 0


def test_cancel_after_recorder_provisional_cancels_recorder() -> None:
    net = Net.make()
    ua = TelUa()
    net.from_tel(ua.make_invite())
    inv = net.rec_requests("INVITE")[0]
    net.from_rec(rec_reply(inv, 100))
    net.from_tel(ua.cancel())
    assert final(net).status == 487
    cancel = net.rec_requests("CANCEL")[0]
    net.from_rec(rec_reply(cancel, 200))
    net.from_rec(rec_reply(inv, 487))
    assert net.teardowns == [ua.call_id]
    assert net.rec_requests("BYE") == []
    assert net.b2b.active_calls() == 0


def test_cancel_before_recorder_provisional_waits_for_it() -> None:
    net = Net.make()
    ua = TelUa()
    net.from_tel(ua.make_invite())
    inv = net.rec_requests("INVITE")[0]
    net.from_tel(ua.cancel())
    assert net.rec_requests("CANCEL") == []  # §9.1: not before a provisional
    net.from_rec(rec_reply(inv, 180))
    assert len(net.rec_requests("CANCEL")) == 1


def test_late_recorder_200_after_cancel_gets_ack_then_bye() -> None:
    net = Net.make()
    ua = TelUa()
    net.from_tel(ua.make_invite())
    inv = net.rec_requests("INVITE")[0]
    net.from_rec(rec_reply(inv, 100))
    net.from_tel(ua.cancel())
    net.from_rec(rec_reply(inv, 200, sdp=rec_sdp(1)))
    assert net.order[-3:] == ["rec:ACK", "teardown", "rec:BYE"]
    assert final(net).status == 487  # telephony is never answered 200
    net.from_rec(rec_reply(net.rec_requests("BYE")[0], 200))
    assert net.b2b.active_calls() == 0


def test_cancel_after_answer_changes_nothing() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    net.from_tel(ua.cancel())
    assert net.b2b.active_calls() == 1


def test_terminate_before_answer_gives_503() -> None:
    net = Net.make()
    ua = TelUa()
    net.from_tel(ua.make_invite())
    net.from_rec(rec_reply(net.rec_requests("INVITE")[0], 100))
    net.run(net.b2b.terminate_call(ua.call_id, "shutdown", net.now))
    assert final(net).status == 503
    assert net.rec_requests("CANCEL")


def test_reinvite_glare_491_and_second_reoffer_500() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    net.run(net.b2b.signal_recorder(ua.call_id, True, net.now))
    net.from_tel(ua.request("INVITE", tel_sdp(version=2, port=22000)))
    assert net.tel_responses(491)
    net.from_rec(rec_reply(net.rec_requests("INVITE")[-1], 200, sdp=rec_sdp(1, version=2)))
    net.from_tel(ua.request("INVITE", tel_sdp(version=2, port=22000)))
    net.from_tel(ua.request("INVITE", tel_sdp(version=3, port=24000)))
    resp = net.tel_responses(500)[0]
    assert resp.get("Retry-After") is not None


def test_reinvite_changing_streams_or_unsupported_gets_488_and_call_continues() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    two = tel_sdp(version=2) + b"m=audio 20002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    net.from_tel(ua.request("INVITE", two))
    net.from_tel(ua.request("INVITE", tel_sdp(version=2).replace(b"RTP/AVP", b"RTP/SAVP")))
    net.from_tel(ua.request("INVITE", b"v=0\r\ngarbage\r\n"))
    statuses = [r.status for r in net.tel_responses() if r.status >= 400]
    assert statuses == [488, 488, 400]
    assert net.b2b.active_calls() == 1


def test_recorder_rejecting_reoffer_still_answers_telephony() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    net.from_tel(ua.request("INVITE", tel_sdp(version=2, port=22000)))
    net.from_rec(rec_reply(net.rec_requests("INVITE")[-1], 488))
    oks = [r for r in net.tel_responses(200) if r.cseq.method == "INVITE"]
    assert len(oks) == 2
    assert net.b2b.active_calls() == 1


def test_recorder_reoffer_481_ends_the_call() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    net.run(net.b2b.signal_recorder(ua.call_id, True, net.now))
    net.from_rec(rec_reply(net.rec_requests("INVITE")[-1], 481))
    assert net.tel_requests("BYE")
    assert net.rec_requests("BYE") == []
    assert net.b2b.active_calls() == 0


def test_bye_during_pending_reoffer_answers_it_487() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    net.from_tel(ua.request("INVITE", tel_sdp(version=2, port=22000)))
    net.from_tel(ua.request("BYE"))
    assert net.tel_responses(487)


def test_malformed_require_header_is_answered_400_not_raised() -> None:
    """A header parsed lazily (Require) that turns out malformed is a 400, not a crash."""
    from pausegate.calls.b2bua import B2bua
    from pausegate.calls.hooks import SendMessage
    from pausegate.calls.settings import B2buaSettings
    from pausegate.sip.layer import Target
    from pausegate.sip.message import parse_message

    settings = B2buaSettings(
        ("127.0.0.1", 5060), "127.0.0.1", "sip:rec@127.0.0.1:5070", None, None, None, 10
    )
    core = B2bua(settings, local_port=5060, new_token=lambda: "tok")
    raw = (
        b"OPTIONS sip:pg@127.0.0.1 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-1\r\n"
        b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:pg@127.0.0.1>\r\n"
        b"Call-ID: bad-require\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
        b"Require: <siprec\r\nContent-Length: 0\r\n\r\n"
    )
    effects = core.receive(parse_message(raw), Target("udp", ("127.0.0.1", 5099)), 0.0)
    sent = [e.message for e in effects if isinstance(e, SendMessage)]
    assert [m.status for m in sent] == [400]  # type: ignore[union-attr]
