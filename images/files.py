"""Serving the files users upload and get back, so that none of them is ever taken for the site's own content.

An upload's name is only data: files are stored under names the service makes
(``images/<id>/original.png``) with the extension of the format actually decoded, and
every user file (original, result, thumbnail, signed download, ZIP archive) is served
with the Content-Type of that format, ``X-Content-Type-Options: nosniff`` and a
Content-Security-Policy that forbids everything (``default-src 'none'; sandbox``). Only
the image formats browsers show are served inline (the dashboard's before/after view);
everything else is an attachment.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import IO, TypeVar
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header

from inference import FORMAT_CONTENT_TYPES, FORMAT_EXTENSIONS

#: Formats every browser renders in an <img>; anything else is sent as an attachment.
INLINE_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP"})
#: Served on every user file: no sniffing, no scripts, no plugins, no same-origin access.
USER_FILE_CSP = "default-src 'none'; sandbox"
#: Longest file name kept from an upload, in characters.
MAX_FILENAME = 200

_Response = TypeVar("_Response", bound=HttpResponseBase)

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def safe_filename(name: str | None, default: str = "image") -> str:
    """An uploaded file's name, fit to store as data and to send in ``Content-Disposition``.

    Only the last path component is kept. Control characters, path separators,
    quotes and the characters Windows forbids become ``_``; surrounding dots and
    spaces go; Unicode is normalised (NFC); the stem is cut so that the whole name is
    at most :data:`MAX_FILENAME` characters, keeping a short extension.
    """
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", name or ""))[-1]
    cleaned = _UNSAFE.sub("_", base).strip(" .")
    if not cleaned:
        return default
    path = PurePosixPath(cleaned)
    suffix = path.suffix if len(path.suffix) <= 10 else ""
    stem = cleaned[: len(cleaned) - len(suffix)] if suffix else cleaned
    return stem[: MAX_FILENAME - len(suffix)] + suffix


def url_filename(url: str, fmt: str = "") -> str:
    """The file name an image fetched from ``url`` is known by: the URL path's last part, made safe
    (:func:`safe_filename`), or ``image`` with the extension of ``fmt``."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    default = f"image.{FORMAT_EXTENSIONS[fmt]}" if fmt in FORMAT_EXTENSIONS else "image"
    return safe_filename(name, default)


def harden(response: _Response) -> _Response:
    """Add the headers every user file is served with (see the module docstring)."""
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = USER_FILE_CSP
    return response


def open_stored(field: FieldFile) -> IO[bytes]:
    """The stored file, opened for reading.

    Raises:
        Http404: it is no longer in storage.
    """
    try:
        return field.open("rb")
    except FileNotFoundError:
        raise Http404("The file is no longer available.") from None


def presigned_url(field: FieldFile, *, fmt: str, filename: str, inline: bool = False) -> str | None:
    """A URL of object storage that serves the file directly, expiring after ``DOWNLOAD_URL_MAX_AGE``, with
    the headers :func:`serve` would send; None when files are not in object storage (the web tier serves them).
    """
    if not hasattr(field.storage, "presigned_url"):
        return None
    as_attachment = not (inline and fmt in INLINE_FORMATS)
    url: str = field.storage.presigned_url(
        field.name,
        content_type=FORMAT_CONTENT_TYPES.get(fmt, "application/octet-stream"),
        disposition=content_disposition_header(as_attachment, safe_filename(filename)) or "attachment",
        expire=settings.DOWNLOAD_URL_MAX_AGE,
    )
    return url


def serve(field: FieldFile, *, fmt: str, filename: str, inline: bool = False) -> HttpResponseBase:
    """A stored user file in format ``fmt`` (``"PNG"``), named ``filename`` for the browser.

    ``inline`` is honoured only for :data:`INLINE_FORMATS`; the Content-Type is the
    format's, never guessed from a name. From object storage, a redirect to its
    presigned URL (:func:`presigned_url`): the bytes do not pass through the web tier.

    Raises:
        Http404: the file is no longer in storage.
    """
    url = presigned_url(field, fmt=fmt, filename=filename, inline=inline)
    if url is not None:
        return HttpResponseRedirect(url)
    response = FileResponse(
        open_stored(field),
        as_attachment=not (inline and fmt in INLINE_FORMATS),
        filename=safe_filename(filename),
        content_type=FORMAT_CONTENT_TYPES.get(fmt, "application/octet-stream"),
    )
    harden(response)
    return response


def chunks(field: FieldFile, size: int) -> Iterator[bytes]:
    """The stored file's bytes, ``size`` at a time: streamed from object storage, read from a local file.

    Raises:
        FileNotFoundError: it is no longer in storage.
    """
    stream = getattr(field.storage, "stream", None)
    if stream is not None:
        yield from stream(field.name, size)
        return
    with field.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk
