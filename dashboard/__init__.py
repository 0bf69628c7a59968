"""The Meshscope dashboard: a Django + Channels + Celery project."""
