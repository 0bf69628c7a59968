"""Bounds on a YAML stream, checked in one streaming pass over its events before anything is built.

A few hundred bytes of YAML can stand for gigabytes of data (aliases of aliases, "billion laughs"),
nest deeper than any walker's recursion limit, or use a list as a mapping key, which no JSON
document can hold. `check_yaml_limits` reads the parser's events (libyaml's when available) and
stops at the first limit passed, so a hostile stream is refused after reading at most about
`max_nodes` events, long before a node graph or Python objects exist:

- `max_nodes`: scalars plus collections *as expanded* (an alias counts as the whole subtree it
  repeats); a recursive alias (a node that contains itself) is refused outright.
- `max_depth`: nesting of sequences and mappings.
- `max_documents`: YAML documents in the stream.
- `max_scalar_length`: characters in one scalar (a regex, a header value, a name).
- mapping keys must be scalars (`? [1]: 2` is refused).

Errors are `FieldError("yaml", "line L, column C: ...")` like the parser's own syntax errors.
Pure function, thread-safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from meshcore.model.errors import FieldError

# Reading events costs a few microseconds each in Python: 25,000 keeps a refusal well under 0.1 s
# while a batch of a hundred VirtualServices with several routes each stays far below it.
MAX_NODES = 25_000
MAX_DEPTH = 64
MAX_DOCUMENTS = 200
MAX_SCALAR_LENGTH = 64 * 1024

_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class _Collection:
    """An open sequence or mapping: its expanded size so far and, for mappings, the key position."""

    anchor: str | None
    is_mapping: bool
    size: int = 1
    at_key: bool = True


@dataclass
class _Walk:
    max_nodes: int
    open: list[_Collection] = field(default_factory=list)
    anchor_sizes: dict[str, int] = field(default_factory=dict)
    open_anchors: set[str] = field(default_factory=set)
    collection_anchors: set[str] = field(default_factory=set)
    total: int = 0

    def add(self, size: int) -> bool:
        """Count `size` expanded nodes into the stream and every open collection; False past the limit."""
        self.total += size
        for collection in self.open:
            collection.size += size
        return self.total <= self.max_nodes


def _where(event: yaml.Event) -> str:
    mark = event.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""


def _problem(event: yaml.Event, message: str) -> FieldError:
    return FieldError("yaml", f"{_where(event)}{message}")


def check_yaml_limits(
    text: str,
    max_nodes: int = MAX_NODES,
    max_depth: int = MAX_DEPTH,
    max_documents: int = MAX_DOCUMENTS,
    max_scalar_length: int = MAX_SCALAR_LENGTH,
) -> FieldError | None:
    """The first limit `text` passes (see the module docstring), or None when it stays within all.

    Syntax errors are not reported here (None): the real parse reports them with their location.
    """
    walk = _Walk(max_nodes)
    documents = 0
    try:
        for event in yaml.parse(text, Loader=_Parser):
            kind = type(event)
            if (
                kind is yaml.CollectionEndEvent
                or kind is yaml.SequenceEndEvent
                or kind is yaml.MappingEndEvent
            ):
                finished = walk.open.pop()
                if finished.anchor is not None:
                    walk.anchor_sizes[finished.anchor] = finished.size
                    walk.open_anchors.discard(finished.anchor)
                _after_node(walk)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > max_documents:
                    return _problem(event, f"more than {max_documents} YAML documents in one request")
            elif issubclass(kind, yaml.NodeEvent):
                problem = _complex_key(walk, event) or _node(walk, event, max_depth, max_scalar_length)
                if problem is not None:
                    return problem
    except yaml.YAMLError:
        return None
    return None


def _complex_key(walk: _Walk, event: yaml.NodeEvent) -> FieldError | None:
    """A list or object (or an alias of one) in a mapping key's position is refused."""
    parent = walk.open[-1] if walk.open else None
    if parent is None or not parent.is_mapping or not parent.at_key:
        return None
    if isinstance(event, yaml.CollectionStartEvent) or (
        isinstance(event, yaml.AliasEvent) and event.anchor in walk.collection_anchors
    ):
        return _problem(event, "mapping keys must be strings, not lists or objects")
    return None


def _node(walk: _Walk, event: yaml.NodeEvent, max_depth: int, max_scalar_length: int) -> FieldError | None:
    if isinstance(event, yaml.AliasEvent):
        if event.anchor in walk.open_anchors:
            return _problem(event, f"alias *{event.anchor} refers to a node that contains it")
        # An undefined alias is a syntax error the real parse reports; count it as one node.
        size = walk.anchor_sizes.get(event.anchor, 1)
        if not walk.add(size):
            return _too_many(walk, event)
        _after_node(walk)
        return None
    if not walk.add(1):
        return _too_many(walk, event)
    if isinstance(event, yaml.ScalarEvent):
        if len(event.value) > max_scalar_length:
            return _problem(
                event, f"a string of {len(event.value)} characters; at most {max_scalar_length} are accepted"
            )
        if event.anchor is not None:
            walk.anchor_sizes[event.anchor] = 1
        _after_node(walk)
        return None
    if len(walk.open) >= max_depth:
        return _problem(event, f"nested more than {max_depth} levels deep")
    walk.open.append(_Collection(event.anchor, isinstance(event, yaml.MappingStartEvent)))
    if event.anchor is not None:
        walk.open_anchors.add(event.anchor)
        walk.collection_anchors.add(event.anchor)
    return None


def _after_node(walk: _Walk) -> None:
    """A complete node was read: in a mapping, the next node switches between key and value."""
    if walk.open and walk.open[-1].is_mapping:
        walk.open[-1].at_key = not walk.open[-1].at_key


def _too_many(walk: _Walk, event: yaml.Event) -> FieldError:
    return _problem(
        event,
        f"the input expands to more than {walk.max_nodes} values (aliases count as often as they are "
        "used); send smaller documents",
    )
