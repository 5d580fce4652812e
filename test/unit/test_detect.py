"""Detectors on real photos: saliency boxes, forbidden masks, YOLO from a local file, fallbacks."""
from pathlib import Path

import numpy as np
import pytest

from config import Settings
from services.backends.factory import make_subject_detector
from services.imaging.detect import Detection, SaliencyDetector, YoloDetector, forbidden_mask, free_regions
from services.imaging.imageio import load_rgb
from services.imaging.saliency import saliency_map


def _detector_settings(backend, path, option, fallback) -> Settings:
    """The settings that choose this backend (detector_backend), its file, option and FALLBACK_TO_DEFAULT."""
    return Settings(_env_file=None, detector_backend=backend, yolo_weights_path=path, yolo_keep_clear_labels=option,
                    fallback_to_default=fallback)


SAMPLES = Path(__file__).resolve().parents[2] / "assets" / "samples"
# Checked by eye on coffee.png (600x400): cup rim top to spoon bowl bottom, handle to spoon edge.
CUP = (172, 15, 425, 328)


def iou(a, b) -> float:
    iw, ih = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0, iw) * max(0, ih)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def yolo_weights(tmp_path_factory) -> Path:
    """A random-weight YOLOv8n built from its config (no download) and saved as a local .pt."""
    import torch
    import yaml
    from ultralytics import YOLO
    from ultralytics.utils import ROOT
    torch.manual_seed(0)  # random weights, but the same ones every run
    model = YOLO("yolov8n.yaml")
    # A model built from the bare config names its classes "0".."79"; give it COCO's, shipped with ultralytics.
    model.model.names = dict(yaml.safe_load((ROOT / "cfg/datasets/coco.yaml").read_text())["names"])
    path = tmp_path_factory.mktemp("yolo") / "tiny-yolov8n.pt"
    model.save(str(path))
    return path


def test_saliency_detector_boxes_the_coffee_cup():
    rgb = load_rgb(SAMPLES / "coffee.png")
    dets = SaliencyDetector().detect(rgb)
    assert dets and all(isinstance(d, Detection) and d.label == "salient_subject" for d in dets)
    assert iou(dets[0].box, CUP) >= 0.5, dets[0]
    assert 0 < dets[0].score <= 1
    mask = forbidden_mask(rgb.shape[:2], dets, saliency_map(rgb))
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    x1, y1, x2, y2 = CUP
    assert (mask[y1:y2, x1:x2] > 0).mean() >= 0.9  # the cup is off limits for text
    assert (mask > 0).mean() < 0.7  # and there is room left elsewhere


def test_saliency_detector_accepts_a_precomputed_map_and_scales_boxes():
    rgb = load_rgb(SAMPLES / "coffee.png")
    big = np.repeat(np.repeat(rgb, 2, axis=0), 2, axis=1)  # 1200x800
    dets = SaliencyDetector().detect(big, saliency_map(big))
    assert iou(dets[0].box, tuple(2 * v for v in CUP)) >= 0.5
    assert all(0 <= d.box[0] < d.box[2] <= 1200 and 0 <= d.box[1] < d.box[3] <= 800 for d in dets)


def test_flat_image_has_no_subject_and_empty_mask():
    flat = np.full((300, 400, 3), 128, np.uint8)
    assert SaliencyDetector().detect(flat) == []
    assert forbidden_mask((300, 400), []).max() == 0


def test_detection_json_and_forbidden_mask_dilation():
    d = Detection((10.0, 20.0, 30.0, 40.0), "cup", 0.91234)
    assert d.to_json() == {"box": [10.0, 20.0, 30.0, 40.0], "label": "cup", "score": 0.9123}
    mask = forbidden_mask((100, 100), [d], dilate_px=5)
    assert mask[20, 10] == 255 and mask[15, 5] == 255 and mask[14, 4] == 0 and mask[46, 36] == 0


def test_free_regions_avoid_the_forbidden_area():
    forbidden = np.zeros((200, 300), np.uint8)
    forbidden[:, :150] = 255
    regions, fraction = free_regions(forbidden)
    x1, y1, x2, y2 = regions[0]
    assert 150 <= x1 <= 160 and (y1, x2, y2) == (0, 300, 200)
    assert 0.45 <= fraction <= 0.5


def test_yolo_detector_loads_local_weights_and_detects(yolo_weights, no_network):
    # Random weights score every box near the class-bias prior (~1e-3), so a tiny threshold still yields boxes.
    det = YoloDetector(str(yolo_weights), conf=1e-4)
    assert det.name == "yolo:tiny-yolov8n.pt"
    rgb = load_rgb(SAMPLES / "astronaut.png")
    found = det.detect(rgb)
    assert isinstance(found, list) and all(isinstance(d, Detection) for d in found)
    for d in found:
        assert 0 <= d.box[0] <= d.box[2] <= 512 and 0 <= d.box[1] <= d.box[3] <= 512 and 0 <= d.score <= 1
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    assert det.describe()["weights"] == str(yolo_weights.resolve())
    labels = {d.label for d in found}
    for keep in (["cup"], ["person", "cup"]):
        kept = YoloDetector(str(yolo_weights), keep, conf=1e-4).detect(rgb)
        assert {d.label for d in kept} <= set(keep)
        assert len(kept) == sum(d.label in keep for d in found)  # the filter drops exactly the other labels
    assert labels, "random weights gave no box at all: the label filter above was not exercised"


def test_build_detector_yolo_and_default(yolo_weights):
    det, status = make_subject_detector(_detector_settings("yolo", str(yolo_weights), "person, cup", False))
    assert isinstance(det, YoloDetector) and status == {
        "backend": "yolo", "active": "yolo:tiny-yolov8n.pt", "loaded": True, "error": None}
    assert det.describe()["labels"] == ["person", "cup"]
    det, status = make_subject_detector(_detector_settings("default", "", "", False))
    assert isinstance(det, SaliencyDetector) and status["active"] == "saliency-spectral-residual"


def test_missing_yolo_weights_fall_back_or_fail(tmp_path, no_network):
    missing = str(tmp_path / "nope.pt")
    det, status = make_subject_detector(_detector_settings("yolo", missing, "", True))
    assert isinstance(det, SaliencyDetector)
    assert status["backend"] == "yolo" and status["active"] == det.name and status["loaded"] is False
    assert "not found" in status["error"] and "nope.pt" in status["error"] and "fell back" in status["error"]
    det, status = make_subject_detector(_detector_settings("yolo", missing, "", False))
    assert status["loaded"] is False and status["active"] == "yolo:nope.pt"
    with pytest.raises(RuntimeError, match="not found"):
        det.detect(np.zeros((64, 64, 3), np.uint8))


def test_bad_weights_labels_and_backend_are_reported(tmp_path, yolo_weights):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    det, status = make_subject_detector(_detector_settings("yolo", str(bad), "", True))
    assert isinstance(det, SaliencyDetector) and status["error"]
    det, status = make_subject_detector(_detector_settings("detr", "", "", False))
    assert "unknown detector backend" in status["error"]
    with pytest.raises(RuntimeError):
        det.detect(np.zeros((64, 64, 3), np.uint8))
    det, status = make_subject_detector(_detector_settings("yolo", str(yolo_weights), "unicorn", True))
    assert isinstance(det, SaliencyDetector) and "unicorn" in status["error"]


def test_yolo_detector_is_safe_across_threads(yolo_weights):
    from concurrent.futures import ThreadPoolExecutor
    det = YoloDetector(str(yolo_weights), conf=1e-4)
    images = [load_rgb(SAMPLES / f"{n}.png") for n in ("coffee", "astronaut", "chelsea")] * 2
    serial = [det.detect(img) for img in images]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(det.detect, images)) == serial
