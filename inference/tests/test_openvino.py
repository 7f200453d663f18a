"""The RRDB trunk in OpenVINO: same output as PyTorch, converted once per host, chosen where it pays."""

from __future__ import annotations

import numpy as np
import pytest
import spandrel
import torch
from PIL import Image
from skimage import data
from spandrel.architectures.ESRGAN import ESRGAN as RRDBNet

from inference import execution, openvino_trunk
from inference.execution import CPU_TILE_MEMORY, StripedUpsampler, execution_plan
from inference.loading import load_network
from inference.openvino_trunk import OpenVinoTrunk
from inference.pipeline import upscale_image
from inference.tiling import upscale_tiled
from upscaler_site.testing import psnr

pytest.importorskip("openvino")
CPU = torch.device("cpu")


@pytest.fixture
def model_cache(tmp_path, monkeypatch):
    """An empty model cache, and no trunk loaded in this process before."""
    monkeypatch.setenv("UPSCALER_MODEL_CACHE", str(tmp_path))
    execution._openvino_trunk.cache_clear()
    return tmp_path


@pytest.fixture(scope="module")
def small_rrdbnet() -> spandrel.ImageModelDescriptor:
    """A two-block RRDBNet with random weights: converts in a second, same layout as Real-ESRGAN."""
    torch.manual_seed(0)
    network = RRDBNet(num_filters=32, num_blocks=2, scale=4)
    descriptor = spandrel.ModelLoader().load_from_state_dict(network.state_dict())
    assert isinstance(descriptor, spandrel.ImageModelDescriptor)
    return descriptor.eval()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_trunk_in_openvino_gives_the_networks_output(small_rrdbnet, model_cache, dtype):
    trunk = OpenVinoTrunk(small_rrdbnet.model.model[:2], dtype, threads=2)
    striped = StripedUpsampler(small_rrdbnet, trunk=trunk)
    x = torch.rand(1, 3, 40, 56).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        expected = small_rrdbnet(x)
        features = trunk(x)
        assert features.shape == (1, 32, 40, 56) and features.dtype == torch.float32
        assert features.is_contiguous(memory_format=torch.channels_last)
        tolerance = 1e-4 if dtype == torch.float32 else 0.1
        np.testing.assert_allclose(features, small_rrdbnet.model.model[:2](x), atol=tolerance)
        assert psnr(striped(x).numpy(), expected.numpy(), peak=1.0) > (80 if dtype == torch.float32 else 45)
        # A second shape compiles its own model, in place of the first (each holds its activations).
        first = trunk._compiled
        assert trunk(torch.rand(1, 3, 24, 24)).shape == (1, 32, 24, 24)
        assert trunk._shape == (24, 24) and trunk._compiled is not first
        assert trunk(torch.rand(1, 3, 24, 24)).shape == (1, 32, 24, 24)
        assert trunk._shape == (24, 24)
    with pytest.raises(ValueError, match="one window at a time"):
        trunk(torch.rand(2, 3, 8, 8))


def test_windows_of_one_shape_run_in_a_row():
    """The trunk keeps one compiled shape, so a 3x3 grid must not switch shapes at every tile."""
    shapes: list[tuple[int, int]] = []

    def forward(x: torch.Tensor) -> torch.Tensor:
        shapes.append((x.shape[2], x.shape[3]))
        return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")

    image = np.random.default_rng(0).random((90, 90, 3), dtype=np.float32)
    out = upscale_tiled(forward, image, 2, tile=30, overlap=8, device=CPU)
    np.testing.assert_array_equal(out, image.repeat(2, axis=0).repeat(2, axis=1))
    runs = [shape for index, shape in enumerate(shapes) if index == 0 or shapes[index - 1] != shape]
    assert len(shapes) == 9 and len(runs) == len(set(shapes)) == 4


def test_the_trunk_is_converted_once_per_host_and_reconverted_when_unreadable(small_rrdbnet, model_cache, monkeypatch):
    import openvino

    head = small_rrdbnet.model.model[:2]
    OpenVinoTrunk(head, torch.float32, threads=2)
    (xml,) = (model_cache / "openvino").glob("trunk.*.xml")
    assert xml.with_suffix(".bin").is_file()
    assert not [p for p in (model_cache / "openvino").iterdir() if p.name.startswith(".")]  # no temp files left

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(openvino, "convert_model", no_conversion)
    second = OpenVinoTrunk(head, torch.float32, threads=2)  # another process: reads the IR
    assert second(torch.rand(1, 3, 16, 16)).shape == (1, 32, 16, 16)

    monkeypatch.undo()
    monkeypatch.setenv("UPSCALER_MODEL_CACHE", str(model_cache))
    xml.write_text("not IR")
    third = OpenVinoTrunk(head, torch.float32, threads=2)
    assert third(torch.rand(1, 3, 16, 16)).shape == (1, 32, 16, 16)
    assert xml.read_text().startswith("<?xml")


def test_other_weights_get_their_own_ir(small_rrdbnet, model_cache):
    torch.manual_seed(1)
    other = RRDBNet(num_filters=32, num_blocks=2, scale=4).model[:2]
    assert openvino_trunk._ir_path(small_rrdbnet.model.model[:2]) != openvino_trunk._ir_path(other)


def test_the_engine_is_chosen_per_image(small_rrdbnet, model_cache, monkeypatch):
    def plan(size, setting=None):
        if setting:
            monkeypatch.setenv("UPSCALER_CPU_ENGINE", setting)
        else:
            monkeypatch.delenv("UPSCALER_CPU_ENGINE", raising=False)
        return execution_plan(small_rrdbnet, CPU, "bf16", overlap=64, size=size)

    big = plan((600, 800))
    assert big.engine == "openvino"
    assert isinstance(big.forward, StripedUpsampler) and isinstance(big.forward.head, OpenVinoTrunk)
    # Its windows are smaller: OpenVINO's trunk needs more memory per pixel than PyTorch's.
    assert big.max_window is not None and big.max_window < plan((600, 800), "torch").max_window
    assert big.max_window * execution._OPENVINO_ACTIVATION_BYTES[2] <= CPU_TILE_MEMORY
    assert plan((600, 800), "torch").engine == "torch"
    assert plan((64, 64)).engine == "torch"  # too small to pay for compiling a window shape
    assert plan((64, 64), "openvino").engine == "openvino"
    assert plan(None).engine == "torch"
    assert execution_plan(load_network("anime-fast", 4, "cpu"), CPU, size=(600, 800)).engine == "torch"
    # Where its smaller windows recompute more context than it saves, PyTorch runs the image.
    monkeypatch.setattr(execution, "OPENVINO_SPEEDUP", 1.1)
    assert plan((1000, 1000)).engine == "torch"
    assert plan((600, 800)).engine == "openvino"  # one window either way
    with pytest.raises(ValueError, match="UPSCALER_CPU_ENGINE"):
        plan((600, 800), "tpu")


def test_a_trunk_openvino_cannot_load_runs_in_pytorch(small_rrdbnet, model_cache, monkeypatch, caplog):
    import openvino

    def broken(*args, **kwargs):
        raise RuntimeError("no plugin for this CPU")

    monkeypatch.setattr(openvino, "convert_model", broken)
    plan = execution_plan(small_rrdbnet, CPU, "bf16", overlap=64, size=(600, 800))
    assert plan.engine == "torch" and plan.max_window == execution_plan(small_rrdbnet, CPU, "bf16").max_window
    assert "openvino_unavailable" in caplog.text
    caplog.clear()
    assert execution_plan(small_rrdbnet, CPU, "bf16", overlap=64, size=(600, 800)).engine == "torch"
    assert "openvino_unavailable" not in caplog.text  # tried once per network


def test_warm_up_loads_the_trunk_a_large_image_would_run(model_cache):
    from inference.warmup import warm_up

    warm_up(["anime"])
    assert list((model_cache / "openvino").glob("trunk.*.xml"))


def test_the_pipeline_runs_standard_with_the_openvino_trunk(model_cache, monkeypatch):
    """The real Real-ESRGAN x4plus: converted, run in bfloat16 where the CPU has it, same picture as PyTorch."""
    image = Image.fromarray(data.astronaut()).resize((48, 40), Image.Resampling.LANCZOS)
    monkeypatch.setenv("UPSCALER_CPU_ENGINE", "torch")
    expected = upscale_image(image, (192, 160), model="standard")
    monkeypatch.setenv("UPSCALER_CPU_ENGINE", "openvino")
    result = upscale_image(image, (192, 160), model="standard")
    assert list((model_cache / "openvino").glob("trunk.*.xml"))
    assert result.image.size == (192, 160)
    assert (result.engines, expected.engines) == (["openvino"], ["torch"])
    assert psnr(np.asarray(result.image), np.asarray(expected.image)) > 40
