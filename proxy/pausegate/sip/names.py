"""SIP header names, compact forms and reason phrases (RFC 3261 §7.3.3, §21). Core."""

from __future__ import annotations

COMPACT_FORMS = {
    "i": "Call-ID",
    "f": "From",
    "t": "To",
    "v": "Via",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "k": "Supported",
    "s": "Subject",
    "e": "Content-Encoding",
    "o": "Event",
    "u": "Allow-Events",
    "r": "Refer-To",
    "b": "Referred-By",
    "x": "Session-Expires",
}
_CANONICAL = {
    name.lower(): name
    for name in (
        "Call-ID",
        "From",
        "To",
        "Via",
        "Contact",
        "Content-Length",
        "Content-Type",
        "Supported",
        "Subject",
        "Content-Encoding",
        "Event",
        "Allow-Events",
        "Refer-To",
        "Referred-By",
        "Session-Expires",
        "CSeq",
        "Max-Forwards",
        "Route",
        "Record-Route",
        "Require",
        "Proxy-Require",
        "Unsupported",
        "Allow",
        "Accept",
        "User-Agent",
        "Server",
        "Retry-After",
        "Min-SE",
        "Reason",
        "Expires",
        "Content-Disposition",
        "Warning",
        "Timestamp",
        "WWW-Authenticate",
        "Authorization",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "MIME-Version",
        "Organization",
        "Priority",
        "RSeq",
        "RAck",
    )
}
MULTI_VALUE = frozenset(
    {"via", "route", "record-route", "contact", "allow", "supported", "require",
     "proxy-require", "unsupported", "accept", "allow-events"}
)  # fmt: skip

REASON_PHRASES = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 183: "Session Progress",
    200: "OK", 202: "Accepted", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 408: "Request Timeout",
    415: "Unsupported Media Type", 420: "Bad Extension", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    491: "Request Pending", 500: "Server Internal Error", 501: "Not Implemented",
    503: "Service Unavailable", 504: "Server Time-out", 600: "Busy Everywhere",
    603: "Decline",
}  # fmt: skip


def canonical_name(name: str) -> str:
    lname = name.lower()
    if lname in COMPACT_FORMS:
        return COMPACT_FORMS[lname]
    return _CANONICAL.get(lname, name)


def reason_phrase(status: int) -> str:
    return REASON_PHRASES.get(status, "Unknown")
