"""Drive the compat API the way Yudao's Vue 3 frontend does (YUDAO.md §1, §4.2, §8)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.test import Client

PREFIX = "/admin-api"


def encode(params: dict[str, Any]) -> str:
    """``qs.stringify(params, {allowDots: true})``: lists as ``a[0]``, None as ``key=``, undefined dropped."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if isinstance(value, list | tuple):
            pairs += [(f"{key}[{index}]", "" if item is None else str(item)) for index, item in enumerate(value)]
        elif value is None:
            pairs.append((key, ""))
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        else:
            pairs.append((key, str(value)))
    return urlencode(pairs)


class Frontend:
    """One browser tab of the admin frontend: it keeps the tokens and sends the headers Yudao's axios sends."""

    def __init__(self, client: Client | None = None, tenant_id: int | None = 1) -> None:
        self.client = client or Client()
        self.tenant_id = tenant_id
        self.access_token: str | None = None
        self.refresh_token: str | None = None

    def headers(self, url: str, *, with_token: bool = True) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.tenant_id is not None:
            headers["tenant-id"] = str(self.tenant_id)
        # The frontend leaves the token off any URL containing /login or /refresh-token.
        if with_token and self.access_token and "/login" not in url and "/refresh-token" not in url:
            headers["Authorization"] = f"Bearer {self.access_token}"
        return headers

    def get(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        url = PREFIX + path + (f"?{encode(params)}" if params else "")
        headers = {**self.headers(url, **kwargs), "Cache-Control": "no-cache", "Pragma": "no-cache"}
        return self.client.get(url, headers=headers)

    def send(self, method: str, path: str, body: Any = None, *, query: dict[str, Any] | None = None) -> Any:
        url = PREFIX + path + (f"?{encode(query)}" if query else "")
        data = "" if body is None else __import__("json").dumps(body)
        return getattr(self.client, method)(url, data=data, content_type="application/json", headers=self.headers(url))

    def login(self, username: str, password: str = "secret-pass-123") -> dict[str, Any]:
        body = self.send("post", "/system/auth/login", {"username": username, "password": password, "rememberMe": True})
        envelope = body.json()
        assert envelope["code"] == 0, envelope
        self.access_token = envelope["data"]["accessToken"]
        self.refresh_token = envelope["data"]["refreshToken"]
        return envelope["data"]

    def refresh(self) -> Any:
        """The frontend's refresh call: plain POST, refresh token in the query string, empty body, no bearer."""
        return self.client.post(
            f"{PREFIX}/system/auth/refresh-token?{encode({'refreshToken': self.refresh_token})}",
            data="",
            content_type="application/json",
            headers={"tenant-id": str(self.tenant_id)} if self.tenant_id is not None else {},
        )
