"""The Meshscope dashboard: a Django + Channels + Celery project."""

from dashboard.celery import app as celery_app

__all__ = ["celery_app"]
