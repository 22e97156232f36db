"""Hypothesis: any sequence of inputs keeps every transaction inside its table (RFC 3261 §17)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pausegate.sip.message import SipRequest, build_response, parse_request
from pausegate.sip.transaction import (
    TABLES,
    TU_INPUTS,
    TimerConfig,
    Transaction,
    TransactionStateError,
    TxInput,
    TxKind,
    TxState,
)

STATUS = {TxInput.R1XX: 180, TxInput.R2XX: 200, TxInput.R3XX_6XX: 486}
TU_STATUS = {TxInput.TU_1XX: 183, TxInput.TU_2XX: 200, TxInput.TU_3XX_6XX: 603}


def request(method: str) -> SipRequest:
    return parse_request(
        (
            f"{method} sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h:5060;branch=z9hG4bK1\r\n"
            f"From: <sip:a@h>;tag=f\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 {method}\r\n\r\n"
        ).encode()
    )


@given(
    kind=st.sampled_from(list(TxKind)),
    reliable=st.booleans(),
    steps=st.lists(st.tuples(st.sampled_from(list(TxInput)), st.floats(0, 5)), max_size=30),
)
def test_random_inputs_follow_the_table(
    kind: TxKind, reliable: bool, steps: list[tuple[TxInput, float]]
) -> None:
    method = "INVITE" if kind in (TxKind.INVITE_CLIENT, TxKind.INVITE_SERVER) else "BYE"
    tx = Transaction(kind, request(method), reliable, TimerConfig(), 0.0)
    tx.start(0.0)
    now = 0.0
    for inp, dt in steps:
        now += dt
        tx.handle_timer(now)
        before = tx.state
        try:
            if inp in STATUS:
                tx.receive(build_response(tx.request, STATUS[inp], to_tag="t"), now)
            elif inp in TU_STATUS:
                tx.send_response(build_response(tx.request, TU_STATUS[inp], to_tag="t"), now)
            elif inp is TxInput.REQUEST:
                tx.receive(tx.request, now)
            elif inp is TxInput.TRANSPORT_ERROR:
                tx.transport_error(now)
            else:
                continue
        except TransactionStateError:
            assert inp in TU_INPUTS
            assert (before, inp) not in TABLES[kind]
            continue
        entry = TABLES[kind].get((before, inp))
        if entry is not None and not (inp in STATUS and kind.name.endswith("SERVER")):
            assert tx.state in (entry[0], TxState.TERMINATED)
        if tx.state is TxState.TERMINATED:
            assert tx.next_deadline() is None
    deadline = tx.next_deadline()
    if deadline is not None:
        assert deadline >= now or tx.handle_timer(now) is not None
