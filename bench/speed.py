"""Inference speed of the upscaling pipeline against two references, on this machine.

Run from the repository root (no database, no Django)::

    .venv/bin/python bench/speed.py                      # every model, 256 and 1024 px inputs
    .venv/bin/python bench/speed.py --models standard --quick   # 256 px only
    .venv/bin/python bench/speed.py --models standard --memory  # + 2000x2000 -> 8000x8000
    python bench/speed.py --device cuda --sizes 256,1024        # on a GPU host: ours and fp32 ref

For each model (at its largest native scale, at most 4) and input size it times, each
in its own subprocess (so that the peak resident memory, read with ``os.wait4``, is that
configuration's alone):

* ``ours``: :func:`inference.pipeline.upscale_image` with its defaults (``--precision``
  to force one), i.e. what the service runs; ``ours-torch`` the same with
  ``UPSCALER_CPU_ENGINE=torch`` (PyTorch for the whole network, no OpenVINO trunk);
* ``fp32 ref``: the plain reference, spandrel on the whole image in float32, NCHW, no
  tiling, ``torch.inference_mode``, the same weights;
* ``ncnn``: the ``ncnn`` package running the original Real-ESRGAN ``.param``/``.bin`` on
  the CPU with its default options (fp16 storage, packing, Winograd) and the same
  thread count (Real-ESRGAN models only): the whole image when it fits in 6 GiB of
  activations (ncnn needs about 60 kB per input pixel), else tiles as large as that
  allows, with the same 32 px of context as ours.

* ``openvino`` (``--engines ...,openvino``): OpenVINO running the same PyTorch network
  (``openvino.convert_model`` with dynamic height and width) on the whole image, with
  ``INFERENCE_PRECISION_HINT`` bf16 where the CPU has it, the same thread count.

Inputs are real photo content: skimage's astronaut (512x512) resized to 256x256, and
tiled 2x2 to 1024x1024. Each engine is warmed up on a 64x64 image first (and ``ours`` loads the
engine its input size runs on, as a worker's warm-up does); 256 px inputs
take the best of two runs, larger ones one run.

Columns: seconds per image, output megapixels per second, peak RSS of the process,
achieved GFLOP/s (the model's convolution/matmul FLOPs per input pixel, counted with
``FlopCounterMode``, times the pixels actually run through the network, tile context
included) and that as a share of this machine's own peak (a 3x3 64->64 convolution,
channels_last, measured in the same run in float32 and in bfloat16 autocast), the
speed-up of ours over each reference, and the PSNR of each output against the float32
reference output. A second table checks fidelity against ground truth: a real photo
(512x512) downscaled 4x (bicubic) and upscaled again, PSNR against the original.

``--device cuda`` runs ``ours`` and ``fp32 ref`` on the GPU (the other engines are CPU-only):
the peak is then the GPU's (the same convolution, 16 at a time, in float32 without TF32,
float16 and bfloat16 autocast), the reference runs in true float32 (TF32 off), every size
takes the best of three runs (cuDNN picks its algorithms on a shape's first run), and
"peak MiB" is the most GPU memory PyTorch allocated instead of the process's RSS.

The machine is shared: ``--wait-idle S`` waits up to S seconds for an idle CPU before
each timed run, and the load average is printed with every row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

#: ncnn model files of the Real-ESRGAN models (same weights as the state dicts).
NCNN_FILES = {
    "standard": "REALESRGAN_X4PLUS_UP4X",
    "anime": "REALESRGAN_X4PLUSANIME_UP4X",
    "anime-fast": "REALESRGAN_ANIMAVIDEOV3_UP4X",
}
#: ncnn's activation memory per input pixel with its defaults (measured at 128-256 px:
#: 54-61 kB for the RRDBNets, 12x ours in bfloat16, 3 kB for animevideov3) and how much
#: it may use: whole images up to about 330x330 for the RRDBNets, larger ones in tiles
#: of that size with 32 px of context (a whole 1024x1024 image would take about 60 GB).
NCNN_BYTES_PER_PX = {"standard": 60_000, "anime": 60_000, "anime-fast": 3_500}
NCNN_MEMORY = 6 * 2**30
#: Set to "1" in the workers' environment by ``--cudnn-benchmark``.
CUDNN_BENCHMARK = "BENCH_CUDNN_BENCHMARK"


# --------------------------------------------------------------------------- inputs


def dims(size: str | int) -> tuple[int, int]:
    """(width, height) of a ``--sizes`` entry: ``"256"`` (square) or ``"1920x1080"``."""
    width, _, height = str(size).partition("x")
    return int(width), int(height or width)


def photo_input(size: str | int) -> np.ndarray:
    """(height, width, 3) uint8 RGB of real photo content: astronaut resized (sides <= 512) or tiled."""
    from PIL import Image
    from skimage import data

    base = Image.fromarray(data.astronaut())
    width, height = dims(size)
    if max(width, height) <= 512:
        return np.asarray(base.resize((width, height), Image.Resampling.LANCZOS))
    tiled = np.tile(np.asarray(base), (-(-height // 512), -(-width // 512), 1))
    return np.ascontiguousarray(tiled[:height, :width])


def ground_truth_pair() -> tuple[np.ndarray, np.ndarray]:
    """(low-res 128x128 input, 512x512 ground truth): astronaut and its 4x bicubic downscale."""
    from PIL import Image
    from skimage import data

    truth = Image.fromarray(data.astronaut())
    small = truth.resize((128, 128), Image.Resampling.BICUBIC)
    return np.asarray(small), np.asarray(truth)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 arrays of the same shape."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def to_uint8(chw) -> np.ndarray:
    """(3, H, W) float in [0, 1] (tensor or array) to (H, W, 3) uint8, rounded like the pipeline."""
    arr = np.asarray(chw, dtype=np.float32)
    return np.rint(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8).transpose(1, 2, 0)


# --------------------------------------------------------------------------- workers (subprocesses)


def _threads() -> int:
    from inference.device import physical_cpu_cores

    return int(os.environ.get("BENCH_THREADS") or physical_cpu_cores())


def _native_scale(model: str) -> int:
    from inference.catalog import get_spec

    return max(s for s in get_spec(model).scales if s <= 4)


def worker_peak(device: str = "cpu", seconds: float = 2.0) -> dict:
    """The device's conv throughput in GFLOP/s: 3x3 conv 64->64, channels_last, per dtype.

    The best time over ``seconds`` of repeats at two sizes (64x256x256 and 64x384x384,
    one image at a time on the CPU, 16 on a GPU so that it is busy), the higher of the
    two: a handful of repeats is not enough, because oneDNN and the CPU take a second or
    more to reach full speed (5 repeats read 105 instead of 183-225 GFLOP/s in fp32 here).
    On the CPU: fp32 and bf16 (autocast); on CUDA also fp16, and fp32 without TF32.
    """
    import torch

    dev = torch.device(device)
    cuda = dev.type == "cuda"
    torch.set_num_threads(_threads())
    if cuda:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval().to(dev).to(memory_format=torch.channels_last)
    dtypes: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}
    if cuda:
        dtypes["fp16"] = torch.float16
    result = dict.fromkeys(dtypes, 0.0)
    batch = 16 if cuda else 1
    for side in (256, 384):
        x = torch.rand(batch, 64, side, side, device=dev).contiguous(memory_format=torch.channels_last)
        flops = 2 * 64 * 64 * 9 * side * side * batch
        for name, dtype in dtypes.items():
            autocast = torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None)
            with torch.inference_mode(), autocast:
                best = float("inf")
                deadline = time.perf_counter() + seconds
                while time.perf_counter() < deadline:
                    start = time.perf_counter()
                    conv(x)
                    _sync(dev)
                    best = min(best, time.perf_counter() - start)
            result[name] = max(result[name], flops / best / 1e9)
    return result


def _sync(device) -> None:
    """Wait for ``device``'s queued kernels (CUDA runs asynchronously)."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _peak_key(dtype: str) -> str:
    """The :func:`worker_peak` entry for a compute dtype's name (``bfloat16``, ``float16``, ``float32``)."""
    return "bf16" if dtype.startswith("bfloat16") else "fp16" if dtype.startswith("float16") else "fp32"


def worker_flops(model: str) -> dict:
    """Convolution/matmul FLOPs per input pixel of the model's network (64x64 input, float32)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from inference.loading import load_network

    network = load_network(model, _native_scale(model), "cpu")
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        network(x)
    return {"flops_per_px": counter.get_total_flops() / (64 * 64)}


def worker_ours(
    model: str, size: str, repeats: int, out: str, precision: str | None, device: str = "cpu", cpu_engine: str = "auto"
) -> dict:
    os.environ["UPSCALER_CPU_ENGINE"] = cpu_engine
    import torch
    from PIL import Image

    from inference.catalog import get_spec
    from inference.execution import execution_plan
    from inference.loading import load_network
    from inference.openvino_trunk import OpenVinoTrunk
    from inference.pipeline import upscale_image

    scale = _native_scale(model)
    dev = torch.device(device)
    network = load_network(model, scale, str(dev))
    pixels = [0]  # input pixels through the network, tile context included

    def count(_module, inputs) -> None:
        if not torch.jit.is_tracing():  # OpenVINO's conversion traces the trunk: not an inference
            pixels[0] += inputs[0].numel() // inputs[0].shape[1]

    first_conv = next(m for m in network.model.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_pre_hook(count)
    openvino_call = OpenVinoTrunk.__call__  # the trunk in OpenVINO skips first_conv: count it there

    def counted(self, x):
        count(None, (x,))
        return openvino_call(self, x)

    OpenVinoTrunk.__call__ = counted  # type: ignore[method-assign]
    image = Image.fromarray(photo_input(size))
    width, height = dims(size)
    warm = Image.fromarray(photo_input(64))
    upscale_image(warm, (64 * scale, 64 * scale), model=model, precision=precision, device=dev)
    # As a worker's warm-up does: the engine this size runs on is loaded (OpenVINO's IR read or converted).
    plan = execution_plan(network, dev, precision, overlap=get_spec(model).overlap, size=(height, width))
    best = float("inf")
    for _ in range(repeats):
        pixels[0] = 0
        start = time.perf_counter()
        result = upscale_image(image, (width * scale, height * scale), model=model, precision=precision, device=dev)
        best = min(best, time.perf_counter() - start)
    np.save(out, np.asarray(result.image))
    return {
        "seconds": best,
        "pixels": pixels[0],
        "dtype": str(plan.dtype).replace("torch.", ""),
        "cpu_engine": plan.engine,
        **_gpu_memory(dev),
    }


def _gpu_memory(device) -> dict:
    """``{"gpu_mib": ...}``: the most memory PyTorch allocated on a CUDA ``device``; empty on the CPU."""
    import torch

    if torch.device(device).type != "cuda":
        return {}
    return {"gpu_mib": torch.cuda.max_memory_allocated(device) / 2**20}


def best_time(run: Callable[[np.ndarray], np.ndarray], size: str, repeats: int, out: str) -> tuple[float, int]:
    """Warm ``run`` up on a 64x64 photo, then time it ``repeats`` times on a ``size`` photo; the output is
    saved to ``out``. Returns (the best seconds, the input's pixels)."""
    run(photo_input(64))
    image = photo_input(size)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        y = run(image)
        best = min(best, time.perf_counter() - start)
    np.save(out, y)
    return best, image.shape[0] * image.shape[1]


def worker_ref(model: str, size: str, repeats: int, out: str, device: str = "cpu") -> dict:
    import torch

    dev = torch.device(device)
    descriptor = _reference(model, dev)

    def run(img: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0).contiguous()
        with torch.inference_mode():
            return to_uint8(descriptor(x.to(dev))[0].cpu().numpy())

    seconds, pixels = best_time(run, size, repeats, out)
    return {"seconds": seconds, "pixels": pixels, "dtype": "float32", **_gpu_memory(dev)}


def _reference(model: str, device):
    """The plain float32 reference: spandrel's network for ``model`` at its native scale on ``device``,
    NCHW, TF32 off on CUDA."""
    import spandrel
    import torch

    from inference.loading import state_dict

    torch.set_num_threads(_threads())
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    descriptor = spandrel.ModelLoader().load_from_state_dict(state_dict(model, _native_scale(model)))
    return descriptor.to(device).eval()


def worker_ncnn(model: str, size: str, repeats: int, out: str) -> dict:
    """ncnn with its default options; whole image when it fits :data:`NCNN_MEMORY`, else tiled."""
    import ncnn
    import torch

    from inference.tiling import balanced_tile, upscale_tiled
    from inference.weights import realesrgan_files

    param_path, bin_path = realesrgan_files(NCNN_FILES[model])
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = _threads()  # every other option at ncnn's default
    assert net.load_param(str(param_path)) == 0
    assert net.load_model(str(bin_path)) == 0
    pixels = [0]

    def forward(x: torch.Tensor) -> torch.Tensor:
        """(1, 3, h, w) float32 in [0, 1] -> (1, 3, h*4, w*4) through ncnn."""
        pixels[0] += x.shape[2] * x.shape[3]
        ex = net.create_extractor()
        assert ex.input("data", ncnn.Mat(np.ascontiguousarray(x[0].numpy()))) == 0
        ret, mat = ex.extract("output")
        assert ret == 0
        return torch.from_numpy(np.array(mat))[None]

    def run(img: np.ndarray) -> np.ndarray:
        pixels[0] = 0  # the last run's count is the one reported
        h, w, _ = img.shape
        max_window = int(NCNN_MEMORY // NCNN_BYTES_PER_PX[model])
        tile = balanced_tile(h, w, 32, max_window)
        image = img.astype(np.float32) / 255.0
        return upscale_tiled(
            forward, image, 4, tile=tile, overlap=32, device=torch.device("cpu"), out_dtype=np.dtype(np.uint8)
        )

    seconds, _ = best_time(run, size, repeats, out)
    opt = net.opt
    storage = "fp16" if opt.use_fp16_storage else "bf16" if opt.use_bf16_storage else "fp32"
    return {"seconds": seconds, "pixels": pixels[0], "dtype": f"{storage} storage"}


def worker_openvino(model: str, size: str, repeats: int, out: str) -> dict:
    """OpenVINO on the same network (converted from the PyTorch module once, with dynamic height and
    width), the whole image in one inference, bfloat16 where the CPU has it (``INFERENCE_PRECISION_HINT``)."""
    import openvino
    import torch

    from inference.device import cpu_supports_bf16
    from inference.loading import load_network

    network = load_network(model, _native_scale(model), "cpu").model.float().eval()
    converted = openvino.convert_model(network, example_input=torch.rand(1, 3, 64, 64), input=[(1, 3, -1, -1)])
    hint = "bf16" if cpu_supports_bf16() else "f32"
    config = {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": _threads(), "PERFORMANCE_HINT": "LATENCY"}
    compiled = openvino.Core().compile_model(converted, "CPU", config)

    def run(img: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray((img.astype(np.float32) / 255.0).transpose(2, 0, 1)[None])
        return to_uint8(compiled(x)[0][0])

    seconds, pixels = best_time(run, size, repeats, out)
    return {"seconds": seconds, "pixels": pixels, "dtype": "bfloat16" if hint == "bf16" else "float32"}


def worker_truth(model: str, engine: str, out: str, precision: str | None, device: str = "cpu") -> dict:
    """Upscale the ground-truth pair's low-res input; return PSNR against the truth."""
    import torch
    from PIL import Image

    small, truth = ground_truth_pair()
    scale = _native_scale(model)
    if engine == "ours":
        from inference.pipeline import upscale_image

        size = (128 * scale, 128 * scale)
        dev = torch.device(device)
        y = np.asarray(upscale_image(Image.fromarray(small), size, model=model, precision=precision, device=dev).image)
    else:
        descriptor = _reference(model, torch.device(device))
        x = torch.from_numpy(small.astype(np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0).contiguous()
        with torch.inference_mode():
            y = to_uint8(descriptor(x.to(device))[0].cpu().numpy())
    np.save(out, y)
    if scale != 4:
        return {"psnr_truth": None}
    return {"psnr_truth": psnr(y, truth)}


WORKERS: dict[str, Callable[..., dict[str, Any]]] = {
    "peak": worker_peak,
    "flops": worker_flops,
    "ours": worker_ours,
    "ref": worker_ref,
    "ncnn": worker_ncnn,
    "openvino": worker_openvino,
    "truth": worker_truth,
}


# --------------------------------------------------------------------------- parent


def wait_idle(limit: float) -> None:
    """Wait up to ``limit`` seconds for the CPU to be >= 90% idle over 2 s (shared machines)."""

    def snapshot() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        return sum(values), values[3]

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        total1, idle1 = snapshot()
        time.sleep(2)
        total2, idle2 = snapshot()
        if (idle2 - idle1) >= 0.9 * max(total2 - total1, 1):
            return


def run_worker(kind: str, args: argparse.Namespace, **params) -> dict:
    """Run one worker in a fresh interpreter; its JSON result plus peak RSS (MiB) and load."""
    if args.wait_idle and kind not in ("flops",):
        wait_idle(args.wait_idle)
    load = os.getloadavg()[0]
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps({"kind": kind, **params})]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"worker {kind} {params} failed:\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["load"] = max(load, os.getloadavg()[0])
    return result


def worker_main(spec: str) -> None:
    import resource

    params = json.loads(spec)
    kind = params.pop("kind")
    if kind in ("ours", "truth"):
        import torch

        torch.set_num_threads(_threads())
        torch.backends.cudnn.benchmark = os.environ.get(CUDNN_BENCHMARK) == "1"
    result = WORKERS[kind](**params)
    result["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result), flush=True)


def fmt(value: float | None, spec: str) -> str:
    """``value`` formatted with ``spec``, or a dash as wide as the spec's width."""
    if value is None:
        width = "".join(c for c in spec.split(".")[0] if c.isdigit())
        return "-".rjust(int(width or 1))
    return format(value, spec)


def main() -> None:
    from inference.catalog import MODELS
    from inference.device import cpu_supports_bf16

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    networks = [name for name, spec in MODELS.items() if not spec.combines]  # portrait runs two of them
    parser.add_argument("--models", default=",".join(networks), help="comma-separated model names")
    parser.add_argument("--sizes", default="256,1024", help="input sizes in pixels: 256 (square) or 1920x1080")
    parser.add_argument("--quick", action="store_true", help="256 px inputs only")
    parser.add_argument("--memory", action="store_true", help="also 2000x2000 -> 8000x8000 with standard (slow)")
    parser.add_argument("--engines", default="ours,ref,ncnn", help="ours, ours-torch, ours-fp32, ref, ncnn, openvino")
    parser.add_argument("--precision", default=None, help="force ours to fp32/bf16/fp16 (default: auto)")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (ours and ref only)")
    parser.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN time its algorithms per shape")
    parser.add_argument("--no-truth", action="store_true", help="skip the ground-truth table")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="S", help="wait up to S s for an idle CPU")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cudnn_benchmark:
        os.environ[CUDNN_BENCHMARK] = "1"  # read by the workers, which inherit the environment
    if args.worker:
        worker_main(args.worker)
        return

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    sizes = ["256"] if args.quick else [s.strip() for s in args.sizes.split(",") if s.strip()]
    engines = [e.strip() for e in args.engines.split(",")]
    cuda = args.device.startswith("cuda")
    if cuda and not set(engines) <= {"ours", "ref", "ours-fp32"}:
        raise SystemExit("--device cuda runs the ours, ours-fp32 and ref engines only")
    threads = _threads()
    print(
        f"# {os.uname().machine}, {os.cpu_count()} logical CPUs, {threads} threads, "
        f"bf16 native: {cpu_supports_bf16()}, load {os.getloadavg()[0]:.1f}, device {args.device}",
        flush=True,
    )
    peak = run_worker("peak", args, device=args.device)
    print(
        f"# {args.device} peak, 3x3 conv 64->64 channels_last: "
        + ", ".join(f"{name} {value:.0f} GFLOP/s" for name, value in peak.items() if name in ("fp32", "bf16", "fp16")),
        flush=True,
    )

    header = (
        f"{'model':<11} {'input':>9} {'engine':<10} {'dtype':<13} {'s/img':>8} {'out MP/s':>8} "
        f"{'peak MiB':>8} {'GFLOP/s':>7} {'%peak':>5} {'ctx':>5} {'vs fp32':>7} {'vs ncnn':>7} "
        f"{'PSNR/ref':>8} {'load':>4}"
    )
    rows: list[str] = []
    truth_rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for model in models:
            if model not in MODELS:
                raise SystemExit(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
            scale = _native_scale(model)
            flops_per_px = run_worker("flops", args, model=model)["flops_per_px"]
            print(f"# {model}: x{scale}, {flops_per_px / 1e6:.1f} MFLOP per input pixel", flush=True)
            configs = [(size, engines) for size in sizes]
            if args.memory and model == "standard":
                configs.append(("2000", ["ours"]))
            for size, size_engines in configs:
                width, height = dims(size)
                results: dict[str, dict] = {}
                for engine in size_engines:
                    if engine == "ncnn" and model not in NCNN_FILES:
                        continue
                    out = os.path.join(tmp, f"{model}-{size}-{engine}.npy")
                    kind = "ours" if engine.startswith("ours") else engine
                    repeats = 3 if cuda else 2 if width * height <= 256**2 else 1
                    params = {"model": model, "size": size, "repeats": repeats, "out": out}
                    if kind in ("ours", "ref"):  # the CPU-only engines take no device
                        params["device"] = args.device
                    if kind == "ours":
                        params["precision"] = "fp32" if engine == "ours-fp32" else args.precision
                        params["cpu_engine"] = "torch" if engine == "ours-torch" else "auto"
                    results[engine] = {**run_worker(kind, args, **params), "out": out}
                    print(f"#   {model} {width}x{height} {engine}: {results[engine]['seconds']:.2f} s", flush=True)
                for engine, result in results.items():
                    rows.append(_row(model, (width, height), engine, scale, result, results, peak, flops_per_px))
                    print(rows[-1], flush=True)
            for path in Path(tmp).glob(f"{model}-*.npy"):
                path.unlink()
            if not args.no_truth:
                truth = {
                    engine: run_worker(
                        "truth",
                        args,
                        model=model,
                        engine=engine,
                        out=os.path.join(tmp, f"truth-{model}-{engine}.npy"),
                        precision=args.precision,
                        device=args.device,
                    )
                    for engine in ("ref", "ours")
                }
                ours_vs_ref = psnr(
                    np.load(os.path.join(tmp, f"truth-{model}-ours.npy")),
                    np.load(os.path.join(tmp, f"truth-{model}-ref.npy")),
                )
                ref_t, ours_t = truth["ref"]["psnr_truth"], truth["ours"]["psnr_truth"]
                diff = None if ref_t is None else ours_t - ref_t
                truth_rows.append(
                    f"{model:<11} {fmt(ref_t, '8.3f')} {fmt(ours_t, '8.3f')} {fmt(diff, '+8.4f')} {ours_vs_ref:9.2f}"
                )
                print(
                    f"# {model} ground truth: fp32 ref {fmt(ref_t, '.3f')} dB, ours {fmt(ours_t, '.3f')} dB "
                    f"(diff {fmt(diff, '+.4f')}), ours vs fp32 ref {ours_vs_ref:.2f} dB",
                    flush=True,
                )

    print()
    print(header)
    print("\n".join(rows))
    if truth_rows:
        print()
        print("Ground truth (astronaut 512x512, input its 4x bicubic downscale, 128x128), PSNR in dB:")
        print(f"{'model':<11} {'fp32 ref':>8} {'ours':>8} {'diff':>8} {'ours/ref':>9}")
        print("\n".join(truth_rows))
    print()
    print(
        "s/img: seconds per image (warm); ctx: pixels run through the network / input pixels (tile context); "
        "%peak: of this machine's conv peak in the engine's dtype; vs fp32/vs ncnn: speed-up of ours over "
        "that engine; PSNR/ref: against the fp32 reference output (inf: identical); load: 1-min load average"
        + ("; peak MiB: GPU memory allocated." if cuda else "; peak MiB: the process's RSS.")
    )


def _row(model, size, engine, scale, result, results, peak, flops_per_px) -> str:
    """One table row for ``engine``'s ``result``; ``results``: every engine's at this input size."""
    seconds = result["seconds"]
    width, height = size
    out_mp = width * height * scale * scale / 1e6
    achieved = flops_per_px * result["pixels"] / seconds / 1e9
    dtype = result["dtype"]
    machine = peak[_peak_key(dtype)]
    share = None if engine == "ncnn" else 100 * achieved / machine  # ncnn's Winograd does fewer FLOPs
    ref, ncnn = results.get("ref"), results.get("ncnn")
    ours = engine.startswith("ours")
    vs_ref = ref["seconds"] / seconds if ref and ours else None
    vs_ncnn = ncnn["seconds"] / seconds if ncnn and ours else None
    quality = psnr(np.load(result["out"]), np.load(ref["out"])) if ref else None
    label = f"{width}x{height}"
    memory = result.get("gpu_mib", result["rss_mib"])
    if result.get("cpu_engine") == "openvino":
        engine += "+ov"  # the pipeline ran the trunk in OpenVINO
    return (
        f"{model:<11} {label:>9} {engine:<10} {dtype:<13} {seconds:8.2f} {out_mp / seconds:8.3f} "
        f"{memory:8.0f} {achieved:7.0f} {fmt(share, '5.0f')} {result['pixels'] / width / height:5.2f} "
        f"{fmt(vs_ref, '7.2f')} {fmt(vs_ncnn, '7.2f')} {fmt(quality, '8.2f')} {result['load']:4.1f}"
    )


if __name__ == "__main__":
    main()
