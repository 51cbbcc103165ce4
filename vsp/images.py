"""Checking images that arrive with reports, and making their thumbnails. Imports no app."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError


class SnapshotRejected(ValueError):
    """The bytes are not an image we accept; the message says why."""


@dataclass(frozen=True)
class SnapshotImage:
    data: bytes
    format: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return settings.SNAPSHOT_FORMATS[self.format]


def inspect_image(data: bytes) -> SnapshotImage:
    """Check that ``data`` is a whole image of an allowed format and size, without decoding its pixels."""
    if not data:
        raise SnapshotRejected("is empty")
    if len(data) > settings.SNAPSHOT_MAX_BYTES:
        raise SnapshotRejected(f"is {len(data)} bytes; at most {settings.SNAPSHOT_MAX_BYTES} are accepted")
    try:
        with warnings.catch_warnings():
            # Our own pixel limit (below) is the one that counts; Pillow's warning would only repeat it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image_format, (width, height) = image.format or "", image.size
            if image_format not in settings.SNAPSHOT_FORMATS:
                allowed = ", ".join(settings.SNAPSHOT_FORMATS)
                raise SnapshotRejected(f"is {image_format or 'an unknown format'}; allowed: {allowed}")
            if width * height > settings.SNAPSHOT_MAX_PIXELS:
                raise SnapshotRejected(
                    f"has {width}x{height} pixels; at most {settings.SNAPSHOT_MAX_PIXELS} in all are accepted"
                )
            image.verify()
        # verify() only reads the structure; a cut-off image shows only when decoded. Better refused
        # now, with the box still listening, than failing every upload retry later.
        with Image.open(io.BytesIO(data)) as full:
            full.load()
    except SnapshotRejected:
        raise
    except Image.DecompressionBombError:
        raise SnapshotRejected(f"has too many pixels; at most {settings.SNAPSHOT_MAX_PIXELS} are accepted") from None
    except UnidentifiedImageError:
        raise SnapshotRejected("is not an image that can be read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise SnapshotRejected(f"is a broken image ({exc})") from None
    return SnapshotImage(data, image_format, width, height)


def make_thumbnail(data: bytes) -> bytes:
    source = Image.open(io.BytesIO(data))
    source.draft("RGB", settings.SNAPSHOT_THUMBNAIL_SIZE)  # JPEG: decode at a reduced scale, much faster
    image = ImageOps.exif_transpose(source).convert("RGB")
    image.thumbnail(settings.SNAPSHOT_THUMBNAIL_SIZE)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80, optimize=True)
    return out.getvalue()
