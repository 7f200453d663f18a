"""Outbound requests a client chose the address of (image URLs, webhooks) reach only public addresses.

Against real local servers: a refused address is refused before anything is sent to it, after
every redirect, whatever the literal's form; ``OUTBOUND_ALLOWED_HOSTS`` opens named hosts only.
"""

from __future__ import annotations

import ipaddress
import time

import pytest

from upscaler_site import outbound
from upscaler_site.testing import LocalServer

PNG = b"\x89PNG fake body"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("::ffff:8.8.8.8", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # CGNAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),  # multicast
        ("240.0.0.1", False),  # reserved
        ("255.255.255.255", False),
        ("192.0.2.1", False),  # documentation
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("::ffff:169.254.169.254", False),
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:a00:1::", False),  # 6to4 of 10.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
    ],
)
def test_is_public(address, public):
    assert outbound.is_public(ipaddress.ip_address(address)) is public


def serve(request):
    if request.path.startswith("/redirect"):
        return 302, {"Location": request.path.split("?to=", 1)[1]}, b""
    if request.path == "/missing":
        return 404, {}, b"no"
    if request.path == "/big":
        return 200, {}, b"x" * 2000
    if request.path == "/endless":
        return 200, {}, iter([b"x" * 500] * 10)  # chunked: no Content-Length to refuse it by
    return 200, {"Content-Type": "image/png"}, PNG


@pytest.fixture
def server(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    with LocalServer(serve) as local:
        yield local


def refusal(url: str, max_bytes: int = 1000) -> str:
    with pytest.raises(outbound.FetchError) as exc:
        outbound.fetch(url, max_bytes)
    return str(exc.value)


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "127.0.0.1"),  # a host name resolving to a private address
        ("[::1]", "::1"),
        ("[::ffff:127.0.0.1]", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),  # 127.0.0.1 as one decimal number
        ("0x7f.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
    ],
)
def test_private_addresses_in_every_form_are_refused_and_nothing_reaches_them(server, host, shown):
    message = refusal(f"http://{host}:{server.port}/photo.png")
    assert "which is not a public address" in message and shown.split(":")[-1] in message
    assert server.received == []


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[fe80::1]/"])
def test_unroutable_addresses_are_refused_without_connecting(server, url):
    started = time.monotonic()
    assert "not a public address" in refusal(url)
    assert time.monotonic() - started < 1  # refused, not timed out


def test_an_allowed_host_is_fetched_but_a_redirect_into_private_space_is_not(server, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    assert outbound.fetch(f"{server.url}/photo.png", 1000) == PNG
    assert outbound.fetch(f"{server.url}/redirect?to={server.url}/photo.png", 1000) == PNG  # to itself: allowed
    message = refusal(f"{server.url}/redirect?to=http://localhost:{server.port}/photo.png")
    assert "localhost resolves to 127.0.0.1" in message
    assert [r.path for r in server.received][-1].startswith("/redirect")  # the private hop was never requested


def test_at_most_three_redirects(server, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    url = f"{server.url}/photo.png"
    for _ in range(3):
        url = f"{server.url}/redirect?to={url}"
    assert outbound.fetch(url, 1000) == PNG
    assert "redirected more than 3 times" in refusal(f"{server.url}/redirect?to={url}")


def test_only_http_and_https(server, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    assert "http:// or https://" in refusal("file:///etc/passwd")
    assert "http:// or https://" in refusal("ftp://example.com/a.png")
    assert "user name or password" in refusal(f"http://user:secret@127.0.0.1:{server.port}/photo.png")
    assert "not http or https" in refusal(f"{server.url}/redirect?to=file:///etc/passwd")


def test_the_size_cap_holds_while_streaming(server, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    assert "larger than" in refusal(f"{server.url}/big")  # by its Content-Length
    assert "larger than" in refusal(f"{server.url}/endless")  # chunked: counted as it comes
    assert outbound.fetch(f"{server.url}/big", 2000) == b"x" * 2000


def test_other_answers_and_silence_are_clear_failures(server, settings, monkeypatch):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    assert refusal(f"{server.url}/missing") == "The server answered 404 Not Found."
    assert refusal("http://127.0.0.1:9/") == "The server could not be reached."
    monkeypatch.setattr(outbound, "TIMEOUT", 0.5)
    with LocalServer(lambda request: (time.sleep(2), (200, {}, b"late"))[1]) as slow:
        assert refusal(f"{slow.url}/") == "The server did not answer within 0.5 seconds."


def test_environment_proxies_are_not_used(server, settings, monkeypatch):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would fail every request if used
    assert outbound.fetch(f"{server.url}/photo.png", 1000) == PNG
