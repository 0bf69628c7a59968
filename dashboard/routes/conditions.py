"""The request-routing form's match conditions: one condition per line, blank lines between
alternative match clauses (a request matches a rule when every line of any one clause holds).

    header end-user exact jason        header <name> exact|prefix|regex <value>
    header x-canary present            a header that is present, whatever its value
    uri prefix /api/v1                 uri exact|prefix|regex <value>
    method exact GET                   method exact|prefix|regex <value>
    query debug exact 1                query <name> exact|prefix|regex <value>
    authority exact reviews:9080       authority exact|prefix|regex <value>
    ignore-uri-case                    compare the uri case-insensitively
    name jason-rule                    the match clause's name

`parse_conditions` gives Istio `HTTPMatchRequest` dicts or errors naming the line; `format_conditions`
is its inverse (so a stored rule round-trips through the form unchanged). Pure; no Django.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

OPERATORS = ("exact", "prefix", "regex")
PRESENT = "present"
# Istio has no presence operator; a regex matching any value is what Kiali's wizard writes.
PRESENCE_REGEX = ".*"
_NAMED = {"header": "headers", "query": "queryParams"}
_PLAIN = ("uri", "method", "authority")


class ConditionError(ValueError):
    """Messages (one per bad line) name the line: ``line 2: ...``."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("; ".join(messages))


def _operator(words: list[str], line: int, allow_present: bool) -> tuple[str, str] | str:
    if not words:
        return f"line {line}: missing operator (one of {', '.join(OPERATORS)})"
    operator, value = words[0], " ".join(words[1:])
    if allow_present and operator == PRESENT:
        return ("regex", PRESENCE_REGEX) if not value else f"line {line}: present takes no value"
    if operator not in OPERATORS:
        choices = ", ".join((*OPERATORS, PRESENT) if allow_present else OPERATORS)
        return f"line {line}: unknown operator {operator!r} (use {choices})"
    if not value:
        return f"line {line}: {operator} needs a value"
    return operator, value


def _add(clause: dict[str, Any], words: list[str], line: int) -> str | None:
    """Add one condition line to `clause`; a message when the line is wrong."""
    what = words[0].lower()
    if what in _NAMED:
        if len(words) < 2:
            return f"line {line}: {what} needs a name"
        name = words[1] if what == "query" else words[1].lower()
        parsed = _operator(words[2:], line, allow_present=True)
        if isinstance(parsed, str):
            return parsed
        clause.setdefault(_NAMED[what], {})[name] = {parsed[0]: parsed[1]}
        return None
    if what in _PLAIN:
        parsed = _operator(words[1:], line, allow_present=False)
        if isinstance(parsed, str):
            return parsed
        if what in clause:
            return f"line {line}: {what} is already set in this clause (use a blank line for an alternative)"
        clause[what] = {parsed[0]: parsed[1]}
        return None
    if what == "ignore-uri-case":
        clause["ignoreUriCase"] = True
        return None
    if what == "name":
        clause["name"] = " ".join(words[1:])
        return None
    return f"line {line}: unknown condition {words[0]!r} (use header, uri, method, query, authority)"


def parse_conditions(text: str) -> list[dict[str, Any]]:
    """Istio match clauses from the form's text; [] for an empty text. Raises ConditionError."""
    clauses: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split()
        if not words:
            if current:
                clauses.append(current)
                current = {}
            continue
        problem = _add(current, words, number)
        if problem:
            errors.append(problem)
    if current:
        clauses.append(current)
    if errors:
        raise ConditionError(errors)
    return clauses


def _format_match(value: Mapping[str, str], allow_present: bool) -> str:
    operator, text = next(iter(value.items()))
    if allow_present and operator == "regex" and text == PRESENCE_REGEX:
        return PRESENT
    return f"{operator} {text}"


def format_conditions(matches: Sequence[Mapping[str, Any]]) -> str:
    """The form text for stored match clauses (inverse of parse_conditions)."""
    blocks = []
    for clause in matches:
        lines = []
        if clause.get("name"):
            lines.append(f"name {clause['name']}")
        for what in _PLAIN:
            if what in clause:
                lines.append(f"{what} {_format_match(clause[what], False)}")
        for what, key in _NAMED.items():
            for name, value in (clause.get(key) or {}).items():
                lines.append(f"{what} {name} {_format_match(value, True)}")
        if clause.get("ignoreUriCase"):
            lines.append("ignore-uri-case")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def parse_weights(text: str, versions: Sequence[str]) -> dict[str, int | None]:
    """`v2` (everything to v2) or `v1=80, v3=20` -> {version: weight}; raises ConditionError."""
    parts = [p.strip() for p in text.replace(",", " ").split() if p.strip()]
    if not parts:
        raise ConditionError(["name a version (v2) or weights (v1=80 v3=20)"])
    errors: list[str] = []
    weights: dict[str, int | None] = {}
    for part in parts:
        version, sep, raw = part.partition("=")
        if version not in versions:
            errors.append(f"unknown version {version!r} (known: {', '.join(versions)})")
            continue
        if not sep:
            weights[version] = None
            continue
        try:
            weights[version] = int(raw)
        except ValueError:
            errors.append(f"weight of {version} must be a whole number, got {raw!r}")
    if errors:
        raise ConditionError(errors)
    if len(weights) == 1:
        return {version: None for version in weights}
    if any(w is None for w in weights.values()):
        raise ConditionError(["give every version a weight when there are several (v1=80 v3=20)"])
    total = sum(w or 0 for w in weights.values())
    if total != 100:
        raise ConditionError([f"weights sum to {total}, must be 100"])
    return weights


def format_weights(route: Sequence[Mapping[str, Any]], version_of: Mapping[str, str]) -> str:
    """Form text for a rule's destinations (subset names shown as their versions)."""
    items = []
    for item in route:
        subset = item.get("destination", {}).get("subset")
        version = version_of.get(subset or "", subset or "")
        items.append(version if len(route) == 1 else f"{version}={item.get('weight', 0)}")
    return ", ".join(items)
