"""Cross-cutting pieces of the project: system checks, shared templates helpers."""
