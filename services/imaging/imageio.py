"""Untrusted image paths and files: resolve under ASSETS_DIR, load safely, save PNGs."""
import os
import uuid
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from services.errors import InputError

ASSETS_PREFIX = "/assets/"
FORMATS = ("PNG", "JPEG", "WEBP")


def resolve_asset_path(image_url: str | None, assets_dir: Path) -> Path:
    """Map `/assets/<path>` (or a bare relative path) to a real file inside assets_dir."""
    if not image_url:
        raise InputError("image_url is empty")
    rel = image_url[len(ASSETS_PREFIX):] if image_url.startswith(ASSETS_PREFIX) else image_url
    if rel.startswith("/") or "\x00" in rel:
        raise InputError(f"image_url {image_url!r} is outside the assets directory")
    root = Path(assets_dir).resolve()
    # realpath follows symlinks, so a link pointing out of the directory is refused too.
    path = Path(os.path.realpath(root / rel))
    if path != root and root not in path.parents:
        raise InputError(f"image_url {image_url!r} escapes the assets directory")
    try:
        exists = path.is_file()
    except OSError as exc:  # e.g. a name longer than the filesystem allows
        raise InputError(f"image_url {image_url!r} is not a usable path: {exc.strerror}") from exc
    if not exists:
        raise InputError(f"image file for {image_url!r} does not exist")
    return path


def load_rgb(path: Path, max_pixels: int = 40_000_000, max_side: int = 10_000) -> np.ndarray:
    """Decode an image file into an HxWx3 uint8 array, refusing bombs and broken files."""
    try:
        # Only the formats an image generator writes: Pillow's rarer plugins fail in odd ways on bad bytes.
        with Image.open(path, formats=FORMATS) as img:
            w, h = img.size  # from the header: the size is checked before any pixel is decoded
            if w * h > max_pixels or max(w, h) > max_side:
                raise InputError(f"image is {w}x{h}: over the limit ({max_pixels} px, {max_side} px side)")
            if min(w, h) < 16:
                raise InputError(f"image is {w}x{h}: too small for an ad")
            upright = ImageOps.exif_transpose(img)  # a phone photo tagged "rotate 90" is placed upright
            return np.asarray(upright.convert("RGB"))
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"unreadable image {path.name}: {type(exc).__name__}: {exc}") from exc


def save_png(rgb: np.ndarray, assets_dir: Path, folder: str, stem: str | None = None) -> tuple[str, int, int]:
    """Write an array as PNG under assets_dir/folder; return (image_url, width, height)."""
    target_dir = Path(assets_dir) / folder
    target_dir.mkdir(parents=True, exist_ok=True)
    name = f"{stem or uuid.uuid4().hex}.png"
    tmp = target_dir / f".{name}.tmp"
    Image.fromarray(rgb).save(tmp, format="PNG", compress_level=1)  # fast: speed over size
    os.replace(tmp, target_dir / name)  # atomic: readers never see half a file
    h, w = rgb.shape[:2]
    return f"{ASSETS_PREFIX}{folder}/{name}", w, h
