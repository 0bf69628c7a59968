"""Dependency links from parent/child relations (Envoy sends no remoteEndpoint).

The rule (one call per callee-side span), shared by the in-memory function below and the SQL in
`store.TraceStore.dependencies`, which must agree (a test checks they do):

- Each SERVER or CONSUMER span S is one call into S's service.
- Its caller is, in order: the non-shared CLIENT/PRODUCER half with S's id (Envoy's shared span
  context: client -> server with the same id); else the span named by S's parentId (its server half
  first, the process that ran it); else S's remoteEndpoint.serviceName.
- A link is counted when caller and callee services are both known and differ. It is an error
  call when S or the client half carries an `error` tag (Zipkin's error rule).
- A CLIENT/PRODUCER span with a remoteEndpoint.serviceName and no callee-side span in the trace
  (an uninstrumented server) is one call from its service to that remote service.

Links are returned sorted by (parent, child); counts are integers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from meshcore.tracer.model import DependencyLink, ZipkinSpan, local_service, remote_service

CALLEE_KINDS = ("SERVER", "CONSUMER")
CALLER_KINDS = ("CLIENT", "PRODUCER")


def _has_error(span: ZipkinSpan | None) -> bool:
    return span is not None and "error" in span.get("tags", {})


def links_in_trace(spans: list[ZipkinSpan]) -> Iterable[tuple[str, str, bool]]:
    """(parent service, child service, is_error) for each call in one trace's spans."""
    client_half: dict[str, ZipkinSpan] = {}
    server_half: dict[str, ZipkinSpan] = {}
    any_half: dict[str, ZipkinSpan] = {}
    for span in spans:
        if span.get("shared"):
            server_half.setdefault(span["id"], span)
        else:
            any_half.setdefault(span["id"], span)
            if span.get("kind") in CALLER_KINDS:
                client_half.setdefault(span["id"], span)
    for span in spans:
        kind = span.get("kind")
        child = local_service(span)
        if kind in CALLEE_KINDS:
            client = client_half.get(span["id"])
            parent_service = local_service(client) if client else None
            if parent_service is None and "parentId" in span:
                parent = server_half.get(span["parentId"]) or any_half.get(span["parentId"])
                parent_service = local_service(parent) if parent else None
                if parent is not None and parent.get("kind") in CALLER_KINDS and client is None:
                    client = parent
            if parent_service is None:
                parent_service = remote_service(span)
            if parent_service and child and parent_service != child:
                yield parent_service, child, _has_error(span) or _has_error(client)
        elif kind in CALLER_KINDS and child:
            remote = remote_service(span)
            if not remote or remote == child:
                continue
            answered = any(
                other.get("kind") in CALLEE_KINDS
                and (other["id"] == span["id"] or other.get("parentId") == span["id"])
                for other in spans
                if other is not span
            )
            if not answered:
                yield child, remote, _has_error(span)


def link_spans(traces: Iterable[list[ZipkinSpan]]) -> list[DependencyLink]:
    """Aggregate links over traces (each a list of one trace's spans)."""
    calls: Counter[tuple[str, str]] = Counter()
    errors: Counter[tuple[str, str]] = Counter()
    for spans in traces:
        for parent, child, error in links_in_trace(spans):
            calls[(parent, child)] += 1
            if error:
                errors[(parent, child)] += 1
    return [
        {"parent": parent, "child": child, "callCount": count, "errorCount": errors[(parent, child)]}
        for (parent, child), count in sorted(calls.items())
    ]
