"""Helpers for the test suites of every app (not used by the service itself)."""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import io
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from PIL import Image as PILImage
from rest_framework.test import APIClient
from skimage import data


def make_user(email: str, password: str = "Secret-pass-1", *, verified: bool = True, **fields):
    """A user (with their personal workspace), its email address verified unless told otherwise."""
    from allauth.account.models import EmailAddress

    from accounts.models import User

    user = User.objects.create_user(email, password, **fields)
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=verified)
    return user


class TokenClient(APIClient):
    """An API client that sends a token; ``token_key`` is the token's secret."""

    token_key: str


def client_for(user, workspace=None, abilities: list[str] | None = None, **token_fields) -> TokenClient:
    """An API client sending ``Authorization: Bearer <token>``: a new token of ``user`` in
    ``workspace`` (default: the personal one) with ``abilities`` (default: all)."""
    from accounts.models import ApiToken

    _, key = ApiToken.issue(user, workspace or user.personal_workspace, "test", abilities, **token_fields)
    client = TokenClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    client.token_key = key
    return client


def photo(size: tuple[int, int] | None = None, crop: tuple[int, int, int, int] | None = None) -> PILImage.Image:
    """skimage's chelsea (a real photo of a cat, 451x300 RGB), optionally cropped to a box, then resized."""
    img = PILImage.fromarray(data.chelsea())
    if crop:
        img = img.crop(crop)
    if size:
        img = img.resize(size, PILImage.Resampling.LANCZOS)
    return img


def encode(img: PILImage.Image, fmt: str = "PNG", name: str | None = None, **params) -> io.BytesIO:
    """An in-memory file of ``img`` in ``fmt``, named for upload."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    buf.seek(0)
    buf.name = name or "photo." + {"JPEG": "jpg"}.get(fmt, fmt.lower())
    return buf


def png_chunk(tag: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC (PNG spec 5.3)."""
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def bilevel_png(width: int, height: int) -> bytes:
    """A valid 1-bit grayscale PNG of ``width`` x ``height`` black pixels, built without Pillow.

    The pixel data compresses ~1000:1, so a 20000x20000 image (400 MP) is a file of ~50 kB:
    megapixels of image in kilobytes of file.
    """
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row * 500) for _ in range(height // 500))
    idat += compressor.compress(row * (height % 500)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def stop_process(process, timeout: float = 30) -> None:
    """Terminate a subprocess started by a test fixture, killing it if it does not stop in ``timeout`` s."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB between two arrays of the same shape and range [0, peak]."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The URL of the database the tests run on, for a worker subprocess."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = f"{db['USER']}:{db['PASSWORD']}@" if db["USER"] else ""
    return f"postgres://{user}{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(media_root: Path, **extra_env: str) -> dict[str, str]:
    """The environment of a worker or web server subprocess: the test database, broker and media folder,
    deployed as in production (``DEBUG=0``), with ``extra_env`` on top."""
    from django.conf import settings

    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(media_root),
        # Django-Q2 signs queued tasks with the secret key: the worker must share it.
        "SECRET_KEY": settings.SECRET_KEY,
        "Q_POLL": "0.2",
        # Warming every model up would add seconds to each worker a test starts; the tests that
        # check it ask for one.
        "UPSCALE_WARM_MODELS": "",
        "DEBUG": "0",
        **extra_env,
    }


@contextlib.contextmanager
def qcluster(media_root: Path, log_path: Path, **extra_env: str) -> Iterator[subprocess.Popen]:
    """A real Django-Q2 cluster (``manage.py qcluster``) on the test database, broker and media folder.

    It needs a transactional test (``django_db(transaction=True)``), whose writes the
    subprocess can see. ``extra_env`` adds environment variables (``OMP_NUM_THREADS="1"``).
    Stopped on exit; the end of its log is printed, which pytest shows when the test fails.
    """
    env = service_env(media_root, **extra_env)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        yield proc
    finally:
        stop_process(proc)
        print(log_path.read_text(errors="replace")[-5000:])


@contextlib.contextmanager
def gunicorn(media_root: Path, log_path: Path, *, workers: int = 1, **extra_env: str) -> Iterator[str]:
    """A real ``gunicorn upscaler_site.wsgi`` on a free loopback port, on the test database; yields its base URL.

    Like :func:`qcluster` it needs a transactional test. Stopped on exit, its log printed.
    """
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "upscaler_site.wsgi", "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--access-logfile", "-"]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=service_env(media_root, **extra_env), stdout=log,
                                stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/app/status", timeout=2).close()
                break
            except urllib.error.HTTPError:  # answered (401 without a session): it is up
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"gunicorn did not start:\n{log_path.read_text(errors='replace')}") from None
                time.sleep(0.2)
        yield url
    finally:
        stop_process(proc)
        print(log_path.read_text(errors="replace")[-5000:])


def maps_library(process: psutil.Process, name: str) -> bool:
    """Whether ``process`` has a shared library whose path contains ``name`` mapped (``"libtorch"``)."""
    try:
        return any(name in mapped.path for mapped in process.memory_maps())
    except psutil.NoSuchProcess:
        return False


@dataclasses.dataclass
class Received:
    """One request a :class:`LocalServer` received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


#: What a :class:`LocalServer` answers: (status, headers, body) for a request.
Responder = Callable[[Received], tuple[int, dict[str, str], bytes | Iterator[bytes]]]


class LocalServer:
    """A real HTTP server on loopback in a thread, standing in for the internet in tests: image hosts
    that serve, redirect or drip, and webhook receivers that fail and recover.

    ``respond`` answers every request; ``received`` lists them. Use as a context manager. ``port``
    0 picks a free one; a given one brings a receiver back where it was.
    A body given as an iterator is sent chunked, without ``Content-Length``.
    """

    def __init__(self, respond: Responder, host: str = "127.0.0.1", port: int = 0) -> None:
        self.respond = respond
        self.received: list[Received] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(self.command, self.path, dict(self.headers.items()),
                                   self.rfile.read(length) if length else b"", time.time())  # fmt: skip
                server.received.append(request)
                status, headers, body = server.respond(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if isinstance(body, bytes):
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for chunk in body:
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading, as it should past its limit

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"

    def __enter__(self) -> LocalServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class TcpProxy:
    """A TCP proxy on loopback to a real service (PostgreSQL, Redis), that a test can cut and restore:
    the service "goes away" for the processes that connect through it, and comes back on the same port.

    Use as a context manager; ``url_for(url)`` rewrites a service URL to go through the proxy.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None

    def url_for(self, url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)
        address = f"127.0.0.1:{self.port}"
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{netloc[0]}@{address}" if len(netloc) == 2 else address))

    def __enter__(self) -> TcpProxy:
        self.restore()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()

    def restore(self) -> None:
        """Accept connections again (the service is back)."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Close every connection and refuse new ones (the service is down)."""
        with self._lock:
            if self._listener is not None:
                with contextlib.suppress(OSError):  # wakes the thread blocked in accept(), which close() does not
                    self._listener.shutdown(socket.SHUT_RDWR)
                self._listener.close()
                self._listener = None
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


def upload_jpeg(api: APIClient, content: bytes, **fields: object) -> dict[str, Any]:
    """``POST /api/images/upscale`` of a JPEG file (model ``anime-fast`` unless ``fields`` say otherwise);
    the new image's data, after asserting the 202."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = {"image": SimpleUploadedFile("cat.jpg", content, "image/jpeg"), "model": "anime-fast", **fields}
    response = api.post("/api/images/upscale", body, format="multipart")
    assert response.status_code == 202, response.json()
    data: dict[str, Any] = response.json()["data"]
    return data


def finish_as_worker(image_id: str, size: tuple[int, int] = (80, 60)) -> Any:
    """What a worker does with a pending image, without a model: claim it, store a JPEG result of ``size``
    and its thumbnail through the storage API, complete it. Returns the image."""
    from images import jobs
    from images.models import Image

    image = Image.objects.get(pk=image_id)
    jobs.claim(image)
    jobs.complete(image, encode(photo(size=size), "JPEG"), "jpg", width=size[0], height=size[1], fmt="JPEG",
                  scale_chain=[2], seconds=1.0)  # fmt: skip
    image.store_thumbnail("result_thumbnail", encode(photo(size=(20, 15)), "JPEG").getvalue())
    return image
