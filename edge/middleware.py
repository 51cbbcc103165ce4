"""Edge requests go straight to their view, past the middleware that serves browsers.

Boxes send no cookies, no CSRF token and no session, and read no frame or
CORS headers: sessions, CORS, CSRF, authentication, messages and
clickjacking protection do nothing for them, yet cost a fifth of the CPU of
an edge report (measured: bench/README.md). Placed right after
SecurityMiddleware, this checks the Host header as CommonMiddleware would
(ALLOWED_HOSTS; a bad one is Django's 400) and hands the three edge paths to
their views; an exception still becomes Django's 500 around it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse

from edge import urls


@functools.cache
def edge_views() -> dict[str, Callable[[HttpRequest], HttpResponseBase]]:
    """Path → view for every edge endpoint, from edge/urls.py as the root URLconf mounts it."""
    return {reverse(str(pattern.name)): pattern.callback for pattern in urls.urlpatterns}


class EdgeShortcutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        view = edge_views().get(request.path_info)
        if view is None:
            return self.get_response(request)
        request.get_host()  # raises DisallowedHost for a host not in ALLOWED_HOSTS
        return view(request)
