"""Hypothesis: no peer input makes the B2BUA core or the recorder UAS raise (SPEC §2, STYLE §5)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fixtures.sip import load
from tests.fixtures.sip.flows import Net, TelUa, rec_reply, rec_sdp

from pausegate.recorder.uas import RecorderUas
from pausegate.sip.layer import Target, Transport

SRC = Target(Transport.UDP, ("10.0.0.1", 5060))
BASES = [
    load("baresip_invite.sip"),
    load("sbc_siprec_invite.sip"),
    load("compact_invite.sip"),
    load("options_keepalive.sip"),
    load("response_180.sip"),
]


def mutate(data: st.DataObject, base: bytes) -> bytes:
    out = base
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, max(0, len(out) - 1)))
        junk = data.draw(
            st.binary(max_size=6) | st.sampled_from([b"\r\n", b":", b";", b"<", b"0", b" "])
        )
        cut = data.draw(st.integers(0, 6))
        out = out[:pos] + junk + out[pos + cut :]
    return out


@given(st.data())
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_mutated_messages_never_raise_out_of_the_cores(data: st.DataObject) -> None:
    net = Net.make(agent_aor_pattern="agent", key_header="X-Interaction-ID")
    uas = RecorderUas("127.0.0.1", 5080, lambda: "t")
    for _ in range(data.draw(st.integers(1, 4))):
        msg = mutate(data, data.draw(st.sampled_from(BASES)))
        stream = data.draw(st.booleans())
        net.run(net.b2b.receive_data(msg, SRC, net.now, stream=stream))
        uas.receive_data(msg, SRC, 0.0, stream=stream)
    net.advance(40.0)


@given(st.data())
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_mutated_recorder_answers_never_raise(data: st.DataObject) -> None:
    net = Net.make()
    ua = TelUa()
    net.from_tel(ua.make_invite())
    inv = net.rec_requests("INVITE")[0]
    answer = bytes(rec_reply(inv, 200, sdp=rec_sdp(1)))
    net.run(net.b2b.receive_data(mutate(data, answer), SRC, net.now))
    net.advance(40.0)
