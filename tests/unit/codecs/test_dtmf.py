"""RFC 4733 §2.3 telephone-event payload parse/serialise."""

from __future__ import annotations

import pytest

from pausegate_codecs.dtmf import DtmfError, DtmfEvent, end_and_duration


def test_parse_known_bytes() -> None:
    # event 9, E bit, volume 10, duration 800 (RFC 4733 §2.3 layout)
    ev = DtmfEvent.parse(bytes([9, 0x80 | 10, 0x03, 0x20]))
    assert (ev.event, ev.end, ev.volume, ev.duration) == (9, True, 10, 800)


@pytest.mark.parametrize("event", [0, 11, 15, 255])
@pytest.mark.parametrize("end", [False, True])
def test_round_trip(event: int, end: bool) -> None:
    ev = DtmfEvent(event, end, 63, 65535)
    assert DtmfEvent.parse(bytes(ev)) == ev
    assert end_and_duration(bytes(ev)) == (end, 65535)


def test_repr_hides_the_digit() -> None:
    assert "event" not in repr(DtmfEvent(7, False, 10, 160))


def test_short_payload() -> None:
    with pytest.raises(DtmfError):
        DtmfEvent.parse(b"\x01\x02\x03")
    assert end_and_duration(b"\x01") is None


def test_out_of_range_fields_refuse_to_serialise() -> None:
    with pytest.raises(ValueError, match="out of range"):
        bytes(DtmfEvent(1, False, 64, 0))
    with pytest.raises(ValueError, match="out of range"):
        bytes(DtmfEvent(1, False, 1, 70000))
