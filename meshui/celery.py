"""Celery application. Tasks are discovered in the apps; the broker is MESHUI_REDIS_URL.

Without Redis (embedded mode) tasks run eagerly in-process, so nothing needs a broker.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meshui.settings")

app = Celery("meshui")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
