"""A small declarative schema language and the one walker that checks documents against it.

Each object type is a table of fields (``Obj``); ``Obj.check(value, path)`` walks a raw JSON-like
value and returns every structural problem as a ``FieldError`` with its full path: unknown fields,
wrong types, missing required fields, out-of-range numbers, bad durations, bad regexes. Object-level
rules that involve several fields (exactly one of exact/prefix/regex, weights summing to 100) are
plain functions attached to the table and run only when the object's own fields are well-formed, so
one mistake produces one message, not a cascade.

The tables for VirtualService, DestinationRule and Gateway live in ``istio_schema``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from meshcore.model.durations import parse_duration
from meshcore.model.errors import FieldError, join_path

ObjectCheck = Callable[[Mapping[str, Any], str], list[FieldError]]

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_LABEL_HELP = (
    "must be a DNS-1123 label: at most 63 lowercase letters, digits or '-', starting and ending "
    "with a letter or digit"
)
_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class Type(Protocol):
    """Anything that can check a raw value found at ``path``.

    With ``rules=False`` only the *shape* is checked (types, required fields, parsable durations),
    not ranges, patterns, enums, uniqueness or object-level rules: a value with a valid shape can be
    turned into a typed view even if it breaks a rule, so semantic checks can still run on it.
    """

    def check(self, value: Any, path: str, rules: bool = True) -> list[FieldError]: ...


def describe(value: Any) -> str:
    """A short rendering of a user's value for messages: ``"ten"``, ``5``, ``true``, ``a list``."""
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None or isinstance(value, bool | str | int | float):
        text = json.dumps(value)
        return text if len(text) <= 60 else text[:57] + '..."'
    return f"a {type(value).__name__}"


def key_path(path: str, key: str) -> str:
    """Path of a map entry: ``labels.version``, or ``labels["app.kubernetes.io/name"]`` for odd keys."""
    if _SIMPLE_KEY.match(key):
        return join_path(path, key)
    return f"{path}[{json.dumps(key)}]"


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Anything:
    def check(self, value: Any, path: str, rules: bool = True) -> list[FieldError]:
        return []


@dataclass(frozen=True)
class Str:
    """A string; optionally non-empty, one of ``choices``, matching ``pattern``, or passing ``extra``."""

    non_empty: bool = False
    choices: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    pattern_help: str = ""
    extra: Callable[[str], str | None] | None = None  # returns a message when the value is refused

    def check(self, value: Any, path: str, rules: bool = True) -> list[FieldError]:
        if not isinstance(value, str):
            return [FieldError(path, f"must be a string, got {describe(value)}")]
        if not rules:
            return []
        if self.non_empty and not value:
            return [FieldError(path, "must not be empty")]
        if self.choices and value not in self.choices:
            return [FieldError(path, f"must be one of {', '.join(self.choices)}, got {describe(value)}")]
        if self.pattern is not None and not self.pattern.match(value):
            return [FieldError(path, f"{describe(value)} {self.pattern_help}")]
        problem = self.extra(value) if self.extra else None
        return [FieldError(path, problem)] if problem else []


@dataclass(frozen=True)
class Int:
    minimum: int | None = None
    maximum: int | None = None

    def check(self, value: Any, path: str, rules: bool = True) -> list[FieldError]:
        if not is_integer(value):
            return [FieldError(path, f"must be an integer, got {describe(value)}")]
        return _range_errors(value, path, self.minimum, self.maximum) if rules else []


@dataclass(frozen=True)
class Number:
    minimum: float | None = None
    maximum: float | None = None

    def check(self, value: Any, path: str, rules: bool = True) -> list[FieldError]:
        if not is_number(value):
            return [FieldError(path, f"must be a number, got {describe(value)}")]
        return _range_errors(value, path, self.minimum, self.maximum) if rules else []


def _range_errors(value: float, path: str, minimum: float | None, maximum: float | None) -> list[FieldError]:
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        return [FieldError(path, f"must be between {minimum} and {maximum}, got {value}")]
    if minimum is not None and value < minimum:
        return [FieldError(path, f"must be >= {minimum}, got {value}")]
    if maximum is not None and value > maximum:
        return [FieldError(path, f"must be <= {maximum}, got {value}")]
    return []


@dataclass(frozen=True)
class Bool:
    def check(self, value: Any, path: str, rules: bool = True) -> list[FieldError]:
        if not isinstance(value, bool):
            return [FieldError(path, f"must be true or false, got {describe(value)}")]
        return []


@dataclass(frozen=True)
class Duration:
    """A duration string (``"5s"``, ``"100ms"``); see ``meshcore.model.durations``.

    ``positive`` refuses zero (a rule): a zero timeout, delay or interval is never what a user means.
    """

    positive: bool = False

    def check(self, value: Any, path: str, rules: bool = True) -> list[FieldError]:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            return [FieldError(path, str(exc))]
        if rules and self.positive and seconds == 0:
            return [FieldError(path, f"must be greater than 0, got {describe(value)}")]
        return []


@dataclass(frozen=True)
class ListOf:
    """A list of ``item``; ``unique`` names a key of object items whose values must not repeat."""

    item: Type
    non_empty: bool = False
    unique: str = ""

    def check(self, value: Any, path: str, rules: bool = True) -> list[FieldError]:
        if not isinstance(value, list):
            return [FieldError(path, f"must be a list, got {describe(value)}")]
        if rules and self.non_empty and not value:
            return [FieldError(path, "must not be empty")]
        errors = [
            error
            for index, item in enumerate(value)
            for error in self.item.check(item, f"{path}[{index}]", rules)
        ]
        return errors + self._duplicates(value, path) if rules else errors

    def _duplicates(self, items: list[Any], path: str) -> list[FieldError]:
        if not self.unique:
            return []
        seen: set[Any] = set()
        errors = []
        for index, item in enumerate(items):
            key = item.get(self.unique) if isinstance(item, Mapping) else None
            if not isinstance(key, str):
                continue
            if key in seen:
                errors.append(
                    FieldError(f"{path}[{index}].{self.unique}", f"duplicate {self.unique} {describe(key)}")
                )
            seen.add(key)
        return errors


@dataclass(frozen=True)
class MapOf:
    """An object used as a map from string keys to ``value`` (labels, headers, selectors)."""

    value: Type
    non_empty: bool = False
    key: Str | None = None

    def check(self, value: Any, path: str, rules: bool = True) -> list[FieldError]:
        if not isinstance(value, Mapping):
            return [FieldError(path, f"must be an object (a map), got {describe(value)}")]
        if rules and self.non_empty and not value:
            return [FieldError(path, "must not be empty")]
        errors = []
        for key, item in value.items():
            entry = key_path(path, str(key))
            if self.key is not None and rules:
                errors += [FieldError(entry, f"key {e.message}") for e in self.key.check(key, entry)]
            errors += self.value.check(item, entry, rules)
        return errors


@dataclass(frozen=True)
class Field:
    """One entry of an object table; ``unsupported`` (a reason) marks a real Istio field meshcore refuses."""

    type: Type = field(default_factory=Anything)
    required: bool = False
    unsupported: str = ""


def unsupported(reason: str = "not supported by meshcore") -> Field:
    return Field(unsupported=reason)


@dataclass(frozen=True)
class Obj:
    """An object with a fixed set of fields plus object-level checks run when its fields are valid.

    Unknown and unsupported fields are rule errors: they never stop a typed view from being built.
    """

    fields: Mapping[str, Field]
    checks: tuple[ObjectCheck, ...] = ()

    def check(self, value: Any, path: str, rules: bool = True) -> list[FieldError]:
        if not isinstance(value, Mapping):
            return [FieldError(path, f"must be an object, got {describe(value)}")]
        extra: list[FieldError] = []  # unknown/unsupported fields: they do not hide the object's rules
        errors: list[FieldError] = []
        for key, item in value.items():
            spec = self.fields.get(key) if isinstance(key, str) else None
            entry = key_path(path, str(key))
            if spec is None or spec.unsupported:
                extra.append(FieldError(entry, spec.unsupported if spec else "unknown field"))
            else:
                errors += spec.type.check(item, entry, rules)
        for name, spec in self.fields.items():
            if spec.required and name not in value:
                errors.append(FieldError(join_path(path, name), "required"))
        if not rules:
            return errors
        if errors:
            return extra + errors
        return extra + [error for rule in self.checks for error in rule(value, path)]


def exactly_one_of(*names: str) -> ObjectCheck:
    """Object check: exactly one of ``names`` is set (protobuf ``oneof``)."""

    def rule(value: Mapping[str, Any], path: str) -> list[FieldError]:
        present = [name for name in names if name in value]
        if len(present) == 1:
            return []
        found = f" (found {', '.join(present)})" if present else ""
        return [FieldError(path, f"must set exactly one of {', '.join(names)}{found}")]

    return rule


def at_least_one_of(*names: str) -> ObjectCheck:
    def rule(value: Mapping[str, Any], path: str) -> list[FieldError]:
        if any(name in value for name in names):
            return []
        return [FieldError(path, f"must set at least one of {', '.join(names)}")]

    return rule


def at_most_one_of(*names: str) -> ObjectCheck:
    def rule(value: Mapping[str, Any], path: str) -> list[FieldError]:
        present = [name for name in names if name in value]
        if len(present) <= 1:
            return []
        return [FieldError(path, f"set only one of {', '.join(present)}")]

    return rule
