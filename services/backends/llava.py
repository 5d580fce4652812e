"""LLaVA through transformers, from a local directory, and a parser for its free-text JSON replies."""
import ast
import json
import math
import re
from pathlib import Path

import numpy as np

from services.backends.batching import MicroBatcher
from services.backends.gpu import free_memory_note, gpu_report
from services.backends.ports import SCORE_BOUNDS, clamp, pixel_box
from services.backends.vlm import DefaultVlm
from services.imaging.detect import thumbnail
from services.text import prompts

_TAILS = ("", "}", '"}', "]}", '"]}', "]]}", " null}")  # closers for a reply cut off by max_new_tokens
_PY = {"true": "True", "false": "False", "null": "None"}


def _load(span: str) -> dict | None:
    """A dict from JSON or the near-JSON models write: single quotes, Python literals, trailing commas."""
    for attempt in (span, re.sub(r",\s*([}\]])", r"\1", span)):
        try:
            value = json.loads(attempt)
        except ValueError:
            try:  # literal_eval only builds literals: safe on untrusted text
                value = ast.literal_eval(re.sub(r"\b(true|false|null)\b", lambda m: _PY[m[1]], attempt))
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
        if isinstance(value, dict):
            return value
    return None


def _coerce(value, default, bounds: tuple[float, float] | None):
    """`value` as the type of `default`; raises ValueError or KeyError when it cannot be."""
    if isinstance(default, bool):
        words = {"true": True, "yes": True, "false": False, "no": False}
        return words[value.strip().lower()] if isinstance(value, str) else bool(float(value))
    if isinstance(default, (int, float)):
        number = float(value)  # numbers and numeric strings
        if not math.isfinite(number):
            raise ValueError(value)
        return clamp(number, *bounds) if bounds else number
    if isinstance(default, str) and not isinstance(value, (dict, list, type(None))):
        return str(value)
    if default is None or isinstance(default, list):  # boxes: checked by the caller
        if value is None or isinstance(value, list):
            return value
    raise ValueError(value)


def parse_json_reply(text: str, defaults: dict, bounds: dict[str, tuple[float, float]] | None = None) -> dict:
    """The JSON object in a model's free-text reply, typed like `defaults` (which fill the gaps); never raises."""
    text = (text or "")[:20_000]
    starts = [m.start() for m in re.finditer(r"\{", text)][:8]
    ends = [m.end() for m in re.finditer(r"\}", text)][::-1][:8]
    found = []
    for i in starts:  # the longest parseable span from each opening brace, fences and prose around ignored
        spans = [text[i:j] for j in ends if j > i] + [text[i:].rstrip() + tail for tail in _TAILS]
        found.append(next((d for d in map(_load, spans) if d is not None), None))
    found = [d for d in found if d is not None]
    # The object naming the most expected fields wins over stray braces in prose.
    parsed = max(found, key=lambda d: len(set(d) & set(defaults)), default=None)
    out, missing = dict(defaults), []
    for key, default in defaults.items():
        try:
            out[key] = _coerce(parsed[key], default, (bounds or {}).get(key))
        except (KeyError, TypeError, ValueError, AttributeError):
            missing.append(key)
    # parse_ok: an object with at least one usable expected field; stray "{}" in prose is not an answer.
    return {**out, "parse_ok": len(missing) < len(defaults), "missing_fields": missing}


class LlavaVlm:
    """LLaVA from a local directory; measured answers fill whatever the model's reply leaves out.

    Requests from several threads that arrive within `batch_wait_ms` run as one `generate` of up to
    `max_batch_size` (left-padded, greedy: each answer is the one the request gets alone)."""

    def __init__(self, model_path: str, quantization: str = "", device: str | None = None,
                 max_batch_size: int = 1, batch_wait_ms: float = 0.0):
        path = Path(model_path).expanduser()
        if not model_path or not (path / "config.json").is_file():
            raise FileNotFoundError(f"LLaVA model directory not found (no config.json): {model_path!r}")
        import torch  # late: heavy, and only this backend needs it
        from transformers import AutoProcessor, LlavaForConditionalGeneration

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.name = f"llava:{path.resolve().name}"
        self.path = path.resolve()
        quant = (quantization or "").strip().lower()
        if quant not in ("", "8bit", "4bit"):
            raise ValueError(f"quantization must be '', '8bit' or '4bit', got {quantization!r}")
        kwargs: dict = {"local_files_only": True}
        # bitsandbytes kernels are CUDA-only: on CPU the setting is ignored (and reported by describe()).
        self.quantization = quant if self.device.startswith("cuda") else ""
        if self.quantization:
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_8bit=quant == "8bit", load_in_4bit=quant == "4bit", bnb_4bit_compute_dtype=torch.float16)
            kwargs["device_map"] = {"": self.device}
        else:
            kwargs["dtype"] = torch.float16 if self.device.startswith("cuda") else torch.float32
        self._torch = torch
        self._processor = AutoProcessor.from_pretrained(str(self.path), local_files_only=True)
        tokenizer = self._processor.tokenizer
        tokenizer.padding_side = "left"  # decoder-only: every prompt must end where generation starts
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
        try:
            self._model = LlavaForConditionalGeneration.from_pretrained(str(self.path), **kwargs).eval()
            if not self.quantization:
                self._model.to(self.device)
        except Exception as exc:
            # Say why on the GPU (no CUDA, out of memory, no bitsandbytes) rather than a bare traceback line.
            hint = "; try LLAVA_QUANTIZATION=4bit" if isinstance(exc, torch.OutOfMemoryError) else ""
            where = free_memory_note(torch, self.device) if self.device.startswith("cuda") else self.device
            raise RuntimeError(f"LLaVA could not load on {self.device} ({where}): {type(exc).__name__}: {exc}{hint}") \
                from exc
        self._image_token = getattr(self._processor, "image_token", "<image>")
        self._measured = DefaultVlm()
        self._batcher = MicroBatcher(self._generate, max_batch_size, batch_wait_ms,
                                     is_oom=lambda exc: isinstance(exc, torch.OutOfMemoryError), on_oom=self._free_cache)

    def _free_cache(self) -> None:
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()

    def _ask(self, rgb: np.ndarray, question: str, max_new_tokens: int) -> str:
        """One image + question through the batcher; returns the new text only."""
        from PIL import Image

        question = question.replace(self._image_token, "")  # user text must not add image placeholders
        if getattr(self._processor, "chat_template", None):
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
            prompt = self._processor.apply_chat_template(messages, add_generation_prompt=True)
        else:  # the llava-1.5 format
            prompt = f"USER: {self._image_token}\n{question} ASSISTANT:"
        image = Image.fromarray(thumbnail(rgb, 672)[0])  # the processor shrinks it anyway; this saves copying
        return self._batcher.submit((image, prompt, max_new_tokens))

    def _generate(self, items: list[tuple]) -> list[str]:
        """One generate for every (image, prompt, max_new_tokens); each reply cut to its own max_new_tokens."""
        images, prompts, limits = zip(*items)
        inputs = self._processor(images=list(images), text=list(prompts), return_tensors="pt",
                                 padding=True).to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self._model.dtype)
        with self._torch.inference_mode():
            out = self._model.generate(**inputs, max_new_tokens=max(limits), do_sample=False,
                                       pad_token_id=self._processor.tokenizer.pad_token_id)
        new = out[:, inputs["input_ids"].shape[1]:]
        # Greedy: the first n tokens of a longer run are the n tokens a run of n makes.
        return [self._processor.tokenizer.decode(row[:limit], skip_special_tokens=True)
                for row, limit in zip(new, limits)]

    def analyze(self, rgb: np.ndarray, ad_copy: str) -> dict:
        """Suitability and copy fit as LLaVA sees them; measurements are always the measured ones."""
        measured = self._measured.analyze(rgb, ad_copy)
        h, w = rgb.shape[:2]
        question = prompts.fill(prompts.VLM_ANALYZE_LLAVA, ad_copy=json.dumps((ad_copy or "")[:500]))
        reply = self._ask(rgb, question, 200)
        defaults = {k: measured[k] for k in ("suitable", "copy_fits", "subject", "subject_box", "free_regions", "reason")}
        out = parse_json_reply(reply, defaults)
        out["subject_box"] = pixel_box(out["subject_box"], w, h) if out["subject_box"] is not None else None
        regions = [pixel_box(r, w, h) for r in out["free_regions"] or []]
        out["free_regions"] = [r for r in regions if r] if "free_regions" not in out["missing_fields"] else regions
        if not out["parse_ok"]:
            out["reason"] = f"LLaVA reply had no JSON; measured answer used: {measured['reason']}"
        return {"backend": self.name, **out, "measurements": measured["measurements"], "raw_reply": reply[:2000],
                "prompt_name": "vlm_analyze_llava"}

    def judge(self, rgb: np.ndarray, text_box_xywh: list[int], measurements: dict) -> dict:
        """Scores 0-10 from LLaVA, with the measured judgement filling what the reply lacks."""
        measured = self._measured.judge(rgb, text_box_xywh, measurements)
        h, w = rgb.shape[:2]
        m = measured["measurements"]
        x, y, bw, bh = text_box_xywh[:4]
        question = prompts.fill(prompts.VLM_JUDGE_LLAVA, w=w, h=h, x=x, y=y, bw=bw, bh=bh,
                                contrast=f"{m['contrast_ratio']:.1f}", occ=f"{m['occ']:.2f}")
        reply = self._ask(rgb, question, 120)
        defaults = {k: measured[k] for k in ("legibility", "placement", "harmony", "covers_product", "overall", "reason")}
        out = parse_json_reply(reply, defaults, SCORE_BOUNDS)
        if not out["parse_ok"]:
            out["reason"] = f"LLaVA reply had no JSON; {measured['reason']}"
        return {"backend": self.name, **out, "measurements": m, "raw_reply": reply[:2000],
                "prompt_name": "vlm_judge_llava"}

    def describe(self) -> dict:
        """What runs here, for status pages and logs."""
        return {"name": self.name, "kind": "llava", "loaded": True, "path": str(self.path), "device": self.device,
                "quantization": self.quantization or "none", "dtype": str(self._model.dtype),
                "max_batch_size": self._batcher.max_batch, "batch_wait_ms": self._batcher.max_wait * 1000}

    def close(self) -> None:
        """Stop the batching thread, so the model can be freed (scripts that load several in turn)."""
        self._batcher.close()

    def health(self) -> dict:
        """The GPU as this process sees it (its own tensors included) and the batcher's figures."""
        gpu = gpu_report(self._torch)
        return {"gpu": {**gpu, "oom_count": self._batcher.ooms, "device": self.device}, "batching": self._batcher.stats()}
