"""The dashboard's image pages with Django's test client: scoping to the current workspace,
the live status endpoint, delete (POST, CSRF, membership), the files, history and upload pages.

The browser itself is exercised in ``test_browser.py``.
"""

from __future__ import annotations

import io
import uuid

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image as PILImage

from accounts.models import Membership, Workspace
from batches.models import Batch
from billing.models import Plan
from billing.quota import reserve_images
from images.models import Image
from images.tests.factories import make_image
from upscaler_site.testing import encode

pytestmark = pytest.mark.django_db

COMPLETED = Image.Status.COMPLETED


def logged_in(user, **client_options) -> Client:
    client = Client(**client_options)
    client.force_login(user)
    return client


@pytest.fixture
def ada(user) -> Client:
    """Ada's browser, signed in; her current workspace is her personal one (Enterprise)."""
    return logged_in(user)


def poll(client: Client, images=(), batches=()):
    return client.get(
        reverse("images_web:status"),
        {"images": ",".join(str(i) for i in images), "batches": ",".join(str(b) for b in batches)},
    )


def switch(client: Client, workspace: Workspace) -> None:
    assert client.post(reverse("accounts_web:workspace_switch"), {"workspace": workspace.pk}).status_code == 302


# --- Live status ------------------------------------------------------------------------------------


def test_status_answers_the_current_workspaces_images_and_leaves_out_the_rest(ada, user, other_user):
    done = make_image(user, status=COMPLETED)
    waiting = make_image(user)
    theirs = make_image(other_user, status=COMPLETED)

    response = poll(ada, [done.pk, waiting.pk, theirs.pk, "not-a-uuid", uuid.uuid4()])

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    data = response.json()
    assert set(data["images"]) == {str(done.pk), str(waiting.pk)}  # Bob's is silently left out
    shown = data["images"][str(done.pk)]
    assert shown["status"] == "completed" and shown["status_text"] == "Completed" and shown["finished"]
    assert shown["download_url"] == reverse("images_web:download", args=[done.pk])
    assert shown["detail_url"] == reverse("images_web:detail", args=[done.pk])
    assert shown["result_dimensions"] == "80 \N{MULTIPLICATION SIGN} 60"
    pending = data["images"][str(waiting.pk)]
    assert (pending["status_text"], pending["finished"], pending["download_url"]) == ("Queued", False, None)
    assert data["usage"]["limit"] == 1000


def test_status_reports_failures_and_batches_of_the_workspace_only(ada, user, other_user):
    mine = Batch.objects.create(workspace=user.personal_workspace, name="holiday", total_images=2, model="standard")
    theirs = Batch.objects.create(workspace=other_user.personal_workspace, total_images=1, model="standard")
    failed = make_image(user, status=Image.Status.FAILED, error="The image is too small.", batch=mine)
    make_image(user, status=COMPLETED, batch=mine)
    Batch.objects.filter(pk=mine.pk).update(completed_images=1, failed_images=1, status="partially_failed")

    data = poll(ada, [failed.pk], [mine.pk, theirs.pk]).json()

    assert data["images"][str(failed.pk)]["error"] == "The image is too small."
    assert data["images"][str(failed.pk)]["batch_id"] == str(mine.pk)
    assert list(data["batches"]) == [str(mine.pk)]
    batch = data["batches"][str(mine.pk)]
    assert (batch["status"], batch["status_text"], batch["finished"], batch["progress"]) == (
        "partially_failed",
        "Partially Failed",
        True,
        100,
    )
    assert batch["archive_url"] == reverse("batches:archive", args=[mine.pk])


def test_status_follows_the_workspace_switcher(ada, user):
    team = Workspace.create_for(user, "Team")
    in_team = make_image(team)
    assert poll(ada, [in_team.pk]).json()["images"] == {}
    switch(ada, team)
    assert list(poll(ada, [in_team.pk]).json()["images"]) == [str(in_team.pk)]


def test_status_without_a_session_is_401_json(client, user):
    response = poll(client, [make_image(user).pk])
    assert response.status_code == 401
    assert "log in" in response.json()["error"]


def test_polling_does_not_spend_the_hourly_api_requests(ada, user):
    Plan.objects.filter(slug="enterprise").update(requests_per_hour=2)
    image = make_image(user)
    assert [poll(ada, [image.pk]).status_code for _ in range(5)] == [200] * 5
    assert [ada.get("/api/images").status_code for _ in range(3)] == [200, 200, 429]


def test_uploads_from_the_dashboard_are_not_api_requests(ada, small_photo):
    response = ada.post("/api/images/upscale", {"image": encode(small_photo)}, headers={"Accept": "application/json"})
    assert response.status_code == 202, response.json()
    assert response.json()["data"]["api_request"] is False


# --- Result page and files ------------------------------------------------------------------------


def test_result_page_has_the_comparison_slider_zoom_download_and_details(ada, user):
    image = make_image(user, status=COMPLETED, model="auto", model_used="anime-fast", model_reason="flat fills")

    page = ada.get(reverse("images_web:detail", args=[image.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    assert '<input type="range" id="compare-position"' in html
    assert '<label for="compare-position">' in html
    assert 'aria-pressed="false"' in html and "Actual pixels (100 %)" in html
    assert reverse("images_web:original", args=[image.pk]) in html
    assert reverse("images_web:result", args=[image.pk]) in html
    assert f'href="{reverse("images_web:download", args=[image.pk])}" download' in html
    assert "40 \N{MULTIPLICATION SIGN} 30 px" in html and "80 \N{MULTIPLICATION SIGN} 60 px" in html
    assert "1.25 s" in html and "anime-fast" in html and "flat fills" in html
    assert "detail-config" not in html  # finished: nothing to poll


def test_a_pending_image_page_polls_and_a_failed_one_shows_why(ada, user):
    pending = make_image(user)
    assert b'id="detail-config"' in ada.get(reverse("images_web:detail", args=[pending.pk])).content
    failed = make_image(user, status=Image.Status.FAILED, error="The worker ran out of memory.")
    page = ada.get(reverse("images_web:detail", args=[failed.pk])).content.decode()
    assert 'role="alert">The worker ran out of memory.' in page
    assert "compare-position" not in page


@pytest.mark.parametrize("name", ["detail", "original", "result", "download", "thumbnail"])
def test_another_workspaces_image_is_404_everywhere(ada, other_user, name):
    theirs = make_image(other_user, status=COMPLETED)
    assert ada.get(reverse(f"images_web:{name}", args=[theirs.pk])).status_code == 404


@pytest.mark.parametrize("name", ["detail", "original", "download", "thumbnail"])
def test_pages_and_files_need_a_login(client, user, name):
    image = make_image(user, status=COMPLETED)
    response = client.get(reverse(f"images_web:{name}", args=[image.pk]))
    assert response.status_code == 302 and response.url.startswith(reverse("account_login"))


def test_the_files_are_served_inline_for_the_comparison_and_as_an_attachment_for_download(ada, user):
    image = make_image(user, status=COMPLETED)

    original = ada.get(reverse("images_web:original", args=[image.pk]))
    assert original["Content-Disposition"].startswith("inline")
    assert PILImage.open(io.BytesIO(b"".join(original.streaming_content))).size == (40, 30)

    result = ada.get(reverse("images_web:result", args=[image.pk]))
    assert result["Content-Disposition"].startswith("inline")

    download = ada.get(reverse("images_web:download", args=[image.pk]))
    assert download["Content-Disposition"] == 'attachment; filename="cat_upscaled_80x60.png"'
    assert PILImage.open(io.BytesIO(b"".join(download.streaming_content))).size == (80, 60)


def test_no_result_file_before_the_image_is_completed(ada, user):
    image = make_image(user, status=Image.Status.PROCESSING)
    assert ada.get(reverse("images_web:result", args=[image.pk])).status_code == 404
    assert ada.get(reverse("images_web:download", args=[image.pk])).status_code == 404


def test_thumbnails_are_small_cacheable_jpegs_stored_by_the_worker(ada, user):
    image = make_image(user, status=COMPLETED, size=(900, 600))
    response = ada.get(reverse("images_web:thumbnail", args=[image.pk]))
    assert response["Content-Type"] == "image/jpeg"
    assert "max-age" in response["Cache-Control"]
    assert PILImage.open(io.BytesIO(b"".join(response.streaming_content))).size == (320, 213)


def test_no_thumbnail_before_the_worker_made_one(ada, user):
    image = make_image(user, size=(900, 600))
    assert ada.get(reverse("images_web:thumbnail", args=[image.pk])).status_code == 404
    page = ada.get(reverse("images_web:history")).content.decode()
    assert reverse("images_web:thumbnail", args=[image.pk]) not in page


# --- Delete ------------------------------------------------------------------------------------------


def test_delete_is_post_only(ada, user):
    image = make_image(user)
    assert ada.get(reverse("images_web:delete", args=[image.pk])).status_code == 405
    assert Image.objects.filter(pk=image.pk).exists()


def test_delete_needs_the_csrf_token(user, django_capture_on_commit_callbacks):
    browser = logged_in(user, enforce_csrf_checks=True)
    image = make_image(user, status=COMPLETED)
    url = reverse("images_web:delete", args=[image.pk])

    assert browser.post(url).status_code == 403
    assert Image.objects.filter(pk=image.pk).exists()

    browser.get(reverse("images_web:history"))  # sets the CSRF cookie, as the page does
    token = browser.cookies["csrftoken"].value
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(url, {"csrfmiddlewaretoken": token, "next": "/history?status=completed"})
    assert response.status_code == 302 and response.url == "/history?status=completed"
    assert not Image.objects.filter(pk=image.pk).exists()
    assert not image.original.storage.exists(image.original.name)
    assert not image.upscaled.storage.exists(image.upscaled.name)


def test_delete_of_another_workspaces_image_is_404(ada, other_user):
    theirs = make_image(other_user)
    assert ada.post(reverse("images_web:delete", args=[theirs.pk])).status_code == 404
    assert Image.objects.filter(pk=theirs.pk).exists()


def test_delete_needs_membership_of_the_images_workspace(user, other_user):
    team = Workspace.create_for(user, "Team")
    Membership.objects.create(workspace=team, user=other_user, role=Membership.Role.MEMBER)
    first, second = make_image(team), make_image(team)
    bob = logged_in(other_user)
    switch(bob, team)

    assert bob.post(reverse("images_web:delete", args=[first.pk])).status_code == 302  # members may delete
    assert not Image.objects.filter(pk=first.pk).exists()

    team.remove_member(other_user)  # his session still names the team
    assert bob.post(reverse("images_web:delete", args=[second.pk])).status_code == 404
    assert Image.objects.filter(pk=second.pk).exists()


def test_delete_ignores_a_next_url_off_the_site(ada, user):
    image = make_image(user)
    response = ada.post(reverse("images_web:delete", args=[image.pk]), {"next": "https://evil.example/"})
    assert response.url == reverse("images_web:history")


# --- History -----------------------------------------------------------------------------------------


def test_history_shows_the_workspaces_images_with_a_status_filter(ada, user, other_user):
    done = make_image(user, status=COMPLETED, original_filename="done.png")
    make_image(user, original_filename="waiting.png")
    make_image(other_user, original_filename="bobs.png")

    page = ada.get(reverse("images_web:history")).content.decode()
    assert "done.png" in page and "waiting.png" in page and "bobs.png" not in page
    assert reverse("images_web:thumbnail", args=[done.pk]) in page
    assert 'data-confirm="Delete done.png' in page

    completed = ada.get(reverse("images_web:history"), {"status": "completed"}).content.decode()
    assert "done.png" in completed and "waiting.png" not in completed
    assert '<option value="completed" selected>Completed</option>' in completed
    # An unknown status shows everything rather than failing.
    assert "waiting.png" in ada.get(reverse("images_web:history"), {"status": "bogus"}).content.decode()


def test_history_is_paginated_keeping_the_filter(ada, user):
    for index in range(26):
        make_image(user, status=COMPLETED, original_filename=f"img{index:02}.png")
    first = ada.get(reverse("images_web:history"), {"status": "completed"}).content.decode()
    assert first.count('class="image-card"') == 24
    assert "Page 1 of 2" in first and 'href="?status=completed&amp;page=2"' in first
    second = ada.get(reverse("images_web:history"), {"status": "completed", "page": 2}).content.decode()
    assert second.count('class="image-card"') == 2 and "img00.png" in second


# --- Upload page, usage meter, navigation ---------------------------------------------------------------


def test_upload_page_offers_the_plans_scales_batches_and_every_model(ada):
    page = ada.get(reverse("images_web:upload"))
    html = page.content.decode()
    for scale in (2, 3, 4, 8, 16):
        assert f'<option value="{scale}"' in html
    for model in ("auto", "standard", "precise", "anime", "anime-fast", "portrait"):
        assert f'<option value="{model}"' in html
    assert ">Portrait: faces</option>" in html
    assert 'id="drop-zone" class="drop-zone" role="button" tabindex="0"' in html
    assert 'id="batch-name"' in html
    config = page.context["config"]
    assert config["batches"] is True and config["maxScale"] == 16
    assert config["uploadUrl"] == "/api/images/upscale" and config["batchUrl"] == "/api/batches"
    assert 'name="csrf-token"' in html


def test_a_free_workspace_gets_2x_single_uploads_and_its_usage(other_user):
    reserve_images(other_user.personal_workspace, 1, 2)
    page = logged_in(other_user).get(reverse("images_web:upload"))
    html = page.content.decode()
    assert '<option value="2"' in html and '<option value="4"' not in html
    assert "upgrade</a> for 3x, 4x, 8x, 16x" in html
    assert 'id="batch-name"' not in html and page.context["config"]["batches"] is False
    assert "<strong data-usage-used>1</strong> of 2 used" in html
    assert 'value="50.0" aria-label="Images used this month"' in html


def test_the_dashboard_shows_the_usage_meter_and_the_nav_links_upload_and_history(ada):
    html = ada.get(reverse("images_web:dashboard")).content.decode()
    assert "Images this month" in html and "of 1000 used" in html
    assert '<a href="/upload">Upload</a>' in html and '<a href="/history">History</a>' in html
    assert 'id="announcer"' in html and 'aria-live="polite"' in html
    upload = ada.get(reverse("images_web:upload")).content.decode()
    assert '<a href="/upload" aria-current="page">Upload</a>' in upload
