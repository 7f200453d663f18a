"""The README's client walkthrough, run as written against a live server and a real worker.

The blocks of its "Client walkthrough" section are extracted and run: the ``sh`` ones as one
bash script (they need ``curl`` and ``jq``), the ``python`` one with this interpreter, in a
folder holding a ``photo.jpg``. Only ``UPSCALER_URL`` and ``UPSCALER_TOKEN`` come from the test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest
from PIL import Image as PILImage

from accounts.models import ApiToken
from upscaler_site.testing import ROOT, encode, photo

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def walkthrough(language: str) -> list[str]:
    """The ``language`` code blocks of the README's "Client walkthrough" section, in order."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Client walkthrough\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"^```{language}\n(.*?)^```$", section, flags=re.S | re.M)


@pytest.fixture
def folder(tmp_path, live_server, worker, user):
    """A folder with photo.jpg, and the environment the walkthrough asks for (Ada: Enterprise, batches)."""
    (tmp_path / "photo.jpg").write_bytes(encode(photo(size=(48, 32)), "JPEG", quality=92).getvalue())
    _, key = ApiToken.issue(user, user.personal_workspace, "readme")
    env = {**os.environ, "UPSCALER_URL": live_server.url, "UPSCALER_TOKEN": key}
    return tmp_path, env


def assert_results(folder, result: str) -> None:
    """The downloaded result and the batch's ZIP: 48x32 photos, x2."""
    assert PILImage.open(folder / result).size == (96, 64)
    with zipfile.ZipFile(folder / "holiday.zip") as archive:
        names = archive.namelist()
        assert len(names) == 2, names
        assert all(PILImage.open(archive.open(name)).size == (96, 64) for name in names)


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="the curl walkthrough needs curl and jq")
def test_the_curl_walkthrough(folder):
    path, env = folder
    script = "\n".join(walkthrough("sh"))
    assert "curl" in script and len(walkthrough("sh")) == 2
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=path, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Status: completed" in done.stdout
    # One image used: the batch's two copies of photo.jpg come from the result cache.
    assert '"limit": 1000' in done.stdout and '"used": 1' in done.stdout
    assert_results(path, "photo_x2.jpg")


def test_the_python_walkthrough(folder):
    path, env = folder
    [code] = walkthrough("python")
    done = subprocess.run([sys.executable, "-c", code], cwd=path, env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "completed 96x64" in done.stdout and "completed 100 %" in done.stdout
    assert "'used': 1" in done.stdout  # the batch's copies of photo.jpg come from the result cache
    assert_results(path, "photo_upscaled_96x64.jpg")
