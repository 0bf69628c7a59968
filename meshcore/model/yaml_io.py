"""YAML (and JSON) in and out for Istio resources, in the shape ``kubectl apply -f`` accepts.

Input may be a multi-document YAML stream, a JSON object or list, or a Kubernetes ``kind: List``
with ``items``; empty documents are skipped. Input is bounded before it is built (see
``yaml_limits``: expanded size with aliases, depth, documents, string length, scalar keys) and a
batch holds at most ``MAX_RESOURCES`` resources, so no small input can cost much time or memory. Errors name the document as ``document[i]`` (0-based
position among the resources found, counted only when there is more than one) or ``yaml`` for a
syntax error, whose message carries the 1-based line and column.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import yaml

from meshcore.model.errors import FieldError, ValidationError
from meshcore.model.resources import Resource
from meshcore.model.yaml_limits import MAX_DOCUMENTS, check_yaml_limits

# Resources in one apply (after expanding JSON lists and `kind: List`): validation compares the
# objects of a batch with each other, so the batch size bounds its cost.
MAX_RESOURCES = MAX_DOCUMENTS

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _StrictLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """Safe loader that refuses duplicate mapping keys (PyYAML keeps the last one silently,
    which would drop half of a user's route without a word; Kubernetes refuses them too)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _syntax_error(exc: yaml.YAMLError) -> FieldError:
    mark = getattr(exc, "problem_mark", None)
    reason = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    detail = f" ({context})" if context else ""
    return FieldError("yaml", f"{where}{reason}{detail}")


def _load_raw_documents(text: str) -> list[Any]:
    beyond = check_yaml_limits(text)
    if beyond is not None:
        raise ValidationError([beyond])
    try:
        return [doc for doc in yaml.load_all(text, Loader=_StrictLoader) if doc is not None]
    except yaml.YAMLError as exc:
        raise ValidationError([_syntax_error(exc)]) from None
    except (ValueError, TypeError, OverflowError) as exc:
        # A scalar the constructor cannot turn into a value (an integer of 5,000 digits, a date
        # out of range): the user's mistake, not the server's.
        raise ValidationError([FieldError("yaml", f"a value cannot be read: {exc}")]) from None


def _flatten(documents: Iterable[Any]) -> Iterator[Any]:
    """Expand JSON arrays and Kubernetes ``kind: List`` documents into their items."""
    for doc in documents:
        if isinstance(doc, list):
            yield from _flatten(doc)
        elif isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            yield from _flatten(doc["items"])
        elif doc is not None:
            yield doc


def parse_documents(text: str) -> list[Resource]:
    """Parse every resource in ``text``; raise ValidationError listing the problems of all documents.

    Only the envelope is checked here (see ``Resource.from_dict``); spec content is checked by
    ``meshcore.model.validation.validate``. An input without any resource yields ``[]``.
    """
    documents = list(_flatten(_load_raw_documents(text)))
    if len(documents) > MAX_RESOURCES:
        raise ValidationError(
            [FieldError("body", f"{len(documents)} resources in one apply; at most {MAX_RESOURCES}")]
        )
    many = len(documents) > 1
    resources: list[Resource] = []
    errors: list[FieldError] = []
    for index, doc in enumerate(documents):
        try:
            resources.append(Resource.from_dict(doc, index if many else None))
        except ValidationError as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationError(errors)
    return resources


def dump_documents(resources: Iterable[Resource]) -> str:
    """Multi-document YAML (``---`` between documents, keys in apiVersion/kind/metadata/spec order)
    that ``kubectl apply -f`` and ``parse_documents`` accept unchanged."""
    return yaml.dump_all(
        [resource.to_dict() for resource in resources],
        Dumper=_BaseDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        explicit_start=False,
    )
