"""Tests for the ncnn -> PyTorch conversion of the packaged Real-ESRGAN models.

The reference is the ``ncnn`` runtime running the original ``.param``/``.bin`` on
CPU in fp32 (fp16/bf16 storage and arithmetic disabled).
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from inference import weights
from inference.ncnn import (
    TAG_FP16,
    inspect_graph,
    load_ncnn_weights,
    ncnn_to_state_dict,
    parse_param,
)
from inference.weights import MODEL_NAMES, realesrgan_files, realesrgan_state_dict

spandrel = pytest.importorskip("spandrel")
ncnn = pytest.importorskip("ncnn")

THREADS = max(1, min(4, os.cpu_count() or 1))
TOLERANCE = 2e-3


@pytest.fixture(scope="module", autouse=True)
def _torch_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """33x27 (HxW, odd and non-square on purpose) RGB float32 crop in [0, 1], CHW.

    That is the layout/range the Real-ESRGAN ncnn models take: the graphs have no
    normalisation layer (the ncnn-vulkan apps divide 8-bit RGB by 255 beforehand).
    """
    skimage_data = pytest.importorskip("skimage.data")
    img = skimage_data.astronaut()[100:133, 180:207].astype(np.float32) / 255.0
    return np.ascontiguousarray(img.transpose(2, 0, 1))


def _run_ncnn(param_path: Path, bin_path: Path, chw: np.ndarray) -> np.ndarray:
    net = ncnn.Net()
    opt = net.opt
    opt.use_vulkan_compute = False
    opt.use_fp16_storage = False
    opt.use_fp16_packed = False
    opt.use_fp16_arithmetic = False
    opt.use_bf16_storage = False
    opt.use_int8_inference = False
    opt.num_threads = THREADS
    assert net.load_param(str(param_path)) == 0
    assert net.load_model(str(bin_path)) == 0
    ex = net.create_extractor()
    assert ex.input("data", ncnn.Mat(chw)) == 0
    ret, out = ex.extract("output")
    assert ret == 0
    result = np.array(out).copy()
    del ex
    net.clear()
    return result


@pytest.mark.parametrize(
    ("name", "arch_id", "scale", "output_scale"),
    [
        ("REALESRGAN_X4PLUS_UP4X", "ESRGAN", 4, 4.0),
        ("REALESRGAN_X4PLUSANIME_UP4X", "ESRGAN", 4, 4.0),
        ("REALESRGAN_ANIMAVIDEOV3_UP4X", "Compact", 4, 4.0),
    ],
)
def test_matches_ncnn_runtime(name: str, arch_id: str, scale: int, output_scale: float, crop: np.ndarray) -> None:
    """The networks the service runs; the animevideov3 x2/x3 graphs add a resize it does not use."""
    param_path, bin_path = realesrgan_files(name)
    info = inspect_graph(param_path)
    assert info.native_scale == scale
    assert info.output_scale == output_scale

    state = ncnn_to_state_dict(param_path, bin_path)
    descriptor = spandrel.ModelLoader().load_from_state_dict(state)
    assert descriptor.architecture.id == arch_id
    assert descriptor.scale == scale
    model = descriptor.model.eval()
    # the converted dict covers every parameter of the model (spandrel renames
    # RRDBNet keys to its old-style ``model.N`` layout, so compare sizes)
    model_state = model.state_dict()
    assert len(model_state) == len(state)
    assert sum(t.numel() for t in model_state.values()) == sum(t.numel() for t in state.values())

    with torch.inference_mode():
        ours = model(torch.from_numpy(crop)[None])[0].numpy()
    ref = _run_ncnn(param_path, bin_path, crop)

    expected_shape = (3, round(33 * output_scale), round(27 * output_scale))
    assert ref.shape == ours.shape == expected_shape
    diff = float(np.abs(ours - ref).max())
    assert diff < TOLERANCE, f"{name}: max abs diff vs ncnn {diff}"


def test_graph_facts() -> None:
    x4 = inspect_graph(realesrgan_files("REALESRGAN_ANIMAVIDEOV3_UP4X")[0])
    x3 = inspect_graph(realesrgan_files("REALESRGAN_ANIMAVIDEOV3_UP3X")[0])
    assert x4.output_resizes == ()
    assert len(x3.output_resizes) == 1
    resize = x3.output_resizes[0]
    assert (resize.mode, resize.height_scale, resize.width_scale) == (
        "bicubic",
        0.75,
        0.75,
    )
    # the x2/x3/x4 animevideov3 models share the same weights
    a = ncnn_to_state_dict(*realesrgan_files("REALESRGAN_ANIMAVIDEOV3_UP4X"))
    b = ncnn_to_state_dict(*realesrgan_files("REALESRGAN_ANIMAVIDEOV3_UP3X"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # PReLU slopes are stored as untagged fp32, conv weights as tagged fp16
    layers = load_ncnn_weights(*realesrgan_files("REALESRGAN_ANIMAVIDEOV3_UP4X"))
    assert {(lw.layer.type, lw.storage) for lw in layers} == {
        ("Convolution", "fp16"),
        ("PReLU", "fp32"),
    }


def test_rrdbnet_keys() -> None:
    state = ncnn_to_state_dict(*realesrgan_files("REALESRGAN_X4PLUSANIME_UP4X"))
    assert len(state) == 96 * 2
    assert state["conv_first.weight"].shape == (64, 3, 3, 3)
    assert state["body.5.rdb3.conv5.weight"].shape == (64, 192, 3, 3)
    assert state["conv_body.weight"].shape == (64, 64, 3, 3)
    assert state["conv_last.weight"].shape == (3, 64, 3, 3)
    assert "conv_up2.bias" in state and "conv_hr.bias" in state
    assert all(t.dtype == torch.float32 for t in state.values())


# --------------------------------------------------------------------------- errors


@pytest.fixture
def compact_copy(tmp_path: Path) -> tuple[Path, Path]:
    param_path, bin_path = realesrgan_files("REALESRGAN_ANIMAVIDEOV3_UP4X")
    dst_param, dst_bin = tmp_path / "m.param", tmp_path / "m.bin"
    shutil.copyfile(param_path, dst_param)
    shutil.copyfile(bin_path, dst_bin)
    return dst_param, dst_bin


def test_truncated_bin(compact_copy: tuple[Path, Path]) -> None:
    param_path, bin_path = compact_copy
    data = bin_path.read_bytes()
    bin_path.write_bytes(data[:-10])
    with pytest.raises(ValueError, match="truncated"):
        ncnn_to_state_dict(param_path, bin_path)


def test_leftover_bytes(compact_copy: tuple[Path, Path]) -> None:
    param_path, bin_path = compact_copy
    bin_path.write_bytes(bin_path.read_bytes() + b"\0\0\0\0")
    with pytest.raises(ValueError, match="leftover"):
        ncnn_to_state_dict(param_path, bin_path)


def test_wrong_tag(compact_copy: tuple[Path, Path]) -> None:
    param_path, bin_path = compact_copy
    data = bytearray(bin_path.read_bytes())
    assert struct.unpack_from("<I", data, 0)[0] == TAG_FP16
    struct.pack_into("<I", data, 0, 0xDEADBEEF)
    bin_path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="storage tag 0xDEADBEEF"):
        ncnn_to_state_dict(param_path, bin_path)


def test_mismatched_pair() -> None:
    param_path, _ = realesrgan_files("REALESRGAN_X4PLUSANIME_UP4X")
    _, bin_path = realesrgan_files("REALESRGAN_ANIMAVIDEOV3_UP4X")
    with pytest.raises(ValueError, match=r"truncated|leftover|tag"):
        ncnn_to_state_dict(param_path, bin_path)


def test_fp32_storage_roundtrip(compact_copy: tuple[Path, Path]) -> None:
    """A .bin re-encoded with tag 0 + fp32 weights converts to the same state dict."""
    param_path, bin_path = compact_copy
    original = ncnn_to_state_dict(param_path, bin_path)
    out = bytearray()
    for lw in load_ncnn_weights(param_path, bin_path):
        if lw.layer.type == "Convolution":
            out += struct.pack("<I", 0) + lw.weight.numpy().astype("<f4").tobytes()
            assert lw.bias is not None
            out += lw.bias.numpy().astype("<f4").tobytes()
        else:
            out += lw.weight.numpy().astype("<f4").tobytes()
    bin_path.write_bytes(bytes(out))
    converted = ncnn_to_state_dict(param_path, bin_path)
    assert all(torch.equal(original[k], converted[k]) for k in original)


def test_bad_param(tmp_path: Path, compact_copy: tuple[Path, Path]) -> None:
    param_path, bin_path = compact_copy
    lines = param_path.read_text().splitlines()
    bad_magic = tmp_path / "magic.param"
    bad_magic.write_text("\n".join(["1234", *lines[1:]]))
    with pytest.raises(ValueError, match="magic"):
        parse_param(bad_magic)
    missing_layer = tmp_path / "count.param"
    missing_layer.write_text("\n".join(lines[:-1]))
    with pytest.raises(ValueError, match="layers"):
        parse_param(missing_layer)
    with pytest.raises(ValueError, match="keys"):
        ncnn_to_state_dict(param_path, bin_path, keys=["only_one"])
    with pytest.raises(ValueError, match="not RRDBNet"):
        ncnn_to_state_dict(param_path, bin_path, keys="RRDBNet")


# --------------------------------------------------------------------------- cache


def test_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSCALER_MODEL_CACHE", str(tmp_path / "cache"))
    name = "REALESRGAN_ANIMAVIDEOV3_UP4X"
    target = weights.cache_path(name)
    assert target.parent == tmp_path / "cache"
    assert name in target.name and target.suffix == ".safetensors"

    first = realesrgan_state_dict(name)
    assert target.is_file()
    assert list(target.parent.iterdir()) == [target]  # no temp files left behind

    def no_convert(*args: object, **kwargs: object) -> dict[str, torch.Tensor]:
        raise AssertionError("converted again instead of loading the cache")

    monkeypatch.setattr(weights, "ncnn_to_state_dict", no_convert)
    second = realesrgan_state_dict(name)
    assert second.keys() == first.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)

    # a corrupt cache file is reconverted and replaced
    target.write_bytes(b"garbage")
    monkeypatch.undo()
    monkeypatch.setenv("UPSCALER_MODEL_CACHE", str(tmp_path / "cache"))
    third = realesrgan_state_dict(name)
    assert all(torch.equal(first[k], third[k]) for k in first)
    assert target.stat().st_size > 1000


def test_cache_default_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPSCALER_MODEL_CACHE", raising=False)
    assert weights.model_cache_dir() == Path.home() / ".cache" / "upscaler" / "models"


def test_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown"):
        realesrgan_files("NOPE")
    assert len(MODEL_NAMES) == 5
    for name in MODEL_NAMES:
        assert all(p.is_file() for p in realesrgan_files(name))
