"""Fixtures shared by every app's tests."""

from __future__ import annotations

import pytest
from PIL import Image as PILImage
from rest_framework.test import APIClient

from upscaler_site.testing import client_for, make_user, photo, qcluster

pytest_plugins = ["billing.tests.localstripe", "upscaler_site.tests.s3server"]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Every test stores files in its own temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def clear_cache(request):
    """Rate-limit counters live in the cache; no test inherits another's.

    Without Redis the cache is a table of the test database, so only tests that have the
    database touch it (a rolled-back test leaves it clean anyway; a transactional one not).
    """
    from django.conf import settings

    in_database = "Redis" not in settings.CACHES["default"]["BACKEND"]
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames)
    if in_database and not uses_db:
        yield
        return
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def no_decoding(monkeypatch) -> list[str]:
    """Make any pixel decoding in this process fail loudly, and record it (headers may be read)."""
    from PIL import ImageFile

    calls: list[str] = []

    def load(self):
        calls.append(self.format)
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return calls


@pytest.fixture
def user(db):
    """A verified user, Ada, whose personal workspace is on Enterprise (16x, 1,000 images a month),
    so that tests of other features do not run into Free's limits. Billing tests use Free users."""
    from billing.models import Plan, Subscription

    ada = make_user("ada@example.com", name="Ada")
    Subscription.objects.create(workspace=ada.personal_workspace, plan=Plan.objects.get(slug="enterprise"))
    return ada


@pytest.fixture
def other_user(db):
    """A verified user, Bob, in another workspace."""
    return make_user("bob@example.com", name="Bob")


@pytest.fixture
def workspace(user):
    return user.personal_workspace


@pytest.fixture
def api(user) -> APIClient:
    """An API client authenticated as ``user`` with a Bearer token."""
    return client_for(user)


@pytest.fixture
def small_photo() -> PILImage.Image:
    """A 40x30 real photo: a photo all the same, and fast through the model."""
    return photo(size=(40, 30))


@pytest.fixture
def worker(live_server, media_root, tmp_path):
    """A real Django-Q2 cluster serving the live server's queue, stopped (its log shown on failure) after the test.

    For transactional tests (``django_db(transaction=True)``): the worker is another process.
    """
    with qcluster(media_root, tmp_path / "qcluster.log") as proc:
        yield proc
