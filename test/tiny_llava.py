"""Build a tiny random LLaVA (model, tokenizer, processor) on disk, so tests run the real loading path offline."""
from pathlib import Path

from scripts.llava_build import SHAPES, build_llava

IMAGE_SIZE = SHAPES["tiny"]["vision"]["image_size"]
PATCH_SIZE = SHAPES["tiny"]["vision"]["patch_size"]  # 32/8 = 4x4 = 16 patches, plus the CLS token


def build_tiny_llava(path: str | Path) -> Path:
    """Write a random ~1 MB LLaVA with processor into `path` and return it."""
    return build_llava(path, "tiny")
