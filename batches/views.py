"""The dashboard's batch pages: the batches tab of the history, a batch's images with live progress,
the ZIP, cancel or delete; and the batches' part of the live status (:func:`statuses`).

Thin views over :mod:`batches.jobs` and :mod:`batches.models`, scoped to the session's
current workspace (another workspace's batch is 404).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Workspace
from accounts.requests import AuthenticatedHttpRequest
from accounts.workspaces import current_workspace
from batches import jobs
from batches.models import Batch
from images.views import render_history


def _batch_or_404(request: AuthenticatedHttpRequest, pk: uuid.UUID) -> Batch:
    return get_object_or_404(Batch.objects.in_workspace(current_workspace(request)), pk=pk)


def batch_status(batch: Batch) -> dict[str, Any]:
    """What a page needs to show a batch's progress, as JSON."""
    return {
        "id": str(batch.pk),
        "name": batch.name,
        "status": batch.status,
        "status_text": batch.get_status_display(),
        "finished": batch.is_finished,
        "progress": batch.progress,
        "total_images": batch.total_images,
        "completed_images": batch.completed_images,
        "failed_images": batch.failed_images,
        "detail_url": reverse("batches_web:detail", args=[batch.pk]),
        "archive_url": reverse("batches:archive", args=[batch.pk]) if batch.completed_images else None,
    }


def statuses(workspace: Workspace, ids: list[uuid.UUID]) -> dict[str, dict[str, Any]]:
    """The live status's ``batches`` (:data:`images.views.STATUS_SECTIONS`): those of ``ids`` in ``workspace``."""
    return {str(batch.pk): batch_status(batch) for batch in Batch.objects.in_workspace(workspace).filter(pk__in=ids)}


@login_required
@require_GET
def history(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The history's batches tab: the workspace's batches, newest first, filtered by status, paginated."""
    batches = Batch.objects.in_workspace(current_workspace(request))
    return render_history(request, "batches", batches, list(Batch.Status.choices))


@login_required
@require_GET
def detail(request: AuthenticatedHttpRequest, pk: uuid.UUID) -> HttpResponse:
    """A batch: progress, each image's status and links, the archive of the results."""
    batch = _batch_or_404(request, pk)
    images = batch.images_in_upload_order()
    context = {
        "batch": batch,
        "images": images,
        "config": {
            "statusUrl": reverse("images_web:status"),
            "batchId": str(batch.pk),
            "imageIds": [str(image.pk) for image in images],
            "finished": batch.is_finished,
        },
    }
    return render(request, "batches/detail.html", context)


@login_required
@require_POST
def delete(request: AuthenticatedHttpRequest, pk: uuid.UUID) -> HttpResponse:
    """``action=cancel``: stop an unfinished batch. Otherwise delete it with its images and their files.

    An unfinished batch is cancelled before it is deleted, so that its unprocessed images
    give their quota back.
    """
    batch = _batch_or_404(request, pk)
    name = batch.name or "The batch"
    if request.POST.get("action") == "cancel":
        if jobs.cancel(batch):
            messages.success(request, f"{name} was cancelled; its unfinished images will not be processed.")
        else:
            messages.info(request, f"{name} had already finished.")
        return redirect("batches_web:detail", pk=batch.pk)
    if not batch.is_finished:
        jobs.cancel(batch)
    batch.delete()  # its images go with it, and their files after the commit (images.jobs.forget)
    messages.success(request, f"{name} was deleted with its images.")
    return redirect("batches_web:history")
