"""Regex checks for Istio string matches, which Envoy evaluates with Google's RE2 engine.

A pattern must compile with Python's ``re`` (so meshcore can reason about it) and with RE2 itself
(the ``google-re2`` binding, the engine Envoy uses); otherwise Envoy would NACK the whole route
table at push time, long after the user was told the apply succeeded. The constructs RE2 refuses
most often are named first, with a clearer message than RE2's own.
"""

from __future__ import annotations

import re

import re2

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # RE2 would otherwise print every refused pattern to stderr


def compile_re2(pattern: str) -> re2._Regexp:
    """The pattern compiled by RE2, as Envoy compiles it; raises ``re2.error`` when RE2 refuses it."""
    return re2.compile(pattern, _RE2_OPTIONS)


# Group openers after "(?" that RE2 rejects, with the reason shown to the user.
_UNSUPPORTED_GROUPS: tuple[tuple[str, str], ...] = (
    ("<=", "lookbehind (?<=...)"),
    ("<!", "negative lookbehind (?<!...)"),
    ("=", "lookahead (?=...)"),
    ("!", "negative lookahead (?!...)"),
    (">", "atomic group (?>...)"),
    ("P=", "named backreference (?P=name)"),
    ("(", "conditional group (?(...)...)"),
)
_QUANTIFIER_ENDS = "*+?}"
# Envoy refuses regexes whose RE2 program is larger than a small bound anyway (the bootstrap sets
# re2.max_program_size.error_level); these caps keep Python's parser away from huge or deeply
# nested patterns (1,000 nested groups exceed its recursion limit).
MAX_REGEX_LENGTH = 1024
MAX_GROUP_DEPTH = 32


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used in an Envoy route match, or None when it can."""
    if len(pattern) > MAX_REGEX_LENGTH:
        return f"regex of {len(pattern)} characters; at most {MAX_REGEX_LENGTH} are accepted"
    depth = _group_depth(pattern)
    if depth > MAX_GROUP_DEPTH:
        return f"regex nests groups {depth} deep; at most {MAX_GROUP_DEPTH} levels are accepted"
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"invalid regex {_shown(pattern)}: {exc}"
    except (RecursionError, OverflowError):
        return f"regex {_shown(pattern)} is too complex"
    construct = _first_re2_unsupported(pattern)
    if construct:
        return (
            f"regex {_shown(pattern)} uses {construct}, which is not supported by RE2 (Envoy's regex engine)"
        )
    try:
        compile_re2(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        return f"regex {_shown(pattern)} is refused by RE2 (Envoy's regex engine): {reason}"
    return None


def _shown(pattern: str) -> str:
    return repr(pattern) if len(pattern) <= 80 else repr(pattern[:77] + "...")


def _group_depth(pattern: str) -> int:
    """The deepest nesting of "(" groups, skipping escapes and character classes (one linear scan)."""
    depth = deepest = 0
    index = 0
    in_class = False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            index = _class_body_start(pattern, index)
            continue
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth = max(0, depth - 1)
        index += 1
    return deepest


def _first_re2_unsupported(pattern: str) -> str | None:
    """Scan the pattern once, skipping escapes and character classes where these are literals."""
    index = 0
    in_class = False
    previous_was_quantifier = False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            escaped = pattern[index + 1 : index + 2]
            if not in_class and escaped.isdigit() and escaped != "0":
                return f"backreference \\{escaped}"
            if not in_class and escaped == "g" and pattern[index + 2 : index + 3] == "<":
                return "backreference \\g<...>"
            if not in_class and escaped == "Z":
                return "\\Z (use \\z or $)"
            index += 2
            previous_was_quantifier = False
            continue
        if in_class:
            in_class = char != "]"
            index += 1
            continue
        if char == "[":
            in_class = True
            index = _class_body_start(pattern, index)
            previous_was_quantifier = False
            continue
        if char == "+" and previous_was_quantifier:
            return "a possessive quantifier (e.g. a++)"
        elif char == "(" and pattern[index + 1 : index + 2] == "?":
            reason = next(
                (why for opener, why in _UNSUPPORTED_GROUPS if pattern.startswith(opener, index + 2)), None
            )
            if reason:
                return reason
        previous_was_quantifier = char in _QUANTIFIER_ENDS and not (
            char == "?" and pattern[index - 1 : index] == "("
        )
        index += 1
    return None


def _class_body_start(pattern: str, index: int) -> int:
    """Index just past "[", "[^" and a leading "]" (which is a literal member, not the class end)."""
    index += 1
    if pattern[index : index + 1] == "^":
        index += 1
    if pattern[index : index + 1] == "]":
        index += 1
    return index
