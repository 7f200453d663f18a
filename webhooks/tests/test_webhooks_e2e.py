"""Webhooks through a real worker: an upload's per-request webhook and a workspace endpoint both get
the image's event from the worker, signed, with a download_url that downloads the result."""

from __future__ import annotations

import json
import time

import pytest
import requests
from standardwebhooks.webhooks import Webhook

from accounts.models import ApiToken
from upscaler_site.testing import LocalServer, encode, photo
from webhooks.models import Delivery, Endpoint, EventType, RequestSigningKeys

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def wait_for(server: LocalServer, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(server.received) < count:
        assert time.monotonic() < deadline, f"{len(server.received)} of {count} webhooks arrived"
        time.sleep(0.2)


def test_the_worker_delivers_signed_events_with_a_working_download_url(live_server, media_root, tmp_path, user):
    from upscaler_site.testing import qcluster

    workspace = user.personal_workspace
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ApiToken.issue(user, workspace, 'e2e')[1]}"
    with (
        LocalServer(lambda request: (200, {}, b"ok")) as receiver,
        qcluster(
            media_root,
            tmp_path / "qcluster.log",
            OUTBOUND_ALLOWED_HOSTS="127.0.0.1",
            SITE_URL=live_server.url,
            UPSCALE_WARM_MODELS="anime-fast",
        ),
    ):
        endpoint = Endpoint.objects.create(workspace=workspace, url=f"{receiver.url}/endpoint",
                                           events=[EventType.IMAGE_COMPLETED], headers={"X-Shop": "eu-1"})  # fmt: skip
        jpeg = encode(photo(size=(40, 30)), "JPEG")
        response = session.post(
            f"{live_server.url}/api/images/upscale",
            files={"image": ("cat.jpg", jpeg, "image/jpeg")},
            data={"model": "anime-fast", "ref": "sku-1", "webhook_url": f"{receiver.url}/mine",
                  "webhook_headers": json.dumps({"Authorization": "Bearer mine"})},
            timeout=30,
        )  # fmt: skip
        assert response.status_code == 202, response.text
        uploaded = response.json()["data"]
        assert uploaded["webhook_url"] == f"{receiver.url}/mine"
        wait_for(receiver, 2)
    by_path = {request.path: request for request in receiver.received}
    mine, theirs = by_path["/mine"], by_path["/endpoint"]
    payload = Webhook(RequestSigningKeys.of(workspace.pk).secret).verify(mine.body, mine.headers)
    their_payload = Webhook(endpoint.secret).verify(theirs.body, theirs.headers)
    # Each delivery signs its own fresh download_url, so the two differ once a second boundary passes.
    fresh = {
        "timestamp": their_payload["timestamp"],
        "data": payload["data"] | {"download_url": their_payload["data"]["download_url"]},
    }
    assert their_payload == payload | fresh
    assert mine.headers["Authorization"] == "Bearer mine" and theirs.headers["X-Shop"] == "eu-1"
    assert payload["type"] == "image.completed"
    data = payload["data"]
    assert (data["id"], data["status"], data["ref"], data["upscaled_dimensions"]) == (
        uploaded["id"], "completed", "sku-1", "80x60"
    )  # fmt: skip
    # The worker warmed the model up as it started, before it took the job (images.signals).
    warmed = [json.loads(line) for line in (tmp_path / "qcluster.log").read_text().splitlines()
              if '"worker_warmed"' in line]  # fmt: skip
    assert len(warmed) == 1 and set(warmed[0]["seconds"]) == {"anime-fast"}
    for url in (data["download_url"], their_payload["data"]["download_url"]):
        result = requests.get(url, timeout=10)
        assert result.status_code == 200 and result.content[:3] == b"\xff\xd8\xff"
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
