"""Random bytes never raise out of the gate's release path (SPEC §3; STYLE §5), Hypothesis."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.gate.support import Harness, rtp

from pausegate.control.commands import Behaviour
from pausegate.gate import GateConfig

RTP_LIKE = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda head, body: bytes([0x80 | (head[0] & 0x3F)]) + head[1:] + body,
        st.binary(min_size=12, max_size=12),
        st.binary(max_size=40),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    junk=st.lists(RTP_LIKE, max_size=20),
    behaviour=st.sampled_from(list(Behaviour)),
    paused=st.booleans(),
)
def test_random_bytes_never_raise(junk: list[bytes], behaviour: Behaviour, paused: bool) -> None:
    h = Harness(config=GateConfig(behaviour=behaviour))
    h.release(rtp(0, 0), 0.02)  # the stream is on its fast path
    if paused:
        h.command(0.1, "pause")
    t = 0.1
    for data in junk:
        t += 0.01
        out = h.stream.release_rtp(data, t, t + 0.2)
        assert out is None or isinstance(out, bytes)
        rtcp = h.stream.release_rtcp(data, t, t + 0.2)
        assert rtcp is None or isinstance(rtcp, bytes)
    h.core.handle_timer(t + 1, t + 1)
    h.end(t + 2)
