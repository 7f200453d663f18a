"""Load benchmark: 50 clients upload small photos and poll for 5 minutes (locust, headless).

Everything runs on this machine, deployed as docs/deploy.md deploys it:

* gunicorn (``--workers``, default 4 sync workers, ``DEBUG`` off, JSON logs to a file);
* one ``manage.py qcluster`` worker, at a lower CPU priority (``nice 10``) with one PyTorch
  thread, standing in for the worker hosts: on one machine it competes with the web tier
  for the same two cores;
* PostgreSQL (a fresh ``upscaler_load`` database on 127.0.0.1:5432), Redis (database 2,
  emptied first) and S3 (``rclone serve s3`` of a temporary folder);
* locust (``bench/locustfile.py``), 50 users in 50 Enterprise workspaces: each uploads a
  64x64 JPEG (``anime-fast``, x2), polls ``GET /api/images/{id}/status`` until the image is
  final (without pause, or every ``--poll-seconds``), and starts again. They start over
  10 s; the statistics count from when all have started (locust's ``--reset-stats``).

``STATUS_REQUESTS_PER_HOUR`` is raised so that the polling limit (7,200 an hour per workspace)
is counted but never reached: the benchmark measures the server, not the limit.

After the run, the worker gets up to ``--drain`` seconds to finish what was accepted; the
table counts every 202 (the images in the database) and those not completed or failed.
It also reports each process group's CPU seconds over the run, to say what limits it.

    .venv/bin/python bench/load.py                       # clients poll without pause: the capacity
    .venv/bin/python bench/load.py --poll-seconds 1      # clients poll once a second

It prints a Markdown table (docs/benchmarks.md, Load, has the runs).

Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "upscaler_site.settings")
os.environ.setdefault("DEBUG", "1")
import django  # noqa: E402

django.setup()

from upscaler_site.testing import free_port, stop_process  # noqa: E402
from upscaler_site.tests.s3server import serve_s3  # noqa: E402

POSTGRES = "postgres://postgres@127.0.0.1:5432"
DATABASE = "upscaler_load"
REDIS_URL = "redis://127.0.0.1:6379/2"
BUCKET = "upscaler-load"
#: Clients start over this many seconds, not all at once; the statistics count from when all have started.
RAMP_SECONDS = 10

SETUP = """
import json
from billing.models import Plan, Subscription
from accounts.models import ApiToken
from upscaler_site.testing import make_user
plan = Plan.objects.get(slug="enterprise")
keys = []
for n in range({users}):
    user = make_user(f"client{{n}}@load.example.com")
    Subscription.objects.create(workspace=user.personal_workspace, plan=plan)
    keys.append(ApiToken.issue(user, user.personal_workspace, "load")[1])
print(json.dumps(keys))
"""

OUTCOME = """
import json
from collections import Counter
from images.models import Image
print(json.dumps(dict(Counter(Image.objects.values_list("status", flat=True)))))
"""


def fresh_database() -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True,
                          text=True).stdout  # fmt: skip


@contextmanager
def process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop_process(proc)


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer") from None
            time.sleep(0.2)


def cpu_seconds(proc: subprocess.Popen) -> float:
    """User + system CPU seconds of ``proc`` and its children (live ones, and those it waited for)."""
    total = 0.0
    try:
        parent = psutil.Process(proc.pid)
        for member in [parent, *parent.children(recursive=True)]:
            with_children = member.cpu_times()
            total += with_children.user + with_children.system + with_children.children_user
            total += with_children.children_system
    except psutil.NoSuchProcess:
        pass
    return total


def postgres_cpu_seconds() -> float:
    total = 0.0
    for proc in psutil.process_iter(["name", "cpu_times"]):
        if proc.info["name"] in ("postgres", "postmaster", "redis-server") and proc.info["cpu_times"]:
            total += proc.info["cpu_times"].user + proc.info["cpu_times"].system
    return total


def run(users: int, seconds: int, web_workers: int, drain: int, poll_seconds: float) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="upscaler-load-"))
    fresh_database()
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    with ExitStack() as stack:
        (tmp / "s3" / BUCKET).mkdir(parents=True)
        s3 = stack.enter_context(serve_s3(tmp / "s3", tmp / "rclone.log"))
        env = {
            **os.environ,
            **s3.bucket_env(BUCKET),
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": f"{POSTGRES}/{DATABASE}",
            "REDIS_URL": REDIS_URL,
            "MEDIA_ROOT": str(tmp / "media"),
            "ALLOWED_HOSTS": "127.0.0.1",
            "STATUS_REQUESTS_PER_HOUR": "1000000000",
            "Q_POLL": "0.2",
        }
        manage(env, "migrate", "--no-input")
        keys = json.loads(manage(env, "shell", "-c", SETUP.format(users=users)).strip().splitlines()[-1])
        port = free_port()
        site = f"http://127.0.0.1:{port}"
        web = stack.enter_context(process(
            [sys.executable, "-m", "gunicorn", "upscaler_site.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", str(web_workers)], env, tmp / "web.log"))  # fmt: skip
        worker_env = {**env, "OMP_NUM_THREADS": "1"}
        worker = stack.enter_context(process(["nice", "-n", "10", sys.executable, "manage.py", "qcluster"],
                                             worker_env, tmp / "worker.log"))  # fmt: skip
        wait_for(f"{site}/healthz", web)

        mine = psutil.Process().cpu_times()
        before = {"web": cpu_seconds(web), "worker": cpu_seconds(worker), "db": postgres_cpu_seconds(),
                  "locust": mine.children_user + mine.children_system}  # fmt: skip
        started = time.monotonic()
        locust = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
             "--users", str(users), "--spawn-rate", str(max(1, users // RAMP_SECONDS)), "--reset-stats",
             "--run-time", f"{seconds}s", "--host", site, "--csv", str(tmp / "locust"), "--only-summary",
             "--stop-timeout", "10"],
            cwd=ROOT, env={**os.environ, "LOAD_TOKENS": ",".join(keys), "LOAD_POLL_SECONDS": str(poll_seconds)},
            stdout=subprocess.DEVNULL, stderr=(tmp / "locust.log").open("wb"))  # fmt: skip
        locust.wait()
        elapsed = time.monotonic() - started
        mine = psutil.Process().cpu_times()
        cpu = {
            "web (gunicorn)": cpu_seconds(web) - before["web"],
            "worker (qcluster)": cpu_seconds(worker) - before["worker"],
            "locust": mine.children_user + mine.children_system - before["locust"],
            "PostgreSQL + Redis": postgres_cpu_seconds() - before["db"],
        }
        drained = time.monotonic()
        while True:
            outcome = json.loads(manage(env, "shell", "-c", OUTCOME).strip().splitlines()[-1])
            if not (outcome.get("pending", 0) + outcome.get("processing", 0)) or time.monotonic() - drained > drain:
                break
            time.sleep(2)
        with (tmp / "locust_stats.csv").open() as fh:
            stats = {row["Name"]: row for row in csv.DictReader(fh)}
        failures = (tmp / "locust_failures.csv").read_text() if (tmp / "locust_failures.csv").exists() else ""
    return {"stats": stats, "outcome": outcome, "cpu": cpu, "elapsed": elapsed, "failures": failures,
            "drain": round(time.monotonic() - drained), "tmp": str(tmp)}  # fmt: skip


def table(result: dict, users: int, seconds: int, web_workers: int, poll_seconds: float) -> str:
    rows = ["| request | count | per second | p50 ms | p95 ms | p99 ms | max ms | errors |",
            "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in ("upload", "status", "Aggregated"):
        row = result["stats"].get(name)
        if row:
            rows.append(f"| {name} | {int(row['Request Count']):,} | {float(row['Requests/s']):.1f} | {row['50%']} | "
                        f"{row['95%']} | {row['99%']} | {float(row['Max Response Time']):.0f} | "
                        f"{row['Failure Count']} |")  # fmt: skip
    outcome = result["outcome"]
    accepted = sum(outcome.values())
    unfinished = outcome.get("pending", 0) + outcome.get("processing", 0)
    elapsed = result["elapsed"]
    cpu = ", ".join(f"{name} {seconds_ / elapsed:.2f}" for name, seconds_ in result["cpu"].items())
    cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), platform.processor())  # fmt: skip
    return "\n".join([
        f"{users} clients for {seconds} s, polling "
        + (f"every {poll_seconds:g} s" if poll_seconds else "without pause")
        + f"; gunicorn with {web_workers} sync workers; {psutil.cpu_count()} cores ({cpu_model}).",
        "",
        *rows,
        "",
        f"- Images accepted (202): {accepted:,}; completed {outcome.get('completed', 0):,}, failed "
        f"{outcome.get('failed', 0):,}; **not in a final state {result['drain']} s after the load stopped: "
        f"{unfinished:,}**.",
        f"- CPU cores busy on average during the run: {cpu}.",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--poll-seconds", type=float, default=0, help="pause between two polls (0: none)")
    parser.add_argument("--drain", type=int, default=300, help="seconds the worker gets to finish afterwards")
    args = parser.parse_args()
    result = run(args.users, args.seconds, args.web_workers, args.drain, args.poll_seconds)
    text = table(result, args.users, args.seconds, args.web_workers, args.poll_seconds)
    print(text)
    if result["failures"].count("\n") > 1:
        print("\nFailures:\n" + result["failures"])
    print(f"\n(logs in {result['tmp']})")


if __name__ == "__main__":
    main()
