"""GPUs on a worker host: counted without PyTorch, one worker process per GPU, each worker on its own GPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from inference import gpus

ROOT = Path(__file__).resolve().parents[2]
#: A worker process: claims a GPU, says which, and holds it until its stdin closes.
CLAIM = (
    "import sys; from inference.gpus import claim_gpu; print(claim_gpu({count}, {dir!r}), flush=True); sys.stdin.read()"
)


def test_gpus_are_counted_as_cuda_sees_them(monkeypatch, tmp_path):
    assert gpus.visible_gpus({"CUDA_VISIBLE_DEVICES": "0,1"}) == 2
    assert gpus.visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == 0
    assert gpus.visible_gpus({"CUDA_VISIBLE_DEVICES": "2,-1,3"}) == 1  # CUDA stops at the first hidden one
    for name in ("0000:01:00.0", "0000:02:00.0", "0000:03:00.0"):
        (tmp_path / name).mkdir()
    monkeypatch.setattr(gpus, "_PROC_GPUS", str(tmp_path))
    assert gpus.visible_gpus({}) == 3
    monkeypatch.setattr(gpus, "_PROC_GPUS", str(tmp_path / "no-driver"))
    assert gpus.visible_gpus({}) == 0


def test_one_worker_per_gpu_or_one_on_the_cpu():
    assert gpus.worker_processes({"CUDA_VISIBLE_DEVICES": "0,1,2,3"}) == 4
    assert gpus.worker_processes({"CUDA_VISIBLE_DEVICES": "0,1", "UPSCALER_DEVICE": "cuda"}) == 2
    assert gpus.worker_processes({"CUDA_VISIBLE_DEVICES": "0,1", "UPSCALER_DEVICE": "cpu"}) == 1
    assert gpus.worker_processes({"CUDA_VISIBLE_DEVICES": "0,1", "UPSCALER_DEVICE": "cuda:1"}) == 1
    assert gpus.worker_processes({"CUDA_VISIBLE_DEVICES": ""}) == 1


def test_each_worker_process_takes_its_own_gpu_until_it_exits(tmp_path):
    def start() -> tuple[subprocess.Popen, int]:
        proc = subprocess.Popen([sys.executable, "-c", CLAIM.format(count=2, dir=str(tmp_path))],
                                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert proc.stdout is not None
        return proc, int(proc.stdout.readline())

    first, a = start()
    second, b = start()
    try:
        assert {a, b} == {0, 1}
        third, shared = start()  # more workers than GPUs: it shares one
        assert shared in (0, 1)
        third.kill()
        first.kill()  # the kernel drops its lock
        first.wait()
        replacement, c = start()
        assert c == a
        replacement.kill()
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait()


def test_a_claim_needs_a_gpu(tmp_path):
    with pytest.raises(ValueError):
        gpus.claim_gpu(0, str(tmp_path))
