from __future__ import annotations


class SourceError(Exception):
    """A source could not answer (timeout, refused, bad status, bad JSON). The message says which."""
