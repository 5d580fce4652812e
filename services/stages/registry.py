"""The model backends (loaded once per process) and the handler of every stage, built from the stage table."""
import importlib
import logging
import threading

from config import Settings
from services.backends.factory import make_detector, make_llm, make_ocr, make_vlm
from services.backends.ports import Detector, Llm, Ocr, Vlm
from services.engine.handler_check import HandlerMismatch
from services.engine.pipeline import STAGES, Stage
from services.engine.stage_types import StageHandler
from services.imaging.fonts import default_font_path
from services.ops.ratelimit import limited_client
from services.stages import catalog, store
from services.stages.text import prompt_uuid
from services.text.hangul import has_hangul
from services.text.integrity import missing_facts

log = logging.getLogger(__name__)


class Models:
    """Every backend a stage needs, with a status report for /healthz."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.font_path = settings.font_path or default_font_path()
        # Calls wait for the providers' shared budgets (issue 26) at most half their stages' time limit
        # (300 s text, 180 s VLM), so a long wait ends in the SDK's error handling, not a killed stage.
        self.llm: Llm
        self.llm, llm_status = make_llm(settings, limited_client("openai", settings, settings.openai_timeout_seconds,
                                                                 max_wait=150 * settings.stage_timeout_scale))
        # Backends load on first use: in the process that runs their stage (a worker), not in every process.
        self._vlm: Vlm | None = None
        self._detector: Detector | None = None
        self._ocr: Ocr | None = None
        self._ocr_lock = threading.Lock()
        self._lock = threading.Lock()
        self.status = {"vlm": {"backend": settings.vlm_backend, "loaded": False, "error": None},
                       "detector": {"backend": settings.detector_backend, "loaded": False, "error": None},
                       "font": self.font_path, "llm": llm_status,
                       "ocr": {"backend": settings.ocr_backend, "loaded": False},
                       "ocr_korean": {"configured": bool(settings.ocr_korean_model_dir), "loaded": False}}
        self._ocr_korean: Ocr | None = None

    @property
    def vlm(self):
        """The VLM backend (built on first use)."""
        with self._lock:
            if self._vlm is None:
                s = self.settings
                client = limited_client("vlm", s, s.vlm_timeout_seconds, max_wait=90 * s.stage_timeout_scale)
                self._vlm, self.status["vlm"] = make_vlm(s, client)
        return self._vlm

    @property
    def loaded_vlm(self):
        """The VLM backend if already built, else None (health reports must not load a model)."""
        return self._vlm

    @property
    def detector(self):
        """The detector backend (built on first use)."""
        with self._lock:
            if self._detector is None:
                self._detector, self.status["detector"] = make_detector(self.settings)
        return self._detector

    def warm_ocr(self) -> dict:
        """Load the OCR reader now; a failure is reported (ocr_eval then fails with the reason)."""
        try:
            self.ocr()
        except Exception as exc:  # noqa: BLE001 - reported by /healthz; ocr_eval fails with the reason
            self.status["ocr"] = {"backend": self.settings.ocr_backend, "loaded": False, "error": str(exc)}
            log.error("OCR backend unavailable: %s", exc)
        return {"ocr": self.status["ocr"]}

    def ocr(self):
        """The OCR reader, loaded on first use or at warm-up (the first start on a machine exports it: ~10 s)."""
        with self._ocr_lock:
            if self._ocr is None:
                self._ocr, self.status["ocr"] = make_ocr(self.settings)
        return self._ocr

    def ocr_korean(self):
        """The Korean recogniser (korean_g2 from OCR_KOREAN_MODEL_DIR), or a sentence saying why there is none."""
        folder = self.settings.ocr_korean_model_dir
        if not folder:
            return None, "no Korean recogniser is configured (OCR_KOREAN_MODEL_DIR)"
        with self._ocr_lock:
            if self._ocr_korean is None:
                try:
                    self._ocr_korean, self.status["ocr_korean"] = make_ocr(self.settings, korean=True)
                except Exception as exc:  # noqa: BLE001 - reported by /healthz and in the evaluation
                    self.status["ocr_korean"] = {"configured": True, "loaded": False, "error": str(exc)[:300]}
                    return None, f"the Korean recogniser did not load: {str(exc)[:200]}"
        return self._ocr_korean, None

    def reader_for(self, text: str):
        """The recogniser that reads this copy (Korean for Hangul), or None and a sentence saying why there is none."""
        return self.ocr_korean() if has_hangul(text) else (self.ocr(), None)

    def refine_copy(self, text: str, verdict: dict, shape) -> object:
        """A shorter English copy when the VLM says the copy does not fit (an LLM call, traced)."""
        from services.text import prompts

        m = verdict.get("measurements", {})
        need, have = m.get("copy_area_fraction") or 0, _largest_region_fraction(verdict, shape)
        max_chars = max(20, int(len(text) * min(1.0, have / need) * 0.9)) if need and have else max(20, len(text) // 2)
        messages, name, version = prompts.refine_copy(text, verdict.get("reason", ""), max_chars)
        result = self.llm.complete_json(messages, operation="refine_copy", temperature=self.settings.openai_temperature,
                                        max_tokens=self.settings.openai_max_tokens,
                                        context={"ad_copy_eng": text, "max_chars": max_chars})
        refined = " ".join(str(result.data.get("refined_ad_copy_eng") or "").replace("\x00", "").split())
        if not refined:
            raise ValueError("the refined copy came back empty")
        missing = missing_facts(text, refined)
        if missing:
            # The advertiser's facts are checked in code, not trusted to the model: keep the original.
            result.note = f"refinement rejected: it drops or changes {', '.join(missing)}; the original copy is kept"
            result.data = {**result.data, "rejected_refinement": refined, "missing_facts": missing}
            refined = " ".join(text.split())
        result.data["refined_ad_copy_eng"] = refined
        result.request = {**result.request, "prompt_name": name, "prompt_version": version}
        result.prompt_id = prompt_uuid(name, version)
        return result

    async def save_llm_trace(self, conn, job_id, result, prompt_id=None, tone_style_id=None):
        """One llm_traces row per call, with the provider that really ran, its model row and its prompt row."""
        # New catalogue rows are inserted in one fixed order (analyze prompt, model, text prompt): no lock cycle.
        model_id = await catalog.ensure_llm_model(conn, self.settings, result.provider, result.model)
        prompt_id = prompt_id or getattr(result, "prompt_id", None)
        if prompt_id is not None:
            await catalog.ensure_prompt(conn, result.request.get("prompt_name"))
        return await store.insert_llm_trace(
            conn, job_id=job_id, provider=result.provider, tone_style_id=tone_style_id, prompt_id=prompt_id,
            operation=result.request.get("operation") or result.request.get("prompt_name"),
            request={**result.request, "model": result.model},
            response={"content": result.content, "data": result.data, "note": result.note, "attempts": result.attempts},
            latency_ms=result.latency_ms, prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
            total_tokens=result.total_tokens, token_usage=result.token_usage, llm_model_id=model_id)


def _largest_region_fraction(verdict: dict, shape) -> float:
    regions = verdict.get("free_regions") or []
    if not regions:
        return 0.0
    x1, y1, x2, y2 = regions[0]
    return (x2 - x1) * (y2 - y1) / float(shape[0] * shape[1])


def handler_class(stage: Stage) -> type[StageHandler]:
    """The class a stage row names ("module:Class"); a row naming none that exists stops the start."""
    module_name, _, class_name = stage.handler.partition(":")
    try:
        found = vars(importlib.import_module(module_name)).get(class_name)
    except ImportError as exc:
        raise HandlerMismatch(f"stage {stage.name}: handler module {module_name!r} does not import: {exc}") from exc
    if not (isinstance(found, type) and issubclass(found, StageHandler)):
        raise HandlerMismatch(f"stage {stage.name}: {stage.handler!r} is not a StageHandler subclass "
                              f"(services/engine/stage_types.py)")
    return found


def build_handlers(settings: Settings) -> tuple[dict, dict]:
    """A handler for every row of the stage table (the class its `handler` names, built with the models), and
    the models' status (backends load in each handler's warm_up)."""
    models = Models(settings)
    return {stage.name: handler_class(stage)(models) for stage in STAGES}, models.status
