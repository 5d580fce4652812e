"""Every backend built from the settings, one shape for each kind: `make_<kind>(settings) -> (backend, status)`.

The status dict is what /healthz reports for it. A real backend that fails to load falls back to the
measured default when FALLBACK_TO_DEFAULT allows it, else stands in as UnavailableBackend (each call raises)."""
import time
from pathlib import Path
from typing import Any

import numpy as np

from services.backends.ports import Detector, Llm, Ocr, UnavailableBackend, Vlm
from services.backends.vlm import DefaultVlm
from services.imaging.detect import Detection, SaliencyDetector, YoloDetector
from services.imaging.faces import FaceDetector


def make_vlm(settings: Any, http_client=None) -> tuple[Vlm, dict]:
    """VLM_BACKEND: the measured default, LLaVA in process, or a served one (`http_client`: its rate-limited one)."""
    requested = (settings.vlm_backend or "default").strip().lower()
    if requested == "default":
        return DefaultVlm(), {"backend": requested, "active": DefaultVlm.name, "loaded": True, "error": None}
    model_path = settings.llava_model_path
    try:
        if requested == "openai":
            from services.backends.served import build_served  # late: only the openai backend needs it

            return build_served(settings, http_client)  # a server still loading is reported, not fallen back from
        if requested != "llava":
            raise ValueError(f"unknown VLM backend {settings.vlm_backend!r} (expected 'default', 'llava' or 'openai')")
        from services.backends.llava import LlavaVlm  # late: transformers and torch load only when asked for

        vlm = LlavaVlm(model_path, settings.llava_quantization, max_batch_size=settings.llava_max_batch_size,
                       batch_wait_ms=settings.llava_batch_wait_ms)
        return vlm, {"backend": requested, "active": vlm.name, "loaded": True, "error": None}
    except Exception as exc:  # noqa: BLE001 - any load failure: missing directory, bad files, no bitsandbytes, broken install
        reason = f"{type(exc).__name__}: {exc}"
    if settings.fallback_to_default:
        return DefaultVlm(), {"backend": requested, "active": DefaultVlm.name, "loaded": False,
                              "error": f"{reason} (fell back to {DefaultVlm.name})"}
    name = f"llava:{Path(model_path).name}" if requested == "llava" else requested
    return UnavailableBackend(name, reason), {"backend": requested, "active": name, "loaded": False, "error": reason}


def make_faces(settings: Any) -> tuple[Detector, dict]:
    """The face detector (BlazeFace from its package: no setting chooses another)."""
    faces = FaceDetector()
    return faces, faces.describe()


def make_subject_detector(settings: Any) -> tuple[Detector, dict]:
    """DETECTOR_BACKEND alone: saliency (the default) or YOLO from YOLO_WEIGHTS_PATH, without faces."""
    requested = (settings.detector_backend or "default").strip().lower()
    det: Detector
    if requested == "default":
        det = SaliencyDetector()
        return det, {"backend": requested, "active": det.name, "loaded": True, "error": None}
    weights = settings.yolo_weights_path
    try:
        if requested != "yolo":
            raise ValueError(f"unknown detector backend {settings.detector_backend!r} (expected 'default' or 'yolo')")
        labels = [s for s in (settings.yolo_keep_clear_labels or "").split(",") if s.strip()]
        det = YoloDetector(weights, labels or None)
        return det, {"backend": requested, "active": det.name, "loaded": True, "error": None}
    except Exception as exc:  # noqa: BLE001 - any load failure: missing file, bad pickle, wrong task, broken install
        reason = f"{type(exc).__name__}: {exc}"
    if settings.fallback_to_default:
        det = SaliencyDetector()
        return det, {"backend": requested, "active": det.name, "loaded": False,
                     "error": f"{reason} (fell back to {det.name})"}
    name = f"yolo:{Path(weights).name}" if requested == "yolo" else requested
    return UnavailableBackend(name, reason), {"backend": requested, "active": name, "loaded": False, "error": reason}


class WithFaces:
    """Any detector plus faces: the subject (or YOLO's persons) stays penalised, faces become hard limits."""

    def __init__(self, inner: Detector, faces: Detector):
        self.inner = inner
        self.faces = faces
        self.name = inner.name  # the model name stored per run stays the detector's; status["faces"] adds faces

    def detect(self, rgb: np.ndarray, saliency: np.ndarray | None = None) -> list[Detection]:
        """Faces first, then what the inner detector finds."""
        return self.faces.detect(rgb) + self.inner.detect(rgb, saliency)

    def describe(self) -> dict:
        """The inner detector's status with the face detector attached."""
        return {**self.inner.describe(), "faces": self.faces.describe()}


def make_detector(settings: Any) -> tuple[Detector, dict]:
    """What yolo_detect runs: the configured subject detector with faces merged in, and its status."""
    inner, status = make_subject_detector(settings)
    faces, faces_status = make_faces(settings)
    return WithFaces(inner, faces), {**status, "faces": faces_status}


def make_ocr(settings: Any, korean: bool = False) -> tuple[Ocr, dict]:
    """EasyOCR's recogniser from OCR_MODEL_DIR (English), or korean_g2 from OCR_KOREAN_MODEL_DIR; raises if absent."""
    from services.imaging.ocr import OcrReader  # late: onnxruntime loads only in the process that reads

    started = time.perf_counter()
    if korean:
        reader = OcrReader(settings.ocr_korean_model_dir, network="korean_g2")
        return reader, {"configured": True, "loaded": True, "backend": reader.name}
    reader = OcrReader(settings.ocr_model_dir or None)
    return reader, {"backend": reader.name, "loaded": True, "load_seconds": round(time.perf_counter() - started, 2)}


def make_llm(settings: Any, http_client=None) -> tuple[Llm, dict]:
    """An OpenAI-compatible client when OPENAI_BASE_URL or OPENAI_API_KEY is set, else the offline writer;
    `http_client`: the rate-limited one (services/ops/ratelimit.py) when OPENAI_RPM/TPM are set."""
    from services.text.llm import OfflineWriter, OpenAIProvider

    llm: Llm
    if settings.openai_base_url or settings.openai_api_key:
        llm = OpenAIProvider(settings.openai_api_key, settings.openai_base_url, settings.openai_model,
                             settings.openai_timeout_seconds, settings.openai_max_retries, http_client=http_client)
    else:
        llm = OfflineWriter()
    return llm, {"provider": llm.name, "model": llm.model}
