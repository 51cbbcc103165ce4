"""WSGI entry point: the web process (all HTTP) under granian, behind the proxy (README "Processes")."""

from __future__ import annotations

import gc
import ipaddress
import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.management import call_command
from django.core.wsgi import get_wsgi_application

from vsp.warmup import warm_up

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vsp.settings")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def forwarded_client(app: WSGIApp, allowed: str) -> WSGIApp:
    """Take REMOTE_ADDR from X-Forwarded-For when the request came from the proxy.

    The proxy overwrites the header with the address it saw, and the web
    process trusts it from a unix-socket peer (only local processes reach the
    socket) or from FORWARDED_ALLOW_IPS (addresses or networks, ``*`` for any;
    the setting gunicorn and uvicorn read too).
    """
    trust_all = allowed.strip() == "*"
    networks = [
        ipaddress.ip_network(item.strip(), strict=False)
        for item in allowed.split(",")
        if item.strip() and not trust_all
    ]

    def from_proxy(peer: str) -> bool:
        if not peer or trust_all:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in networks)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")
        if forwarded and from_proxy(environ.get("REMOTE_ADDR") or ""):
            environ["REMOTE_ADDR"] = forwarded.rsplit(",", 1)[-1].strip()
        return app(environ, start_response)

    return application


application = forwarded_client(get_wsgi_application(), os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1"))

# Refuse to serve a configuration the system checks flag as an error.
call_command("check")

# Build what the first requests would otherwise build under load (vsp.warmup).
warm_up()

# What is loaded by now lives as long as the process: keep it out of the garbage collector's full
# passes, which otherwise walked it all (a ws process paused ~100 ms for each under 500 sockets).
gc.freeze()
