"""Images by URL through a real worker, against real local servers: the worker fetches, the SSRF
rules hold for every form of a private address and after redirects, and every refused or failed
fetch fails its image with the reason and gives its quota back.

The local image server listens on 127.0.0.1, which the worker may reach (``OUTBOUND_ALLOWED_HOSTS``,
as an on-premises image store would be); every other way to reach this machine is refused.
"""

from __future__ import annotations

import time

import pytest
import requests

from accounts.models import ApiToken
from billing.quota import used_images
from upscaler_site.testing import LocalServer, encode, photo, qcluster

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

JPEG = encode(photo(size=(48, 32)), "JPEG", quality=92).getvalue()


def image_host(request):
    if request.path.startswith("/redirect"):
        return 302, {"Location": request.path.split("?to=", 1)[1]}, b""
    if request.path == "/missing.jpg":
        return 404, {}, b"gone"
    if request.path == "/page.html":
        return 200, {"Content-Type": "text/html"}, b"<html>not an image</html>"
    if request.path == "/huge.jpg":
        return 200, {"Content-Type": "image/jpeg"}, iter([b"\xff" * 65536] * 10)  # 640 KB, chunked
    return 200, {"Content-Type": "image/jpeg"}, JPEG


def test_images_by_url_through_a_real_worker(live_server, media_root, tmp_path, user):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ApiToken.issue(user, user.personal_workspace, 'e2e')[1]}"
    with LocalServer(image_host) as host, qcluster(media_root, tmp_path / "qcluster.log",
                                                   OUTBOUND_ALLOWED_HOSTS="127.0.0.1",
                                                   UPSCALE_MAX_UPLOAD_BYTES=str(300 * 1024)):  # fmt: skip
        port = host.port
        cases = {
            "fetched": (f"{host.url}/shop/cat.jpg", "completed", None),
            "localhost": (f"http://localhost:{port}/cat.jpg", "failed", "localhost resolves to 127.0.0.1"),
            "ipv6 loopback": (f"http://[::1]:{port}/cat.jpg", "failed", "not a public address"),
            "ipv4-mapped": (f"http://[::ffff:127.0.0.1]:{port}/cat.jpg", "failed", "not a public address"),
            "decimal": (f"http://2130706433:{port}/cat.jpg", "failed", "resolves to 127.0.0.1"),
            "metadata": ("http://169.254.169.254/latest/meta-data/", "failed", "169.254.169.254"),
            "private": ("http://10.0.0.1/cat.jpg", "failed", "10.0.0.1"),
            "redirect": (f"{host.url}/redirect?to=http://localhost:{port}/cat.jpg", "failed",
                         "localhost resolves to 127.0.0.1"),
            "404": (f"{host.url}/missing.jpg", "failed", "answered 404"),
            "not an image": (f"{host.url}/page.html", "failed", "not a valid image"),
            "too large": (f"{host.url}/huge.jpg", "failed", "larger than 0.293 MB"),
        }  # fmt: skip
        ids = {}
        for name, (url, _, _) in cases.items():
            response = session.post(f"{live_server.url}/api/images/upscale", json={
                "image_url": url, "scale_factor": 2, "model": "anime-fast", "ref": name}, timeout=30)  # fmt: skip
            assert response.status_code == 202, (name, response.text)
            ids[name] = response.json()["data"]["id"]
        assert used_images(user.personal_workspace) == len(cases)

        results, deadline = {}, time.monotonic() + 180
        while len(results) < len(cases):
            assert time.monotonic() < deadline, set(cases) - set(results)
            for name, image_id in ids.items():
                data = session.get(f"{live_server.url}/api/images/{image_id}", timeout=10).json()["data"]
                if data["status"] in ("completed", "failed"):
                    results[name] = data
            time.sleep(0.3)

    for name, (_, status, reason) in cases.items():
        data = results[name]
        assert (data["status"], data["ref"]) == (status, name), (name, data["error"])
        if reason:
            assert reason in data["error"], (name, data["error"])
    fetched = results["fetched"]
    assert (fetched["original_filename"], fetched["original_dimensions"], fetched["upscaled_dimensions"]) == (
        "cat.jpg", "48x32", "96x64"
    )  # fmt: skip
    assert used_images(user.personal_workspace) == 1  # every failed fetch gave its image back
    # Nothing was ever sent to a refused address: the local server saw only its own name.
    assert {request.headers["Host"] for request in host.received} == {f"127.0.0.1:{port}"}
