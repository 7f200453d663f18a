"""The dashboard's batch page: a batch's images with live progress, the ZIP, cancel or delete.

Thin views over :mod:`batches.models`, scoped to the session's current workspace
(another workspace's batch is 404).
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.workspaces import current_workspace
from batches.models import Batch
from images.web_views import STATUS_TEXT


def _batch_or_404(request: HttpRequest, pk: uuid.UUID) -> Batch:
    return get_object_or_404(Batch.objects.filter(workspace=current_workspace(request)), pk=pk)


@login_required
@require_GET
def detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """A batch: progress, each image's status and links, the archive of the results."""
    batch = _batch_or_404(request, pk)
    images = batch.images_in_upload_order()
    context = {
        "batch": batch,
        "images": [(image, STATUS_TEXT[image.status]) for image in images],
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
def delete(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """``action=cancel``: stop an unfinished batch. Otherwise delete it with its images and their files.

    An unfinished batch is cancelled before it is deleted, so that its unprocessed images
    give their quota back.
    """
    batch = _batch_or_404(request, pk)
    name = batch.name or "The batch"
    if request.POST.get("action") == "cancel":
        if batch.cancel():
            messages.success(request, f"{name} was cancelled; its unfinished images will not be processed.")
        else:
            messages.info(request, f"{name} had already finished.")
        return redirect("batches_web:detail", pk=batch.pk)
    if not batch.is_finished:
        batch.cancel()
    batch.delete()  # its images go with it, and their files after the commit (images.signals)
    messages.success(request, f"{name} was deleted with its images.")
    return redirect(f"{reverse('images_web:history')}?show=batches")
