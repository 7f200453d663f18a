"""Resident memory of the service's processes, run as a deployment runs them.

Starts, on a fresh SQLite database in a temporary directory, ``gunicorn
upscaler_site.wsgi`` (one worker, ``DEBUG`` off) and sends it 100 API requests with a
token: 10 uploads of a 256x256 photo and 90 reads (image list, image detail, usage,
profile). Then starts ``manage.py qcluster`` (one worker) and waits until the first
image is upscaled. It reports the resident set size (``VmRSS``) and its peak
(``VmHWM``) of every process, read from ``/proc``, and whether PyTorch is mapped.

    .venv/bin/python bench/rss.py            # prints a Markdown table (docs/architecture.md)

Run it alone on the machine: other processes do not change RSS much, but they slow it.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# upscaler_site.testing builds on Django's settings; this process only starts the others.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "upscaler_site.settings")
os.environ.setdefault("DEBUG", "1")
import django  # noqa: E402

django.setup()

from upscaler_site.testing import free_port, maps_library, stop_process  # noqa: E402

REQUESTS = 100
UPLOADS = 10


def peak_rss(pid: int) -> int:
    """The process's peak resident set size in bytes (Linux ``VmHWM``, which psutil does not report)."""
    match = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(match.group(1)) * 1024 if match else 0


def call(url: str, token: str, data: bytes | None = None, content_type: str | None = None) -> dict:
    request = urllib.request.Request(url, data=data, headers={"Authorization": f"Bearer {token}"})
    if content_type:
        request.add_header("Content-Type", content_type)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def photo_upload() -> tuple[bytes, str]:
    """A multipart body with a 256x256 crop of a real photo (skimage's astronaut), PNG, x2."""
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).crop((160, 40, 416, 296)).save(buffer, "PNG")
    boundary = "bench-rss-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="scale_factor"\r\n\r\n2\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="astronaut.png"\r\n'
        f"Content-Type: image/png\r\n\r\n"
    ).encode() + buffer.getvalue() + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/app/status", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not start:\n{log.read_text()}") from None
            time.sleep(0.2)


def row(role: str, process: psutil.Process) -> str:
    mib = 2**20
    rss, peak = process.memory_info().rss / mib, peak_rss(process.pid) / mib
    torch = "yes" if maps_library(process, "libtorch") else "no"
    return f"| {role} | {rss:.0f} | {peak:.0f} | {torch} |"


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-rss-"))
    env = {
        **os.environ,
        "UPSCALER_DATA_DIR": str(workdir),
        "SECRET_KEY": "bench-rss-" + os.urandom(16).hex(),
        "DEBUG": "0",
        "Q_POLL": "0.2",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run([*manage, "demo_user"], cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    token = re.search(r"API token: (\S+)", out).group(1)  # type: ignore[union-attr]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    web_log, worker_log = workdir / "gunicorn.log", workdir / "qcluster.log"
    with web_log.open("wb") as log:
        web = subprocess.Popen([sys.executable, "-m", "gunicorn", "upscaler_site.wsgi", "--bind", f"127.0.0.1:{port}",
                                "--workers", "1"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    worker = None
    try:
        wait_until_up(url, web, web_log)
        body, content_type = photo_upload()
        ids = []
        for index in range(REQUESTS):
            if index < UPLOADS:
                ids.append(call(f"{url}/api/images/upscale", token, body, content_type)["data"]["id"])
            else:
                path = ("/api/images", f"/api/images/{ids[index % UPLOADS]}", "/api/usage", "/api/user")[index % 4]
                call(f"{url}{path}", token)
        lines = ["| process | RSS (MiB) | peak RSS (MiB) | PyTorch mapped |", "|---|---|---|---|"]
        master = psutil.Process(web.pid)
        lines.append(row("gunicorn master", master))
        for process in master.children():
            lines.append(row(f"gunicorn worker, after {REQUESTS} API requests ({UPLOADS} uploads)", process))

        with worker_log.open("wb") as log:
            worker = subprocess.Popen([*manage, "qcluster"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 600
        while call(f"{url}/api/images/{ids[0]}", token)["data"]["status"] not in ("completed", "failed"):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"the first image did not finish:\n{worker_log.read_text()[-3000:]}")
            time.sleep(0.5)
        parent = psutil.Process(worker.pid)
        lines.append(row("qcluster main process", parent))
        for process in parent.children(recursive=True):
            runs_jobs = maps_library(process, "libtorch")
            name = "qcluster worker, after one image" if runs_jobs else "qcluster sentinel, pusher or monitor"
            lines.append(row(name, process))
        print("\n".join(lines))
    finally:
        if worker is not None:
            stop_process(worker)
        stop_process(web)


if __name__ == "__main__":
    main()
