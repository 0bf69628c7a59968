"""Celery tasks of the routes app (thin: the work is in dashboard.routes.service)."""

from __future__ import annotations

import logging

from celery import shared_task

from dashboard.routes.service import sync_external
from dashboard.routes.traffic import refresh_all
from dashboard.sources.errors import SourceError

log = logging.getLogger(__name__)


@shared_task(name="routes.sync", ignore_result=True)
def sync_routes() -> int:
    """Run by Celery beat every MESHSCOPE_ROUTES_SYNC_INTERVAL seconds: record changes made outside
    the dashboard as external revisions. Idempotent; a mesh that is down is retried next time."""
    try:
        return len(sync_external())
    except SourceError as error:
        log.info("route sync skipped: %s", error)
        return 0


@shared_task(name="routes.record_traffic", ignore_result=True)
def record_traffic() -> int:
    """Run by Celery beat: keep every service's recorded-traffic window warm for the what-if."""
    try:
        return refresh_all()
    except SourceError as error:
        log.info("recorded traffic not refreshed: %s", error)
        return 0
