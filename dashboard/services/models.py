"""No tables of its own: the metrics come from topology snapshots."""
