"""A localstripe server (a stateful fake Stripe, PyPI ``localstripe``) for the Stripe tests, a pytest plugin
(the root conftest.py loads it: the compatibility tests use it too).

It runs as a subprocess on a free loopback port for the whole session, keeps its state
in memory only (its usual pickle in /tmp is switched off), and the ``stripe_settings``
fixture points our settings and the ``stripe`` SDK at it. If it cannot start, the
tests fail: nothing is skipped.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
import stripe

from upscaler_site.testing import free_port, stop_process

SECRET_KEY = "sk_test_localstripe"
WEBHOOK_SECRET = "whsec_test_secret"

# localstripe's own entry point listens on every interface and pickles its store to
# /tmp; this serves the same app on loopback only, in memory.
_SERVER = """
import sys
from aiohttp import web
from localstripe import resources, server
resources.Store.dump_to_disk = lambda self: None
web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def _answers(url: str) -> bool:
    request = urllib.request.Request(f"{url}/v1/customers", headers={"Authorization": f"Bearer {SECRET_KEY}"})
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@pytest.fixture(scope="session")
def localstripe_url(tmp_path_factory) -> Iterator[str]:
    """The base URL of a running localstripe; stopped at the end of the session."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("localstripe") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", _SERVER, str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"localstripe did not start on {url}:\n{log.read_text()}", pytrace=False)
            time.sleep(0.1)
        yield url
    finally:
        stop_process(process, timeout=10)


@pytest.fixture
def stripe_settings(settings, localstripe_url, db):
    """Settings and the SDK pointed at localstripe, with a fresh Stripe price for the Starter plan.

    Returns a namespace-like dict: ``starter_price`` (the price id) and ``webhook_secret``.
    """
    from billing.models import Plan

    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_localstripe"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = localstripe_url
    settings.BILLING_GRACE_DAYS = 7
    saved = stripe.api_key, stripe.api_base
    stripe.api_key, stripe.api_base = SECRET_KEY, localstripe_url

    # localstripe has Plans, not Prices; a Plan id is accepted wherever Stripe takes a price id.
    product = stripe.Product.create(name="Starter")
    price_id = f"price_starter_{uuid.uuid4().hex[:12]}"
    stripe.Plan.create(id=price_id, product=product.id, amount=900, currency="usd", interval="month")
    Plan.objects.filter(slug="starter").update(stripe_price_id=price_id)
    yield {"starter_price": price_id, "webhook_secret": WEBHOOK_SECRET, "url": localstripe_url}
    stripe.api_key, stripe.api_base = saved
