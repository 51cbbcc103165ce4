"""TencentCOSStorage against an offline COS (moto behind vsp.cos_fake), through the real SDK over HTTP.

The storage gets the production configuration; only the scheme (http) and a forward proxy to the
fake differ, so the SDK sends the same virtual-host requests it sends to COS. An opt-in smoke test at
the end runs against real COS when COS_SMOKE_* credentials are set.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from qcloud_cos import (  # type: ignore[import-untyped]
    CosClientError,
    CosServiceError,
    cos_client,
)

from vsp.cos_fake import PRODUCTION, FakeCOS, assert_offline
from vsp.cos_storage import TencentCOSStorage

BUCKET_HOST = "vsp-snapshots-1250000000.cos.ap-beijing.myqcloud.com"
NAME = "snapshots/2026/11/27/cam-01/A-1.jpg"
MakeStorage = Callable[..., TencentCOSStorage]


def expires_in(url: str) -> float:
    """Seconds until a presigned URL's ``q-sign-time`` ends (the SDK starts it 60 s back, for clock skew)."""
    end = httpx.QueryParams(urlsplit(url).query)["q-sign-time"].split(";")[1]
    return int(end) - time.time()


@pytest.fixture
def fake(cos_fake: FakeCOS) -> FakeCOS:
    return cos_fake


@pytest.fixture
def make_storage(fake: FakeCOS, settings: Any) -> Iterator[MakeStorage]:
    for name, value in PRODUCTION.items():
        setattr(settings, name, value)
    fake.requests.clear()

    def make(**options: Any) -> TencentCOSStorage:
        storage = TencentCOSStorage(scheme="http", proxies=fake.proxies, **options)
        assert_offline(storage)
        return storage

    yield make
    assert fake.pending_failures == 0


@pytest.fixture
def storage(make_storage: MakeStorage) -> TencentCOSStorage:
    return make_storage(location=f"t-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The SDK backs off ``time.sleep(attempt)`` seconds between retries; record the waits instead."""
    waits: list[float] = []
    monkeypatch.setattr(cos_client, "time", SimpleNamespace(sleep=waits.append, time=time.time))
    return waits


def test_settings_are_read_at_construction(make_storage: MakeStorage, settings: Any) -> None:
    storage = make_storage()
    assert (storage.bucket, storage.region, storage.retries, storage.url_ttl) == (
        "vsp-snapshots-1250000000",
        "ap-beijing",
        3,
        3600,
    )
    assert storage.domain is None
    assert storage.endpoint is None
    settings.COS_RETRIES = 0
    assert make_storage().retries == 0
    assert make_storage(retries=5, bucket="other-1250000000").retries == 5
    path, _args, _kwargs = storage.deconstruct()  # added by @deconstructible
    assert path == "vsp.cos_storage.TencentCOSStorage"


def test_save_then_open_returns_the_bytes(storage: TencentCOSStorage, fake: FakeCOS) -> None:
    data = b"\xff\xd8\xff\xe0 fake jpeg \x00\x01" * 100
    assert storage.save(NAME, ContentFile(data)) == NAME
    with storage.open(NAME) as handle:
        assert handle.read() == data
    # The SDK spoke virtual-host style to the bucket's own endpoint, as it does to COS.
    assert {host for _, host, _ in fake.requests} == {BUCKET_HOST}
    assert ("PUT", BUCKET_HOST, f"/{storage.location}/{NAME}") in fake.requests


def test_django_name_validation_and_collision_renaming(storage: TencentCOSStorage) -> None:
    """The Django 5.2 path that breaks the published COS backends (FINDINGS): names stay relative."""
    first = storage.save(NAME, ContentFile(b"one"))
    second = storage.save(NAME, ContentFile(b"two"))
    assert first == NAME
    assert second != NAME
    assert second.startswith("snapshots/2026/11/27/cam-01/A-1_")
    assert second.endswith(".jpg")
    assert storage.open(first).read() == b"one"
    assert storage.open(second).read() == b"two"
    for bad in ("/etc/passwd", "../escape.jpg", "snapshots/../../escape.jpg"):
        with pytest.raises(SuspiciousFileOperation):
            storage.save(bad, ContentFile(b"x"))


def test_exists_size_and_modified_time(storage: TencentCOSStorage) -> None:
    assert not storage.exists(NAME)
    storage.save(NAME, ContentFile(b"12345"))
    assert storage.exists(NAME)
    assert storage.size(NAME) == 5
    modified = storage.get_modified_time(NAME)
    assert modified.tzinfo is not None
    assert abs(modified - datetime.now(UTC)) < timedelta(minutes=1)


def test_missing_objects_raise_file_not_found(storage: TencentCOSStorage) -> None:
    for call in (storage.open, storage.size, storage.get_modified_time):
        with pytest.raises(FileNotFoundError):
            call("snapshots/missing.jpg")


def test_listdir(storage: TencentCOSStorage) -> None:
    for name in ("snapshots/a.jpg", "snapshots/b.png", "snapshots/2026/x.jpg", "snapshots/2027/y.jpg", "top.txt"):
        storage.save(name, ContentFile(b"x"))
    assert storage.listdir("") == (["snapshots"], ["top.txt"])
    directories, files = storage.listdir("snapshots/")
    assert (sorted(directories), sorted(files)) == (["2026", "2027"], ["a.jpg", "b.png"])
    assert storage.listdir("nothing-here") == ([], [])


def test_listdir_follows_pages(storage: TencentCOSStorage, fake: FakeCOS) -> None:
    names = [f"many/{i:02d}.jpg" for i in range(7)] + ["many/sub1/x.jpg", "many/sub2/y.jpg"]
    for name in names:
        storage.save(name, ContentFile(b"x"))
    storage.list_page_size = 2
    fake.requests.clear()
    directories, files = storage.listdir("many")
    assert sorted(files) == [f"{i:02d}.jpg" for i in range(7)]
    assert sorted(directories) == ["sub1", "sub2"]
    assert sum(method == "GET" for method, _, _ in fake.requests) >= 4  # 7 keys, 2 a page


def test_delete(storage: TencentCOSStorage) -> None:
    storage.save(NAME, ContentFile(b"x"))
    storage.delete(NAME)
    assert not storage.exists(NAME)
    storage.delete(NAME)  # already gone: fine
    storage.delete("snapshots/never-existed.jpg")


def test_url_is_a_presigned_get_a_browser_can_fetch(storage: TencentCOSStorage, fake: FakeCOS) -> None:
    data = b"\xff\xd8 presigned"
    storage.save(NAME, ContentFile(data))
    url = storage.url(NAME)
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.path) == ("http", BUCKET_HOST, f"/{storage.location}/{NAME}")
    assert "q-signature=" in parts.query
    assert expires_in(url) == pytest.approx(3600, abs=5)
    response = httpx.get(url, proxy=fake.proxy)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "image/jpeg"  # guessed from the name at upload
    unsigned = httpx.get(url.split("?")[0], proxy=fake.proxy)
    assert unsigned.status_code == 403  # the bucket is private


def test_url_lifetime_comes_from_url_ttl(make_storage: MakeStorage, fake: FakeCOS, settings: Any) -> None:
    settings.SNAPSHOT_URL_TTL = 120
    storage = make_storage()
    assert storage.url_ttl == 120
    storage.save("ttl.jpg", ContentFile(b"x"))
    assert expires_in(storage.url("ttl.jpg")) == pytest.approx(120, abs=5)
    expired = make_storage(url_ttl=-5).url("ttl.jpg")
    assert httpx.get(expired, proxy=fake.proxy).status_code == 403


def test_url_with_custom_domain_signs_that_host(make_storage: MakeStorage, fake: FakeCOS) -> None:
    storage = make_storage(domain="img.vsp.example.com")
    storage.save(NAME, ContentFile(b"via custom domain"))
    # Uploads still go to the bucket's own endpoint; only links use the custom domain.
    assert {host for _, host, _ in fake.requests} == {BUCKET_HOST}
    url = storage.url(NAME)
    parts = urlsplit(url)
    assert parts.hostname == "img.vsp.example.com"
    assert parts.path == f"/{NAME}"
    assert httpx.QueryParams(parts.query)["q-header-list"] == "host"  # signed for the browser's Host
    fake.alias("img.vsp.example.com", PRODUCTION["COS_BUCKET"])
    response = httpx.get(url, proxy=fake.proxy)
    assert response.status_code == 200
    assert response.content == b"via custom domain"


def test_transient_failures_are_retried(make_storage: MakeStorage, fake: FakeCOS, slept: list[float]) -> None:
    storage = make_storage(retries=3)
    fake.fail_next(2, method="PUT")
    assert storage.save("retry/ok.jpg", ContentFile(b"after two 503s")) == "retry/ok.jpg"
    assert [method for method, _, _ in fake.requests] == ["HEAD", "PUT", "PUT", "PUT"]
    assert slept == [1, 2]
    assert storage.open("retry/ok.jpg").read() == b"after two 503s"


def test_without_retries_one_failure_fails_the_save(
    make_storage: MakeStorage, fake: FakeCOS, slept: list[float]
) -> None:
    storage = make_storage(retries=0)
    fake.fail_next(1, method="PUT")
    with pytest.raises(CosServiceError) as caught:
        storage.save("retry/failed.jpg", ContentFile(b"x"))
    assert caught.value.get_status_code() == 503
    assert slept == []
    assert not storage.exists("retry/failed.jpg")


def test_client_errors_are_not_retried(make_storage: MakeStorage, fake: FakeCOS, slept: list[float]) -> None:
    storage = make_storage(retries=3)
    fake.fail_next(1, status=403, method="PUT")
    with pytest.raises(CosServiceError) as caught:
        storage.save("retry/denied.jpg", ContentFile(b"x"))
    assert caught.value.get_status_code() == 403
    assert slept == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_store_down_fails_fast(make_storage: MakeStorage, slept: list[float]) -> None:
    storage = TencentCOSStorage(scheme="http", proxies={"http": f"http://127.0.0.1:{_closed_port()}"}, timeout=2)
    assert_offline(storage)
    started = time.monotonic()
    with pytest.raises(CosClientError):
        storage.save(NAME, ContentFile(b"x"))
    assert time.monotonic() - started < 2
    assert slept == [1, 2, 3]  # retries=3 from settings: three backoffs (6 s in real time) before giving up


def test_store_hanging_hits_the_timeout(make_storage: MakeStorage) -> None:
    """A store that accepts connections but never answers: each attempt ends after ``timeout`` seconds."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        storage = TencentCOSStorage(scheme="http", proxies={"http": f"http://127.0.0.1:{port}"}, timeout=0.3, retries=0)
        assert_offline(storage)
        started = time.monotonic()
        with pytest.raises(CosClientError):
            storage.exists(NAME)
        assert 0.25 < time.monotonic() - started < 2


def test_concurrent_saves_from_threads(storage: TencentCOSStorage) -> None:
    errors: list[BaseException] = []

    def save(i: int) -> None:
        try:
            storage.save(f"threads/{i}.jpg", ContentFile(bytes([i]) * 1000))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(storage.listdir("threads")[1]) == sorted(f"{i}.jpg" for i in range(8))


SMOKE = {name: os.environ.get(f"COS_SMOKE_{name}", "") for name in ("SECRET_ID", "SECRET_KEY", "BUCKET", "REGION")}


@pytest.mark.skipif(not all(SMOKE.values()), reason="set COS_SMOKE_SECRET_ID/SECRET_KEY/BUCKET/REGION to run")
def test_smoke_against_real_cos() -> None:
    """What the fake cannot prove: signatures, x-cos-* behaviour, in-browser preview on the custom domain.

    Optional: COS_SMOKE_DOMAIN (a custom domain bound to the bucket). Writes one object under
    ``vsp-smoke/`` and deletes it.
    """
    domain = os.environ.get("COS_SMOKE_DOMAIN") or None
    storage = TencentCOSStorage(
        secret_id=SMOKE["SECRET_ID"],
        secret_key=SMOKE["SECRET_KEY"],
        bucket=SMOKE["BUCKET"],
        region=SMOKE["REGION"],
        domain=domain,
        scheme="https",
        retries=1,
        timeout=10,
        url_ttl=300,
        location="vsp-smoke",
    )
    name = f"{uuid.uuid4().hex}/smoke.jpg"
    data = b"\xff\xd8\xff\xe0 vsp smoke test"
    assert storage.save(name, ContentFile(data)) == name
    try:
        assert storage.exists(name)
        assert storage.size(name) == len(data)
        assert storage.open(name).read() == data
        assert name.rsplit("/", 1)[1] in storage.listdir(name.rsplit("/", 1)[0])[1]
        response = httpx.get(storage.url(name), timeout=10)
        assert response.status_code == 200, response.text
        assert response.content == data
        if domain:
            assert "attachment" not in response.headers.get("content-disposition", "")
    finally:
        storage.delete(name)
    assert not storage.exists(name)
