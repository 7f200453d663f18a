"""A new user's first hour on a fresh clone, as the README writes it (issue #12): the
``upscale`` command with nothing set, ``make run`` installing no browser and printing where
everything is, and the demo login working."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import requests
from PIL import Image as PILImage

from upscaler_site.testing import ROOT, encode, free_port, photo

#: Nothing of the test run's own environment that a fresh shell would not have.
FRESH = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}


def test_the_upscale_command_works_with_nothing_set(tmp_path):
    """``manage.py upscale photo.jpg out.jpg --scale 4`` signs nothing: no SECRET_KEY, no DEBUG."""
    source, result = tmp_path / "photo.jpg", tmp_path / "out.jpg"
    source.write_bytes(encode(photo(size=(48, 32)), "JPEG").getvalue())
    env = {**FRESH, "UPSCALER_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "manage.py", "upscale", str(source), str(result), "--scale", "4",
                           "--model", "anime-fast"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert PILImage.open(result).size == (192, 128)


def test_make_run_installs_no_system_package_and_make_test_does():
    run = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert "install-test-packages" not in run.stdout and "apt-get" not in run.stdout
    test = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert "bin/install-test-packages" in test.stdout


def test_make_run_prints_where_everything_is_and_the_demo_login(tmp_path):
    port = free_port()
    env = {**FRESH, "PY": sys.executable, "HOST": "127.0.0.1", "PORT": str(port),
           "UPSCALER_DATA_DIR": str(tmp_path)}  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(["bin/serve"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # fmt: skip
    site = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{site}/api/docs", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        printed = log.read_text()
        for line in (f"dashboard   {site}/", f"API docs    {site}/api/docs", f"admin       {site}/admin/",
                     "Demo user: demo@example.com / Demo-password-1", "API token: ups_"):  # fmt: skip
            assert line in printed, printed
        token = printed.split("API token: ")[1].split()[0]
        user = requests.get(f"{site}/api/user", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert user.json()["data"]["email"] == "demo@example.com"
        assert requests.get(f"{site}/api/schema", timeout=30).status_code == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
