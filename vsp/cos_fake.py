"""An offline Tencent COS for tests: moto's S3 server behind a small COS-compatibility middleware.

Only tests import this module (it needs moto, a dev dependency). Point a production-shaped COS
configuration at it by changing just ``Scheme="http"`` and ``Proxies={"http": fake.proxy}``: the SDK
then sends its real virtual-host requests (``http://<bucket-appid>.cos.<region>.myqcloud.com/<key>``)
to the fake as a forward proxy, so no DNS is involved.

What it cannot prove: COS signatures (they are discarded), ``x-cos-*`` headers, forced download.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from moto.core.base_backend import BackendDict
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from vsp.cos_storage import TencentCOSStorage

# Query parameters of a COS presigned URL (the signature travels in the query instead of Authorization).
COS_SIGN_PARAMS = frozenset(
    {"q-sign-algorithm", "q-ak", "q-sign-time", "q-key-time", "q-header-list", "q-url-param-list", "q-signature"}
)
_COS_HOST = re.compile(r"^(?P<bucket>[a-z0-9-]+)\.cos\.[a-z0-9-]+\.(?:myqcloud\.com|tencentcos\.cn)(?::\d+)?$")

StartResponse = Callable[..., Any]


def _error(start_response: StartResponse, status: int, code: str, message: str) -> list[bytes]:
    """A COS-shaped XML error (the SDK digests Code/Message/Resource/RequestId)."""
    body = (
        "<?xml version='1.0' encoding='utf-8' ?><Error>"
        f"<Code>{code}</Code><Message>{message}</Message><Resource>fake</Resource><RequestId>fake</RequestId></Error>"
    ).encode()
    start_response(f"{status} {code}", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _expired(sign_time: str) -> bool:
    """``q-sign-time`` is ``<start>;<end>`` in Unix seconds."""
    try:
        return time.time() > int(sign_time.split(";")[1])
    except (IndexError, ValueError):
        return True


class FakeCOS:
    """Controls for the running fake; also the WSGI middleware in front of moto."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._failures: list[tuple[str | None, int]] = []
        self._aliases: dict[str, str] = {}
        self.port = 0
        self.requests: list[tuple[str, str, str]] = []  # (method, host, path) of every request seen

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def proxies(self) -> dict[str, str]:
        """The ``Proxies`` option for ``CosConfig`` (plain http only: never a way out to real COS)."""
        return {"http": self.proxy}

    def fail_next(self, count: int, status: int = 503, method: str | None = None) -> None:
        """Answer the next ``count`` requests (of ``method``, or any) with ``status`` instead of the store."""
        with self._lock:
            self._failures.extend([(method, status)] * count)

    @property
    def pending_failures(self) -> int:
        return len(self._failures)

    def alias(self, domain: str, bucket: str) -> None:
        """Serve ``bucket`` (``name-appid``) under a custom domain, as a COS custom origin domain does."""
        self._aliases[domain.lower()] = bucket

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST", "").lower()
        with self._lock:
            method = environ["REQUEST_METHOD"]
            self.requests.append((method, host, environ.get("PATH_INFO", "")))
            due = next((i for i, (only, _) in enumerate(self._failures) if only in (None, method)), None)
            status = None if due is None else self._failures.pop(due)[1]
        if status is not None:
            code = "ServiceUnavailable" if status >= 500 else "InjectedError"
            return _error(start_response, status, code, "Failure injected by vsp.cos_fake")
        # Stock moto crashes parsing COS's "q-sign-algorithm=sha1&q-ak=..." Authorization header, and takes
        # a request without one as anonymous (403 on private objects): present every COS-signed request,
        # header or presigned query, with an empty Authorization. Signatures are not checked; expiry is.
        query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        signed = dict(pair for pair in query if pair[0] in COS_SIGN_PARAMS)
        if signed:
            if _expired(signed.get("q-sign-time", "")):
                return _error(start_response, 403, "AccessDenied", "Request has expired")
            environ["QUERY_STRING"] = urlencode([(k, v) for k, v in query if k not in COS_SIGN_PARAMS])
        if signed or "q-sign-algorithm" in environ.get("HTTP_AUTHORIZATION", ""):
            environ["HTTP_AUTHORIZATION"] = ""
        bucket = self._aliases.get(host.split(":")[0])
        if bucket is None and (match := _COS_HOST.match(host)):
            bucket = match["bucket"]
        if bucket is not None:
            # Path style for moto, which otherwise takes the first label of any host as the bucket.
            path, raw_path = environ.get("PATH_INFO") or "/", urlsplit(environ.get("RAW_URI") or "/").path or "/"
            environ["PATH_INFO"] = f"/{bucket}" if path == "/" else f"/{bucket}{path}"
            environ["RAW_URI"] = environ["REQUEST_URI"] = f"/{bucket}" if raw_path == "/" else f"/{bucket}{raw_path}"
            environ["HTTP_HOST"] = f"localhost:{self.port}"
        return self._app(environ, start_response)


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextlib.contextmanager
def fake_cos_server() -> Iterator[FakeCOS]:
    """Run the fake on 127.0.0.1 (a free port) in a daemon thread; yield its controls; stop it on exit."""
    BackendDict.reset()  # moto keeps its state per process: every fake starts empty
    fake = FakeCOS(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, fake, threaded=True, request_handler=_QuietHandler)
    fake.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, name="fake-cos", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        BackendDict.reset()


# Production-shaped COS settings for tests (shape only: the fake checks no signatures).
PRODUCTION: dict[str, Any] = {
    "COS_SECRET_ID": "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
    "COS_SECRET_KEY": "gPBLBf2KjHszGcFfkuU6mb0T3EXAMPLEKEY",
    "COS_BUCKET": "vsp-snapshots-1250000000",
    "COS_REGION": "ap-beijing",
    "COS_DOMAIN": "",
    "COS_ENDPOINT": "",
    "COS_SCHEME": "https",
    "COS_RETRIES": 3,
    "SNAPSHOT_URL_TTL": 3600,
}


@contextlib.contextmanager
def fake_cos_with_bucket() -> Iterator[FakeCOS]:
    """The fake, with the production-shaped bucket already created through the COS SDK itself."""
    from qcloud_cos import CosConfig, CosS3Client  # type: ignore[import-untyped]

    with fake_cos_server() as server:
        config = CosConfig(
            SecretId=PRODUCTION["COS_SECRET_ID"],
            SecretKey=PRODUCTION["COS_SECRET_KEY"],
            Region=PRODUCTION["COS_REGION"],
            Scheme="http",
            Proxies=server.proxies,
        )
        CosS3Client(config).create_bucket(Bucket=PRODUCTION["COS_BUCKET"])
        yield server


def assert_offline(storage: TencentCOSStorage) -> None:
    """Tests must never reach real COS: plain http, and every request through a proxy on this machine."""
    assert storage.scheme == "http"
    assert storage.proxies
    assert set(storage.proxies) == {"http"}
    assert urlsplit(storage.proxies["http"]).hostname == "127.0.0.1"
