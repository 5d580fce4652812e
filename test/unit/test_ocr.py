"""OCR check on real renders over a sample photo, with the offline EasyOCR weights."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pylopdf_fonts_ko
import pytest
from PIL import Image

from services.imaging.fonts import block_height_px, load_font
from services.imaging.ocr import (
    OcrReader,
    default_model_dir,
    evaluate,
    levenshtein,
    ocr_metrics,
    text_crop,
    verify_model_files,
    vote,
)
from services.imaging.overlay import render, text_mask
from services.imaging.recogniser import ensure_onnx, export

ROOT = Path(__file__).resolve().parents[2]
FONT = Path(pylopdf_fonts_ko.__file__).parent / "NotoSansKR-Regular.otf"


@pytest.fixture(scope="module")
def reader() -> OcrReader:
    return OcrReader()


def photo(size: tuple[int, int] = (1080, 1620)) -> Image.Image:
    """The coffee sample photo at feed-post size (4:5 portrait is 1080x1350; this is 2:3)."""
    return Image.open(ROOT / "assets/samples/coffee.png").convert("RGB").resize(size, Image.LANCZOS)


def draw(img: Image.Image, lines: list[str], xy: tuple[int, int], px: int, fill, panel=None, drawn=None):
    """Draw lines (optionally on a panel) the way the renderer places them; return (rgb, layout).

    `drawn` puts other words in the pixels than the layout records, as a faulty renderer would.
    """
    font = load_font(str(FONT), px)
    layout = {"box": [xy[0], xy[1], math.ceil(max(font.getlength(ln) for ln in lines)),
                      block_height_px(len(lines), px, str(FONT))],
              "lines": lines, "font_size": px, "align": "left", "text": "\n".join(lines)}
    rgb = np.asarray(img, dtype=np.float32)
    if panel is not None:
        x, y, w, h = layout["box"]
        pad = max(4, px // 2)
        rgb[y - pad:y + h + pad, x - pad:x + w + pad] = panel
    mask = text_mask(rgb.shape, {**layout, "lines": drawn or lines}, "", str(FONT)).astype(np.float32)[..., None] / 255
    rgb = rgb * (1 - mask) + np.asarray(fill, np.float32) * mask
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8), layout


def test_weights_are_the_files_easyocr_expects() -> None:
    report = verify_model_files()
    assert set(report) == {"english_g2.pth"}  # the recogniser only: word boxes come from the layout
    assert all(item["ok"] for item in report.values()), report


def test_the_onnx_model_reads_what_easyocr_itself_reads(reader: OcrReader) -> None:
    # Same weights, same pre-processing and decoding: the text of every word equals EasyOCR's own (torch) read.
    import easyocr

    lines = ["Summer sale: 30% off", "all iced drinks", "until Sunday"]
    rgb, layout = draw(photo(), lines, (100, 1000), 40, (255, 255, 255), panel=None)
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    x, y, w, h = layout["box"]
    boxes = [[x - 10, x + w + 10, y + i * h // 3 - 4, y + (i + 1) * h // 3 + 4] for i in range(3)]
    torch_reader = easyocr.Reader(["en"], gpu=False, detector=False, download_enabled=False, verbose=False,
                                  model_storage_directory=default_model_dir())
    theirs = [text for _, text, _ in torch_reader.recognize(grey, boxes, [], detail=1, paragraph=False)]
    ours = [text for text, _ in reader.read_words(grey, boxes)]
    assert ours == theirs and any(ours), (ours, theirs)


def test_ocr_runs_without_torch_in_the_process(tmp_path: Path) -> None:
    # Importing torch costs a process ~1 GB; the export runs in a child process and the model is cached.
    code = ("import sys; from services.imaging.ocr import OcrReader; r = OcrReader(); "
            "print(r.read_words(__import__('numpy').full((40, 120), 255, 'uint8'), [[0, 120, 0, 40]]), "
            "'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("False"), out.stdout


def test_the_export_is_cached_and_bad_weights_fail_clearly(tmp_path: Path) -> None:
    first = ensure_onnx(default_model_dir(), tmp_path / "cache")
    stamp = first.stat().st_mtime_ns
    assert ensure_onnx(default_model_dir(), tmp_path / "cache") == first and first.stat().st_mtime_ns == stamp
    with pytest.raises(RuntimeError, match="OCR weights not found"):
        ensure_onnx(str(tmp_path), tmp_path / "cache")
    (tmp_path / "english_g2.pth").write_bytes(b"not a torch file")
    with pytest.raises(RuntimeError, match="OCR model export failed"):
        ensure_onnx(str(tmp_path), tmp_path / "cache")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted([first.name, "export.lock"])


def test_an_export_that_fails_after_writing_leaves_no_partial_file(tmp_path: Path) -> None:
    # The destination is a directory: the ONNX file is written, then the final rename fails.
    (tmp_path / "model.onnx").mkdir()
    with pytest.raises(OSError):
        export(default_model_dir(), tmp_path / "model.onnx")
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"] and not any((tmp_path / "model.onnx").iterdir())


def test_clean_large_text_on_white_reads_exactly(reader: OcrReader) -> None:
    rgb, layout = draw(photo(), ["Fresh Coffee Daily"], (120, 1150), 48, (0, 0, 0), panel=(255, 255, 255))
    result = evaluate(rgb, layout, "Fresh Coffee Daily", reader, str(FONT))
    assert result["exact_match"]["value"] is True, result["recognised_text"]
    assert result["cer"]["value"] < 0.1 and result["passed"] is True and result["words"] == 3
    assert result["backend"] == "easyocr-english_g2-onnxruntime" and result["confidence"]["value"] > 0.5
    x, y, w, h = result["crop"]
    box = layout["box"]
    assert x <= box[0] and y <= box[1] and x + w >= box[0] + box[2] and y + h >= box[1] + box[3]


def test_three_line_copy_over_photo_reads_in_order(reader: OcrReader) -> None:
    # Speed lives in scripts/bench_stages.py (a timed assertion here failed under load, not on a fault).
    lines = ["Fresh Coffee Daily", "Roasted every morning", "at Cafe Bom"]
    rgb, layout = draw(photo(), lines, (100, 1100), 48, (20, 20, 20), panel=(255, 255, 255))
    result = evaluate(rgb, layout, "\n".join(lines), reader, str(FONT))
    assert result["recognised_text"].splitlines() == lines
    assert result["passed"] and result["cer"]["value"] == 0.0


def test_a_wrong_word_in_the_pixels_is_caught(reader: OcrReader) -> None:
    # The layout records the copy, the pixels say something else: the read-back must see the pixels.
    rgb, layout = draw(photo(), ["Open every Sunday"], (120, 1150), 48, (0, 0, 0), panel=(255, 255, 255),
                       drawn=["Open every Monday"])
    result = evaluate(rgb, layout, "Open every Sunday", reader, str(FONT))
    assert result["recognised_text"] == "Open every Monday" and result["exact_match"]["value"] is False


def test_small_text_is_upscaled_and_read(reader: OcrReader) -> None:
    rgb, layout = draw(photo(), ["Open 8am till late"], (200, 1200), 11, (0, 0, 0), panel=(255, 255, 255))
    result = evaluate(rgb, layout, "Open 8am till late", reader, str(FONT))
    assert result["scale"] > 2.0
    assert result["cer"]["value"] < 0.1, result["recognised_text"]


def test_tiny_low_contrast_text_fails(reader: OcrReader) -> None:
    rgb, layout = draw(photo(), ["Fresh Coffee Daily"], (150, 1200), 7, (128, 128, 128), panel=(140, 140, 140))
    result = evaluate(rgb, layout, "Fresh Coffee Daily", reader, str(FONT))
    assert result["cer"]["value"] >= 0.5, result["recognised_text"]
    assert result["passed"] is False and result["exact_match"]["value"] is False


@pytest.mark.parametrize("name, top", [("immunohistochemistry", 94), ("brick", 217)])
def test_outlined_copy_that_one_crop_misreads_is_read_by_the_majority(reader: OcrReader, name: str, top: int) -> None:
    # bench_quality's long copy where the planner put it: black text, white outline. One crop read "Sunmer".
    from skimage import data

    copy = "Summer sale: 30% off all iced drinks until Sunday"
    lines = ["Summer sale: 30%", "off all iced drinks", "until Sunday"]
    image = getattr(data, name)()
    image = np.stack([image] * 3, -1) if image.ndim == 2 else image[..., :3]
    rgb, layout = render(image, copy, {"box": [105, top, 302, 133], "font_size": 35, "align": "center", "lines": lines},
                         str(FONT), effects=("stroke", "shadow", "scrim"))  # outlined as it was drawn then
    assert layout["effects"][0]["type"] == "stroke" and layout["lines"] == lines
    result = evaluate(rgb, layout, copy, reader, str(FONT))
    assert result["recognised_text"].splitlines() == lines and result["reread"] >= 1


def test_vote_takes_the_majority_then_the_confidence() -> None:
    assert vote([("Sunmer", 0.89), ("Summer", 0.6), ("Summer", 0.5)]) == ("Summer", 0.6)
    assert vote([("salle:", 0.5), ("sale:", 0.7), ("sale", 0.9)]) == ("sale", 0.9)
    assert vote([("off", 0.98)]) == ("off", 0.98)


def test_metrics_known_values() -> None:
    same = ocr_metrics("Fresh Coffee", "Fresh Coffee", [0.9, 0.7])
    assert same["cer"]["value"] == 0.0 and same["similarity"]["value"] == 1.0
    assert same["exact_match"]["value"] is True and same["passed"] is True
    assert same["confidence"]["value"] == pytest.approx(0.8)
    one_off = ocr_metrics("abc", "abd", [])
    assert one_off["cer"]["value"] == pytest.approx(1 / 3, abs=1e-4)
    assert one_off["similarity"]["value"] == pytest.approx(2 / 3, abs=1e-4)
    assert one_off["exact_match"]["value"] is False and one_off["passed"] is False
    assert one_off["cer"]["direction"] == "lower_is_better" and one_off["cer"]["threshold"] == 0.1
    assert ocr_metrics("Fresh  Coffee\nDaily", "fresh coffee daily", 0.5)["exact_match"]["value"] is True
    assert ocr_metrics("abc", "", [])["cer"]["value"] == 1.0
    assert ocr_metrics("", "", [])["cer"]["value"] == 0.0
    assert levenshtein("kitten", "sitting") == 3 and levenshtein("", "abc") == 3


def test_text_crop_adds_margin_and_clips() -> None:
    assert text_crop((1000, 1000, 3), (100, 100, 200, 50)) == (72, 87, 256, 76)
    assert text_crop((100, 100, 3), (0, 0, 100, 100)) == (0, 0, 100, 100)
    with pytest.raises(ValueError):
        text_crop((100, 100, 3), (500, 500, 10, 10))
