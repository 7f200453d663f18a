"""The dashboard's home and image pages: upload, result (before/after), history, delete, the files, live status.

Thin views over :mod:`images.models`. The upload page's JavaScript sends files through
the REST API itself (authenticated by the session, see
:class:`accounts.authentication.SessionWorkspaceAuthentication`), and every page polls
:func:`status`, which lives outside ``/api/`` so that watching a job does not use up
the workspace's hourly API requests.

Everything is scoped to the session's current workspace: another workspace's images
answer 404, and the status endpoint silently leaves them out.

The batches app builds on these pages without images importing it: it adds its objects
to the live status (:data:`STATUS_SECTIONS`) and has its own history tab.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from allauth.account.utils import get_next_redirect_url
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Workspace
from accounts.requests import AuthenticatedHttpRequest
from accounts.workspaces import current_workspace
from billing.quota import Usage, limits_for, usage_for
from images import files
from images.models import Image, ImageQuerySet, human_size
from inference import MODEL_LABELS, scale_factors_up_to

HISTORY_PAGE_SIZE = 24
# Ids one status request may ask about; a page never watches more than a few batches' worth.
MAX_STATUS_IDS = 200


#: Objects of other apps the live status reports besides images, by query parameter: each function
#: gets the current workspace and the ids asked for, and answers ``{id: status JSON}`` for those of
#: the workspace. batches adds ``"batches"`` (``BatchesConfig.ready``).
STATUS_SECTIONS: dict[str, Callable[[Workspace, list[uuid.UUID]], dict[str, dict[str, Any]]]] = {}


def workspace_images(request: AuthenticatedHttpRequest) -> ImageQuerySet:
    return Image.objects.in_workspace(current_workspace(request))


def usage_json(usage: Usage) -> dict[str, Any]:
    return {"used": usage.used, "limit": usage.limit, "remaining": usage.remaining, "percentage": usage.percentage}


def image_status(image: Image) -> dict[str, Any]:
    """What a page needs to show an image's progress, as JSON."""
    completed = image.status == Image.Status.COMPLETED
    size = f"{image.upscaled_width} \N{MULTIPLICATION SIGN} {image.upscaled_height}" if completed else None
    return {
        "id": str(image.pk),
        "status": image.status,
        "status_text": image.get_status_display(),
        "progress": image.progress,
        "finished": image.is_finished,
        "error": image.error or None,
        "filename": image.original_filename,
        "batch_id": str(image.batch_id) if image.batch_id else None,
        "detail_url": reverse("images_web:detail", args=[image.pk]),
        "thumbnail_url": reverse("images_web:thumbnail", args=[image.pk]),
        "download_url": reverse("images_web:download", args=[image.pk]) if completed else None,
        "result_dimensions": size,
        "processing_time": image.processing_time,
    }


def _uuids(raw: str) -> list[uuid.UUID]:
    """The valid UUIDs in a comma-separated list; anything else is ignored, not an error."""
    ids = []
    for part in raw.split(",")[:MAX_STATUS_IDS]:
        try:
            ids.append(uuid.UUID(part.strip()))
        except ValueError:
            continue
    return ids


# --- Pages ------------------------------------------------------------------------------------------


@login_required
@require_GET
def dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The landing page after login: the current workspace at a glance."""
    workspace = current_workspace(request)
    context = {
        "workspace": workspace,
        "role": request.user.role_in(workspace),
        "image_count": Image.objects.in_workspace(workspace).count(),
        "usage": usage_for(workspace),
    }
    return render(request, "images/dashboard.html", context)


@login_required
@require_GET
def upload(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Drop or pick images, choose the size and the model; progress and status update in place."""
    workspace = current_workspace(request)
    limits = limits_for(workspace)
    max_scale = limits.max_scale
    scales, locked_scales = scale_factors_up_to(max_scale)
    config = {
        "uploadUrl": reverse("images:upscale"),
        "batchUrl": reverse("batches:list"),
        "statusUrl": reverse("images_web:status"),
        "batches": limits.batches,
        "maxBatchImages": settings.BATCH_MAX_IMAGES,
        "maxUploadBytes": settings.UPSCALE_MAX_UPLOAD_BYTES,
        "maxRequestBytes": settings.MAX_UPLOAD_REQUEST_BYTES,
        "maxScale": max_scale,
    }
    context = {
        "workspace": workspace,
        "limits": limits,
        "usage": usage_for(workspace, limits),
        "scales": scales,
        "locked_scales": locked_scales,
        "models": MODEL_LABELS,
        "default_model": settings.UPSCALE_DEFAULT_MODEL,
        "max_upload": human_size(settings.UPSCALE_MAX_UPLOAD_BYTES),
        "config": config,
    }
    return render(request, "images/upload.html", context)


@login_required
@require_GET
def detail(request: AuthenticatedHttpRequest, pk: uuid.UUID) -> HttpResponse:
    """One image: before/after comparison, zoom, download, sizes, timing, model, status or error."""
    image = get_object_or_404(workspace_images(request).select_related("batch"), pk=pk)
    context = {
        "image": image,
        "original_size": human_size(image.original_size),
        "upscaled_size": human_size(image.upscaled_size),
        "finished": image.is_finished,
        "config": {"statusUrl": reverse("images_web:status"), "imageId": str(image.pk)},
    }
    return render(request, "images/detail.html", context)


def render_history(
    request: AuthenticatedHttpRequest, tab: str, items: QuerySet[Any], statuses: list[tuple[str, str]]
) -> HttpResponse:
    """A tab of the history page: ``items`` (newest first) filtered by ``?status=`` (one of ``statuses``), paginated."""
    status = request.GET.get("status", "")
    if status in dict(statuses):
        items = items.filter(status=status)
    else:
        status = ""
    context = {
        "workspace": current_workspace(request),
        "show": tab,
        "statuses": statuses,
        "status": status,
        "page": Paginator(items, HISTORY_PAGE_SIZE).get_page(request.GET.get("page")),
        # The filter, for the pagination links.
        "query": urlencode({"status": status} if status else {}),
    }
    return render(request, "images/history.html", context)


@login_required
@require_GET
def history(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The workspace's images as a thumbnail grid, newest first, filtered by status, paginated."""
    return render_history(request, "images", workspace_images(request), list(Image.Status.choices))


@login_required
@require_POST
def delete(request: AuthenticatedHttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Delete one of the current workspace's images and both its files (CSRF-checked POST)."""
    image = get_object_or_404(workspace_images(request), pk=pk)
    image.delete()  # the files follow once the row is gone: images.jobs.forget
    messages.success(request, f"{image.original_filename} was deleted.")
    return redirect(get_next_redirect_url(request) or reverse("images_web:history"))


# --- Files ---------------------------------------------------------------------------------------------


@login_required
@require_GET
def original_file(request: AuthenticatedHttpRequest, pk: uuid.UUID) -> HttpResponseBase:
    """The uploaded original, inline (the comparison view's "before")."""
    image = get_object_or_404(workspace_images(request), pk=pk)
    return files.serve(image.original, fmt=image.original_format, filename=image.original_filename, inline=True)


@login_required
@require_GET
def result_file(request: AuthenticatedHttpRequest, pk: uuid.UUID) -> HttpResponseBase:
    """The upscaled result, inline (the comparison view's "after"); 404 until it exists."""
    image = get_object_or_404(workspace_images(request), pk=pk, status=Image.Status.COMPLETED)
    return files.serve(image.upscaled, fmt=image.upscaled_format, filename=image.download_filename, inline=True)


@login_required
@require_GET
def download(request: AuthenticatedHttpRequest, pk: uuid.UUID) -> HttpResponseBase:
    """The upscaled result as a download, named after the original."""
    image = get_object_or_404(workspace_images(request), pk=pk, status=Image.Status.COMPLETED)
    return files.serve(image.upscaled, fmt=image.upscaled_format, filename=image.download_filename)


@login_required
@require_GET
def thumbnail(request: AuthenticatedHttpRequest, pk: uuid.UUID) -> HttpResponseBase:
    """A small preview of the original for the history grid, stored by the worker (404 until then)."""
    image = get_object_or_404(workspace_images(request), pk=pk)
    if not image.original_thumbnail:
        raise Http404("No preview yet.")
    response = files.serve(image.original_thumbnail, fmt="JPEG", filename="preview.jpg", inline=True)
    # An image's original never changes; its id is in the URL.
    response["Cache-Control"] = "private, max-age=86400"
    return response


# --- Live status -------------------------------------------------------------------------------------


@require_GET
def status(request: HttpRequest) -> JsonResponse:
    """``GET /app/status?images=<id>,…&batches=<id>,…``: statuses for the dashboard's polling.

    Only the current workspace's objects are answered (images, and those of
    :data:`STATUS_SECTIONS`); other ids are left out without saying whether they exist.
    Session only (no token), outside ``/api/``, so the hourly API request limit is not
    spent on polling.
    """
    if not request.user.is_authenticated:
        # JSON rather than a redirect to the login page: the caller is a script.
        return JsonResponse({"error": "Your session has ended: log in again."}, status=401)
    workspace = current_workspace(request)
    images = Image.objects.in_workspace(workspace).filter(pk__in=_uuids(request.GET.get("images", "")))
    body: dict[str, Any] = {"images": {str(image.pk): image_status(image) for image in images}}
    for name, section in STATUS_SECTIONS.items():
        body[name] = section(workspace, _uuids(request.GET.get(name, "")))
    body["usage"] = usage_json(usage_for(workspace))
    response = JsonResponse(body)
    response["Cache-Control"] = "no-store"
    return response
