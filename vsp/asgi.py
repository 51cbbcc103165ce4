"""ASGI entry point: WebSockets through Channels (the ws processes), and HTTP too for ``make run``."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vsp.settings")

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from alarms.routing import websocket_urlpatterns  # noqa: E402
from vsp.jobs import run_in_process  # noqa: E402
from vsp.warmup import warm_up  # noqa: E402
from vsp.websocket import websocket_stack  # noqa: E402

# Servers do not run system checks by themselves: refuse to serve a configuration
# they flag as an error (the shipped secret key or AUTH_MODE=dev without DEBUG, …).
call_command("check")

if settings.JOBS_IN_PROCESS:  # make run: no broker, no worker process
    run_in_process()

# Build what the first requests and the first event would otherwise build under load (vsp.warmup): in a
# ws process the channel layer's backend was imported by the first event's decoding, ~70 ms into a storm.
warm_up()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_stack(URLRouter(websocket_urlpatterns)),
    }
)

# What is loaded by now lives as long as the process: keep it out of the garbage collector's full
# passes, which otherwise walked it all (a ws process paused ~100 ms for each under 500 sockets).
gc.freeze()
