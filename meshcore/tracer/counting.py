"""Count the top-level items of a JSON list without decoding all of them.

A span upload near the body limit can hold millions of tiny items (5 MiB of `{}` is 1.7 M dicts,
half a second of allocation for any full decoder) only to be refused for holding more than the
per-request span cap. `more_items_than` walks the list one item at a time with the stdlib's C
scanner and stops at the first item past the cap, so such a body is refused in milliseconds.
"""

from __future__ import annotations

import json
import re

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def more_items_than(body: bytes, limit: int) -> bool | None:
    """True when `body` is a JSON list with more than `limit` items (counted up to limit + 1).

    False when it holds at most `limit`; None when it is not a JSON list or is malformed before
    the count was decided (the caller's full decode then reports the error).
    """
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return None
    index = _SPACE.match(text, 0).end()
    if not text.startswith("[", index):
        return None
    index = _SPACE.match(text, index + 1).end()
    if text.startswith("]", index):
        return False
    count = 0
    try:
        while True:
            _, index = _DECODER.raw_decode(text, index)
            count += 1
            if count > limit:
                return True
            index = _SPACE.match(text, index).end()
            if text.startswith(",", index):
                index = _SPACE.match(text, index + 1).end()
            elif text.startswith("]", index):
                return False
            else:
                return None
    except (ValueError, RecursionError):
        return None
