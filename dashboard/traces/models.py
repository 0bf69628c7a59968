"""The trace explorer stores nothing of its own: traces live in the trace source, the live tail's
cursor in Redis (dashboard/traces/tailstate.py)."""
