"""Delivering webhooks to real receivers on loopback: signatures a Standard Webhooks library verifies,
custom headers, retries with backoff through failures and outages, 410, timeouts and the SSRF rules.

The tasks run here in the test process (the worker runs the same functions); time moves by
making the next attempt due, so a day of retries takes a second.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from images import jobs
from images.models import Image
from upscaler_site import outbound
from upscaler_site.testing import LocalServer
from webhooks import delivery, events, tasks
from webhooks.models import Delivery, Endpoint, EventType, RequestSigningKeys

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.SITE_URL = "https://upscaler.example.com"


def receiver(*statuses: int):
    """A responder answering ``statuses`` in turn, then 200 for ever."""
    answers = list(statuses)

    def respond(request):
        return (answers.pop(0) if answers else 200), {"Content-Type": "text/plain"}, b"thanks"

    return respond


def make_image(workspace, **fields) -> Image:
    defaults = {
        "original_filename": "cat.jpg",
        "original_width": 40,
        "original_height": 30,
        "original_size": 1000,
        "original_format": "JPEG",
        "status": Image.Status.PROCESSING,
        "ref": "order-7",
    }
    return Image.objects.create(workspace=workspace, **{**defaults, **fields})


def endpoint_at(workspace, url: str, **fields) -> Endpoint:
    return Endpoint.objects.create(workspace=workspace, url=url, **{"events": list(EventType.values), **fields})


def make_due() -> None:
    """Let time pass until every pending delivery's next attempt is due."""
    Delivery.objects.filter(status=Delivery.Status.PENDING).update(next_attempt_at=timezone.now())


def fail_image(image: Image) -> Delivery:
    jobs.fail(image, "The image is damaged.")
    return Delivery.objects.get(image_id=image.pk)


def test_a_delivery_is_signed_per_standard_webhooks_with_the_custom_headers(workspace):
    with LocalServer(receiver()) as server:
        endpoint = endpoint_at(
            workspace, f"{server.url}/hooks", headers={"X-Shop": "eu-1", "Authorization": "Bearer s"}
        )
        image = make_image(workspace)
        pending = fail_image(image)
        assert tasks.deliver(str(pending.pk)) == "succeeded"
    [request] = server.received
    assert request.method == "POST" and request.path == "/hooks"
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload["type"] == "image.failed"
    assert payload["data"]["id"] == str(image.pk) and payload["data"]["error"] == "The image is damaged."
    assert payload["data"]["ref"] == "order-7"
    assert request.headers["X-Shop"] == "eu-1" and request.headers["Authorization"] == "Bearer s"
    assert request.headers["webhook-id"] == f"msg_{pending.pk.hex}"
    assert request.headers["Content-Type"] == "application/json"
    # Another secret, or a changed body, does not verify.
    with pytest.raises(WebhookVerificationError):
        Webhook(RequestSigningKeys.of(workspace.pk).secret).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(request.body.replace(b"damaged", b"fine!!!"), request.headers)


def test_the_signature_is_hmac_sha256_of_id_timestamp_and_body_as_the_readme_computes_it(workspace):
    import base64
    import hashlib
    import hmac

    with LocalServer(receiver()) as server:
        endpoint = endpoint_at(workspace, server.url)
        tasks.deliver(str(fail_image(make_image(workspace)).pk))
    [request] = server.received
    key = base64.b64decode(endpoint.secret.removeprefix("whsec_"))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert request.headers["webhook-signature"] == f"v1,{expected}"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60


def test_a_completed_image_carries_a_fresh_absolute_download_url(workspace, small_photo):
    from upscaler_site.testing import encode

    with LocalServer(receiver()) as server:
        endpoint_at(workspace, server.url, events=["image.completed"])
        image = make_image(workspace)
        jobs.complete(
            image, encode(small_photo, "PNG"), "png", width=80, height=60, fmt="PNG", scale_chain=[2], seconds=1.5
        )
        [pending] = Delivery.objects.all()
        tasks.deliver(str(pending.pk))
    payload = json.loads(server.received[0].body)
    assert payload["type"] == "image.completed" and payload["data"]["status"] == "completed"
    assert payload["data"]["download_url"].startswith("https://upscaler.example.com/files/")
    assert Image.from_download_token(payload["data"]["download_url"].rsplit("/", 1)[1]) == image


def test_a_receiver_that_fails_twice_then_answers_gets_the_event_on_the_third_attempt(workspace):
    with LocalServer(receiver(500, 503)) as server:
        endpoint_at(workspace, server.url)
        pending = fail_image(make_image(workspace))
        before = timezone.now()
        assert tasks.deliver(str(pending.pk)) == "pending"
        pending.refresh_from_db()
        # The first retry after 5 s, the second after 5 minutes, each up to 20 % later (the jitter).
        assert timedelta(seconds=5) <= pending.next_attempt_at - before <= timedelta(seconds=7)
        assert tasks.deliver_due() == 0  # not due yet
        make_due()
        before = timezone.now()
        assert tasks.deliver_due() == 1
        pending.refresh_from_db()
        assert timedelta(seconds=300) <= pending.next_attempt_at - before <= timedelta(seconds=361)
        make_due()
        assert tasks.deliver_due() == 1
    pending.refresh_from_db()
    assert pending.status == Delivery.Status.SUCCEEDED and pending.attempts == 3 and pending.next_attempt_at is None
    log = list(pending.attempt_log.order_by("number"))
    assert [(a.number, a.status_code) for a in log] == [(1, 500), (2, 503), (3, 200)]
    assert all(a.duration_ms >= 0 for a in log) and log[2].response == "thanks"
    # Every attempt is the same event: the same webhook-id, each freshly signed.
    assert len({r.headers["webhook-id"] for r in server.received}) == 1


def test_a_receiver_down_for_an_hour_loses_nothing(workspace, settings):
    # Nothing listens on the port for the first attempts (connection refused), then a receiver does.
    with LocalServer(receiver()) as probe:
        port = probe.port
    endpoint_at(workspace, f"http://127.0.0.1:{port}/hooks")
    pending = fail_image(make_image(workspace))
    down_until = timezone.now() + timedelta(hours=1)
    clock = timezone.now()
    tasks.deliver(str(pending.pk))
    while True:
        pending.refresh_from_db()
        assert pending.status == Delivery.Status.PENDING, "gave up while the receiver was down"
        clock += pending.next_attempt_at - timezone.now()  # wait for the next attempt
        if clock >= down_until:
            break
        make_due()
        tasks.deliver_due()
    assert pending.attempts >= 4
    assert all(a.status_code is None and "could not be reached" in a.response for a in pending.attempt_log.all())
    with LocalServer(receiver(), port=port) as server:  # the receiver is back
        make_due()
        assert tasks.deliver_due() == 1
    pending.refresh_from_db()
    assert pending.status == Delivery.Status.SUCCEEDED and len(server.received) == 1
    # The schedule as a whole: at least 5 attempts over at least 24 hours (jitter only adds to a delay).
    delays = settings.WEBHOOK_RETRY_DELAYS
    assert len(delays) + 1 >= 5 and sum(delays) >= 24 * 3600


def test_a_delivery_gives_up_after_the_last_retry(workspace, settings):
    settings.WEBHOOK_RETRY_DELAYS = [1, 2]
    with LocalServer(receiver(500, 500, 500, 500)) as server:
        endpoint_at(workspace, server.url)
        pending = fail_image(make_image(workspace))
        tasks.deliver(str(pending.pk))
        for _ in range(3):
            make_due()
            tasks.deliver_due()
    pending.refresh_from_db()
    assert pending.status == Delivery.Status.FAILED and pending.attempts == 3 and len(server.received) == 3


def test_410_gone_disables_the_endpoint_and_fails_its_pending_deliveries(workspace):
    with LocalServer(receiver(410)) as server:
        endpoint = endpoint_at(workspace, server.url)
        first, second = fail_image(make_image(workspace)), fail_image(make_image(workspace))
        tasks.deliver(str(first.pk))
        make_due()
        assert tasks.deliver_due() == 0
    endpoint.refresh_from_db()
    assert not endpoint.active and "410" in endpoint.disabled_reason
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.FAILED}
    assert len(server.received) == 1
    second.refresh_from_db()
    assert second.attempts == 0
    # No new events for it either.
    jobs.fail(make_image(workspace), "x")
    assert Delivery.objects.filter(endpoint=endpoint).count() == 2


def test_a_slow_receiver_times_out_and_is_retried(workspace, monkeypatch):
    monkeypatch.setattr(outbound, "TIMEOUT", 0.5)

    def slow(request):
        time.sleep(1.5)
        return 200, {}, b"late"

    with LocalServer(slow) as server:
        endpoint_at(workspace, server.url)
        pending = fail_image(make_image(workspace))
        tasks.deliver(str(pending.pk))
    attempt = pending.attempt_log.get()
    assert attempt.status_code is None and "did not answer" in attempt.response
    assert attempt.duration_ms < 1400
    pending.refresh_from_db()
    assert pending.status == Delivery.Status.PENDING


@pytest.mark.parametrize("host", ["localhost", "10.0.0.1", "169.254.169.254", "[::ffff:127.0.0.1]"])
def test_webhooks_to_internal_addresses_are_refused(workspace, settings, host):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    with LocalServer(receiver()) as server:
        endpoint_at(workspace, f"http://{host}:{server.port}/hooks")
        pending = fail_image(make_image(workspace))
        tasks.deliver(str(pending.pk))
    assert server.received == []
    attempt = pending.attempt_log.get()
    assert attempt.status_code is None and "not a public address" in attempt.response


def test_redirects_are_not_followed(workspace):
    with LocalServer(lambda r: (307, {"Location": "http://10.0.0.1/"}, b"")) as server:
        endpoint_at(workspace, server.url)
        pending = fail_image(make_image(workspace))
        tasks.deliver(str(pending.pk))
    assert pending.attempt_log.get().status_code == 307 and len(server.received) == 1


def test_after_a_rotation_both_secrets_sign_for_a_day(workspace):
    with LocalServer(receiver()) as server:
        endpoint = endpoint_at(workspace, server.url)
        old = endpoint.secret
        new = endpoint.rotate()
        tasks.deliver(str(fail_image(make_image(workspace)).pk))
        Endpoint.objects.filter(pk=endpoint.pk).update(previous_expires_at=timezone.now() - timedelta(seconds=1))
        tasks.deliver(str(fail_image(make_image(workspace)).pk))
    during, after = server.received
    Webhook(old).verify(during.body, during.headers)
    Webhook(new).verify(during.body, during.headers)
    Webhook(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)


def test_only_active_subscribed_endpoints_of_the_workspace_get_an_event(workspace, other_user):
    wants = endpoint_at(workspace, "https://a.example.com", events=["image.failed"])
    endpoint_at(workspace, "https://b.example.com", events=["image.completed"])
    endpoint_at(workspace, "https://c.example.com", active=False)
    endpoint_at(other_user.personal_workspace, "https://d.example.com")
    fail_image(make_image(workspace))
    assert [d.endpoint for d in Delivery.objects.all()] == [wants]


def test_a_deleted_image_fires_nothing_and_a_rolled_back_move_leaves_no_delivery(workspace):
    endpoint_at(workspace, "https://a.example.com")
    make_image(workspace).delete()
    assert not Delivery.objects.exists()
    from django.db import transaction

    with transaction.atomic():
        fail_image(make_image(workspace))
        transaction.set_rollback(True)
    assert not Delivery.objects.exists()


def test_a_per_request_webhook_is_signed_with_the_workspace_request_secret(workspace):
    with LocalServer(receiver()) as server:
        image = make_image(workspace, webhook_url=f"{server.url}/mine", webhook_headers={"X-Job": "42"})
        pending = fail_image(image)
        assert pending.endpoint is None
        tasks.deliver(str(pending.pk))
    [request] = server.received
    assert request.path == "/mine" and request.headers["X-Job"] == "42"
    assert Webhook(RequestSigningKeys.of(workspace.pk).secret).verify(request.body, request.headers)["type"] == (
        "image.failed"
    )


def test_a_deleted_image_is_sent_as_it_was_when_the_event_happened(workspace):
    with LocalServer(receiver()) as server:
        endpoint_at(workspace, server.url)
        image = make_image(workspace)
        pending = fail_image(image)
        image.delete()
        tasks.deliver(str(pending.pk))
    assert json.loads(server.received[0].body)["data"]["error"] == "The image is damaged."


def test_a_test_event_and_a_manual_redelivery(workspace):
    with LocalServer(receiver(500)) as server:
        endpoint = endpoint_at(workspace, server.url)
        sent = events.send_test(endpoint)
        tasks.deliver(str(sent.pk))
        tasks.redeliver(str(sent.pk))
    first, _ = (json.loads(r.body) for r in server.received)
    assert first["test"] is True and first["type"] == "image.completed" and first["data"]["status"] == "completed"
    sent.refresh_from_db()
    assert sent.status == Delivery.Status.SUCCEEDED
    assert [a.manual for a in sent.attempt_log.order_by("number")] == [False, True]


def test_the_task_and_the_sweep_never_send_a_delivery_twice(workspace):
    endpoint_at(workspace, "https://a.example.com")
    pending = fail_image(make_image(workspace))
    assert delivery.claim(pending.pk) is not None
    assert delivery.claim(pending.pk) is None  # leased to the first
    assert tasks.deliver(str(pending.pk)) == "skipped"


def test_a_batch_event_goes_to_its_webhook_url_and_the_subscribed_endpoints(workspace):
    from batches import jobs as batch_jobs
    from batches.models import Batch

    with LocalServer(receiver()) as server:
        endpoint_at(workspace, f"{server.url}/endpoint", events=["batch.cancelled"])
        endpoint_at(workspace, f"{server.url}/images-only", events=["image.failed"])
        batch = Batch.objects.create(workspace=workspace, total_images=1, ref="feed-9",
                                     webhook_url=f"{server.url}/mine", webhook_headers={"X-Feed": "9"})  # fmt: skip
        make_image(workspace, batch=batch, status=Image.Status.PENDING)
        batch_jobs.cancel(batch)
        batch_events = Delivery.objects.exclude(event_type="image.failed")
        for pending in batch_events:
            tasks.deliver(str(pending.pk))
    assert sorted(r.path for r in server.received) == ["/endpoint", "/mine"]
    for request in server.received:
        payload = json.loads(request.body)
        assert payload["type"] == "batch.cancelled"
        assert (payload["data"]["id"], payload["data"]["ref"], payload["data"]["status"]) == (
            str(batch.pk), "feed-9", "cancelled"
        )  # fmt: skip
    assert next(r for r in server.received if r.path == "/mine").headers["X-Feed"] == "9"
    # The image of the batch failed ("cancelled"): its own event goes to the endpoints that want it, and not
    # to the batch's webhook_url.
    assert list(Delivery.objects.filter(event_type="image.failed").values_list("url", flat=True)) == [
        f"{server.url}/images-only"
    ]


def test_the_readme_verification_recipes_accept_a_real_delivery(workspace, tmp_path):
    """The Python and openssl recipes of the README's Webhooks section, run as written on a delivery."""
    import re
    import subprocess

    from upscaler_site.testing import ROOT

    section = (ROOT / "README.md").read_text().split("\n### Webhooks\n", 1)[1].split("\n### ", 1)[0]
    [python] = re.findall(r"^```python\n(.*?)^```$", section, flags=re.S | re.M)
    [shell] = re.findall(r"^```bash\n(.*?)^```$", section, flags=re.S | re.M)
    with LocalServer(receiver()) as server:
        endpoint = endpoint_at(workspace, server.url)
        tasks.deliver(str(fail_image(make_image(workspace)).pk))
    [request] = server.received

    namespace: dict = {}
    exec(python.replace("whsec_…", endpoint.secret), namespace)
    assert namespace["receive"](request.body, request.headers)["type"] == "image.failed"
    with pytest.raises(PermissionError):
        namespace["receive"](request.body + b" ", request.headers)

    (tmp_path / "body.json").write_bytes(request.body)
    first, rest = shell.split("\n", 1)
    values = f"secret={endpoint.secret}; id={request.headers['webhook-id']}; ts={request.headers['webhook-timestamp']}"
    assert first.startswith("secret=whsec_…; id=msg_…; ts=")
    out = subprocess.run(["bash", "-c", f"{values}\n{rest}"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert f"v1,{out.stdout.strip()}" == request.headers["webhook-signature"]


def test_attempts_are_counted_by_outcome_for_prometheus(workspace):
    from prometheus_client import REGISTRY

    from webhooks.metrics import DeliveriesCollector

    def counted(outcome: str) -> float:
        return REGISTRY.get_sample_value("upscaler_webhook_attempts_total", {"outcome": outcome}) or 0.0

    before = {outcome: counted(outcome) for outcome in ("succeeded", "retrying", "failed")}
    with LocalServer(receiver(503, 200, 410)) as server:
        endpoint_at(workspace, server.url)
        pending = fail_image(make_image(workspace))
        [gauge] = DeliveriesCollector().collect()
        assert gauge.samples[0].value == 1
        assert tasks.deliver(str(pending.pk)) == "pending"  # 503: tried again later
        make_due()
        assert tasks.deliver(str(pending.pk)) == "succeeded"
        assert tasks.deliver(str(fail_image(make_image(workspace)).pk)) == "failed"  # 410 Gone
    assert {outcome: counted(outcome) - before[outcome] for outcome in before} == {
        "succeeded": 1, "retrying": 1, "failed": 1}  # fmt: skip
    [gauge] = DeliveriesCollector().collect()
    assert gauge.samples[0].value == 0
