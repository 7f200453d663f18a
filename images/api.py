"""The image API: upload, list, show, download, delete. Thin views over :mod:`images.jobs` and :mod:`images.models`."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Ability, ApiToken
from accounts.permissions import request_workspace
from accounts.requests import ApiRequest
from billing.api import QuotaHeadersMixin
from billing.quota import limits_for
from billing.ratelimit import StatusPollThrottle
from images import examples, files, jobs
from images.models import EXPIRED_REASON, Image
from images.serializers import (
    DownloadSerializer,
    ImageSerializer,
    ImageStatusSerializer,
    UpscaleJsonSerializer,
    UpscaleRequestSerializer,
    WaitSerializer,
)
from upscaler_site.api import Gone, ok, paginated_by_status
from upscaler_site.openapi import MESSAGE, envelope, error, list_parameters, paginated

IMAGE = envelope("ImageResponse", ImageSerializer())
WAIT = OpenApiParameter(
    "wait",
    {"type": "integer", "minimum": 0, "maximum": jobs.MAX_WAIT_SECONDS},
    default=0,
    description="Seconds to wait for the result, up to 60: 200 with the finished image (completed, or failed with "
    "its error) if it finishes in time, else 202 as without it. Nothing is lost either way: poll as usual.",
)


class UpscaleView(QuotaHeadersMixin, APIView):
    """``POST /api/images/upscale``: store the upload and queue it; 202 with the new record."""

    required_abilities = {"POST": Ability.IMAGES_WRITE}

    @extend_schema(
        summary="Upload an image",
        description="Store the image (a file, base64, or a URL the worker fetches) and queue it; answers 202 at "
        "once. Poll `GET /api/images/{id}` every few seconds until `status` is `completed` or `failed`, then get "
        "`GET /api/images/{id}/download`.",
        request={"multipart/form-data": UpscaleRequestSerializer, "application/json": UpscaleJsonSerializer},
        parameters=[WAIT],
        responses={202: IMAGE, 200: envelope("FinishedImageResponse", ImageSerializer())},
        examples=[examples.UPLOADED, examples.INVALID],
    )
    def post(self, request: ApiRequest) -> Response:
        workspace = request_workspace(request)
        limits = limits_for(workspace)
        wait = WaitSerializer(data=request.query_params)
        wait.is_valid(raise_exception=True)
        serializer = UpscaleRequestSerializer(data=request.data, context={"limits": limits})
        serializer.is_valid(raise_exception=True)
        [image] = jobs.submit(workspace, request.user, [serializer.submission], limits=limits,
                              api_request=isinstance(request.auth, ApiToken))  # fmt: skip
        seconds = wait.validated_data["wait"]
        if seconds and jobs.wait_until_finished(image, seconds):
            message = "Image upscaled" if image.status == Image.Status.COMPLETED else "Image processing failed"
            return ok(ImageSerializer(image, context={"request": request}).data, message)
        image.refresh_from_db()  # the task was queued on commit, or failed with the broker
        data = ImageSerializer(image, context={"request": request}).data
        return ok(data, "Image uploaded and queued for processing", status.HTTP_202_ACCEPTED)


class ImageListView(QuotaHeadersMixin, APIView):
    """``GET /api/images``: the workspace's images, newest first, paginated, optionally by status."""

    required_abilities = {"GET": Ability.IMAGES_READ}

    @extend_schema(
        summary="List images",
        operation_id="images_list",
        description="The workspace's images, newest first.",
        parameters=list_parameters(Image.Status.values),
        responses=paginated("ImagePage", ImageSerializer),
        examples=[examples.LISTED],
    )
    def get(self, request: ApiRequest) -> Response:
        images = Image.objects.in_workspace(request_workspace(request))
        return paginated_by_status(request, self, images, ImageSerializer, Image.Status.values,
                                   "Images retrieved successfully")  # fmt: skip


class ImageDetailView(QuotaHeadersMixin, APIView):
    """``GET /api/images/{id}`` shows one image; ``DELETE`` removes it and both files."""

    required_abilities = {"GET": Ability.IMAGES_READ, "DELETE": Ability.IMAGES_DELETE}

    @extend_schema(summary="Get an image", description="Its status and details: poll this until it is done.",
                   responses=IMAGE, examples=[examples.RETRIEVED])  # fmt: skip
    def get(self, request: ApiRequest, pk: str) -> Response:
        image = get_object_or_404(Image.objects.in_workspace(request_workspace(request)), pk=pk)
        return ok(ImageSerializer(image, context={"request": request}).data, "Image retrieved successfully")

    @extend_schema(summary="Delete an image", description="The record, the upload and the result.",
                   responses={200: MESSAGE}, examples=[examples.DELETED])  # fmt: skip
    def delete(self, request: ApiRequest, pk: str) -> Response:
        image = get_object_or_404(Image.objects.in_workspace(request_workspace(request)), pk=pk)
        image.delete()  # the files follow once the row is gone: images.jobs.forget
        return ok(None, "Image deleted successfully")


class ImageStatusView(APIView):
    """``GET /api/images/{id}/status``: just ``{id, status, progress}``, for polling.

    Counted against ``STATUS_REQUESTS_PER_HOUR``, not the plan's hourly requests.
    """

    required_abilities = {"GET": Ability.IMAGES_READ}
    throttle_classes = [StatusPollThrottle]

    @extend_schema(
        summary="Poll an image's status",
        description="Only `id`, `status` and `progress` (percent of the network passes done): cheap to poll, and "
        "counted apart from the plan's hourly requests (7,200 an hour per workspace by default).",
        responses=envelope("ImageStatusResponse", ImageStatusSerializer()),
    )
    def get(self, request: ApiRequest, pk: str) -> Response:
        image = get_object_or_404(Image.objects.in_workspace(request_workspace(request)).only("id", "status",
                                  "progress"), pk=pk)  # fmt: skip
        return ok(ImageStatusSerializer(image).data, "Image status retrieved successfully")


class ImageDownloadView(QuotaHeadersMixin, APIView):
    """``GET /api/images/{id}/download``: a signed, expiring URL to the result file."""

    required_abilities = {"GET": Ability.IMAGES_READ}

    @extend_schema(
        summary="Get a download URL",
        description="A signed URL to the result, valid for a limited time.",
        responses={
            200: envelope("DownloadResponse", DownloadSerializer()),
            400: error("The image is not completed (yet): the message says its status, and why it failed."),
            410: error("The image expired: its files were deleted after the plan's retention period."),
        },
        examples=[examples.DOWNLOAD],
    )
    def get(self, request: ApiRequest, pk: str) -> Response:
        image = get_object_or_404(Image.objects.in_workspace(request_workspace(request)), pk=pk)
        url = image.download_url(request.build_absolute_uri)
        if image.status == Image.Status.EXPIRED:
            raise Gone(EXPIRED_REASON)
        if url is None:
            detail = image.error if image.status == Image.Status.FAILED else None
            message = f"The image is {image.status}; only completed images can be downloaded."
            if detail:
                message += f" It failed: {detail}"
            raise ParseError(message)
        data = DownloadSerializer({"download_url": url, "filename": image.download_filename}).data
        return ok(data, "Download URL generated successfully")


def download_file(request: HttpRequest, token: str) -> HttpResponseBase:
    """Serve a result file to whoever holds a valid signed URL (no token header needed)."""
    image = Image.from_download_token(token)
    if image is None:
        raise Http404("This download link is invalid or has expired.")
    return files.serve(image.upscaled, fmt=image.upscaled_format, filename=image.download_filename)
