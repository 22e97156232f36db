"""B2BUA core: malformed offers are counted by kind (SDP, SIPREC) for bad_input_total."""

from __future__ import annotations

from tests.fixtures.sip.flows import Net, TelUa, tel_sdp

from pausegate.sip.message import SipResponse


def _final_status(net: Net) -> int:
    finals = [r for r in net.tel_responses() if r.status >= 200 and r.cseq.method == "INVITE"]
    assert finals
    response = finals[0]
    assert isinstance(response, SipResponse)
    return response.status


def test_broken_sdp_counts_as_sdp_error() -> None:
    net = Net.make()
    net.from_tel(TelUa().make_invite(tel_sdp().replace(b"c=IN IP4", b"c=IN IP4 bad")))
    assert _final_status(net) == 400
    stats = net.b2b.statistics()
    assert (stats.sdp_errors, stats.siprec_errors, stats.parse_errors) == (1, 0, 0)


def test_unsupported_sdp_is_not_bad_input() -> None:
    net = Net.make()
    net.from_tel(TelUa().make_invite(tel_sdp().replace(b"RTP/AVP", b"RTP/SAVP")))
    assert _final_status(net) == 488
    stats = net.b2b.statistics()
    assert (stats.sdp_errors, stats.siprec_errors) == (0, 0)


def test_broken_siprec_counts_as_siprec_error() -> None:
    for body in (
        b"--b\r\nContent-Type: application/sdp\r\n\r\n" + tel_sdp() + b"\r\n"
        b"--b\r\nContent-Type: application/rs-metadata+xml\r\n\r\n<recording><oops>\r\n--b--\r\n",
        b"--b\r\nContent-Type: application/sdp\r\n\r\n" + tel_sdp(),  # no closing delimiter
    ):
        net = Net.make()
        net.from_tel(TelUa().make_invite(body, content_type="multipart/mixed;boundary=b"))
        assert _final_status(net) == 400
        stats = net.b2b.statistics()
        assert (stats.sdp_errors, stats.siprec_errors) == (0, 1)
