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
from pathlib import PurePosixPath
from typing import IO, TypeVar
from urllib.parse import unquote, urlsplit

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404
from django.http.response import HttpResponseBase

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


def serve(field: FieldFile, *, fmt: str, filename: str, inline: bool = False) -> FileResponse:
    """A stored user file in format ``fmt`` (``"PNG"``), named ``filename`` for the browser.

    ``inline`` is honoured only for :data:`INLINE_FORMATS`; the Content-Type is the
    format's, never guessed from a name.

    Raises:
        Http404: the file is no longer in storage.
    """
    response = FileResponse(
        open_stored(field),
        as_attachment=not (inline and fmt in INLINE_FORMATS),
        filename=safe_filename(filename),
        content_type=FORMAT_CONTENT_TYPES.get(fmt, "application/octet-stream"),
    )
    harden(response)
    return response
