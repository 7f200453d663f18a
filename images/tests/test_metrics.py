"""Prometheus metrics: ``GET /metrics`` on the web tier (requests, and the database's gauges) behind
``METRICS_TOKEN``, and a worker host's ``manage.py metrics`` serving what its Django-Q2 processes counted.
The end-to-end test runs gunicorn with two workers and a real qcluster, each service summing its
processes through ``PROMETHEUS_MULTIPROC_DIR``."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import ApiToken
from images.models import Image
from upscaler_site.testing import (
    ROOT,
    encode,
    finish_as_worker,
    free_port,
    gunicorn,
    photo,
    qcluster,
    service_env,
    upload_jpeg,
)

JPEG = encode(photo(size=(40, 30)), "JPEG").getvalue()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by (name, sorted labels)."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}  # fmt: skip


@pytest.mark.django_db
def test_metrics_are_off_without_a_token_and_need_it_when_on(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    settings.METRICS_TOKEN = "scrape-secret"
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Token scrape-secret"}).status_code == 401
    answered = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert answered.status_code == 200 and answered["Content-Type"].startswith("text/plain; version=")
    assert "django_http_requests_total_by_method_total" in answered.content.decode()


@pytest.mark.django_db
def test_jobs_are_counted_when_they_end_and_the_queue_is_read_from_the_database(
    api, client, settings, django_capture_on_commit_callbacks
):
    settings.METRICS_TOKEN = "scrape-secret"

    def scrape() -> dict:
        response = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert response.status_code == 200
        return samples(response.content.decode())

    def counted(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    completed = counted("upscaler_jobs_finished_total", model="anime-fast", status="completed")
    seconds = counted("upscaler_processing_seconds_count", model="anime-fast")
    megapixels = counted("upscaler_output_megapixels_total", model="anime-fast")
    with django_capture_on_commit_callbacks(execute=True):
        first = upload_jpeg(api, JPEG)
        second = upload_jpeg(api, encode(photo(size=(44, 30)), "JPEG").getvalue())
    queue = scrape()
    assert queue[("upscaler_jobs", (("status", "pending"),))] == 2
    assert queue[("upscaler_jobs", (("status", "processing"),))] == 0
    assert queue[("upscaler_oldest_pending_seconds", ())] >= 0
    assert queue[("upscaler_webhook_deliveries_pending", ())] == 0
    assert ("upscaler_queue_depth", ()) in queue

    with django_capture_on_commit_callbacks(execute=True):
        finish_as_worker(first["id"], size=(200, 100))  # 0.02 MP in the 1.0 s it reports
        Image.objects.get(pk=second["id"]).delete()
    after = scrape()
    assert after[("upscaler_jobs", (("status", "pending"),))] == 0
    assert counted("upscaler_jobs_finished_total", model="anime-fast", status="completed") == completed + 1
    assert counted("upscaler_jobs_finished_total", model="anime-fast", status="deleted") >= 1
    assert counted("upscaler_processing_seconds_count", model="anime-fast") == seconds + 1
    assert counted("upscaler_output_megapixels_total", model="anime-fast") == pytest.approx(megapixels + 0.02)
    assert counted("upscaler_output_megapixels_per_second_bucket", model="anime-fast", le="0.02") >= 1
    # The upload was counted by django-prometheus, under its view.
    upload_view = (("method", "POST"), ("transport", "http"), ("view", "images:upscale"))
    assert after.get(("django_http_requests_total_by_view_transport_method_total", upload_view), 0) >= 2


def scrape_when_up(url: str, process: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(url, timeout=10).text
        except requests.ConnectionError:
            assert process.poll() is None and time.monotonic() < deadline, "the exporter did not start"
            time.sleep(0.2)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_web_and_worker_hosts_serve_the_sum_of_their_processes(settings, tmp_path, user):
    web_dir, worker_dir = tmp_path / "prometheus-web", tmp_path / "prometheus-worker"
    web_dir.mkdir()
    worker_dir.mkdir()
    key = ApiToken.issue(user, user.personal_workspace, "metrics")[1]
    port = free_port()
    exporter_env = service_env(tmp_path / "media", PROMETHEUS_MULTIPROC_DIR=str(worker_dir))
    with (
        gunicorn(
            tmp_path / "media",
            tmp_path / "web.log",
            workers=2,
            PROMETHEUS_MULTIPROC_DIR=str(web_dir),
            METRICS_TOKEN="scrape-secret",
        ) as web,  # fmt: skip
        qcluster(tmp_path / "media", tmp_path / "worker.log", PROMETHEUS_MULTIPROC_DIR=str(worker_dir)),
    ):
        exporter = subprocess.Popen([sys.executable, "manage.py", "metrics", "--port", str(port)], cwd=ROOT,
                                    env=exporter_env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {key}"
            ids = []
            for n in range(3):
                jpeg = encode(photo(size=(40 + n, 30)), "JPEG")
                response = session.post(f"{web}/api/images/upscale", data={"model": "anime-fast"},
                                        files={"image": (f"{n}.jpg", jpeg, "image/jpeg")}, timeout=30)  # fmt: skip
                assert response.status_code == 202, response.text
                ids.append(response.json()["data"]["id"])
            for _ in range(20):  # spread over both gunicorn workers
                assert session.get(f"{web}/api/images/{ids[0]}/status", timeout=10).status_code == 200
            deadline = time.monotonic() + 180
            while Image.objects.filter(pk__in=ids, status__in=Image.UNFINISHED).exists():
                assert time.monotonic() < deadline, "images still unfinished after 3 minutes"
                time.sleep(0.5)
            outputs = sum(
                w * h for w, h in Image.objects.filter(pk__in=ids).values_list("upscaled_width", "upscaled_height")
            )

            worker = samples(scrape_when_up(f"http://127.0.0.1:{port}/metrics", exporter))
            web_metrics = samples(requests.get(f"{web}/metrics", headers={"Authorization": "Bearer scrape-secret"},
                                               timeout=10).text)  # fmt: skip
        finally:
            exporter.terminate()
            exporter.wait(10)

    model = (("model", "anime-fast"),)
    assert worker[("upscaler_jobs_finished_total", (*model, ("status", "completed")))] == 3
    assert worker[("upscaler_processing_seconds_count", model)] == 3
    assert worker[("upscaler_output_megapixels_total", model)] == pytest.approx(outputs / 1e6)
    assert worker[("upscaler_output_megapixels_per_second_count", model)] == 3
    assert not any(name.startswith("upscaler_jobs") and not name.startswith("upscaler_jobs_finished")
                   for name, _ in worker)  # the database's gauges are the web tier's  # fmt: skip
    status_view = (("method", "GET"), ("transport", "http"), ("view", "images:status"))
    assert web_metrics[("django_http_requests_total_by_view_transport_method_total", status_view)] == 20
    assert web_metrics[("upscaler_jobs", (("status", "pending"),))] == 0
    assert len({path.name for path in web_dir.iterdir()}) >= 2  # both gunicorn workers wrote their values
