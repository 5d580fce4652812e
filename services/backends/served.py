"""A vision model behind an OpenAI-compatible server (vLLM, SGLang, Ollama): structured output, validated."""
import base64
import json
import time
from datetime import UTC, datetime
from typing import Annotated

import cv2
import numpy as np
import openai
from openai import OpenAI
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.backends.ports import pixel_box
from services.backends.vlm import DefaultVlm
from services.errors import LlmOutputError, LlmUnavailableError
from services.text import prompts
from services.text.llm import parse_json_object

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Box = Annotated[list[Fraction], Field(min_length=4, max_length=4, description="[x1, y1, x2, y2], fractions 0-1")]
Score = Annotated[float, Field(ge=0.0, le=10.0)]


class _Strict(BaseModel):
    """Strict structured output: every field required, nothing else allowed."""

    model_config = ConfigDict(extra="forbid")


class Analysis(_Strict):
    """What vlm_analyze asks the model."""

    suitable: bool = Field(description="usable as an ad background")
    copy_fits: bool = Field(description="the copy fits legibly in a calm area without covering the subject")
    subject: str = Field(description="short noun phrase")
    subject_box: Box | None
    free_regions: list[Box] = Field(max_length=5, description="where text could go, largest first")
    reason: str = Field(description="one sentence")


class Judgement(_Strict):
    """What vlm_judge asks the model."""

    legibility: Score
    placement: Score
    harmony: Score
    covers_product: bool = Field(description="the text hides the product")
    overall: Score
    reason: str = Field(description="one sentence")


def response_format(name: str, model: type[BaseModel]) -> dict:
    """The chat-completions `response_format` asking for `model`'s JSON schema, strictly."""
    return {"type": "json_schema", "json_schema": {"name": name, "schema": model.model_json_schema(), "strict": True}}


class VlmOutputError(LlmOutputError):
    """The server answered twice, but not with the schema we asked for."""

    retryable = False  # already asked twice with the error spelled out; a third time repeats the answer


def encode_image(rgb: np.ndarray, short_side: int) -> tuple[str, tuple[int, int], int]:
    """A JPEG data URL of the image shrunk to `short_side` (never enlarged), its size and byte count."""
    h, w = rgb.shape[:2]
    scale = min(1.0, short_side / min(h, w))
    if scale < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise ValueError("could not encode the image as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode(), (rgb.shape[1], rgb.shape[0]), jpeg.size


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(map(str, err['loc'])) or 'reply'}: {err['msg']}"


class ServedVlm:
    """LLaVA (or any vision chat model) served over HTTP; many requests in flight, the server batches them."""

    name = "openai"
    io_bound = True  # the work is waiting on the server: run in a thread per slot, not the CPU pool

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 30.0, max_retries: int = 2,
                 image_side: int = 336, concurrency: int = 8, http_client=None) -> None:
        if not base_url:
            raise ValueError("VLM_BACKEND=openai needs VLM_BASE_URL (e.g. http://vllm:8000/v1)")
        self.base_url, self.model, self.timeout = base_url.rstrip("/"), model, timeout
        self.max_retries, self.image_side, self.concurrency = max_retries, image_side, concurrency
        # The SDK retries 429/5xx/timeouts with exponential backoff and honours Retry-After.
        # http_client: the rate-limited one when VLM_RPM/TPM are set (services/ops/ratelimit.py).
        self._client = OpenAI(api_key=api_key or "not-needed", base_url=self.base_url, timeout=timeout,
                              max_retries=max_retries, http_client=http_client)
        self._measured = DefaultVlm()  # measurements for the prompt and the trace, and what refine_copy reads
        self.server: dict = {"reachable": None, "model_listed": None, "models": [], "error": None}

    def check_server(self, timeout: float = 3.0) -> dict:
        """Is the server up and does it list our model? One cheap GET /models, no retries."""
        try:
            ids = [m.id for m in self._client.with_options(timeout=timeout, max_retries=0).models.list()]
            self.server.update(reachable=True, model_listed=self.model in ids, models=ids[:20],
                               error=None if self.model in ids else f"{self.model!r} not in the server's /models")
        except openai.APIError as exc:
            self.server.update(reachable=isinstance(exc, openai.APIStatusError), model_listed=False,
                               error=f"{type(exc).__name__}: {exc}"[:300])
        self.server["checked_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        return self.server

    def _ask(self, operation: str, rgb: np.ndarray, prompt: str, schema: type[BaseModel], max_tokens: int):
        """One image + prompt; the validated answer and the call's record. Malformed output is asked again once."""
        url, size, nbytes = encode_image(rgb, self.image_side)
        messages: list[dict] = [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": prompt}]}]
        request = {"model": self.model, "temperature": 0, "max_tokens": max_tokens,
                   "response_format": response_format(f"ad_image_{operation}", schema)}
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        attempts, replies, started = 0, [], time.perf_counter()
        for round_ in (1, 2):
            raw = self._create(operation, messages=messages, **request)
            attempts += raw.retries_taken + 1
            completion = raw.parse()
            for key in usage:
                usage[key] += getattr(completion.usage, key, 0) or 0
            message = completion.choices[0].message if completion.choices else None
            content = (message.content or "") if message else ""
            replies.append(content[:2000])
            try:
                if message is not None and getattr(message, "refusal", None):
                    raise LlmOutputError(f"the model refused: {message.refusal}")
                answer = schema.model_validate(parse_json_object(content))
                break
            except (LlmOutputError, ValidationError) as exc:
                error = _first_error(exc) if isinstance(exc, ValidationError) else str(exc)
                if completion.choices and completion.choices[0].finish_reason == "length":
                    error += f" (cut off at max_tokens={max_tokens})"
                if round_ == 2:
                    raise VlmOutputError(f"{operation}: {self.model} at {self.base_url} twice replied with output "
                                         f"that is not the {schema.__name__} schema; last: {error}") from None
                messages = messages + [{"role": "assistant", "content": content}, {"role": "user", "content": (
                    f"That reply is invalid ({error}). Reply again with only the JSON object the schema asks for.")}]
        record = {"request": {"model": self.model, "base_url": self.base_url, "schema": schema.__name__,
                              "image_px": list(size), "image_bytes": nbytes, "max_tokens": max_tokens, "prompt": prompt},
                  "model": completion.model or self.model, "usage": usage, "attempts": attempts,
                  "asked": round_, "raw_reply": replies[-1], "server_ms": round((time.perf_counter() - started) * 1000, 1)}
        return answer, record

    def _create(self, operation: str, **request):
        """The chat-completions call; SDK errors become the engine's retryable / final failures."""
        try:
            raw = self._client.chat.completions.with_raw_response.create(**request)
            self.server.update(reachable=True, model_listed=True, error=None)  # it just served our model
            return raw
        except openai.APIStatusError as exc:
            code = exc.status_code
            retryable = code in (408, 409, 429) or code >= 500  # the SDK already retried these
            raise LlmUnavailableError(f"{operation}: {self.model} at {self.base_url} answered HTTP {code} "
                                      f"after {self.max_retries + 1 if retryable else 1} attempt(s): {exc.message}"[:600],
                                      retryable=retryable, status_code=code) from None
        except openai.APIConnectionError as exc:  # includes APITimeoutError
            what = f"timed out after {self.timeout:g} s" if isinstance(exc, openai.APITimeoutError) else "unreachable"
            self.server.update(reachable=False, error=f"{what} ({datetime.now(UTC):%H:%M:%S} UTC)")
            raise LlmUnavailableError(f"{operation}: {self.model} at {self.base_url} {what}, "
                                      f"{self.max_retries + 1} attempt(s)", retryable=True) from None

    def analyze(self, rgb: np.ndarray, ad_copy: str) -> dict:
        """Suitability and copy fit as the served model sees them; measurements are the measured ones."""
        measured = self._measured.analyze(rgb, ad_copy)
        h, w = rgb.shape[:2]
        prompt = prompts.fill(prompts.VLM_ANALYZE_SERVED, ad_copy=json.dumps((ad_copy or "")[:500]))
        answer, record = self._ask("analysis", rgb, prompt, Analysis, 300)
        record["prompt_name"] = "vlm_analyze_served"
        out = answer.model_dump()
        out["subject_box"] = pixel_box(answer.subject_box, w, h) if answer.subject_box else None
        out["free_regions"] = [b for b in (pixel_box(r, w, h) for r in answer.free_regions) if b]
        return {"backend": self.name, **out, "measurements": measured["measurements"], **record}

    def judge(self, rgb: np.ndarray, text_box_xywh: list[int], measurements: dict) -> dict:
        """Scores 0-10 from the served model; the measured ones go into the prompt and the trace."""
        measured = self._measured.judge(rgb, text_box_xywh, measurements)  # also validates the box
        h, w = rgb.shape[:2]
        x, y, bw, bh = (float(v) for v in text_box_xywh)
        m = measured["measurements"]
        prompt = prompts.fill(prompts.VLM_JUDGE_SERVED, x1=f"{x / w:.2f}", y1=f"{y / h:.2f}", x2=f"{(x + bw) / w:.2f}",
                              y2=f"{(y + bh) / h:.2f}", contrast=f"{m['contrast_ratio']:.1f}", occ=f"{m['occ']:.2f}")
        answer, record = self._ask("judgement", rgb, prompt, Judgement, 200)
        record["prompt_name"] = "vlm_judge_served"
        return {"backend": self.name, **answer.model_dump(), "measurements": m, **record}

    def describe(self) -> dict:
        """What runs here, for status pages and logs."""
        return {"name": self.name, "kind": "served", "loaded": True, "base_url": self.base_url, "model": self.model,
                "concurrency": self.concurrency, "server": self.server}


def build_served(settings, http_client=None) -> tuple[ServedVlm, dict]:
    """The served VLM and its status; the server is asked once, briefly (it may still be loading: not fatal)."""
    vlm = ServedVlm(settings.vlm_base_url, settings.vlm_model, settings.vlm_api_key, settings.vlm_timeout_seconds,
                    settings.vlm_max_retries, settings.vlm_image_side, settings.vlm_concurrency, http_client=http_client)
    server = vlm.check_server(timeout=min(3.0, settings.vlm_timeout_seconds))
    return vlm, {"backend": "openai", "active": vlm.name, "loaded": bool(server["model_listed"]),
                 "error": server["error"], "base_url": vlm.base_url, "model": vlm.model,
                 "concurrency": vlm.concurrency, "server": server}
