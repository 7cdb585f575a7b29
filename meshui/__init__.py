"""meshui: service-mesh observability dashboard (Django project wiring)."""

from meshui.celery import app as celery_app

__all__ = ["celery_app"]
