"""B2BUA call flows with telephony and recorder wired in memory (SPEC §2)."""

from __future__ import annotations

from tests.fixtures.sip.flows import Net, TelUa, offer_streams, rec_reply, rec_sdp


def establish(net: Net, ua: TelUa) -> None:
    net.from_tel(ua.make_invite())
    inv = net.rec_requests("INVITE")[-1]
    net.from_rec(rec_reply(inv, 100))
    net.from_rec(rec_reply(inv, 200, sdp=rec_sdp(offer_streams(inv))))
    ok = net.tel_responses(200)[-1]
    net.from_tel(ua.confirm(ok))


def test_basic_call_and_bye_from_telephony() -> None:
    net = Net.make()
    ua = TelUa()
    establish(net, ua)
    print(net.order)
    assert net.tel_responses(100)
    assert net.order.index("answered") < net.order.index("tel:200 INVITE")
    assert net.rec_requests("ACK")
    assert net.b2b.active_calls() == 1
    net.from_tel(ua.request("BYE"))
    print(net.order)
    assert [r.status for r in net.tel_responses() if r.cseq.method == "BYE"] == [200]
    assert net.order.index("teardown") < net.order.index("rec:BYE")
    bye = net.rec_requests("BYE")[-1]
    net.from_rec(rec_reply(bye, 200))
    assert net.b2b.active_calls() == 0
