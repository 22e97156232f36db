"""The reference recorder's SIP side (RecorderUas core): plain and SIPREC recording sessions."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from tests.fixtures.sip import load
from tests.fixtures.sip.flows import TelUa, tel_sdp

from pausegate.calls.bodies import sdp_of
from pausegate.calls.hooks import SendMessage
from pausegate.recorder.uas import CloseRecording, OpenRecording, RecorderUas, UpdateRecording
from pausegate.sip.layer import Target, Transport
from pausegate.sip.message import SipResponse, parse_message

SRC = Target(Transport.UDP, ("10.0.0.1", 5060))
TCP = Target(Transport.TCP, ("192.0.2.10", 40001), 7)


def make() -> RecorderUas:
    ids = itertools.count(1)
    return RecorderUas("198.51.100.5", 5080, lambda: f"r{next(ids)}")


def sent(effects: Sequence[object]) -> list[SipResponse]:
    out = []
    for e in effects:
        if isinstance(e, SendMessage):
            msg = parse_message(bytes(e.message))
            assert isinstance(msg, SipResponse)
            out.append(msg)
    return out


def test_plain_invite_opens_streams_and_answers_recvonly() -> None:
    uas = make()
    ua = TelUa()
    effects = uas.receive_data(bytes(ua.make_invite(tel_sdp(direction="sendonly"))), SRC, 0.0)
    assert [r.status for r in sent(effects)] == [100]
    opens = [e for e in effects if isinstance(e, OpenRecording)]
    assert opens[0].streams[0][0] == "0"
    assert opens[0].metadata is None
    answer = sent(uas.streams_ready(ua.call_id, [(30000, 30001)], 0.1))
    assert [r.status for r in answer] == [200]
    sd, _ = sdp_of(answer[0])
    assert sd is not None
    assert sd.media[0].port == 30000
    assert b"a=recvonly" in answer[0].body
    assert b"c=IN IP4 198.51.100.5" in answer[0].body
    assert b"a=rtpmap:101 telephone-event/8000" in answer[0].body
    assert uas.receive_data(bytes(ua.confirm(answer[0])), SRC, 0.2) == []
    reinvite = ua.request("INVITE", tel_sdp(version=2, direction="inactive"))
    effects = uas.receive_data(bytes(reinvite), SRC, 0.3)
    assert any(isinstance(e, UpdateRecording) for e in effects)
    ok = next(r for r in sent(effects) if r.status == 200)
    assert b"m=audio 30000 " in ok.body
    assert b"a=inactive" in ok.body
    effects = uas.receive_data(bytes(ua.request("BYE")), SRC, 0.4)
    assert [r.status for r in sent(effects)] == [200]
    assert CloseRecording(ua.call_id) in effects
    assert uas.calls == {}


def test_siprec_invite_over_tcp_passes_metadata() -> None:
    uas = make()
    effects = uas.receive_data(load("sbc_siprec_invite.sip"), TCP, 0.0, stream=True)
    opens = [e for e in effects if isinstance(e, OpenRecording)]
    assert [label for label, _ in opens[0].streams] == ["1", "2"]
    assert opens[0].metadata is not None
    assert b"participant" in opens[0].metadata
    call_id = opens[0].call_id
    answer = uas.streams_ready(call_id, [(30000, 30001), (30002, 30003)], 0.1)
    msgs = [e for e in answer if isinstance(e, SendMessage)]
    assert msgs[0].target == Target(Transport.TCP, ("192.0.2.10", 5060), 7)
    ok = sent(answer)[0]
    assert ok.get("Session-Expires") == "1800;refresher=uac"
    assert ok.body.count(b"a=recvonly") == 2


def test_cancel_while_opening_and_failures() -> None:
    uas = make()
    ua = TelUa()
    uas.receive_data(bytes(ua.make_invite()), SRC, 0.0)
    effects = uas.receive_data(bytes(ua.cancel()), SRC, 0.1)
    assert sorted(r.status for r in sent(effects)) == [200, 487]
    assert uas.streams_ready(ua.call_id, [(30000, 30001)], 0.2) == [CloseRecording(ua.call_id)]
    ua2 = TelUa("c2")
    uas.receive_data(bytes(ua2.make_invite()), SRC, 0.0)
    failed = uas.streams_failed("c2", 0.1)
    assert [r.status for r in sent(failed)] == [503]
    assert CloseRecording("c2") in failed
    assert uas.streams_failed("c2", 0.1) == [CloseRecording("c2")]


def test_rejections() -> None:
    uas = make()
    ua = TelUa()
    statuses = []
    for invite in (
        ua.make_invite(extra=[("Require", "foo")]),
        TelUa("c3").make_invite(tel_sdp().replace(b"RTP/AVP", b"RTP/SAVP")),
        TelUa("c4").make_invite(b"v=0\r\nnonsense\r\n"),
        TelUa("c5").make_invite(b""),
    ):
        statuses += [
            r.status for r in sent(uas.receive_data(bytes(invite), SRC, 0.0)) if r.status > 100
        ]
    assert statuses == [420, 488, 400, 488]
    assert [r.status for r in sent(uas.receive_data(load("options_keepalive.sip"), SRC, 0.0))] == [
        200
    ]
    bye = TelUa("nope").make_invite().replace_header("To", "<sip:x@y>;tag=zz")
    stray = type(bye)(bye.replace_header("CSeq", "2 BYE").headers, b"", "BYE", bye.uri)
    assert [r.status for r in sent(uas.receive_data(bytes(stray), SRC, 0.0))] == [481]
    assert [r.status for r in sent(uas.receive_data(b"junk\r\n\r\n", SRC, 0.0))] == []
    assert uas.parse_errors == 1


def test_unacknowledged_answer_closes_the_recording() -> None:
    uas = make()
    ua = TelUa()
    uas.receive_data(bytes(ua.make_invite()), SRC, 0.0)
    uas.streams_ready(ua.call_id, [(30000, 30001)], 0.1)
    closed: list[object] = []
    while (deadline := uas.next_deadline()) is not None:
        closed += uas.handle_timer(deadline)
    assert CloseRecording(ua.call_id) in closed
    assert uas.calls == {}
