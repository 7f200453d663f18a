"""Fixtures shared by every app's tests."""

from __future__ import annotations

import pytest
from PIL import Image as PILImage
from rest_framework.test import APIClient

from upscaler_site.testing import client_for, photo


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Every test stores files in its own temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(
        username="ada@example.com", email="ada@example.com", password="Secret-pass-1"
    )


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(
        username="bob@example.com", email="bob@example.com", password="Secret-pass-1"
    )


@pytest.fixture
def api(user) -> APIClient:
    """An API client authenticated as ``user`` with a Bearer token."""
    return client_for(user)


@pytest.fixture
def small_photo() -> PILImage.Image:
    """A 40x30 real photo: a photo all the same, and fast through the model."""
    return photo(size=(40, 30))
