"""Untrusted image paths and files fail as InputError (never retried); good photos load upright."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from services.errors import InputError
from services.imaging.imageio import load_rgb, resolve_asset_path


def test_overlong_name_is_bad_input(tmp_path):
    with pytest.raises(InputError, match="not a usable path"):
        resolve_asset_path("/assets/" + "a" * 300 + ".png", tmp_path)


def test_formats_outside_png_jpeg_webp_are_refused(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(path, format="BMP")  # a BMP named .png
    with pytest.raises(InputError, match="unreadable image"):
        load_rgb(path)


def test_exif_orientation_is_applied(tmp_path):
    wide = np.zeros((40, 80, 3), np.uint8)
    wide[:, :40] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    path = tmp_path / "phone.jpg"
    Image.fromarray(wide).save(path, format="JPEG", exif=exif)
    rgb = load_rgb(Path(path))
    assert rgb.shape[:2] == (80, 40)  # displayed upright: tall, not wide
    assert rgb[:35].mean() > 200 and rgb[45:].mean() < 50  # the white half is now on top


def test_pixel_limit_refuses_before_decoding_what_pillow_would_let_through(tmp_path, monkeypatch):
    # 9,000 x 9,000 = 81 Mpx: over the project's 40 Mpx limit, under Pillow's own bomb limits (89/179 Mpx)
    # and under the 10,000 px side limit, so only the project's pixel check can stop it.
    path = tmp_path / "big.png"
    Image.new("1", (9_000, 9_000)).save(path, format="PNG")  # flat: ~10 kB on disk
    assert 9_000 * 9_000 < Image.MAX_IMAGE_PIXELS
    decoded = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size) or real_load(self))
    with pytest.raises(InputError, match="9000x9000: over the limit"):
        load_rgb(path)
    assert decoded == []  # refused from the header: not one pixel decoded
