"""The documentation page's Python client, run unmodified against us: a live server and a real
``qcluster`` worker running the real model.

Register, verify the address from the email, log in, upload, poll every 3 seconds until
``completed``, download, list, usage, subscription, tokens, delete, log out, revoke all. The
requests below are the page's snippets with its host replaced by the live server's, and
nothing else changed: a client written from the page works here.
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from PIL import Image as PILImage

from upscaler_site.testing import encode, photo

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_the_documented_python_client_works_unmodified(live_server, worker, mailoutbox, tmp_path):
    base = live_server.url
    photo_path = tmp_path / "photo.jpg"
    photo_path.write_bytes(encode(photo(size=(64, 48)), "JPEG", quality=92).getvalue())

    # Register: a token that can read the profile until the address is verified.
    response = requests.post(f"{base}/api/auth/register", json={
        "name": "Jane Smith", "email": "jane@example.com",
        "password": "Mixed-Case-1", "password_confirmation": "Mixed-Case-1",
    }, timeout=30)  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.json()["data"]["user"]["email_verified_at"] is None

    # Verify: the link in the email, as a person follows it.
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mailoutbox[0].body).group(0)
    browser = requests.Session()
    browser.get(link, timeout=30)
    browser.post(link, data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]}, headers={"Referer": link},
                 timeout=30)  # fmt: skip

    # Log in (the page's curl, as requests).
    response = requests.post(f"{base}/api/auth/login", json={"email": "jane@example.com", "password": "Mixed-Case-1"},
                             timeout=30)  # fmt: skip
    assert response.json()["success"] is True, response.text
    token = response.json()["data"]["token"]
    assert response.json()["data"]["user"]["email_verified_at"] is not None

    # Upload (Quick Start, step 2).
    response = requests.post(
        f"{base}/api/images/upscale",
        headers={"Authorization": f"Bearer {token}"},
        files={"image": open(photo_path, "rb")},  # noqa: SIM115  (the page's snippet, as it is)
        data={"scale_factor": 2},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    image_id = response.json()["data"]["id"]

    # Poll for completion (Quick Start, step 3), every 3 seconds.
    deadline = time.monotonic() + 300
    while True:
        result = requests.get(f"{base}/api/images/{image_id}", headers={"Authorization": f"Bearer {token}"},
                              timeout=30).json()  # fmt: skip
        status = result["data"]["status"]
        print(f"Status: {status}")
        if status in ("completed", "failed"):
            break
        assert time.monotonic() < deadline, "not done in 5 minutes"
        time.sleep(3)
    assert status == "completed", result["data"]["error"]

    # Get the download URL, then the file (the signed URL needs no token).
    download = requests.get(f"{base}/api/images/{image_id}/download", headers={"Authorization": f"Bearer {token}"},
                            timeout=30).json()  # fmt: skip
    print(download["data"]["download_url"])
    upscaled = requests.get(download["data"]["download_url"], timeout=30)
    assert upscaled.status_code == 200
    result_path = tmp_path / download["data"]["filename"]
    result_path.write_bytes(upscaled.content)
    assert PILImage.open(result_path).size == (128, 96)

    headers = {"Authorization": f"Bearer {token}"}
    listing = requests.get(f"{base}/api/images?per_page=10&status=completed", headers=headers, timeout=30).json()
    assert [image["id"] for image in listing["data"]] == [image_id] and listing["meta"]["total"] == 1

    usage = requests.get(f"{base}/api/usage", headers=headers, timeout=30).json()["data"]
    assert (usage["plan"], usage["image_uploads"]["used"], usage["image_uploads"]["limit"]) == ("free", 1, 2)

    subscription = requests.get(f"{base}/api/subscription", headers=headers, timeout=30).json()["data"]
    assert subscription["subscription"]["status"] == "active" and subscription["plan"]["slug"] == "free"

    tokens = requests.get(f"{base}/api/user/tokens", headers=headers, timeout=30).json()["data"]
    assert tokens["count"] == len(tokens["tokens"]) >= 1

    deleted = requests.delete(f"{base}/api/images/{image_id}", headers=headers, timeout=30).json()
    assert deleted == {"success": True, "message": "Image deleted successfully", "data": None}

    # Log out revokes this token; revoke-all, from a fresh login, revokes the rest.
    assert requests.post(f"{base}/api/auth/logout", headers=headers, timeout=30).json()["success"] is True
    assert requests.get(f"{base}/api/user", headers=headers, timeout=30).status_code == 401
    token = requests.post(f"{base}/api/auth/login", json={"email": "jane@example.com", "password": "Mixed-Case-1"},
                          timeout=30).json()["data"]["token"]  # fmt: skip
    revoked = requests.post(f"{base}/api/auth/revoke-all", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert revoked.json()["message"] == "All tokens revoked successfully"
    assert requests.get(f"{base}/api/user", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code == 401
