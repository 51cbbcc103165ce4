"""Snapshot storage on Tencent COS, owned by the project on purpose.

The published Django COS backends (django-tencentcos-storage, django-cos-storage,
django-storage-qcloud) fail every ``save()`` on Django 5.2: the CVE-2024-39330 name
validation rejects the names they produce. This class builds on django-storages' BaseStorage and
cos-python-sdk-v5, lets Django's own name validation run and never produces keys starting with "/".
Tests run it against ``vsp.cos_fake``.
"""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile, File
from django.utils import timezone
from django.utils.deconstruct import deconstructible
from qcloud_cos import CosConfig, CosS3Client, CosServiceError  # type: ignore[import-untyped]
from requests.structures import CaseInsensitiveDict
from storages.base import BaseStorage

# Bodies up to this size are sent as bytes (the SDK can always resend them); larger ones stream from the file.
_IN_MEMORY_MAX = 16 * 1024 * 1024


def _setting(name: str, default: Any) -> Any:
    """A setting that may not exist yet; an empty string (unset in the environment) means the default."""
    value = getattr(settings, name, default)
    return default if value is None or value == "" else value


def _is_missing(error: CosServiceError) -> bool:
    return bool(error.get_status_code() == 404)


@contextmanager
def _missing_as_file_not_found(name: str) -> Iterator[None]:
    """COS answers 404 for a missing object; Django's callers expect FileNotFoundError. Other errors propagate."""
    try:
        yield
    except CosServiceError as error:
        if _is_missing(error):
            raise FileNotFoundError(name) from error
        raise


@deconstructible(path="vsp.cos_storage.TencentCOSStorage")
class TencentCOSStorage(BaseStorage):
    """A private COS bucket; ``url()`` hands out presigned GET links valid ``url_ttl`` seconds."""

    list_page_size = 1000  # COS's maximum; listdir() follows IsTruncated/NextMarker across pages

    # Typed here; values come from get_default_settings() or the constructor (django-storages' BaseStorage).
    secret_id: str
    secret_key: str
    bucket: str
    region: str
    domain: str | None
    endpoint: str | None
    scheme: str
    proxies: dict[str, str] | None
    retries: int
    timeout: float
    url_ttl: int
    location: str

    def __init__(self, **options: Any) -> None:
        # BaseStorage refuses unknown options with ImproperlyConfigured, so a typo in STORAGES fails loudly.
        super().__init__(**options)
        self.location = self.location.strip("/")

    def get_default_settings(self) -> dict[str, Any]:
        return {
            "secret_id": _setting("COS_SECRET_ID", ""),
            "secret_key": _setting("COS_SECRET_KEY", ""),
            "bucket": _setting("COS_BUCKET", ""),
            "region": _setting("COS_REGION", ""),
            "domain": _setting("COS_DOMAIN", None),
            "endpoint": _setting("COS_ENDPOINT", None),
            "scheme": _setting("COS_SCHEME", "https"),
            "proxies": None,
            "retries": int(_setting("COS_RETRIES", 3)),
            "timeout": float(_setting("COS_TIMEOUT", 10)),
            "url_ttl": int(_setting("SNAPSHOT_URL_TTL", 3600)),
            "location": "",
        }

    def _config(self, **extra: Any) -> Any:
        return CosConfig(
            SecretId=self.secret_id,
            SecretKey=self.secret_key,
            Region=self.region,
            Scheme=self.scheme,
            Timeout=self.timeout,
            Proxies=self.proxies,
            **extra,
        )

    @cached_property
    def client(self) -> Any:
        """Talks to the bucket's own endpoint (``<bucket-appid>.cos.<region>.myqcloud.com``)."""
        return CosS3Client(self._config(Endpoint=self.endpoint), retry=self.retries)

    @cached_property
    def _signer(self) -> Any:
        """Presigns for the host the browser will use: the custom domain when there is one."""
        return CosS3Client(self._config(Domain=self.domain), retry=0) if self.domain else self.client

    def _key(self, name: str) -> str:
        path = posixpath.normpath(posixpath.join(self.location, str(name).replace("\\", "/"))).lstrip("/")
        if path in ("", ".", "..") or path.startswith("../"):
            raise SuspiciousFileOperation(f"Invalid COS object name: {name!r}")
        if self.location and not path.startswith(f"{self.location}/"):
            raise SuspiciousFileOperation(f"{name!r} is outside {self.location!r}")
        return path

    def _head(self, name: str) -> CaseInsensitiveDict[str]:
        with _missing_as_file_not_found(name):
            return CaseInsensitiveDict(self.client.head_object(Bucket=self.bucket, Key=self._key(name)))

    def _save(self, name: str, content: File) -> str:
        if content.seekable():
            content.seek(0)
        if content.file is not None and (content.size or 0) > _IN_MEMORY_MAX:
            body: bytes | str | IO[Any] = content.file  # the SDK seeks back to here before a retry
        else:
            body = content.read()
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=body, ContentType=content_type)
        return name

    def _open(self, name: str, mode: str = "rb") -> File:
        if any(flag in mode for flag in "wax+"):
            raise ValueError(f"TencentCOSStorage opens files read-only, not with mode {mode!r}")
        with _missing_as_file_not_found(name):
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(name))
            return ContentFile(b"".join(response["Body"].get_stream(chunk_size=64 * 1024)), name=name)

    def exists(self, name: str) -> bool:
        try:
            self._head(name)
        except FileNotFoundError:
            return False
        return True

    def delete(self, name: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(name))
        except CosServiceError as error:
            if not _is_missing(error):
                raise

    def size(self, name: str) -> int:
        return int(self._head(name)["Content-Length"])

    def get_modified_time(self, name: str) -> datetime:
        modified = parsedate_to_datetime(self._head(name)["Last-Modified"])
        return modified if settings.USE_TZ else timezone.make_naive(modified)

    def url(self, name: str | None) -> str:
        return str(
            self._signer.get_presigned_url(
                Method="GET", Bucket=self.bucket, Key=self._key(name or ""), Expired=self.url_ttl
            )
        )

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        prefix = self._key(path) + "/" if path.strip("/") else (f"{self.location}/" if self.location else "")
        directories: dict[str, None] = {}  # ordered sets: pages may repeat common prefixes
        files: dict[str, None] = {}
        marker = ""
        while True:
            page = self.client.list_objects(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/", Marker=marker, MaxKeys=self.list_page_size
            )
            prefixes = [entry["Prefix"] for entry in page.get("CommonPrefixes") or []]
            keys = [entry["Key"] for entry in page.get("Contents") or []]
            directories.update(dict.fromkeys(found[len(prefix) :].rstrip("/") for found in prefixes))
            files.update(dict.fromkeys(key[len(prefix) :] for key in keys if key != prefix))
            next_marker = page.get("NextMarker") or max(keys + prefixes, default="")
            if str(page.get("IsTruncated")).lower() != "true" or next_marker in ("", marker):
                return list(directories), list(files)
            marker = next_marker
