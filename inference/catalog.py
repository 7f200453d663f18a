"""The model catalogue: the model names the API accepts, what is behind each, and the scale factors.

Plain data, no PyTorch: the web tier reads it to validate requests and draw the upload
form, the worker reads it to load networks (:mod:`inference.loading`).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The ``model`` value that picks a model per image (:mod:`inference.auto`).
AUTO = "auto"

#: Scale factors a request may ask for. Beyond a model's native scales, passes chain
#: (x8 = x4 then x2 or x4, resampled to the exact size: :func:`inference.sizing.plan_passes`).
SCALE_FACTORS: tuple[int, ...] = (2, 3, 4, 8, 16)
#: The largest scale factor (and target/original ratio) the pipeline supports.
MAX_SCALE_FACTOR = SCALE_FACTORS[-1]


class UnknownModel(ValueError):
    """The model name or scale is not in the catalogue."""


@dataclass(frozen=True)
class ModelSpec:
    """A model name the API accepts.

    Attributes:
        name: the API's ``model`` value.
        title: the network, e.g. ``"Real-ESRGAN x4plus"``.
        label: what the upload form's menu says, e.g. ``"Standard: photos"``.
        description: what it is good for.
        paper: the source paper of the architecture and weights.
        scales: native scale factors of the networks behind the name.
        tile: default CPU tile size in input pixels (memory vs speed).
        overlap: context in input pixels around each tile. RRDBNet (the Real-ESRGAN
            x4plus models) draws on far more than 32 px: with 32 px, tiled output was
            up to 0.28 dB off whole-image output on Set5; with 64 px it is exact to
            within one level (docs/benchmarks.md).
        cpu_seconds_per_megapixel: seconds one network pass takes per input
            megapixel on a slow CPU worker: the float32 reference of
            ``bench/speed.py`` on 2 cores of an AMD EPYC (1024x1024 input), rounded
            up. Jobs get a time limit from it (:attr:`inference.sizing.UpscaleOptions.cpu_seconds`).
        combines: for a model that runs other models rather than a network of its own
            (``portrait``: ``standard`` then ``precise`` on the faces, :mod:`inference.portrait`),
            their names; empty for a network. Such a model has no weights of its own to
            load or benchmark.
    """

    name: str
    title: str
    label: str
    description: str
    paper: str
    scales: tuple[int, ...]
    cpu_seconds_per_megapixel: float
    tile: int = 256
    overlap: int = 32
    combines: tuple[str, ...] = ()


_REAL_ESRGAN = (
    "Wang et al., Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data, ICCVW 2021"
)

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="standard",
            title="Real-ESRGAN x4plus",
            label="Standard: photos",
            description="GAN trained on real-world degradations: photos, JPEG-damaged thumbnails, logos.",
            paper=_REAL_ESRGAN,
            scales=(4,),
            cpu_seconds_per_megapixel=430,
            tile=256,
            overlap=64,
        ),
        ModelSpec(
            name="precise",
            title="DAT-light",
            label="Precise: faithful detail",
            description="PSNR-oriented transformer, faithful to the input: archives, print, e-commerce.",
            paper="Chen et al., Dual Aggregation Transformer for Image Super-Resolution, ICCV 2023",
            scales=(2, 3, 4),
            cpu_seconds_per_megapixel=400,
            tile=192,
        ),
        ModelSpec(
            name="anime",
            title="Real-ESRGAN x4plus-anime",
            label="Anime: illustration, line art",
            description="Real-ESRGAN fine-tuned on anime: illustration, line art, generated art.",
            paper=f"{_REAL_ESRGAN} (RealESRGAN_x4plus_anime_6B)",
            scales=(4,),
            cpu_seconds_per_megapixel=140,
            tile=256,
            overlap=64,
        ),
        ModelSpec(
            name="anime-fast",
            title="Real-ESRGAN animevideov3",
            label="Anime fast: 10x faster",
            description="Small compact network for anime and video frames: about 10x faster than anime.",
            paper=f"{_REAL_ESRGAN} (realesr-animevideov3, SRVGGNetCompact)",
            # The packaged x2/x3 networks are this x4 network plus a bicubic downscale;
            # the pipeline's Lanczos resampling to the exact size does the same job.
            scales=(4,),
            cpu_seconds_per_megapixel=15,
            tile=384,
        ),
    )
}

#: The model that runs ``precise`` on the faces and ``standard`` on the rest (:mod:`inference.portrait`).
PORTRAIT = "portrait"
MODELS[PORTRAIT] = ModelSpec(
    name=PORTRAIT,
    title="MTCNN, then DAT-light on faces and Real-ESRGAN x4plus elsewhere",
    label="Portrait: faces",
    description="Faithful faces without a GAN's waxy skin, GAN detail around them: photos of people.",
    paper="Zhang et al., Joint Face Detection and Alignment Using Multitask Cascaded Convolutional Networks, "
    "IEEE Signal Processing Letters 2016 (MTCNN); the networks are standard's and precise's",
    scales=MODELS["standard"].scales,
    # standard runs on the whole image, precise on the faces, which may fill it (a close-up).
    cpu_seconds_per_megapixel=MODELS["standard"].cpu_seconds_per_megapixel
    + MODELS["precise"].cpu_seconds_per_megapixel,
    tile=MODELS["standard"].tile,
    overlap=MODELS["standard"].overlap,
    combines=("standard", "precise"),
)

#: The models ``auto`` chooses from (:func:`inference.auto.choose_model`).
AUTO_CANDIDATES: tuple[str, ...] = ("anime", "standard", "precise", PORTRAIT)

#: Every ``model`` value a request may send, ``auto`` first.
MODEL_CHOICES: tuple[str, ...] = (AUTO, *MODELS)
#: The upload form's menu: (value, label), ``auto`` first.
MODEL_LABELS: tuple[tuple[str, str], ...] = (
    (AUTO, "Auto (picked per image)"),
    *((spec.name, spec.label) for spec in MODELS.values()),
)


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` for ``name``.

    Raises:
        UnknownModel: no such model.
    """
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModel(f"Unknown model {name!r}; choose one of {', '.join(MODELS)}.") from None


def scale_factors_up_to(limit: int) -> tuple[list[int], list[int]]:
    """:data:`SCALE_FACTORS` split into those at most ``limit`` and those above it (the plan's locked ones)."""
    return [s for s in SCALE_FACTORS if s <= limit], [s for s in SCALE_FACTORS if s > limit]
