"""Issue 23 item 9: Hangul copy is not read with the English recogniser (accuracy 0.11 on a correct render, a
failed evaluation); without a Korean recogniser the OCR evaluation says "not measured for this script"."""
from __future__ import annotations

import numpy as np
from PIL import Image

from config import Settings
from services.stages.evaluate import EvalInputs, OcrEval
from services.stages.registry import Models
from test.unit.samples import TEXT_EN, TEXT_KO
from test.unit.test_ocr import draw, photo


def _evaluate(tmp_path, text: str, **settings) -> tuple[dict, Models]:
    rgb, layout = draw(photo((800, 1000)), [text], (40, 60), 44, (255, 255, 255), panel=(20, 20, 20))
    path = tmp_path / "overlaid.png"
    Image.fromarray(np.asarray(rgb)).save(path)
    models = Models(Settings(_env_file=None, database_url="postgresql://unused", **settings))
    handler = OcrEval(models)
    out = handler.run(EvalInputs(overlay={"overlay_id": "o", "layout": {**layout, "text": text}, "path": path}))
    return out["metrics"], models


def test_hangul_copy_without_a_korean_recogniser_is_not_measured(tmp_path):
    metrics, _ = _evaluate(tmp_path, TEXT_KO)
    assert metrics["status"] == "not_measured"
    assert metrics["reason"].startswith("not measured for this script (Hangul)")
    assert "OCR_KOREAN_MODEL_DIR" in metrics["reason"]
    assert metrics["passed"] is None  # a status, not a failure: the variant's evaluation does not fail
    assert metrics["similarity"] is None and metrics["ocr_accuracy"] is None and metrics["cer"] is None
    assert metrics["original_text"] == metrics["expected_text"] == TEXT_KO


def test_a_korean_recogniser_that_does_not_load_is_named(tmp_path):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    metrics, models = _evaluate(tmp_path, TEXT_KO, ocr_korean_model_dir=str(empty))
    assert metrics["status"] == "not_measured" and metrics["passed"] is None
    assert "did not load" in metrics["reason"] and "korean_g2.pth" in metrics["reason"]
    assert models.status["ocr_korean"]["configured"] is True and models.status["ocr_korean"]["loaded"] is False


def test_latin_copy_is_still_read_and_scored(tmp_path):
    metrics, _ = _evaluate(tmp_path, TEXT_EN)
    assert metrics["status"] == "measured" and metrics["passed"] is True
    assert isinstance(metrics["similarity"], float) and metrics["similarity"] >= 0.9
    assert metrics["word_match_rate"] >= 0.75 and metrics["metric_details"]["similarity"]["unit"] == "ratio"


def test_the_formats_check_leaves_hangul_or_an_unloadable_reader_unread_with_the_reason(tmp_path):
    # The overlay stage reads each Instagram format back; a format it cannot read is kept and says why (issue 28).
    from services.stages.image import Overlay

    settings = {"_env_file": None, "database_url": "postgresql://unused"}
    reader, why = Overlay(Models(Settings(**settings)))._reader(TEXT_KO)
    assert reader is None and "OCR_KOREAN_MODEL_DIR" in why
    empty = tmp_path / "no-weights"
    empty.mkdir()
    reader, why = Overlay(Models(Settings(**settings, ocr_model_dir=str(empty))))._reader(TEXT_EN)
    assert reader is None and why.startswith("the OCR reader did not load")
    reader, why = Overlay(Models(Settings(**settings)))._reader(TEXT_EN)
    assert reader is not None and why is None
