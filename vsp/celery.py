"""The job engine: the Celery app every process sends jobs through, and the worker runs them from.

It is configured from the ``CELERY_*`` settings (vsp/settings.py, "Jobs"). Each app keeps its jobs in
its own ``tasks`` module. In production the broker is Redis, a ``worker`` process runs the jobs and
a ``scheduler`` process (Celery beat) sends the periodic ones; ``make run`` runs both in threads of its
one process, on the in-memory transport (``vsp.jobs``).
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vsp.settings")

app = Celery("vsp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
