"""``manage.py upscale INPUT OUTPUT``: the worker's pipeline on a local file."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from PIL import Image as PILImage

from upscaler_site.testing import photo


def test_upscales_a_local_photo_4x(tmp_path, capsys):
    source = tmp_path / "cat.jpg"
    photo(crop=(180, 60, 220, 90)).save(source, quality=92)  # 40x30 of a real photo
    target = tmp_path / "cat_x4.png"

    call_command("upscale", str(source), str(target), "--scale", "4", "--tile", "16")

    out = PILImage.open(target)
    assert (out.format, out.size) == ("PNG", (160, 120))
    assert "40x30 -> " in capsys.readouterr().out


def test_target_width_and_output_format_from_the_extension(tmp_path):
    source = tmp_path / "cat.png"
    photo(size=(40, 30)).save(source)
    target = tmp_path / "cat.jpg"

    call_command("upscale", str(source), str(target), "--width", "100")

    out = PILImage.open(target)
    assert (out.format, out.size) == ("JPEG", (100, 75))


@pytest.mark.parametrize(("model", "fmt", "says"), [("portrait", "PNG", "(portrait, x4"),
                                                   ("auto", "JPEG", "(portrait (portrait: 1 face, ")])  # fmt: skip
def test_portrait_model_and_auto_picking_it(tmp_path, capsys, model, fmt, says):
    """A 64x64 head and shoulders (skimage's astronaut): precise on the face, standard around it."""
    from skimage import data

    source = tmp_path / f"face.{fmt.lower()}"
    PILImage.fromarray(data.astronaut()).crop((96, 0, 352, 256)).resize((64, 64)).save(source, fmt, quality=70)
    target = tmp_path / "face_x2.png"

    call_command("upscale", str(source), str(target), "--model", model)

    assert PILImage.open(target).size == (128, 128)
    assert says in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.png", "out.png"], "No such file"),
        (["notes.png", "out.png"], "not a valid image"),
        (["cat.png", "out.png", "--width", "700"], "more than 16x"),
    ],
)
def test_bad_input_is_a_clear_command_error(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.png").write_text("hello")
    photo(size=(40, 30)).save(tmp_path / "cat.png")
    with pytest.raises(CommandError, match=message):
        call_command("upscale", *args)
