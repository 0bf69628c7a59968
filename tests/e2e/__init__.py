"""End-to-end tests of the whole stack (`make run`): faults, restarts, parent death."""
