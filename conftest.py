"""Fixtures shared by every app's tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import Permission, User
from django.db import connections
from rest_framework.test import APIClient

# Named once per run, so two runs on one machine (two checkouts, a developer and CI) never create, use or
# drop each other's test database on a shared MySQL/MariaDB server.
TEST_RUN = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    from django.conf import settings

    for config in settings.DATABASES.values():
        if config["ENGINE"].endswith("sqlite3"):
            continue  # an in-memory database: every process has its own already
        test = config.setdefault("TEST", {})
        test["NAME"] = f"{test.get('NAME') or 'test_' + config['NAME']}_{TEST_RUN}"


@pytest.fixture(autouse=True)
def _fast_test_settings(settings: Any) -> None:
    # Each test its own cache namespace: throttles and rate limits must not leak between tests.
    settings.CACHES = {name: {**config, "KEY_PREFIX": uuid.uuid4().hex} for name, config in settings.CACHES.items()}
    # Ingest is open unless a test is about device keys (the default with DEBUG off is to require them).
    settings.EDGE_AUTH_REQUIRED = False
    # Password hashing is deliberately slow; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The manifest storage used with DEBUG off needs collectstatic; tests render admin pages without it.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def make_user(
    username: str = "staff", *, staff: bool = True, superuser: bool = False, perms: tuple[str, ...] = ()
) -> User:
    user = User.objects.create_user(
        username=username, password="secret-pass-123", is_staff=staff, is_superuser=superuser
    )
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def admin_user_obj(db: None) -> User:
    return make_user("boss", superuser=True)


@pytest.fixture
def staff_client(admin_user_obj: User) -> APIClient:
    client = APIClient()
    client.force_login(admin_user_obj)
    return client


@contextlib.contextmanager
def database_unreachable() -> Iterator[None]:
    """Point the default connection at an address where no database listens, then restore it.

    The database really is unreachable for the code under test: connecting
    fails exactly as it does when the server is down.
    """
    connection = connections["default"]
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "mysql":
        connection.settings_dict.update({"HOST": "127.0.0.1", "PORT": "9"})  # discard port: nothing listens
    else:
        connection.settings_dict["NAME"] = "/nonexistent-dir/vsp.sqlite3"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.fixture
def database_down(transactional_db: None) -> Iterator[None]:
    with database_unreachable():
        yield


def _database_url() -> str:
    """A URL for the test database that another process can open."""
    config = connections["default"].settings_dict
    if connections["default"].vendor == "mysql":
        password = f":{config['PASSWORD']}" if config.get("PASSWORD") else ""
        address = f"{config['HOST'] or '127.0.0.1'}:{config['PORT'] or 3306}"
        return f"mysql://{config['USER']}{password}@{address}/{config['NAME']}"
    return f"sqlite:///{config['NAME']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# make run's WebSocket protocol and options, as the ws processes have them (scripts/serve/ws).
MAKE_RUN_WEBSOCKETS = ("--ws", "websockets-sansio", "--ws-per-message-deflate", "false")


@contextlib.contextmanager
def run_server(extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Run the service in one uvicorn process (HTTP and sockets, as make run) on the test database; yield its URL."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DEBUG": "1",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "warning",
        **(extra_env or {}),
    }
    command = [sys.executable, "-m", "uvicorn", "vsp.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--lifespan", "off", "--log-level", "warning", *MAKE_RUN_WEBSOCKETS],
        cwd=Path(__file__).parent,
        env=env,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {process.returncode}")
            try:
                httpx.get(f"{base_url}/health", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def cos_fake() -> Iterator[Any]:
    """A local stand-in for Tencent COS (moto behind a COS-compatible proxy), with the bucket created."""
    from vsp.cos_fake import fake_cos_with_bucket

    with fake_cos_with_bucket() as fake:
        yield fake


@pytest.fixture
def server(transactional_db: None) -> Iterator[str]:
    """The service in a uvicorn process of its own, sharing the test database."""
    with run_server() as base_url:
        yield base_url


@contextlib.contextmanager
def chromium_page(**options: Any) -> Iterator[Any]:
    """A page of Debian's headless Chromium, driven by Playwright (``options`` go to ``new_page``)."""
    from playwright.sync_api import sync_playwright

    from vsp.browser import CHROMIUM, CHROMIUM_ARGS

    assert CHROMIUM is not None, "chromium is missing; scripts/system-deps.sh installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(**options)
        finally:
            browser.close()
