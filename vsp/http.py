"""Small helpers about HTTP requests, shared by the edge and the staff APIs."""

from __future__ import annotations

import ipaddress

from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The peer's address, if it is one (a proxy header can put anything in REMOTE_ADDR)."""
    address = request.META.get("REMOTE_ADDR") or ""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
