"""From a request's options to what will run: output size, model, and the chain of network passes.

Plain arithmetic, no PyTorch: the API validates requests with it before anything is
queued, the ``upscale`` command with the same rules, and the pipeline plans its passes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from inference.auto import AutoChoice
from inference.catalog import AUTO, AUTO_CANDIDATES, MODEL_CHOICES, get_spec

#: The largest target side in pixels a request may name.
MAX_TARGET_SIDE = 16384
#: Scale factor when a request gives neither a scale factor nor a target size.
DEFAULT_SCALE_FACTOR = 2
#: The smallest scale factor a request may ask for (fractions are allowed above it).
MIN_SCALE_FACTOR = 1.5


class SizeError(ValueError):
    """A request's options are impossible; ``field`` names the request field to blame, the message says why."""

    def __init__(self, message: str, field: str = "scale_factor") -> None:
        super().__init__(message)
        self.field = field


def output_size(
    size: tuple[int, int],
    *,
    scale_factor: float | None = None,
    target_width: int | None = None,
    target_height: int | None = None,
    max_width: int | None = None,
    max_height: int | None = None,
    max_scale: float,
    fit_max_scale: float | None = None,
) -> tuple[int, int]:
    """The output (width, height) in pixels for an input of ``size`` = (width, height) pixels.

    The size comes from ``scale_factor`` (:data:`MIN_SCALE_FACTOR` to ``max_scale``,
    fractions allowed), or from one or both target sides (a missing side follows the
    input's aspect ratio; at least as large as the input on both sides, larger on one,
    at most ``max_scale`` times it), or else, with a box and nothing more, from the box;
    with none of these it is x2.

    ``max_width``/``max_height`` are a box the result must fit in, keeping the aspect
    ratio. Alone, they ask for the largest size within the box, at most
    ``fit_max_scale`` (default ``max_scale``) times the input. With a scale factor or a
    target, they shrink it into the box. Either way, an input already as large as the
    box allows is returned at its own size: there is nothing to upscale.

    Raises:
        SizeError: the combination is invalid or unreachable.
    """
    width, height = size
    box = {"max_width": max_width, "max_height": max_height}
    for name, value in box.items():
        if value is not None and not 1 <= value <= MAX_TARGET_SIDE:
            raise SizeError(f"The {name.replace('_', ' ')} must be between 1 and {MAX_TARGET_SIDE}.", name)
    has_box = max_width is not None or max_height is not None
    if scale_factor is not None:
        if target_width is not None or target_height is not None:
            raise SizeError("The scale factor cannot be used with target_width/target_height: give one or the other.")
        if scale_factor > max_scale + 1e-9:
            raise SizeError(f"The scale factor may be at most {max_scale:g}.")
        if scale_factor < MIN_SCALE_FACTOR - 1e-9:
            raise SizeError(f"The scale factor must be between {MIN_SCALE_FACTOR:g} and {max_scale:g}.")
        out = (max(1, round(width * scale_factor)), max(1, round(height * scale_factor)))
    elif target_width is not None or target_height is not None:
        out = _target_size(size, target_width, target_height, max_scale)
    elif has_box:
        out = _fit(size, max_width, max_height, fit_max_scale if fit_max_scale is not None else max_scale)
    else:
        out = (width * DEFAULT_SCALE_FACTOR, height * DEFAULT_SCALE_FACTOR)
    if has_box:
        out = _fit(out, max_width, max_height, 1.0)
    return size if out[0] <= width and out[1] <= height else out


def _fit(size: tuple[int, int], max_width: int | None, max_height: int | None, max_scale: float) -> tuple[int, int]:
    """The largest size with ``size``'s aspect ratio within the box and at most ``max_scale`` times ``size``."""
    width, height = size
    factor = max_scale
    if max_width is not None:
        factor = min(factor, max_width / width)
    if max_height is not None:
        factor = min(factor, max_height / height)
    return max(1, math.floor(width * factor + 1e-6)), max(1, math.floor(height * factor + 1e-6))


def _target_size(
    size: tuple[int, int], target_width: int | None, target_height: int | None, max_scale: float
) -> tuple[int, int]:
    width, height = size
    sides = {"target_width": target_width, "target_height": target_height}
    given = [name for name, value in sides.items() if value is not None]
    for name in given:
        value = sides[name]
        if value is None or not 1 <= value <= MAX_TARGET_SIDE:
            raise SizeError(f"The {name.replace('_', ' ')} must be between 1 and {MAX_TARGET_SIDE}.", name)

    def blame(width_bad: bool, height_bad: bool) -> str:
        # The offending side if the user gave it, else the side the user gave.
        return "target_height" if height_bad and not width_bad and "target_height" in given else given[0]

    if target_width is None:
        assert target_height is not None
        target_width = max(1, round(width * target_height / height))
    if target_height is None:
        target_height = max(1, round(height * target_width / width))
    if max(target_width, target_height) > MAX_TARGET_SIDE:
        raise SizeError(
            f"The target {target_width}x{target_height} is more than {MAX_TARGET_SIDE} pixels on a side.",
            blame(target_width > MAX_TARGET_SIDE, target_height > MAX_TARGET_SIDE),
        )
    if target_width < width or target_height < height or (target_width, target_height) == (width, height):
        raise SizeError(
            f"The target {target_width}x{target_height} must be larger than the original {width}x{height}.",
            blame(target_width < width, target_height < height),
        )
    if target_width > width * max_scale or target_height > height * max_scale:
        raise SizeError(
            f"The target {target_width}x{target_height} is more than {max_scale:g}x the original {width}x{height}.",
            blame(target_width > width * max_scale, target_height > height * max_scale),
        )
    return target_width, target_height


def scale_of(source: tuple[int, int], output: tuple[int, int]) -> float:
    """The upscaling factor from ``source`` to ``output`` (both (width, height)): the larger of the two sides'."""
    return max(output[0] / source[0], output[1] / source[1])


def plan_passes(native_scales: tuple[int, ...], factor: float) -> list[int]:
    """The chain of native network scales whose product first reaches ``factor``.

    Prefers the smallest native scale that covers what is left (so x2 with a x2/x3/x4
    model is one x2 pass) and chains the largest one otherwise (x8 with a x4 model is
    x4 then x2 or x4). The result is then resampled to the exact size.
    """
    passes: list[int] = []
    reached = 1
    while reached < factor - 1e-9 or not passes:
        remaining = factor / reached
        covering = [s for s in sorted(native_scales) if s >= remaining - 1e-9]
        step = covering[0] if covering else max(native_scales)
        passes.append(step)
        reached *= step
    return passes


#: The self-ensemble runs the network this many times (:mod:`inference.ensemble`).
ENSEMBLE_PASSES = 8


@dataclass(frozen=True)
class UpscaleOptions:
    """What a request resolves to: the output size and the model that will run.

    Attributes:
        source_size: the input's (width, height) in pixels, orientation applied.
        size: the output's (width, height) in pixels.
        scale_factor: the scale factor asked for (fractions allowed), the default one
            when the request named no size, or None when it named a target size or
            only a box.
        model: the model asked for (may be ``"auto"``).
        model_used: the model that runs; None while ``"auto"`` has not looked at the
            pixels yet (the worker decides, :mod:`inference.auto`).
        model_reason: why ``"auto"`` chose ``model_used``; empty otherwise.
        max_quality: run the self-ensemble (``precise`` only).
    """

    source_size: tuple[int, int]
    size: tuple[int, int]
    scale_factor: float | None
    model: str
    model_used: str | None
    model_reason: str
    max_quality: bool

    @property
    def factor(self) -> float:
        """The upscaling factor: the larger of the two sides' (what a plan's maximum scale limits)."""
        return scale_of(self.source_size, self.size)

    @property
    def passthrough(self) -> bool:
        """Nothing to upscale: the input already fills the box it must fit (the result is the input)."""
        return self.size == self.source_size

    @property
    def megapixels(self) -> float:
        """Output megapixels (10^6 pixels)."""
        return self.size[0] * self.size[1] / 1e6

    @property
    def candidates(self) -> tuple[str, ...]:
        """The models that may run: ``model_used``, or every model ``auto`` may pick."""
        return (self.model_used,) if self.model_used else AUTO_CANDIDATES

    @property
    def scale_chain(self) -> list[int]:
        """The native network passes that will run, e.g. ``[4, 4]`` for x16 with a x4 model; for an
        unresolved ``auto``, the costliest of its candidates'; none for a :attr:`passthrough`."""
        if self.passthrough:
            return []
        chains = [plan_passes(get_spec(name).scales, self.factor) for name in self.candidates]
        return max(chains, key=lambda chain: (_product(chain), len(chain)))

    @property
    def network_megapixels(self) -> float:
        """The largest image the network passes produce, in megapixels: the last pass's output before it
        is resampled to :attr:`size` (x2 with a x4-only model computes x4 first)."""
        return self.source_size[0] * self.source_size[1] * _product(self.scale_chain) ** 2 / 1e6

    @property
    def cpu_seconds(self) -> float:
        """How long the network passes take on a slow CPU worker, in seconds (a budget, not a prediction):
        each pass's input megapixels times the model's ``cpu_seconds_per_megapixel``, times 8 with the
        self-ensemble; for an unresolved ``auto``, its costliest candidate."""
        if self.passthrough:
            return 0.0
        source_megapixels = self.source_size[0] * self.source_size[1] / 1e6
        ensemble = ENSEMBLE_PASSES if self.max_quality else 1
        costs = []
        for name in self.candidates:
            spec, megapixels, seconds = get_spec(name), source_megapixels, 0.0
            for step in plan_passes(spec.scales, self.factor):
                seconds += megapixels * spec.cpu_seconds_per_megapixel * ensemble
                megapixels *= step * step
            costs.append(seconds)
        return max(costs)


def _product(chain: list[int]) -> int:
    product = 1
    for step in chain:
        product *= step
    return product


def resolve_options(
    source_size: tuple[int, int],
    *,
    scale_factor: float | None = None,
    target_width: int | None = None,
    target_height: int | None = None,
    max_width: int | None = None,
    max_height: int | None = None,
    model: str,
    max_quality: bool = False,
    max_scale: float,
    fit_max_scale: float | None = None,
    max_output_pixels: int | None = None,
    max_network_pixels: int | None = None,
    max_cpu_seconds: float | None = None,
    choose_auto: Callable[[], AutoChoice] | None = None,
) -> UpscaleOptions:
    """Resolve a request's options for an input of ``source_size`` = (width, height) pixels.

    The one home of the rules that the API, the ``upscale`` command and the worker share:
    the output size (:func:`output_size`), the caps on what the network computes, the
    default scale factor, the model ``"auto"`` picks, and ``max_quality`` being for
    ``precise`` only.

    Args:
        model: a name in :data:`inference.catalog.MODEL_CHOICES`.
        max_scale: the largest scale factor allowed here (at most
            :data:`inference.catalog.MAX_SCALE_FACTOR`).
        max_width, max_height, fit_max_scale: the box the result must fit in, and
            how far a box alone may upscale (:func:`output_size`).
        max_output_pixels: the largest output width x height; None for no cap.
        max_network_pixels: the largest image a network pass may produce
            (:attr:`UpscaleOptions.network_megapixels`), in pixels; None for no cap.
        max_cpu_seconds: the longest :attr:`UpscaleOptions.cpu_seconds` allowed; None for no cap.
        choose_auto: called only for ``model="auto"`` to pick the model, e.g. a
            decoded image's :meth:`inference.imageio.SourceImage.auto_choice`.
            Without it ``"auto"`` stays unresolved (``model_used`` None) and the
            caps apply to the costliest model it may pick.

    Raises:
        SizeError: impossible options; ``field`` names the request field to blame.
    """
    if model not in MODEL_CHOICES:
        raise SizeError(f"The model must be one of: {', '.join(MODEL_CHOICES)}.", "model")
    targeted = target_width is not None or target_height is not None
    boxed = scale_factor is None and not targeted and (max_width is not None or max_height is not None)
    # The request field a size that is too large is blamed on.
    size_field = (
        "target_width" if targeted else ("max_width" if max_width else "max_height") if boxed else "scale_factor"
    )
    size = output_size(
        source_size,
        scale_factor=scale_factor,
        target_width=target_width,
        target_height=target_height,
        max_width=max_width,
        max_height=max_height,
        max_scale=max_scale,
        fit_max_scale=fit_max_scale,
    )
    if max_output_pixels is not None and size[0] * size[1] > max_output_pixels:
        raise SizeError(
            f"The output would be {size[0]}x{size[1]} ({size[0] * size[1] / 1e6:.1f} MP); "
            f"the limit is {max_output_pixels / 1e6:g} MP.",
            size_field,
        )
    model_used: str | None = model
    reason = ""
    if model == AUTO:
        model_used = None
        if choose_auto is not None:
            choice = choose_auto()
            model_used, reason = choice.model, choice.reason
    if max_quality and model_used != "precise":
        raise SizeError("Max quality is only available with the precise model.", "max_quality")
    options = UpscaleOptions(
        source_size=source_size,
        size=size,
        scale_factor=None if targeted or boxed else (scale_factor or DEFAULT_SCALE_FACTOR),
        model=model,
        model_used=model_used,
        model_reason=reason,
        max_quality=max_quality,
    )
    if max_network_pixels is not None and options.network_megapixels * 1e6 > max_network_pixels:
        passes = " then ".join(f"x{step}" for step in options.scale_chain)
        raise SizeError(
            f"This upscale runs the network at {passes}, producing {options.network_megapixels:.1f} MP before "
            f"resizing; the limit is {max_network_pixels / 1e6:g} MP. Choose a smaller image or scale factor.",
            size_field,
        )
    if max_cpu_seconds is not None and options.cpu_seconds > max_cpu_seconds:
        raise SizeError(
            f"This upscale would take up to {options.cpu_seconds / 3600:.1f} hours of a worker; the limit is "
            f"{max_cpu_seconds / 3600:.1f} hours. Choose a smaller image, scale factor or a faster model.",
            "max_quality" if max_quality else size_field,
        )
    return options
