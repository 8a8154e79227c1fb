"""The central project: settings, the Celery app, the gateway, the router, providers and metering."""

from .celery import app as celery_app

__all__ = ["celery_app"]
