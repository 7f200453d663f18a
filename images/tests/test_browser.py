"""The dashboard in a real browser: Debian's chromium, driven by Playwright, against the live server
and a real ``qcluster`` worker running the real model.

A new user signs up, follows the emailed link, logs out and in, drops two real photos on the
upload page, watches them upload and complete without a reload, compares before and after
with the keyboard, downloads the result, deletes an image from the history, creates and
revokes a token, and looks at everything at phone width. Screenshots of the key pages go to
``$BROWSER_ARTIFACTS`` (default ``var/test-artifacts/``).

Without ``/usr/bin/chromium`` (``make install`` installs it where apt-get is available) the
tests skip, saying so.
"""

from __future__ import annotations

import base64
import io
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core import mail
from django.db import connections
from PIL import Image as PILImage
from PIL import PngImagePlugin
from skimage import data

from accounts.models import User
from billing.models import Plan, Subscription
from images.models import Image
from upscaler_site.testing import ROOT, make_user

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "Browser-pass-1"
#: What the CSP blocks by design: ReDoc's "API docs by Redocly" logo, which its bundle always loads
#: from Redocly's CDN (the reference pages load nothing from another host).
BLOCKED_ON_PURPOSE = ("https://cdn.redoc.ly/redoc/logo-mini.svg",)
# Processing two 48x48 photos with anime-fast takes seconds; the first job also loads the model.
JOB_TIMEOUT_MS = 120_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is missing: `make install` installs Debian's chromium where apt-get is available",
    ),
]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
expect = sync_api.expect

# Drops files on the drop zone the way a browser does: dragenter, dragover, drop, each with a
# DataTransfer holding File objects built from the bytes the test passes in (base64).
DROP_FILES = """([selector, files]) => {
  const transfer = new DataTransfer();
  for (const file of files) {
    const bytes = Uint8Array.from(atob(file.b64), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], file.name, { type: file.type }));
  }
  const zone = document.querySelector(selector);
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }
}"""


def png(array, box: tuple[int, int, int, int], size: int = 48, padding: int = 0) -> bytes:
    """A small PNG of a crop of a real photo; ``padding`` bytes of text make the file (not the image) larger."""
    info = PngImagePlugin.PngInfo()
    if padding:
        info.add_text("Comment", "upload progress " * (padding // 16))
    buf = io.BytesIO()
    img = PILImage.fromarray(array).crop(box).resize((size, size), PILImage.Resampling.LANCZOS)
    img.save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def payload(name: str, content: bytes, mime: str = "image/png") -> dict:
    return {"name": name, "type": mime, "b64": base64.b64encode(content).decode()}


@pytest.fixture(scope="module")
def artifacts() -> Path:
    path = Path(os.environ.get("BROWSER_ARTIFACTS") or ROOT / "var" / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser(django_db_setup) -> Iterator:
    """One headless chromium for the module's tests.

    Playwright's sync API leaves its event loop registered as running on this thread. Django
    then (1) refuses ORM calls from the test ("async context"): they are ordinary blocking
    calls, and the live server answers from its own thread, so they are allowed here; and
    (2) hands out other connection objects (asgiref keys them by context while a loop runs),
    which lack the copy of the migrations' data that ``serialized_rollback`` restores before
    each transactional test: without it the seeded plans would be flushed for good.
    """
    serialized = {conn.alias: getattr(conn, "_test_serialized_contents", None) for conn in connections.all()}
    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            for alias, contents in serialized.items():
                if contents is not None:
                    connections[alias]._test_serialized_contents = contents  # type: ignore[attr-defined]
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if saved is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


@pytest.fixture
def context(browser, live_server):
    """A browser context on the live server; the test fails if any page broke the Content-Security-Policy."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)  # fmt: skip
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    context.set_default_timeout(15_000)
    violations: list[str] = []

    def on_console(message) -> None:
        if "Content Security Policy" in message.text and not any(u in message.text for u in BLOCKED_ON_PURPOSE):
            violations.append(f"{message.location}: {message.text}")

    context.on("console", on_console)
    yield context
    context.close()
    assert not violations, "\n".join(violations)


def new_page(context):
    """A page of ``context`` whose file choosers Playwright intercepts from the start.

    Playwright turns interception on without waiting for an answer when a listener is
    first added; adding one now, rather than in ``expect_file_chooser`` right before the
    key press, keeps chromium from handling that first press itself (and showing nothing).
    """
    page = context.new_page()
    page.on("filechooser", lambda chooser: None)
    return page


def log_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.locator("#id_login").fill(email)
    page.locator("#id_password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def no_sideways_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_sign_up_drop_two_photos_watch_them_finish_compare_download_and_delete(
    context, live_server, worker, mailoutbox, artifacts
):
    page = new_page(context)
    email = "grace@example.com"

    # --- Sign up, follow the emailed link, log out and in again --------------------------------------
    page.goto("/accounts/signup/")
    page.locator("#id_email").fill(email)
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [email]
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", mail.outbox[0].body).group(1)
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()
    expect(page).not_to_have_url(re.compile("confirm-email"))
    assert User.objects.get(email=email).email_verified
    # Following the link in the browser that signed up also signs in (ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION).
    if page.get_by_role("button", name="Log out").count():
        page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign In")).to_be_visible()
    log_in(page, email)
    expect(page).to_have_url(f"{live_server.url}/")

    # Professional: batches, up to 4x, 250 images a month.
    grace = User.objects.get(email=email)
    Subscription.objects.create(workspace=grace.personal_workspace, plan=Plan.objects.get(slug="professional"))

    # --- The upload page: keyboard, drop, options ------------------------------------------------------
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Upload").click()
    expect(page.get_by_role("heading", name="Upscale images")).to_be_visible()
    page.wait_for_load_state()  # the page's scripts run before "load"; the keys below need them
    meter = page.locator("[data-usage-meter]")
    expect(meter).to_contain_text("0 of 250 used")
    zone = page.get_by_role("button", name=re.compile("Drop images here"))
    zone.focus()
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")  # Space is the other test's
    assert chooser.value.is_multiple()
    chooser.value.set_files([])  # cancelled: the photos arrive by drag and drop
    # 48x48 pixels (quick for the model), 64 KB files (slow enough to upload to watch the progress).
    astronaut = png(data.astronaut(), (170, 20, 350, 200), padding=64_000)
    chelsea = png(data.chelsea(), (140, 20, 300, 180), padding=64_000)
    page.evaluate(DROP_FILES, ["#drop-zone", [payload("astronaut.png", astronaut), payload("chelsea.png", chelsea)]])
    items = page.locator(".upload-item")
    expect(items).to_have_count(2)
    expect(items.locator("[data-role=status]")).to_have_text(["Ready to upload", "Ready to upload"])
    assert [o.strip() for o in page.locator("#scale-factor option").all_inner_texts()] == ["2x", "3x", "4x"]
    page.get_by_label("Scale factor", exact=True).select_option("2")
    page.get_by_label("Model").select_option("anime-fast")
    page.get_by_label(re.compile("^Batch name")).fill("Browser batch")
    page.evaluate("() => { window.notReloaded = true; }")
    # Upload at 48 KB/s (DevTools network throttling, which paces the reading of the request
    # body) so that the XMLHttpRequest's upload events are seen moving the bars mid-way. Both
    # files travel in one request, in order: the second starts once the first is through.
    devtools = context.new_cdp_session(page)
    devtools.send("Network.enable")
    throttle = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 48 * 1024}
    devtools.send("Network.emulateNetworkConditions", throttle)
    page.get_by_role("button", name="Upscale 2 images").click()
    midway = page.wait_for_function(
        """() => {
          const [first, second] = [...document.querySelectorAll('.upload-progress')].map((bar) => bar.value);
          return first > 0 && first < 100 ? [first, second] : null;
        }"""
    ).json_value()
    assert midway[1] == 0, midway
    expect(items.first.locator("[data-role=status]")).to_have_text(re.compile(r"^Uploading… \d+ %$"))
    page.screenshot(path=artifacts / "01-upload-progress.png", full_page=True)
    devtools.send("Network.emulateNetworkConditions", {**throttle, "uploadThroughput": -1})

    # --- Both finish, updated live -------------------------------------------------------------------------
    statuses = items.locator("[data-role=status]")
    expect(statuses).to_have_text(["Completed", "Completed"], timeout=JOB_TIMEOUT_MS)
    expect(page.locator(".batch-summary")).to_have_text("Completed: 2 of 2 images done.")
    expect(page.locator("#announcer")).to_contain_text("Completed")
    expect(meter).to_contain_text("2 of 250 used")
    assert page.evaluate("() => window.notReloaded === true"), "the page reloaded"
    expect(items.first.locator(".upload-meta")).to_contain_text("96 \N{MULTIPLICATION SIGN} 96 px")
    page.screenshot(path=artifacts / "02-upload-completed.png", full_page=True)
    batch = grace.personal_workspace.batches.get()
    assert (batch.name, batch.status, batch.model) == ("Browser batch", "completed", "anime-fast")
    assert set(Image.objects.values_list("model_used", "upscaled_width", "status")) == {("anime-fast", 96, "completed")}

    # The batch's archive, through the session.
    with page.expect_download() as archive:
        page.get_by_role("link", name=re.compile("Download all")).click()
    with zipfile.ZipFile(archive.value.path()) as zipped:
        assert sorted(zipped.namelist()) == ["astronaut_upscaled_96x96.png", "chelsea_upscaled_96x96.png"]

    # --- The comparison view ----------------------------------------------------------------------------
    page.get_by_role("link", name="View result astronaut.png").click()
    expect(page.get_by_role("heading", name="astronaut.png")).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.compare-frame img')].every((i) => i.complete && i.naturalWidth > 0)"
    )
    after, before = page.locator(".compare-after"), page.locator(".compare-before img")
    assert page.evaluate("(img) => [img.naturalWidth, img.naturalHeight]", after.element_handle()) == [96, 96]
    assert page.evaluate("(img) => [img.naturalWidth, img.naturalHeight]", before.element_handle()) == [48, 48]
    assert after.bounding_box() == before.bounding_box()  # the original stretched to the result's size
    details = page.locator("dl.details")
    for text in ("48 \N{MULTIPLICATION SIGN} 48 px", "96 \N{MULTIPLICATION SIGN} 96 px", "anime-fast", "2x"):
        expect(details).to_contain_text(text)
    expect(details).to_contain_text(re.compile(r"Processing time\s*\d+\.\d\d s"))

    slider = page.get_by_label("Comparison: original on the left, upscaled on the right")
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    expect(slider).to_have_value("55")
    frame = page.locator(".compare-frame")
    assert frame.evaluate("(el) => el.style.getPropertyValue('--pos')") == "55%"
    assert slider.get_attribute("aria-valuetext") == "55 % original, 45 % result"
    page.keyboard.press("Home")
    expect(slider).to_have_value("0")
    page.keyboard.press("PageUp")
    expect(slider).to_have_value("10")
    clip = page.locator(".compare-before").evaluate("(el) => getComputedStyle(el).clipPath")
    assert clip.startswith("inset(0px 90%"), clip

    zoom = page.get_by_role("button", name="Actual pixels (100 %)")
    assert frame.bounding_box()["width"] > 96
    zoom.click()
    expect(page.get_by_role("button", name="Fit to the page")).to_have_attribute("aria-pressed", "true")
    assert frame.bounding_box()["width"] == 96
    page.get_by_role("button", name="Fit to the page").click()
    slider.focus()
    page.keyboard.press("End")
    for _ in range(4):
        page.keyboard.press("PageDown")
    expect(slider).to_have_value("60")
    page.screenshot(path=artifacts / "03-result-comparison.png", full_page=True)

    with page.expect_download() as download:
        page.locator(".compare-toolbar").get_by_role("link", name=re.compile("^Download")).click()
    assert download.value.suggested_filename == "astronaut_upscaled_96x96.png"
    with PILImage.open(download.value.path()) as result:
        assert (result.format, result.size) == ("PNG", (96, 96))

    # --- History: filter, a cancelled confirm, then a delete ---------------------------------------
    nav.get_by_role("link", name="History").click()
    cards = page.locator(".image-card")
    expect(cards).to_have_count(2)
    page.get_by_label("Status").select_option("completed")
    page.get_by_role("button", name="Filter").click()
    expect(cards).to_have_count(2)
    page.wait_for_function("() => [...document.querySelectorAll('.image-card img')].every((i) => i.complete)")
    page.screenshot(path=artifacts / "04-history.png", full_page=True)

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete astronaut.png").click()
    expect(cards).to_have_count(2)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete astronaut.png").click()
    expect(page.locator(".messages")).to_contain_text("astronaut.png was deleted.")
    expect(cards).to_have_count(1)
    assert list(Image.objects.values_list("original_filename", flat=True)) == ["chelsea.png"]
    # Re-download from the history.
    with page.expect_download() as again:
        page.get_by_role("link", name="Download chelsea.png").click()
    assert again.value.suggested_filename == "chelsea_upscaled_96x96.png"

    page.get_by_role("link", name="Batches").click()
    expect(page.get_by_role("link", name="ZIP of Browser batch")).to_be_visible()
    page.screenshot(path=artifacts / "05-history-batches.png", full_page=True)
    page.get_by_role("link", name="Browser batch", exact=True).click()
    expect(page.locator("[data-batch-status]")).to_have_text("Completed")
    expect(page.locator("tbody tr")).to_have_count(1)  # the deleted image left the batch

    # --- Billing (usage) and tokens (create with abilities, copy once, revoke) -------------------------
    nav.get_by_role("link", name="Billing").click()
    expect(page.get_by_role("heading", name="Usage this month")).to_be_visible()
    page.screenshot(path=artifacts / "06-billing-usage.png", full_page=True)

    nav.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("laptop")
    page.get_by_label("Delete images").check()
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("Token “laptop”")
    key = secret.input_value()
    assert key.startswith("ups_")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("() => navigator.clipboard.readText()") == key
    page.screenshot(path=artifacts / "07-tokens.png", full_page=True)
    page.reload()
    assert key not in page.content()  # shown once
    expect(page.locator("table")).to_contain_text("images:delete")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke laptop").click()
    expect(page.locator(".messages")).to_contain_text("Token laptop revoked.")

    # --- Phone width ------------------------------------------------------------------------------------
    phone = context.browser.new_context(base_url=live_server.url, viewport={"width": 375, "height": 812},
                                        storage_state=context.storage_state())  # fmt: skip
    small = phone.new_page()
    image = Image.objects.get()
    for path, name in [("/upload", "08-phone-upload.png"), ("/history", "09-phone-history.png"),
                       (f"/images/{image.pk}", "10-phone-result.png")]:  # fmt: skip
        small.goto(path)
        assert no_sideways_scroll(small), f"{path} scrolls sideways at 375 px"
        small.screenshot(path=artifacts / name, full_page=True)
    phone.close()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign In")).to_be_visible()


def test_errors_are_shown_on_the_file_they_concern(context, live_server):
    """A Free workspace (2x, no batches): a non-image is refused in the page, and the API's
    refusals (403 over the plan's scale, 422 field errors) are shown on their own file."""
    make_user("free@example.com", PASSWORD)
    page = new_page(context)
    log_in(page, "free@example.com")
    page.goto("/upload")
    expect(page.locator("#drop-zone-help")).to_contain_text("batches come with the Professional and Enterprise plans")
    assert page.locator("#scale-factor option").all_inner_texts() == ["2x"]

    # Space on the drop zone opens the file picker; pick a photo and a text file.
    photo = png(data.chelsea(), (140, 20, 300, 180))
    page.get_by_role("button", name=re.compile("Drop images here")).focus()
    with page.expect_file_chooser() as chooser:
        page.keyboard.press(" ")
    chooser.value.set_files([
        {"name": "cat.png", "mimeType": "image/png", "buffer": photo},
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not an image"},
    ])  # fmt: skip
    items = page.locator(".upload-item")
    expect(items).to_have_count(2)
    cat, notes = items.filter(has_text="cat.png"), items.filter(has_text="notes.txt")
    expect(notes.locator("[data-role=error]")).to_contain_text("Not an image this service reads")
    expect(cat.locator("[data-role=status]")).to_have_text("Ready to upload")

    # 4x the width is beyond Free's 2x: the API says 403, and the page says why, on that file.
    page.get_by_label("Resize to a target size").check()
    page.get_by_label("Width in pixels").fill("192")
    page.get_by_role("button", name="Upscale").click()
    expect(cat.locator("[data-role=status]")).to_have_text("Failed")
    expect(cat.locator("[data-role=error]")).to_have_text(
        "The Free plan upscales at most 2x; upgrade for larger scale factors."
    )

    # A size the API rejects field by field (422): the field's message is shown.
    page.evaluate(DROP_FILES, ["#drop-zone", [payload("wide.png", photo)]])
    page.get_by_label("Width in pixels").fill("99999")
    page.get_by_role("button", name="Upscale").click()
    wide = items.filter(has_text="wide.png")
    expect(wide.locator("[data-role=error]")).to_have_text("The target width must be between 1 and 16384.")
    expect(page.locator("#announcer")).to_contain_text("wide.png")
    assert not Image.objects.exists()

    # Target size with no side given: the form itself says so.
    page.evaluate(DROP_FILES, ["#drop-zone", [payload("again.png", photo)]])
    page.get_by_label("Width in pixels").fill("")
    page.get_by_role("button", name="Upscale").click()
    expect(page.locator("#form-error")).to_have_text("Give a target width, a target height or both.")
    expect(page.get_by_label("Width in pixels")).to_be_focused()


def test_the_api_reference_renders_from_our_own_files_and_calls_the_api(context, live_server):
    """Swagger UI and ReDoc, reached from the tokens page: every file from this server, no CSP
    violation (the context fixture), and Swagger UI's "Try it out" calls the API with a token."""
    make_user("reader@example.com", PASSWORD)
    foreign: list[str] = []
    context.on("request", lambda request: foreign.append(request.url)
               if not request.url.startswith((live_server.url, "data:", "blob:", *BLOCKED_ON_PURPOSE))
               else None)  # fmt: skip
    page = new_page(context)
    log_in(page, "reader@example.com")
    page.goto("/tokens")
    page.get_by_label("Name").fill("docs")
    page.get_by_label("Read the profile, usage and tokens").check()
    page.get_by_role("button", name="Create token").click()
    key = page.locator("#new-token-secret").input_value()

    page.get_by_role("link", name="try it in Swagger UI").click()
    expect(page.get_by_text("Upload an image").first).to_be_visible()
    page.get_by_role("button", name="Authorize").first.click()
    bearer = page.locator(".dialog-ux .auth-container").filter(has_text="bearerAuth")
    bearer.locator("input").fill(key)
    bearer.get_by_role("button", name="Apply credentials").click()
    bearer.get_by_role("button", name="Close").click()
    operation = page.locator("#operations-Account-user_retrieve")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    expect(operation.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200")
    expect(operation.locator(".live-responses-table")).to_contain_text("reader@example.com")

    page.goto("/api/redoc")
    expect(page.get_by_role("heading", name="Upload an image")).to_be_visible()
    expect(page.get_by_text("Validation failed").first).to_be_attached()
    assert not foreign, foreign
