"""Stored topology snapshots: the history behind the replay slider and the metrics pages."""

from __future__ import annotations

from django.db import models


class TopologySnapshot(models.Model):
    """One poll's TrafficMap (`TrafficMap.to_dict()`); pruned to SNAPSHOT_RETENTION_MINUTES."""

    taken_at = models.DateTimeField(db_index=True)
    data = models.JSONField()

    class Meta:
        ordering = ["-taken_at"]
        get_latest_by = "taken_at"

    def __str__(self) -> str:
        return f"topology at {self.taken_at:%Y-%m-%d %H:%M:%S}"
