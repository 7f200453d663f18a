"""The deployment files in ``deploy/``, as docs/deploy.md tells an operator to use them: nginx (TLS, body
limits, the forwarded headers) in front of a real gunicorn, and the systemd units, checked by systemd itself.

nginx is Debian's (``make test`` installs it with chromium); without it the nginx test skips.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import ssl
import subprocess
import time
import uuid
from pathlib import Path
from string import Template

import pytest
import requests

from accounts.models import ApiToken
from upscaler_site.testing import (
    ROOT,
    client_for,
    database_url,
    encode,
    finish_as_worker,
    free_port,
    gunicorn,
    photo,
    stop_process,
    upload_jpeg,
)

DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def render(name: str, **values: str) -> str:
    """A file of ``deploy/`` with its ``${...}`` values filled in; nginx's and systemd's own ``$names`` stay."""
    text = Template((DEPLOY / name).read_text()).safe_substitute(values)
    assert "${" not in text, f"{name} has a value the test did not fill"
    return text


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)  # fmt: skip
    return cert, key


def start_nginx(directory: Path, server: str) -> subprocess.Popen:
    """nginx in the foreground with the rendered ``server`` blocks, its files in ``directory``."""
    (directory / "server.conf").write_text(server)
    user = "user root;" if getpass.getuser() == "root" else ""  # its workers must read the test's folders
    temp = {name: directory / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    (directory / "nginx.conf").write_text(f"""
        {user}
        worker_processes 1;
        pid {directory}/nginx.pid;
        error_log {directory}/error.log;
        events {{}}
        http {{
            access_log {directory}/access.log;
            client_body_temp_path {temp["body"]};
            proxy_temp_path {temp["proxy"]};
            fastcgi_temp_path {temp["fastcgi"]};
            uwsgi_temp_path {temp["uwsgi"]};
            scgi_temp_path {temp["scgi"]};
            include {directory}/server.conf;
        }}
    """)
    check = subprocess.run([NGINX, "-t", "-c", str(directory / "nginx.conf"), "-p", str(directory)],
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stderr
    return subprocess.Popen([NGINX, "-c", str(directory / "nginx.conf"), "-p", str(directory), "-g", "daemon off;"])


def wait_for_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert process.poll() is None and time.monotonic() < deadline, "nginx did not start"
        time.sleep(0.1)


def declared_length_status(port: int, cert: Path, length: int, body: bytes = b"") -> str:
    """The status line answered to a POST that declares ``length`` bytes and sends ``body``."""
    context = ssl.create_default_context(cafile=str(cert))
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(f"POST /api/batches HTTP/1.1\r\nHost: localhost\r\nContent-Length: {length}\r\n"
                    "Content-Type: application/octet-stream\r\n\r\n".encode() + body)  # fmt: skip
        return tls.recv(200).decode(errors="replace").split("\r\n")[0]


@pytest.mark.e2e
@pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx is not installed (make test installs it)")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_nginx_terminates_tls_limits_bodies_and_forwards_the_client_as_the_app_trusts(tmp_path, user):
    cert, key = certificate(tmp_path)
    http_port, https_port = free_port(), free_port()
    env = {"BEHIND_TLS_PROXY": "1", "TRUSTED_PROXY_COUNT": "1", "ALLOWED_HOSTS": "localhost",
           "ANON_REQUESTS_PER_HOUR": "3", "SITE_URL": f"https://localhost:{https_port}",
           # Its own rate-limit counters: on Redis, a server outside the tests' cache keeps them for the hour.
           "CACHE_KEY_PREFIX": f"deploy-test-{uuid.uuid4().hex}"}  # fmt: skip
    token = ApiToken.issue(user, user.personal_workspace, "behind nginx")[1]
    with gunicorn(tmp_path / "media", tmp_path / "web.log", **env) as app:
        upstream = app.removeprefix("http://")
        server = render("nginx.conf", UPSTREAM=upstream, HTTP_PORT=str(http_port), HTTPS_PORT=str(https_port),
                        SERVER_NAME="localhost", TLS_CERTIFICATE=str(cert), TLS_CERTIFICATE_KEY=str(key))  # fmt: skip
        proxy = start_nginx(tmp_path, server)
        try:
            wait_for_port(https_port, proxy)
            site = f"https://localhost:{https_port}"
            session = requests.Session()
            session.verify = str(cert)
            session.trust_env = False  # else REQUESTS_CA_BUNDLE, where set, replaces verify

            # Plain HTTP is sent to HTTPS; over HTTPS the app sees https (no redirect loop) and says so (HSTS).
            plain = requests.get(f"http://localhost:{http_port}/healthz", allow_redirects=False, timeout=10)
            assert plain.status_code == 301 and plain.headers["Location"].startswith("https://localhost")
            healthy = session.get(f"{site}/healthz", allow_redirects=False, timeout=10)
            assert healthy.status_code == 200 and "max-age" in healthy.headers["Strict-Transport-Security"]

            # An upload goes through, and the links the app makes are https.
            jpeg = encode(photo(size=(40, 30)), "JPEG")
            accepted = session.post(f"{site}/api/images/upscale", headers={"Authorization": f"Bearer {token}"},
                                    files={"image": ("cat.jpg", jpeg, "image/jpeg")}, timeout=30)  # fmt: skip
            assert accepted.status_code == 202, accepted.text
            image_id = accepted.json()["data"]["id"]
            finish_as_worker(image_id)
            bearer = {"Authorization": f"Bearer {token}"}
            done = session.get(f"{site}/api/images/{image_id}", headers=bearer, timeout=10)
            assert done.json()["data"]["download_url"].startswith("https://localhost/")  # nginx passes $host

            # The app's own per-path limit answers through nginx, in the API's envelope...
            too_big = session.post(f"{site}/api/images/upscale", headers=bearer, timeout=60,
                                   files={"image": ("big.jpg", b"\xff" * 16_000_000, "image/jpeg")})  # fmt: skip
            assert too_big.status_code == 413 and too_big.json()["success"] is False
            # ...and nginx refuses a body over the largest the app takes before reading it.
            assert declared_length_status(https_port, cert, 202 * 2**20).split()[1] == "413"
            assert declared_length_status(https_port, cert, 10, b"0123456789").split()[1] == "401"  # the app's

            # The anonymous limit counts the address nginx saw, not one the client claims: with the POST
            # above, these are the 2nd to 4th anonymous requests from 127.0.0.1, over its limit of 3.
            answers = [session.get(f"{site}/api/user", headers={"X-Forwarded-For": f"203.0.113.{n}"}, timeout=10)
                       for n in range(3)]  # fmt: skip
            assert [answer.status_code for answer in answers] == [401, 401, 429]
        finally:
            stop_process(proxy, timeout=10)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_units_pass_systemds_own_check(tmp_path):
    names = ["upscaler-web.service", "upscaler-worker.service", "upscaler-worker-metrics.service"]
    for name in names:
        (tmp_path / name).write_text(render(name, APP_DIR=str(ROOT), METRICS_ADDRESS="10.0.0.5"))
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        pytest.skip("the units start .venv/bin/python, which this checkout does not have")
    result = subprocess.run(["systemd-analyze", "verify", *names], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), result.stderr


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_backup_made_as_documented_restores_a_working_service(s3, settings, tmp_path, user):
    from django.db import connection

    from upscaler_site.tests.s3server import ACCESS_KEY, REGION, SECRET_KEY, rclone

    if connection.vendor != "postgresql":
        pytest.skip("the documented backup is of PostgreSQL (pg_dump)")
    database = database_url()
    token = ApiToken.issue(user, user.personal_workspace, "backup")[1]
    api = client_for(user)
    image = finish_as_worker(upload_jpeg(api, encode(photo(size=(40, 30)), "JPEG").getvalue())["id"])
    result = image.upscaled.open("rb").read()

    # The backup, as docs/deploy.md runs it: pg_dump of the database, rclone sync of the bucket.
    dump = tmp_path / "upscaler.dump"
    subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", database], check=True, timeout=120)
    remote = {"RCLONE_CONFIG_STORE_TYPE": "s3", "RCLONE_CONFIG_STORE_PROVIDER": "Other",
              "RCLONE_CONFIG_STORE_ENDPOINT": s3.endpoint, "RCLONE_CONFIG_STORE_ACCESS_KEY_ID": ACCESS_KEY,
              "RCLONE_CONFIG_STORE_SECRET_ACCESS_KEY": SECRET_KEY, "RCLONE_CONFIG_STORE_REGION": REGION}  # fmt: skip
    backup_bucket = f"backup-{os.getpid()}"
    s3.create_bucket(backup_bucket)
    subprocess.run([rclone(), "sync", f"store:{settings.AWS_STORAGE_BUCKET_NAME}", f"store:{backup_bucket}",
                    "--config", "/dev/null"], env={**os.environ, **remote}, check=True, timeout=120)  # fmt: skip

    # The restore: a new database from the dump, a service on it and on the copied bucket.
    restored = f"{connection.settings_dict['NAME']}_restored"
    server = database.rsplit("/", 1)[0]
    subprocess.run(["psql", f"{server}/postgres", "-c", f"DROP DATABASE IF EXISTS {restored}", "-c",
                    f"CREATE DATABASE {restored}"], check=True, capture_output=True, timeout=60)  # fmt: skip
    try:
        subprocess.run(["pg_restore", "--no-owner", f"--dbname={server}/{restored}", str(dump)], check=True,
                       timeout=120)  # fmt: skip
        env = {**s3.bucket_env(backup_bucket), "DATABASE_URL": f"{server}/{restored}"}
        with gunicorn(tmp_path / "media", tmp_path / "web.log", **env) as site:
            answer = requests.get(f"{site}/api/images/{image.pk}", headers={"Authorization": f"Bearer {token}"},
                                  timeout=10)  # fmt: skip
            assert answer.status_code == 200 and answer.json()["data"]["status"] == "completed"
            link = answer.json()["data"]["download_url"]
            assert f"/{backup_bucket}/" in link
            assert requests.get(link, timeout=10).content == result
    finally:
        subprocess.run(["psql", f"{server}/postgres", "-c", f"DROP DATABASE IF EXISTS {restored} WITH (FORCE)"],
                       capture_output=True, timeout=60)  # fmt: skip
