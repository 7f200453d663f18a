"""Fixtures shared by every app's tests."""

from __future__ import annotations

import pytest
from PIL import Image as PILImage
from rest_framework.test import APIClient

from upscaler_site.testing import client_for, make_user, photo


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Every test stores files in its own temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def clear_cache():
    """Rate-limit counters live in the cache; no test inherits another's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def user(db):
    """A verified user, Ada, with her personal workspace."""
    return make_user("ada@example.com", name="Ada")


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
