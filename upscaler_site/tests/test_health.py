"""``/healthz`` and ``/readyz`` for load balancers, and ``manage.py ready`` for worker hosts."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from upscaler_site.tests.s3server import unreachable_bucket

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_credentials_or_queries(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_checks_the_services(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ready" and body["checks"] == dict.fromkeys(["database", "broker", "cache", "storage"],
                                                                          "ok")  # fmt: skip


def test_readyz_is_503_when_the_bucket_does_not_answer(client, settings):
    settings.STORAGES = {**settings.STORAGES, "default": unreachable_bucket()}
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["checks"]["database"] == "ok"
    assert "Could not connect" in body["checks"]["storage"]


def test_the_ready_command_checks_a_worker_host_and_its_weights():
    out = io.StringIO()
    call_command("ready", "--worker", stdout=out)  # no SystemExit: every check passed
    assert json.loads(out.getvalue())["weights"] == "ok"


def test_the_ready_command_exits_1_when_a_check_fails(settings, monkeypatch):
    from inference import loading

    monkeypatch.setattr(loading, "missing_weights", lambda: ["standard: REALESRGAN_X4PLUS_UP4X.bin not found"])
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("ready", "--worker", stdout=out)
    assert exited.value.code == 1 and "not found" in json.loads(out.getvalue())["weights"]
