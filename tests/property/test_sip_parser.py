"""Hypothesis: SIP parsing only ever raises SipParseError; writers and parsers round-trip."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fixtures.sip import load

from pausegate.errors import SipParseError
from pausegate.sip.framer import StreamFramer
from pausegate.sip.headers import NameAddr, SipUri, Via
from pausegate.sip.message import SipRequest, best_effort_error, parse_message

FIXTURES = [load(n) for n in ("baresip_invite.sip", "sbc_siprec_invite.sip", "compact_invite.sip")]
tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=12).filter(
    lambda t: t.strip(".") == t
)


@given(st.binary(max_size=2048))
def test_random_bytes_raise_only_sip_parse_error(data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parse_message(data)
    best_effort_error(data, 400, "Bad Request")


@given(st.sampled_from(FIXTURES), st.data())
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_mutated_fixtures_raise_only_sip_parse_error(base: bytes, data: st.DataObject) -> None:
    pos = data.draw(st.integers(0, len(base) - 1))
    junk = data.draw(st.binary(min_size=0, max_size=8))
    cut = data.draw(st.integers(0, 8))
    mutated = base[:pos] + junk + base[pos + cut :]
    for stream in (False, True):
        try:
            msg = parse_message(mutated, stream=stream)
        except SipParseError:
            continue
        # whatever parses must serialise to bytes that parse back to the same bytes
        again = parse_message(bytes(msg))
        assert bytes(again) == bytes(msg)
        assert again.body == msg.body
        for accessor in ("vias", "from_", "to", "cseq", "contact", "record_route"):
            getattr(msg, accessor)


@given(st.sampled_from(FIXTURES), st.lists(st.integers(1, 64), min_size=1, max_size=40))
def test_framer_is_independent_of_chunking(base: bytes, sizes: list[int]) -> None:
    stream = b"\r\n" + base + base
    framer = StreamFramer()
    out: list[bytes] = []
    pos = 0
    for size in sizes * 100:
        if pos >= len(stream):
            break
        out += framer.feed(stream[pos : pos + size])
        pos += size
    out += framer.feed(stream[pos:])
    assert out == [base, base]


@given(
    user=st.none() | tokens,
    host=tokens,
    port=st.none() | st.integers(1, 65535),
    params=st.lists(st.tuples(tokens, st.none() | tokens), max_size=3),
    display=st.none()
    | st.text(alphabet="abc XYZ,;", min_size=1, max_size=10).filter(lambda t: t.strip() == t),
    tag=st.none() | tokens,
)
def test_uri_and_name_addr_round_trip(
    user: str | None,
    host: str,
    port: int | None,
    params: list[tuple[str, str | None]],
    display: str | None,
    tag: str | None,
) -> None:
    uri = SipUri("sip", user, host, port, tuple(params))
    assert SipUri.parse(str(uri)) == uri
    addr = NameAddr(uri, display)
    if tag is not None:
        addr = addr.with_tag(tag)
    parsed = NameAddr.parse(str(addr))
    assert parsed.uri == uri
    assert parsed.tag == tag
    assert parsed.display == display
    via = Via("UDP", host, port, (("branch", f"z9hG4bK{host}"),))
    assert Via.parse(str(via)) == via


@given(st.lists(st.tuples(tokens, st.text(alphabet="abc 123;=<>@:", max_size=20)), max_size=6))
def test_extra_headers_round_trip(extra: list[tuple[str, str]]) -> None:
    base = parse_message(FIXTURES[0])
    assert isinstance(base, SipRequest)
    msg = base
    for name, value in extra:
        msg = msg.with_header(f"X-{name}", value.strip())
    again = parse_message(bytes(msg))
    for name, value in extra:
        assert value.strip() in again.get_all(f"X-{name}")
