"""The batch API: upload up to 20 images at once, follow them, cancel or delete, download a ZIP.

Thin views over :mod:`batches.jobs`, :mod:`batches.models` and :mod:`batches.serializers`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import APIView
from zipstream import ZipStream

from accounts.models import Ability, ApiToken
from accounts.permissions import request_workspace
from accounts.requests import ApiRequest
from batches import examples, jobs
from batches.models import Batch, BatchQuerySet
from batches.serializers import BATCH_JSON, BATCH_UPLOAD, BatchSerializer, validate_batch
from billing.api import QuotaHeadersMixin
from billing.quota import limits_for
from images import files
from images.files import safe_filename
from images.models import Image
from upscaler_site.api import ok, paginated_by_status
from upscaler_site.openapi import envelope, error, list_parameters, paginated

#: Bytes read from storage at a time while streaming an archive.
CHUNK = 256 * 1024

BATCH = envelope("BatchResponse", BatchSerializer())
PLAN_LIMITS = "Batches are in the Professional and Enterprise plans."


def workspace_batches(request: ApiRequest) -> BatchQuerySet:
    return Batch.objects.in_workspace(request_workspace(request)).prefetch_related("images")


class BatchListView(QuotaHeadersMixin, APIView):
    """``GET /api/batches`` lists the workspace's batches; ``POST`` uploads a new one (202)."""

    required_abilities = {"GET": Ability.IMAGES_READ, "POST": Ability.IMAGES_WRITE}

    @extend_schema(
        summary="List batches",
        operation_id="batches_list",
        description=f"The workspace's batches, newest first. {PLAN_LIMITS}",
        parameters=list_parameters(Batch.Status.values),
        responses=paginated("BatchPage", BatchSerializer),
    )
    def get(self, request: ApiRequest) -> Response:
        return paginated_by_status(request, self, workspace_batches(request), BatchSerializer, Batch.Status.values,
                                   "Batches retrieved successfully")  # fmt: skip

    @extend_schema(
        summary="Upload a batch",
        description="Up to 20 images with the same options, queued at once; answers 202. All of them must fit in "
        "the monthly quota, or none is stored. Poll `GET /api/batches/{id}`: `progress` is the percentage "
        f"done. {PLAN_LIMITS}",
        request={"multipart/form-data": BATCH_UPLOAD, "application/json": BATCH_JSON},
        responses={202: BATCH},
        examples=[examples.CREATED],
    )
    def post(self, request: ApiRequest) -> Response:
        workspace = request_workspace(request)
        limits = limits_for(workspace)
        valid = validate_batch(request.data, request.FILES, limits)
        batch = jobs.submit(workspace, request.user, valid.submissions, name=valid.name, limits=limits,
                            api_request=isinstance(request.auth, ApiToken))  # fmt: skip
        batch = workspace_batches(request).get(pk=batch.pk)
        data = BatchSerializer(batch, context={"request": request}).data
        return ok(data, "Batch created and images queued for processing", status.HTTP_202_ACCEPTED)


class BatchDetailView(QuotaHeadersMixin, APIView):
    """``GET /api/batches/{id}`` shows a batch; ``DELETE`` cancels it if unfinished, else deletes it."""

    required_abilities = {"GET": Ability.IMAGES_READ, "DELETE": Ability.IMAGES_DELETE}

    @extend_schema(summary="Get a batch", description="Its progress and its images, in upload order.",
                   responses=BATCH)  # fmt: skip
    def get(self, request: ApiRequest, pk: str) -> Response:
        batch = get_object_or_404(workspace_batches(request), pk=pk)
        return ok(BatchSerializer(batch, context={"request": request}).data, "Batch retrieved successfully")

    @extend_schema(
        summary="Cancel or delete a batch",
        description="An unfinished batch is cancelled (its waiting images fail; `data` is the batch); a finished "
        "one is deleted with its images and files (`data` is null).",
        responses={200: envelope("BatchDeleteResponse", BatchSerializer(allow_null=True))},
    )
    def delete(self, request: ApiRequest, pk: str) -> Response:
        batch = get_object_or_404(workspace_batches(request), pk=pk)
        if not batch.is_finished:
            cancelled = jobs.cancel(batch)
            if cancelled or batch.status == Batch.Status.CANCELLED:
                batch = workspace_batches(request).get(pk=pk)
                data = BatchSerializer(batch, context={"request": request}).data
                return ok(data, "Batch cancelled successfully")
            batch.refresh_from_db()  # it finished meanwhile: delete it below
        batch.delete()  # its images go with it, and their files after the commit (images.jobs.forget)
        return ok(None, "Batch deleted successfully")


def _archive_names(images: list[Image]) -> Iterator[tuple[Image, str]]:
    """Each image with a unique file name for the archive: ``name.png``, ``name (2).png``, …"""
    seen: dict[str, int] = {}
    for image in images:
        name = image.download_filename
        count = seen.get(name.lower(), 0) + 1
        seen[name.lower()] = count
        if count > 1:
            path = PurePosixPath(name)
            name = f"{path.stem} ({count}){path.suffix}"
        yield image, name


class BatchArchiveView(QuotaHeadersMixin, APIView):
    """``GET /api/batches/{id}/archive``: a ZIP of every completed result, streamed as it is read.

    Results are already compressed images, so they are stored, not deflated; the
    archive's size is known up front (``Content-Length``) and nothing is built in
    memory or on disk.
    """

    required_abilities = {"GET": Ability.IMAGES_READ}

    @extend_schema(
        summary="Download a batch's results",
        description="A ZIP of every completed result, named after the originals.",
        responses={
            (200, "application/zip"): OpenApiTypes.BINARY,
            400: error("No image of the batch is completed yet."),
        },
    )
    def get(self, request: ApiRequest, pk: str) -> StreamingHttpResponse:
        batch = get_object_or_404(workspace_batches(request), pk=pk)
        images = [
            image
            for image in batch.images_in_upload_order()
            if image.status == Image.Status.COMPLETED and image.upscaled
        ]
        if not images:
            raise ParseError(f"The batch is {batch.status} and has no completed images to download yet.")
        archive = ZipStream(sized=True)
        for image, name in _archive_names(images):
            archive.add(files.chunks(image.upscaled, CHUNK), name, size=image.upscaled_size)
        response = files.harden(StreamingHttpResponse(archive, content_type="application/zip"))
        response["Content-Length"] = str(len(archive))
        stem = PurePosixPath(safe_filename(batch.name, "batch")).stem[:100]
        response["Content-Disposition"] = content_disposition_header(True, f"{stem}_upscaled.zip")
        return response
