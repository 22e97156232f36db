"""RFC 3261 §17 transactions: every (state, input) pair and every timer, with fake time."""

from __future__ import annotations

import pytest

from pausegate.sip.message import SipRequest, SipResponse, build_response, parse_request
from pausegate.sip.transaction import (
    TABLES,
    TU_INPUTS,
    TimerConfig,
    Transaction,
    TransactionStateError,
    TxInput,
    TxKind,
    TxOutput,
    TxState,
)

T = TimerConfig(t1_s=0.5, t2_s=4.0, t4_s=5.0)
TIMER_INPUTS = [i for i in TxInput if i.name.startswith("TIMER_")]


def request(method: str) -> SipRequest:
    return parse_request(
        (
            f"{method} sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
            f"From: <sip:a@h>;tag=f\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 {method}\r\n"
            "Max-Forwards: 70\r\n\r\n"
        ).encode()
    )


def ack_of(req: SipRequest) -> SipRequest:
    method = req.method.encode()
    data = bytes(req).replace(method + b" sip", b"ACK sip").replace(b"1 " + method, b"1 ACK")
    return parse_request(data)


def new_tx(kind: TxKind, reliable: bool = False, now: float = 0.0) -> Transaction:
    method = "INVITE" if kind in (TxKind.INVITE_CLIENT, TxKind.INVITE_SERVER) else "BYE"
    tx = Transaction(kind, request(method), reliable, T, now)
    tx.start(now)
    return tx


def resp(tx: Transaction, status: int) -> SipResponse:
    return build_response(tx.request, status, to_tag="t")


def apply(tx: Transaction, inp: TxInput, now: float) -> TxOutput:
    match inp:
        case TxInput.R1XX:
            return tx.receive(resp(tx, 180), now)
        case TxInput.R2XX:
            return tx.receive(resp(tx, 200), now)
        case TxInput.R3XX_6XX:
            return tx.receive(resp(tx, 486), now)
        case TxInput.REQUEST:
            return tx.receive(tx.request, now)
        case TxInput.ACK:
            return tx.receive(ack_of(tx.request), now)
        case TxInput.TU_1XX:
            return tx.send_response(resp(tx, 180), now)
        case TxInput.TU_2XX:
            return tx.send_response(resp(tx, 200), now)
        case TxInput.TU_3XX_6XX:
            return tx.send_response(resp(tx, 486), now)
        case TxInput.TRANSPORT_ERROR:
            return tx.transport_error(now)
        case _:
            tx.deadlines[inp] = now
            return tx.handle_timer(now)


# The inputs that bring a fresh transaction of each kind into each state.
ROUTES: dict[TxKind, dict[TxState, list[TxInput]]] = {
    TxKind.INVITE_CLIENT: {
        TxState.CALLING: [],
        TxState.PROCEEDING: [TxInput.R1XX],
        TxState.COMPLETED: [TxInput.R3XX_6XX],
        TxState.ACCEPTED: [TxInput.R2XX],
        TxState.TERMINATED: [TxInput.TIMER_B],
    },
    TxKind.NON_INVITE_CLIENT: {
        TxState.TRYING: [],
        TxState.PROCEEDING: [TxInput.R1XX],
        TxState.COMPLETED: [TxInput.R2XX],
        TxState.TERMINATED: [TxInput.TIMER_F],
    },
    TxKind.INVITE_SERVER: {
        TxState.PROCEEDING: [],
        TxState.COMPLETED: [TxInput.TU_3XX_6XX],
        TxState.CONFIRMED: [TxInput.TU_3XX_6XX, TxInput.ACK],
        TxState.ACCEPTED: [TxInput.TU_2XX],
        TxState.TERMINATED: [TxInput.TRANSPORT_ERROR],
    },
    TxKind.NON_INVITE_SERVER: {
        TxState.TRYING: [],
        TxState.PROCEEDING: [TxInput.TU_1XX],
        TxState.COMPLETED: [TxInput.TU_2XX],
        TxState.TERMINATED: [TxInput.TRANSPORT_ERROR],
    },
}

PAIRS = [
    (kind, state, inp) for kind, routes in ROUTES.items() for state in routes for inp in TxInput
]


@pytest.mark.parametrize(("kind", "state", "inp"), PAIRS)
def test_every_state_input_pair(kind: TxKind, state: TxState, inp: TxInput) -> None:
    tx = new_tx(kind)
    for step in ROUTES[kind][state]:
        apply(tx, step, 0.0)
    assert tx.state is state
    entry = TABLES[kind].get((state, inp))
    if entry is None and inp in TU_INPUTS:
        with pytest.raises(TransactionStateError):
            apply(tx, inp, 0.01)
        return
    errors = tx.protocol_errors
    out = apply(tx, inp, 0.01)  # before any armed timer is due
    if entry is None:
        assert tx.state is state
        timer_after_end = state is TxState.TERMINATED and inp in TIMER_INPUTS
        assert tx.protocol_errors == errors + (0 if timer_after_end else 1)
        assert out.send == ()
        assert out.to_tu == ()
        return
    assert tx.state is entry[0]
    assert out.terminated == (entry[0] is TxState.TERMINATED)


def test_server_transaction_ignores_responses_and_client_cannot_respond() -> None:
    server = new_tx(TxKind.NON_INVITE_SERVER)
    server.receive(resp(server, 200), 0.0)
    assert server.protocol_errors == 1
    client = new_tx(TxKind.NON_INVITE_CLIENT)
    with pytest.raises(TransactionStateError):
        client.send_response(resp(client, 200), 0.0)
    with pytest.raises(TransactionStateError):
        T.initial(TxInput.ACK, False)


def statuses(out: TxOutput) -> list[int]:
    return [m.status for m in out.send if isinstance(m, SipResponse)]


def statuses_tu(out: TxOutput) -> list[int]:
    return [m.status for m in out.to_tu if isinstance(m, SipResponse)]


def methods(out: TxOutput) -> list[str]:
    return [m.method for m in out.send if isinstance(m, SipRequest)]


def fire_all(tx: Transaction, until: float) -> list[float]:
    """Run the timers up to ``until``; return the times at which something was sent."""
    sent: list[float] = []
    while (deadline := tx.next_deadline()) is not None and deadline <= until:
        if tx.handle_timer(deadline).send:
            sent.append(deadline)
    return sent


def test_invite_client_timer_a_doubles_and_b_times_out() -> None:
    tx = new_tx(TxKind.INVITE_CLIENT)
    assert tx.start(0.0).send == (tx.request,)
    sent = fire_all(tx, 40.0)
    assert sent[:6] == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert tx.state is TxState.TERMINATED


def test_invite_client_timeout_is_reported() -> None:
    tx = new_tx(TxKind.INVITE_CLIENT)
    tx.deadlines.pop(TxInput.TIMER_A)
    out = tx.handle_timer(32.0)
    assert out.timed_out
    assert out.terminated


def test_invite_client_non_2xx_acks_and_waits_d() -> None:
    tx = new_tx(TxKind.INVITE_CLIENT)
    out = apply(tx, TxInput.R3XX_6XX, 0.1)
    assert methods(out) == ["ACK"]
    ack = out.send[0]
    assert isinstance(ack, SipRequest)
    assert ack.branch == tx.request.branch
    assert ack.to.tag == "t"
    assert statuses_tu(out) == [486]
    again = apply(tx, TxInput.R3XX_6XX, 1.0)
    assert methods(again) == ["ACK"]
    assert tx.next_deadline() == pytest.approx(32.1)
    tx.handle_timer(32.1)
    assert tx.state is TxState.TERMINATED


def test_invite_client_accepted_passes_2xx_retransmissions_until_m() -> None:
    tx = new_tx(TxKind.INVITE_CLIENT)
    assert apply(tx, TxInput.R2XX, 0.1).to_tu
    assert apply(tx, TxInput.R2XX, 1.0).to_tu
    assert tx.next_deadline() == pytest.approx(32.1)
    tx.handle_timer(32.1)
    assert tx.terminated


def test_non_invite_client_timer_e_caps_at_t2_and_proceeding_uses_t2() -> None:
    tx = new_tx(TxKind.NON_INVITE_CLIENT)
    sent = fire_all(tx, 12.0)
    assert sent[:6] == [0.5, 1.5, 3.5, 7.5, 11.5][:6]
    tx2 = new_tx(TxKind.NON_INVITE_CLIENT)
    apply(tx2, TxInput.R1XX, 0.1)
    assert fire_all(tx2, 9.0) == [0.5, 4.5, 8.5]
    assert tx2.handle_timer(32.0).timed_out


def test_non_invite_client_final_waits_k() -> None:
    tx = new_tx(TxKind.NON_INVITE_CLIENT)
    apply(tx, TxInput.R2XX, 0.2)
    assert tx.next_deadline() == pytest.approx(5.2)
    assert not apply(tx, TxInput.R2XX, 1.0).to_tu
    tx.handle_timer(5.2)
    assert tx.terminated


def test_invite_server_sends_100_and_retransmits_final_with_g() -> None:
    tx = Transaction(TxKind.INVITE_SERVER, request("INVITE"), False, T, 0.0)
    start = tx.start(0.0)
    assert statuses(start) == [100]
    assert statuses(apply(tx, TxInput.REQUEST, 0.1)) == [100]
    apply(tx, TxInput.TU_3XX_6XX, 1.0)
    sent = fire_all(tx, 20.0)
    assert sent[:5] == [1.5, 2.5, 4.5, 8.5, 12.5]
    out = apply(tx, TxInput.ACK, 13.0)
    assert tx.state is TxState.CONFIRMED
    assert out.to_tu == ()
    assert tx.next_deadline() == pytest.approx(18.0)
    tx.handle_timer(18.0)
    assert tx.terminated


def test_invite_server_timer_h_reports_missing_ack() -> None:
    tx = new_tx(TxKind.INVITE_SERVER)
    apply(tx, TxInput.TU_3XX_6XX, 0.0)
    tx.deadlines.pop(TxInput.TIMER_G)
    out = tx.handle_timer(32.0)
    assert out.timed_out


def test_invite_server_accepted_retransmits_2xx_until_ack() -> None:
    tx = new_tx(TxKind.INVITE_SERVER)
    apply(tx, TxInput.TU_2XX, 0.0)
    assert fire_all(tx, 2.0) == [0.5, 1.5]
    assert statuses(apply(tx, TxInput.REQUEST, 2.0)) == [200]
    out = apply(tx, TxInput.ACK, 2.1)
    assert len(out.to_tu) == 1
    assert tx.state is TxState.CONFIRMED
    assert TxInput.TIMER_G not in tx.deadlines
    assert apply(tx, TxInput.REQUEST, 3.0).send == ()
    tx.handle_timer(32.0)
    assert tx.terminated


def test_invite_server_accepted_without_ack_times_out() -> None:
    tx = new_tx(TxKind.INVITE_SERVER)
    apply(tx, TxInput.TU_2XX, 0.0)
    timed_out = False
    while (d := tx.next_deadline()) is not None:
        timed_out |= tx.handle_timer(d).timed_out
    assert timed_out
    assert tx.terminated


def test_non_invite_server_resends_last_response() -> None:
    tx = new_tx(TxKind.NON_INVITE_SERVER)
    assert apply(tx, TxInput.REQUEST, 0.0).send == ()
    apply(tx, TxInput.TU_1XX, 0.0)
    assert statuses(apply(tx, TxInput.REQUEST, 0.1)) == [180]
    apply(tx, TxInput.TU_2XX, 0.2)
    assert statuses(apply(tx, TxInput.REQUEST, 0.3)) == [200]
    assert tx.next_deadline() == pytest.approx(32.2)


@pytest.mark.parametrize("kind", list(TxKind))
def test_reliable_transport_has_no_retransmissions_and_zero_waits(kind: TxKind) -> None:
    tx = new_tx(kind, reliable=True)
    for timer in (TxInput.TIMER_A, TxInput.TIMER_E, TxInput.TIMER_G):
        assert timer not in tx.deadlines
    match kind:
        case TxKind.INVITE_CLIENT:
            out = apply(tx, TxInput.R3XX_6XX, 1.0)  # ACK sent, D = 0
        case TxKind.NON_INVITE_CLIENT:
            out = apply(tx, TxInput.R2XX, 1.0)  # K = 0
        case TxKind.INVITE_SERVER:
            apply(tx, TxInput.TU_3XX_6XX, 1.0)
            assert TxInput.TIMER_G not in tx.deadlines
            out = apply(tx, TxInput.ACK, 1.0)  # I = 0
        case TxKind.NON_INVITE_SERVER:
            out = apply(tx, TxInput.TU_2XX, 1.0)  # J = 0
    assert out.terminated
    assert tx.terminated


def test_timer_config_durations() -> None:
    cfg = TimerConfig(t1_s=0.01, t2_s=0.04, t4_s=0.05)
    assert cfg.initial(TxInput.TIMER_B, False) == pytest.approx(0.64)
    assert cfg.initial(TxInput.TIMER_D, False) == 32.0
    assert cfg.initial(TxInput.TIMER_D, True) == 0.0
    assert cfg.initial(TxInput.TIMER_I, False) == 0.05
    assert cfg.initial(TxInput.TIMER_J, False) == pytest.approx(0.64)
    assert cfg.initial(TxInput.TIMER_A, True) is None
