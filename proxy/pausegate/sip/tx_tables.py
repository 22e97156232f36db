"""SIP transaction state tables: (state, input) -> (next state, actions) (RFC 3261 §17). Core.

Literal tables per STYLE §3; the machinery that runs them is ``sip/transaction.py``.
RFC 6026 adds the Accepted state to both INVITE transactions.
"""

from __future__ import annotations

import enum


class TxKind(enum.StrEnum):
    INVITE_CLIENT = "invite_client"
    NON_INVITE_CLIENT = "non_invite_client"
    INVITE_SERVER = "invite_server"
    NON_INVITE_SERVER = "non_invite_server"


class TxState(enum.StrEnum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    ACCEPTED = "accepted"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class TxInput(enum.StrEnum):
    REQUEST = "request"  # retransmission of the transaction's request (server)
    ACK = "ack"
    R1XX = "1xx"  # responses received (client)
    R2XX = "2xx"
    R3XX_6XX = "3xx-6xx"
    TU_1XX = "tu_1xx"  # responses the TU sends (server)
    TU_2XX = "tu_2xx"
    TU_3XX_6XX = "tu_3xx-6xx"
    TIMER_A = "A"
    TIMER_B = "B"
    TIMER_D = "D"
    TIMER_E = "E"
    TIMER_F = "F"
    TIMER_G = "G"
    TIMER_H = "H"
    TIMER_I = "I"
    TIMER_J = "J"
    TIMER_K = "K"
    TIMER_L = "L"
    TIMER_M = "M"
    TRANSPORT_ERROR = "transport_error"


TU_INPUTS = frozenset({TxInput.TU_1XX, TxInput.TU_2XX, TxInput.TU_3XX_6XX})


class Act(enum.StrEnum):
    RESEND_REQUEST = "resend_request"
    SEND_RESPONSE = "send_response"  # the TU's new response (kept as the last one)
    RESEND_RESPONSE = "resend_response"
    SEND_ACK = "send_ack"  # ACK for a non-2xx final response (§17.1.1.3)
    PASS_RESPONSE = "pass_response"  # to the TU
    PASS_ACK = "pass_ack"  # 2xx ACK to the TU
    REPORT_TIMEOUT = "report_timeout"
    REPORT_TRANSPORT_ERROR = "report_transport_error"
    BACKOFF = "backoff"  # the firing retransmission timer restarts with a doubled interval
    STOP_RETRANSMIT = "stop_retransmit"
    STOP_TIMEOUT = "stop_timeout"  # B or F: the transaction got its answer
    START_D = "start_D"
    START_G = "start_G"
    START_H = "start_H"
    START_I = "start_I"
    START_J = "start_J"
    START_K = "start_K"
    START_L = "start_L"
    START_M = "start_M"


S, In, A = TxState, TxInput, Act
Table = dict[tuple[TxState, TxInput], tuple[TxState, tuple[Act, ...]]]

# §17.1.1, Figure 5, with RFC 6026 Figure 5 (Accepted).
INVITE_CLIENT_TABLE: Table = {
    (S.CALLING, In.TIMER_A): (S.CALLING, (A.RESEND_REQUEST, A.BACKOFF)),
    (S.CALLING, In.TIMER_B): (S.TERMINATED, (A.REPORT_TIMEOUT,)),
    (S.CALLING, In.R1XX): (S.PROCEEDING, (A.STOP_RETRANSMIT, A.STOP_TIMEOUT, A.PASS_RESPONSE)),
    (S.CALLING, In.R2XX): (
        S.ACCEPTED,
        (A.STOP_RETRANSMIT, A.STOP_TIMEOUT, A.PASS_RESPONSE, A.START_M),
    ),
    (S.CALLING, In.R3XX_6XX): (
        S.COMPLETED,
        (A.STOP_RETRANSMIT, A.STOP_TIMEOUT, A.SEND_ACK, A.PASS_RESPONSE, A.START_D),
    ),
    (S.CALLING, In.TRANSPORT_ERROR): (S.TERMINATED, (A.REPORT_TRANSPORT_ERROR,)),
    (S.PROCEEDING, In.R1XX): (S.PROCEEDING, (A.PASS_RESPONSE,)),
    (S.PROCEEDING, In.R2XX): (S.ACCEPTED, (A.PASS_RESPONSE, A.START_M)),
    (S.PROCEEDING, In.R3XX_6XX): (S.COMPLETED, (A.SEND_ACK, A.PASS_RESPONSE, A.START_D)),
    (S.PROCEEDING, In.TRANSPORT_ERROR): (S.TERMINATED, (A.REPORT_TRANSPORT_ERROR,)),
    (S.PROCEEDING, In.TIMER_B): (S.PROCEEDING, ()),  # B only bounds Calling (§17.1.1.2)
    (S.COMPLETED, In.R1XX): (S.COMPLETED, ()),
    (S.COMPLETED, In.R2XX): (S.COMPLETED, ()),
    (S.COMPLETED, In.R3XX_6XX): (S.COMPLETED, (A.SEND_ACK,)),
    (S.COMPLETED, In.TRANSPORT_ERROR): (S.TERMINATED, (A.REPORT_TRANSPORT_ERROR,)),
    (S.COMPLETED, In.TIMER_D): (S.TERMINATED, ()),
    (S.COMPLETED, In.TIMER_B): (S.COMPLETED, ()),
    (S.ACCEPTED, In.R1XX): (S.ACCEPTED, ()),
    (S.ACCEPTED, In.R2XX): (S.ACCEPTED, (A.PASS_RESPONSE,)),
    (S.ACCEPTED, In.R3XX_6XX): (S.ACCEPTED, ()),
    (S.ACCEPTED, In.TRANSPORT_ERROR): (S.ACCEPTED, ()),
    (S.ACCEPTED, In.TIMER_B): (S.ACCEPTED, ()),
    (S.ACCEPTED, In.TIMER_M): (S.TERMINATED, ()),
}

# §17.1.2, Figure 6.
NON_INVITE_CLIENT_TABLE: Table = {
    (S.TRYING, In.TIMER_E): (S.TRYING, (A.RESEND_REQUEST, A.BACKOFF)),
    (S.TRYING, In.TIMER_F): (S.TERMINATED, (A.REPORT_TIMEOUT,)),
    (S.TRYING, In.R1XX): (S.PROCEEDING, (A.PASS_RESPONSE,)),
    (S.TRYING, In.R2XX): (
        S.COMPLETED,
        (A.STOP_RETRANSMIT, A.STOP_TIMEOUT, A.PASS_RESPONSE, A.START_K),
    ),
    (S.TRYING, In.R3XX_6XX): (
        S.COMPLETED,
        (A.STOP_RETRANSMIT, A.STOP_TIMEOUT, A.PASS_RESPONSE, A.START_K),
    ),
    (S.TRYING, In.TRANSPORT_ERROR): (S.TERMINATED, (A.REPORT_TRANSPORT_ERROR,)),
    (S.PROCEEDING, In.TIMER_E): (S.PROCEEDING, (A.RESEND_REQUEST, A.BACKOFF)),
    (S.PROCEEDING, In.TIMER_F): (S.TERMINATED, (A.REPORT_TIMEOUT,)),
    (S.PROCEEDING, In.R1XX): (S.PROCEEDING, (A.PASS_RESPONSE,)),
    (S.PROCEEDING, In.R2XX): (
        S.COMPLETED,
        (A.STOP_RETRANSMIT, A.STOP_TIMEOUT, A.PASS_RESPONSE, A.START_K),
    ),
    (S.PROCEEDING, In.R3XX_6XX): (
        S.COMPLETED,
        (A.STOP_RETRANSMIT, A.STOP_TIMEOUT, A.PASS_RESPONSE, A.START_K),
    ),
    (S.PROCEEDING, In.TRANSPORT_ERROR): (S.TERMINATED, (A.REPORT_TRANSPORT_ERROR,)),
    (S.COMPLETED, In.R1XX): (S.COMPLETED, ()),
    (S.COMPLETED, In.R2XX): (S.COMPLETED, ()),
    (S.COMPLETED, In.R3XX_6XX): (S.COMPLETED, ()),
    (S.COMPLETED, In.TIMER_F): (S.COMPLETED, ()),
    (S.COMPLETED, In.TRANSPORT_ERROR): (S.COMPLETED, ()),
    (S.COMPLETED, In.TIMER_K): (S.TERMINATED, ()),
}

# §17.2.1, Figure 7, with RFC 6026 Figure 7 (Accepted) and rule 3 above.
INVITE_SERVER_TABLE: Table = {
    (S.PROCEEDING, In.REQUEST): (S.PROCEEDING, (A.RESEND_RESPONSE,)),
    (S.PROCEEDING, In.TU_1XX): (S.PROCEEDING, (A.SEND_RESPONSE,)),
    (S.PROCEEDING, In.TU_2XX): (S.ACCEPTED, (A.SEND_RESPONSE, A.START_G, A.START_L)),
    (S.PROCEEDING, In.TU_3XX_6XX): (S.COMPLETED, (A.SEND_RESPONSE, A.START_G, A.START_H)),
    (S.PROCEEDING, In.TRANSPORT_ERROR): (S.TERMINATED, (A.REPORT_TRANSPORT_ERROR,)),
    (S.PROCEEDING, In.ACK): (S.PROCEEDING, ()),  # an ACK before any final: stray, absorbed
    (S.COMPLETED, In.REQUEST): (S.COMPLETED, (A.RESEND_RESPONSE,)),
    (S.COMPLETED, In.TIMER_G): (S.COMPLETED, (A.RESEND_RESPONSE, A.BACKOFF)),
    (S.COMPLETED, In.TIMER_H): (S.TERMINATED, (A.REPORT_TIMEOUT,)),
    (S.COMPLETED, In.ACK): (S.CONFIRMED, (A.STOP_RETRANSMIT, A.START_I)),
    (S.COMPLETED, In.TRANSPORT_ERROR): (S.TERMINATED, (A.REPORT_TRANSPORT_ERROR,)),
    (S.CONFIRMED, In.REQUEST): (S.CONFIRMED, ()),
    (S.CONFIRMED, In.ACK): (S.CONFIRMED, ()),
    (S.CONFIRMED, In.TIMER_H): (S.CONFIRMED, ()),
    (S.CONFIRMED, In.TIMER_I): (S.TERMINATED, ()),
    (S.CONFIRMED, In.TIMER_L): (S.TERMINATED, ()),
    (S.CONFIRMED, In.TRANSPORT_ERROR): (S.CONFIRMED, ()),
    (S.ACCEPTED, In.REQUEST): (S.ACCEPTED, (A.RESEND_RESPONSE,)),
    (S.ACCEPTED, In.TU_2XX): (S.ACCEPTED, (A.SEND_RESPONSE,)),
    (S.ACCEPTED, In.TIMER_G): (S.ACCEPTED, (A.RESEND_RESPONSE, A.BACKOFF)),
    (S.ACCEPTED, In.ACK): (S.CONFIRMED, (A.STOP_RETRANSMIT, A.PASS_ACK)),
    (S.ACCEPTED, In.TIMER_L): (S.TERMINATED, (A.REPORT_TIMEOUT,)),
    (S.ACCEPTED, In.TRANSPORT_ERROR): (S.TERMINATED, (A.REPORT_TRANSPORT_ERROR,)),
}

# §17.2.2, Figure 8.
NON_INVITE_SERVER_TABLE: Table = {
    (S.TRYING, In.REQUEST): (S.TRYING, ()),
    (S.TRYING, In.TU_1XX): (S.PROCEEDING, (A.SEND_RESPONSE,)),
    (S.TRYING, In.TU_2XX): (S.COMPLETED, (A.SEND_RESPONSE, A.START_J)),
    (S.TRYING, In.TU_3XX_6XX): (S.COMPLETED, (A.SEND_RESPONSE, A.START_J)),
    (S.TRYING, In.TRANSPORT_ERROR): (S.TERMINATED, (A.REPORT_TRANSPORT_ERROR,)),
    (S.PROCEEDING, In.REQUEST): (S.PROCEEDING, (A.RESEND_RESPONSE,)),
    (S.PROCEEDING, In.TU_1XX): (S.PROCEEDING, (A.SEND_RESPONSE,)),
    (S.PROCEEDING, In.TU_2XX): (S.COMPLETED, (A.SEND_RESPONSE, A.START_J)),
    (S.PROCEEDING, In.TU_3XX_6XX): (S.COMPLETED, (A.SEND_RESPONSE, A.START_J)),
    (S.PROCEEDING, In.TRANSPORT_ERROR): (S.TERMINATED, (A.REPORT_TRANSPORT_ERROR,)),
    (S.COMPLETED, In.REQUEST): (S.COMPLETED, (A.RESEND_RESPONSE,)),
    (S.COMPLETED, In.TRANSPORT_ERROR): (S.TERMINATED, ()),
    (S.COMPLETED, In.TIMER_J): (S.TERMINATED, ()),
}

TABLES: dict[TxKind, Table] = {
    TxKind.INVITE_CLIENT: INVITE_CLIENT_TABLE,
    TxKind.NON_INVITE_CLIENT: NON_INVITE_CLIENT_TABLE,
    TxKind.INVITE_SERVER: INVITE_SERVER_TABLE,
    TxKind.NON_INVITE_SERVER: NON_INVITE_SERVER_TABLE,
}

INITIAL_STATE = {
    TxKind.INVITE_CLIENT: S.CALLING,
    TxKind.NON_INVITE_CLIENT: S.TRYING,
    TxKind.INVITE_SERVER: S.PROCEEDING,
    TxKind.NON_INVITE_SERVER: S.TRYING,
}

# The retransmission timer of each kind and the one that bounds the whole transaction.
RETRANSMIT_TIMER = {
    TxKind.INVITE_CLIENT: In.TIMER_A,
    TxKind.NON_INVITE_CLIENT: In.TIMER_E,
    TxKind.INVITE_SERVER: In.TIMER_G,
}
START_TIMER = {
    A.START_D: In.TIMER_D,
    A.START_G: In.TIMER_G,
    A.START_H: In.TIMER_H,
    A.START_I: In.TIMER_I,
    A.START_J: In.TIMER_J,
    A.START_K: In.TIMER_K,
    A.START_L: In.TIMER_L,
    A.START_M: In.TIMER_M,
}
