# The job engine's app is loaded with the project, so that every process sends jobs through it.
from vsp.celery import app as celery_app

__all__ = ("celery_app",)
