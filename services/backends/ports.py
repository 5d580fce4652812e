"""What every backend offers and the names backends share (score bounds, clamps, model boxes)."""
from typing import Protocol

import numpy as np

SCORE_BOUNDS = {k: (0.0, 10.0) for k in ("legibility", "placement", "harmony", "overall")}


class Vlm(Protocol):
    """What every VLM backend offers."""

    name: str

    def analyze(self, rgb: np.ndarray, ad_copy: str) -> dict: ...

    def judge(self, rgb: np.ndarray, text_box_xywh: list[int], measurements: dict) -> dict: ...

    def describe(self) -> dict: ...


def clamp(v: float, lo: float = 0.0, hi: float = 10.0) -> float:
    """v limited to [lo, hi] (a 0-10 score by default)."""
    return float(min(hi, max(lo, v)))


def pixel_box(value, w: int, h: int) -> list[int] | None:
    """A model's box as pixels: fractions of the frame (what LLaVA tends to give) or pixels, clipped."""
    try:
        x1, y1, x2, y2 = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if max(x1, y1, x2, y2) <= 1.0:
        x1, y1, x2, y2 = x1 * w, y1 * h, x2 * w, y2 * h
    x1, x2 = sorted((min(max(x1, 0), w), min(max(x2, 0), w)))
    y1, y2 = sorted((min(max(y1, 0), h), min(max(y2, 0), h)))
    return [round(x1), round(y1), round(x2), round(y2)] if x2 - x1 >= 1 and y2 - y1 >= 1 else None
