"""Untrusted image paths and files: resolve under ASSETS_DIR, load safely, save PNGs."""
import os
import uuid
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from services.errors import InputError

ASSETS_PREFIX = "/assets/"


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
    if not path.is_file():
        raise InputError(f"image file for {image_url!r} does not exist")
    return path


def load_rgb(path: Path, max_pixels: int = 40_000_000, max_side: int = 10_000) -> np.ndarray:
    """Decode an image file into an HxWx3 uint8 array, refusing bombs and broken files."""
    try:
        with Image.open(path) as img:
            w, h = img.size
            if w * h > max_pixels or max(w, h) > max_side:
                raise InputError(f"image is {w}x{h}: over the limit ({max_pixels} px, {max_side} px side)")
            if min(w, h) < 16:
                raise InputError(f"image is {w}x{h}: too small for an ad")
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img.load()
            return np.asarray(img.convert("RGB"))
    except InputError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"unreadable image {path.name}: {exc}") from exc


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
