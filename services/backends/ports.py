"""The ports: what every backend of a kind offers (VLM, detector, OCR, LLM), and what backends share.

A stage holds a backend only through its port; services/backends/factory.py builds each from the settings
(`make_<kind>(settings) -> (backend, status)`), and test/unit/test_ports.py runs every implementation of a port
through the same test."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # types only: importing a port must not load a backend's libraries (openai, cv2)
    from services.imaging.detect import Detection
    from services.text.llm import LlmResult, Messages

SCORE_BOUNDS = {k: (0.0, 10.0) for k in ("legibility", "placement", "harmony", "overall")}


@runtime_checkable
class Vlm(Protocol):
    """A vision-language model: is the image fit for the copy, and how good is the finished creative."""

    name: str

    def analyze(self, rgb: np.ndarray, ad_copy: str) -> dict: ...

    def judge(self, rgb: np.ndarray, text_box_xywh: list[int], measurements: dict) -> dict: ...

    def describe(self) -> dict: ...


@runtime_checkable
class Detector(Protocol):
    """Boxes of what the copy must keep clear of (subjects, objects, faces), in image pixels."""

    name: str

    def detect(self, rgb: np.ndarray, saliency: np.ndarray | None = None) -> list[Detection]: ...

    def describe(self) -> dict: ...


@runtime_checkable
class Ocr(Protocol):
    """A text recogniser: the words in boxes of a greyscale image, with a confidence each."""

    name: str

    def read_words(self, grey: np.ndarray, boxes: list[list[int]]) -> list[tuple[str, float]]: ...


@runtime_checkable
class Llm(Protocol):
    """A text model answering with a JSON object; every provider takes the same call (stages never branch)."""

    name: str
    model: str

    def complete_json(self, messages: Messages, *, operation: str, temperature: float, max_tokens: int,
                      context: Mapping[str, Any] | None = None) -> LlmResult: ...


class UnavailableBackend:
    """Stands in for a model backend that failed to load when falling back is not allowed."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason

    def _fail(self, *args, **kwargs):
        """Raise the load error, whatever the stage asked for."""
        raise RuntimeError(f"{self.name} is unavailable: {self.reason}")

    detect = analyze = judge = _fail  # one stand-in serves the detector and the VLM stages

    def describe(self) -> dict:
        """What runs here, for status pages and logs."""
        return {"name": self.name, "kind": "unavailable", "loaded": False, "error": self.reason}


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
