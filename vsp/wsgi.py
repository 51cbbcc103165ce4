"""WSGI entry point, for HTTP-only deployments (no WebSockets)."""

import os

from django.core.management import call_command
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vsp.settings")

application = get_wsgi_application()

# Refuse to serve a configuration the system checks flag as an error.
call_command("check")
