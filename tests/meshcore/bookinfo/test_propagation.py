"""Which headers every BookInfo app copies onto its outgoing calls."""

from __future__ import annotations

from multidict import CIMultiDict

from meshcore.bookinfo.productpage import upstream_headers
from meshcore.bookinfo.propagation import PROPAGATED_HEADERS, forward_headers

ISTIO_TRACE_HEADERS = {
    "x-request-id",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-ot-span-context",
    "traceparent",
    "tracestate",
}


def test_the_list_holds_istios_trace_headers_and_bookinfos_application_headers() -> None:
    assert set(PROPAGATED_HEADERS) == ISTIO_TRACE_HEADERS | {"end-user", "user-agent"}


def test_present_headers_are_copied_case_insensitively_and_nothing_else() -> None:
    incoming = CIMultiDict(
        {
            "X-Request-Id": "r1",
            "X-B3-TraceId": "abc",
            "traceparent": "00-abc-def-01",
            "end-user": "jason",
            "Cookie": "user=jason",
            "Host": "productpage:9080",
            "Content-Length": "0",
        }
    )

    assert forward_headers(incoming) == {
        "x-request-id": "r1",
        "x-b3-traceid": "abc",
        "traceparent": "00-abc-def-01",
        "end-user": "jason",
    }


def test_productpage_takes_end_user_from_the_signed_in_user_only() -> None:
    incoming = CIMultiDict({"end-user": "mallory", "x-request-id": "r1"})

    assert upstream_headers(incoming, "jason") == {"x-request-id": "r1", "end-user": "jason"}
    assert upstream_headers(incoming, "") == {"x-request-id": "r1"}
