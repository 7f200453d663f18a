"""``Idempotency-Key`` on every POST of the API: a retried request gets the first answer, and creates nothing.

A client that lost the answer to a POST (a timeout, a dropped connection) sends it
again with the same ``Idempotency-Key`` header. Within :data:`KEY_LIFETIME`:

* the same key with the same request (method, path, query and body: a JSON body
  compared as data, a form by its fields and files' bytes, so a new multipart boundary
  does not matter) answers the first answer again, status and body, with
  ``Idempotent-Replayed: true``;
* the same key with another request is 422;
* the same key while the first request is still running is 409 with ``Retry-After``.

Keys belong to a workspace (the token's, or the dashboard session's current one).
Requests without credentials ignore the header. The first request claims its key with
an INSERT under a unique constraint, committed before its view runs, so duplicates that
arrive together cannot both run. Answers that say "try again" (401, 403, 409, 429, 5xx)
are not kept: the key is free for the retry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from accounts import workspaces
from accounts.authentication import request_token
from accounts.models import IdempotencyKey, InvalidToken, Workspace
from upscaler_site.api import error_body

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_LIFETIME = timedelta(hours=24)
#: A claimed key whose request has not answered after this long is taken to be abandoned (its process died).
ABANDONED_AFTER = timedelta(minutes=10)
MAX_KEY_LENGTH = 255
#: Answers not kept, so that the retry runs: refused credentials, conflicts, rate limited (and 5xx).
NOT_KEPT = frozenset({401, 403, 409, 429})


def fingerprint(request: HttpRequest) -> str:
    """SHA-256 of what the request asks: method, path, query, and the body as data.

    A JSON body counts by its parsed value (key order and spacing don't matter); a form
    by its fields and its files' names and bytes (not the multipart boundary).
    """
    digest = hashlib.sha256()

    def add(*parts: str | bytes) -> None:
        for part in parts:
            data = part.encode() if isinstance(part, str) else part
            digest.update(len(data).to_bytes(8, "big") + data)

    add(request.method or "", request.path)
    for name in sorted(request.GET):
        add(name, *request.GET.getlist(name))
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        for name in sorted(request.POST):
            add("field", name, *request.POST.getlist(name))
        for name in sorted(request.FILES):
            for upload in request.FILES.getlist(name):
                add("file", name, upload.name or "")
                for chunk in upload.chunks():
                    digest.update(chunk)
                upload.seek(0)
    else:
        body = request.body
        with contextlib.suppress(ValueError):  # not JSON: its bytes
            body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
        add("body", body)
    return digest.hexdigest()


def _workspace(request: HttpRequest) -> Workspace | None:
    """The workspace the request acts on, or None without (valid) credentials."""
    try:
        token = request_token(request)
    except InvalidToken:
        return None
    if token is not None:
        return token.workspace
    if request.user.is_authenticated:
        return workspaces.current_workspace(request)
    return None


def _error(message: str, status: int) -> JsonResponse:
    response = JsonResponse(error_body(message), status=status)
    if status == 409:
        response["Retry-After"] = "1"
    return response


IN_PROGRESS = f"A request with this {HEADER} is still being processed; retry shortly."


def _claim(workspace: Workspace, key: str, print_: str, path: str) -> IdempotencyKey | HttpResponse:
    """Claim ``key`` for this request (the new row), or the answer for a key already claimed."""
    for _ in range(2):
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(workspace=workspace, key=key, fingerprint=print_, path=path)
        except IntegrityError:
            pass
        found = IdempotencyKey.objects.filter(workspace=workspace, key=key).first()
        if found is None:
            continue  # deleted meanwhile: claim it again
        now = timezone.now()
        stale = found.created_at < now - (KEY_LIFETIME if found.status_code else ABANDONED_AFTER)
        if stale:
            IdempotencyKey.objects.filter(pk=found.pk, created_at=found.created_at).delete()
            continue
        if found.fingerprint != print_:
            return _error(f"This {HEADER} was used for a different request. Use a new key for a new request.", 422)
        if found.status_code is None:
            return _error(IN_PROGRESS, 409)
        replay = HttpResponse(found.response_body, status=found.status_code, content_type=found.content_type)
        replay[REPLAYED_HEADER] = "true"
        return replay
    return _error(IN_PROGRESS, 409)


class IdempotencyMiddleware:
    """Applies ``Idempotency-Key`` to the API's POSTs (see the module). After authentication and the
    anonymous rate limit, so an anonymous or refused request never claims a key."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get(HEADER)
        if key is None or request.method != "POST" or not request.path.startswith("/api/"):
            return self.get_response(request)
        if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
            return _error(f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable characters.", 400)
        workspace = _workspace(request)
        if workspace is None:
            return self.get_response(request)  # the view answers 401
        claimed = _claim(workspace, key, fingerprint(request), request.path)
        if isinstance(claimed, HttpResponse):
            return claimed
        try:
            response = self.get_response(request)
        except BaseException:
            claimed.delete()
            raise
        if response.status_code >= 500 or response.status_code in NOT_KEPT or response.streaming:
            claimed.delete()
        else:
            IdempotencyKey.objects.filter(pk=claimed.pk).update(
                status_code=response.status_code,
                response_body=response.content.decode("utf-8", "replace"),
                content_type=response.get("Content-Type", "application/json"),
            )
        return response


def purge_expired() -> int:
    """Delete the keys older than :data:`KEY_LIFETIME`; how many. Scheduled hourly."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - KEY_LIFETIME).delete()
    return deleted
