"""Celery tasks of the topology app (thin: the work is in dashboard.topology.service)."""

from __future__ import annotations

from celery import shared_task

from dashboard.topology.service import poll_and_publish


@shared_task(name="topology.poll", ignore_result=True)
def poll_topology() -> int | None:
    """Run by Celery beat every MESHSCOPE_POLL_INTERVAL seconds; overlapping runs are skipped."""
    return poll_and_publish()
