"""Tests for :mod:`inference.sizing`: a request's options to the output size, the model and the passes.

Plain arithmetic: no model runs, no database.
"""

from __future__ import annotations

import numpy as np
import pytest

from inference.auto import AutoChoice
from inference.sizing import MAX_TARGET_SIDE, SizeError, UpscaleOptions, plan_passes, resolve_options
from inference.sizing import output_size as _output_size

# --- output_size ------------------------------------------------------------------------------------------

SIZE = (451, 300)  # the photo's size: odd width, 3:2-ish


def output_size(size, max_scale=4, **request):
    """:func:`inference.sizing.output_size` with the 4x limit these tests are written for."""
    return _output_size(size, max_scale=max_scale, **request)


@pytest.mark.parametrize(("scale", "expected"), [(2, (902, 600)), (3, (1353, 900)), (4, (1804, 1200))])
def test_output_size_scale_factor(scale, expected):
    assert output_size(SIZE, scale_factor=scale) == expected


def test_output_size_defaults_to_x2():
    assert output_size(SIZE) == (902, 600)


@pytest.mark.parametrize(("scale", "expected"), [(1.5, (676, 450)), (2.5, (1128, 750)), (3.25, (1466, 975))])
def test_output_size_fractional_scale_factors(scale, expected):
    assert output_size(SIZE, scale_factor=scale) == expected


@pytest.mark.parametrize("scale", [-1, 0, 1, 1.49, 4.01, 5, 8])
def test_output_size_scale_factor_out_of_range(scale):
    with pytest.raises(SizeError) as exc:
        output_size(SIZE, scale_factor=scale)
    assert exc.value.field == "scale_factor"


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ({"max_width": 1000}, (1000, 665)),  # the width binds
        ({"max_height": 500}, (751, 500)),  # the height binds
        ({"max_width": 1000, "max_height": 500}, (751, 500)),  # the tighter side binds
        ({"max_width": 16000}, (1804, 1200)),  # no further than the largest scale factor (4x)
        ({"max_width": 451}, SIZE),  # already as large as the box: unchanged
        ({"max_width": 200, "max_height": 200}, SIZE),  # larger than the box: unchanged, not shrunk
    ],
)
def test_output_size_fits_a_box_alone(box, expected):
    assert output_size(SIZE, **box) == expected


def test_output_size_box_alone_stops_at_the_fit_max_scale():
    assert output_size(SIZE, max_width=16000, fit_max_scale=2) == (902, 600)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"scale_factor": 4, "max_width": 1000}, (1000, 665)),  # the box shrinks 4x
        ({"scale_factor": 2, "max_width": 5000}, (902, 600)),  # the box allows 2x as it is
        ({"target_width": 1804, "max_height": 900}, (1353, 900)),
        ({"scale_factor": 4, "max_width": 300}, SIZE),  # the box is smaller than the input
    ],
)
def test_output_size_a_box_shrinks_a_scale_or_target_into_it(request_, expected):
    assert output_size(SIZE, **request_) == expected


@pytest.mark.parametrize("field", ["max_width", "max_height"])
@pytest.mark.parametrize("value", [0, MAX_TARGET_SIDE + 1])
def test_output_size_box_range(field, value):
    with pytest.raises(SizeError, match="between 1 and 16384") as exc:
        output_size(SIZE, **{field: value})
    assert exc.value.field == field


def test_a_box_the_input_already_fills_is_a_passthrough_with_no_network_pass():
    options = resolve_options(SIZE, max_width=400, model="standard", max_scale=4)
    assert options.passthrough and options.size == SIZE and options.scale_factor is None
    assert (options.scale_chain, options.cpu_seconds) == ([], 0.0)
    grown = resolve_options(SIZE, max_width=1000, model="standard", max_scale=4)
    assert not grown.passthrough and grown.scale_chain == [4]


def test_portrait_and_auto_budget_for_standard_and_precise_together():
    """portrait runs standard on the whole image and precise on the faces, which may fill it; auto may pick it."""
    megapixels = SIZE[0] * SIZE[1] / 1e6
    for model in ("portrait", "auto"):
        options = resolve_options(SIZE, scale_factor=4, model=model, max_scale=4)
        assert options.scale_chain == [4]
        assert options.cpu_seconds == pytest.approx(megapixels * (430 + 400))


def test_output_size_scale_and_target_together_rejected():
    for targets in ({"target_width": 902}, {"target_height": 600}, {"target_width": 902, "target_height": 600}):
        with pytest.raises(SizeError, match="cannot be used with target_width") as exc:
            output_size(SIZE, scale_factor=2, **targets)
        assert exc.value.field == "scale_factor"


@pytest.mark.parametrize(
    ("target_width", "expected"),
    [(902, (902, 600)), (1000, (1000, 665)), (452, (452, 301)), (1804, (1804, 1200))],
)
def test_output_size_target_width_only_follows_aspect_ratio(target_width, expected):
    assert output_size(SIZE, target_width=target_width) == expected


@pytest.mark.parametrize(
    ("target_height", "expected"),
    [(600, (902, 600)), (500, (752, 500)), (301, (453, 301)), (1200, (1804, 1200))],
)
def test_output_size_target_height_only_follows_aspect_ratio(target_height, expected):
    assert output_size(SIZE, target_height=target_height) == expected


def test_output_size_both_targets_taken_as_given():
    assert output_size(SIZE, target_width=1000, target_height=400) == (1000, 400)
    assert output_size(SIZE, target_width=451, target_height=301) == (451, 301)  # larger on one side suffices


@pytest.mark.parametrize(
    ("targets", "field"),
    [
        ({"target_width": 450}, "target_width"),
        ({"target_width": 451}, "target_width"),  # same size: nothing to upscale
        ({"target_height": 299}, "target_height"),
        ({"target_height": 300}, "target_height"),
        ({"target_width": 451, "target_height": 300}, "target_width"),
        ({"target_width": 400, "target_height": 600}, "target_width"),
        ({"target_width": 902, "target_height": 200}, "target_height"),
    ],
)
def test_output_size_smaller_than_original_rejected(targets, field):
    with pytest.raises(SizeError, match="larger than the original") as exc:
        output_size(SIZE, **targets)
    assert exc.value.field == field


@pytest.mark.parametrize(
    ("targets", "field"),
    [
        ({"target_width": 1805}, "target_width"),
        ({"target_height": 1201}, "target_height"),
        ({"target_width": 1805, "target_height": 600}, "target_width"),
        ({"target_width": 902, "target_height": 1201}, "target_height"),
    ],
)
def test_output_size_more_than_4x_rejected(targets, field):
    with pytest.raises(SizeError, match="more than 4x") as exc:
        output_size(SIZE, **targets)
    assert exc.value.field == field


def test_output_size_max_scale_parameter():
    assert output_size((10, 10), target_width=20, max_scale=2) == (20, 20)
    with pytest.raises(SizeError):
        output_size((10, 10), target_width=21, max_scale=2)
    with pytest.raises(SizeError):
        output_size((10, 10), scale_factor=3, max_scale=2)


@pytest.mark.parametrize("field", ["target_width", "target_height"])
@pytest.mark.parametrize("value", [-5, 0, MAX_TARGET_SIDE + 1])
def test_output_size_target_range(field, value):
    with pytest.raises(SizeError, match=f"{field.replace('_', ' ')} must be between 1 and {MAX_TARGET_SIDE}") as exc:
        output_size(SIZE, **{field: value})
    assert exc.value.field == field


def test_output_size_target_range_bounds_accepted():
    assert MAX_TARGET_SIDE == 16384
    assert output_size((4096, 100), target_width=MAX_TARGET_SIDE) == (16384, 400)
    assert output_size((100, 4096), target_height=MAX_TARGET_SIDE) == (400, 16384)
    assert output_size((1, 1), target_width=2) == (2, 2)


def test_output_size_derived_side_over_the_limit_blames_the_given_side():
    # 20000 px wide is only 2x here, but over the side limit; the user gave target_height.
    with pytest.raises(SizeError, match="16384 pixels on a side") as exc:
        output_size((10000, 10), target_height=20)
    assert exc.value.field == "target_height"


# --- plan_passes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scales", "factor", "expected"),
    [
        ((4,), 2.0, [4]),
        ((4,), 3, [4]),
        ((4,), 4, [4]),
        ((4,), 1.1, [4]),
        ((2, 3, 4), 2, [2]),
        ((2, 3, 4), 3, [3]),
        ((2, 3, 4), 4, [4]),
        ((2, 3, 4), 1.5, [2]),
        ((2, 3, 4), 2.5, [3]),
        ((2, 3, 4), 3.01, [4]),
        ((2, 3, 4), 3 * (1 + 1e-12), [3]),  # float noise from width/height ratios
        ((4, 2, 3), 2, [2]),  # order of the native scales does not matter
        ((4,), 8, [4, 4]),  # x4 only: two x4 passes, then resampled down to x8
        ((4,), 16, [4, 4]),
        ((2, 3, 4), 8, [4, 2]),
        ((2, 3, 4), 16, [4, 4]),
        ((2,), 4, [2, 2]),
        ((2,), 5, [2, 2, 2]),
    ],
)
def test_plan_passes(scales, factor, expected):
    assert plan_passes(scales, factor) == expected


@pytest.mark.parametrize("scales", [(4,), (2, 3, 4), (2, 4), (2,), (3,)])
def test_plan_passes_reaches_the_factor_with_no_pass_to_spare(scales):
    for factor in np.linspace(1.0, 20.0, 77):
        chain = plan_passes(scales, float(factor))
        assert chain and set(chain) <= set(scales)
        product = float(np.prod(chain))
        assert product >= factor - 1e-9
        assert len(chain) == 1 or product / chain[-1] < factor  # no pass to spare


# --- resolve_options ---------------------------------------------------------------------------------------


def test_resolve_options_defaults_to_x2_and_names_the_scale():
    options = resolve_options(SIZE, model="standard", max_scale=16)
    assert options == UpscaleOptions(SIZE, (902, 600), 2, "standard", "standard", "", False)
    assert options.factor == 2 and options.scale_chain == [4]


def test_resolve_options_with_a_target_size_has_no_scale_factor():
    options = resolve_options(SIZE, target_width=902, model="precise", max_scale=16)
    assert (options.size, options.scale_factor, options.scale_chain) == ((902, 600), None, [2])


def test_resolve_options_x16_chains_passes():
    assert resolve_options((10, 10), scale_factor=16, model="standard", max_scale=16).scale_chain == [4, 4]


def test_resolve_options_caps_megapixels_and_blames_the_field_the_user_gave():
    with pytest.raises(SizeError, match=r"902x600 \(0.5 MP\); the limit is 0.5 MP") as exc:
        resolve_options(SIZE, model="standard", max_scale=16, max_output_pixels=500_000)
    assert exc.value.field == "scale_factor"
    with pytest.raises(SizeError) as exc:
        resolve_options(SIZE, target_height=600, model="standard", max_scale=16, max_output_pixels=500_000)
    assert exc.value.field == "target_width"


def test_resolve_options_auto_asks_the_image_only_when_asked_for():
    calls = []

    def choose() -> AutoChoice:
        calls.append(1)
        return AutoChoice("anime", "illustration (score 0.90)", 0.9, None)

    assert resolve_options(SIZE, model="standard", max_scale=4, choose_auto=choose).model_used == "standard"
    assert calls == []
    options = resolve_options(SIZE, model="auto", max_scale=4, choose_auto=choose)
    assert (options.model, options.model_used, options.model_reason) == ("auto", "anime", "illustration (score 0.90)")


@pytest.mark.parametrize(("model", "field"), [("nonexistent", "model"), ("standard", "max_quality")])
def test_resolve_options_refusals_name_their_field(model, field):
    with pytest.raises(SizeError) as exc:
        resolve_options(SIZE, model=model, max_quality=True, max_scale=4)
    assert exc.value.field == field


def test_resolve_options_max_quality_with_precise():
    assert resolve_options(SIZE, model="precise", max_quality=True, max_scale=4).max_quality
