"""Production settings are the default once the production environment is set (security, issue #11 item 8)."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import Client
from rest_framework.test import APIClient

from upscaler_site.testing import ROOT, make_user

#: The production environment the README documents (docs/security.md), nothing more.
PRODUCTION = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "upscaler.example.com",
    "BEHIND_TLS_PROXY": "1",
    "DEBUG": "0",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if key not in ("SECRET_KEY", "DEBUG", "BEHIND_TLS_PROXY")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env}, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_check_deploy_is_clean_with_the_documented_environment(tmp_path):
    result = manage("check", "--deploy", UPSCALER_DATA_DIR=str(tmp_path), **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_development_makes_its_own_secret_key_once(tmp_path):
    script = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = manage("shell", "-c", script, DEBUG="1", UPSCALER_DATA_DIR=str(tmp_path))
    second = manage("shell", "-c", script, DEBUG="1", UPSCALER_DATA_DIR=str(tmp_path))
    other = manage("shell", "-c", script, DEBUG="1", UPSCALER_DATA_DIR=str(tmp_path / "elsewhere"))
    key = first.stdout.strip()
    assert len(key) >= 50 and "insecure" not in key
    assert second.stdout.strip() == key != other.stdout.strip()
    assert stat.S_IMODE((Path(tmp_path) / "secret_key").stat().st_mode) == 0o600


def test_production_without_a_secret_key_refuses_to_start(tmp_path):
    env = {**PRODUCTION, "SECRET_KEY": ""}
    result = manage("check", UPSCALER_DATA_DIR=str(tmp_path), **env)
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_a_worker_host_runs_one_worker_per_gpu_unless_told(tmp_path):
    def workers(**env: str) -> int:
        script = "from django.conf import settings; print(settings.Q_CLUSTER['workers'])"
        result = manage("shell", "-c", script, UPSCALER_DATA_DIR=str(tmp_path), **PRODUCTION, **env)
        return int(result.stdout.splitlines()[-1])

    assert workers(CUDA_VISIBLE_DEVICES="0,1,2") == 3
    assert workers(CUDA_VISIBLE_DEVICES="") == 1
    assert workers(CUDA_VISIBLE_DEVICES="0,1", Q_WORKERS="5") == 5


@pytest.mark.django_db
def test_pages_run_only_the_sites_own_scripts_and_styles(user):
    browser = Client()
    browser.force_login(user)
    policy = directives(browser.get("/upload")["Content-Security-Policy"])
    assert policy["script-src"] == policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == policy["object-src"] == "'none'"
    staff = make_user("staff@example.com", is_staff=True, is_superuser=True)
    browser.force_login(staff)
    admin_policy = directives(browser.get("/admin/")["Content-Security-Policy"])
    assert (admin_policy["style-src"], admin_policy["script-src"]) == ("'self' 'unsafe-inline'", "'self'")


def directives(policy: str) -> dict[str, str]:
    """A CSP header as {directive: sources}; django-csp does not promise an order."""
    return dict(part.strip().partition(" ")[::2] for part in policy.split(";") if part.strip())


@pytest.mark.django_db
def test_request_bodies_are_limited_per_path(api, settings):
    big_json = {"email": "a@example.com", "password": "x" * (600 * 1024)}
    assert APIClient().post("/api/auth/login", big_json, format="json").status_code == 413
    assert Client().post("/billing/webhook", "x" * (600 * 1024), content_type="application/json").status_code == 413
    # An upload may be as large as its files.
    settings.UPSCALE_MAX_UPLOAD_BYTES = 2 * 1024 * 1024
    from upscaler_site import middleware

    middleware._upload_limits.cache_clear()
    try:
        response = api.post("/api/images/upscale", {"image": ("x" * (1024 * 1024))})
        assert response.status_code == 422  # read and refused as not an image, not 413
        assert middleware.body_limit("/api/batches") == settings.MAX_UPLOAD_REQUEST_BYTES
    finally:
        middleware._upload_limits.cache_clear()


def test_a_refused_body_a_proxy_would_pass_is_read_before_the_413(settings):
    """Answering with the body unread resets the connection, and nginx turns the 413 into a 502."""
    from django.test import RequestFactory

    from upscaler_site.middleware import RequestSizeLimitMiddleware

    def left_unread(size: int) -> int:
        request = RequestFactory().generic("POST", "/api/auth/login", b"x" * size, "application/json")
        response = RequestSizeLimitMiddleware(lambda request: HttpResponse())(request)
        assert response.status_code == 413
        return len(request.read())

    settings.MAX_UPLOAD_REQUEST_BYTES = 3 * 2**20
    assert left_unread(2 * 2**20) == 0
    assert left_unread(4 * 2**20) == 4 * 2**20  # nginx would not pass it: the connection just closes
