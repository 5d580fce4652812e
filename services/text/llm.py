"""One small JSON-completion interface: an OpenAI-compatible client and an offline writer."""
from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import openai
from openai import OpenAI

from services.errors import LlmOutputError, LlmUnavailableError
from services.text import post_rules
from services.text.hangul import has_syllable

Messages = list[dict[str, str]]

OFFLINE_NOTE = "offline fallback: composed from desc_kor, not translated"


@dataclass
class LlmResult:
    """One completed call, with everything the trace needs."""

    provider: str
    model: str
    content: str
    data: dict[str, Any]
    latency_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    token_usage: dict[str, Any] = field(default_factory=dict)
    request: dict[str, Any] = field(default_factory=dict)
    attempts: int = 1
    note: str = ""
    prompt_id: UUID | None = None  # the prompt row, when the caller knows it (refine_copy sets it)


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def parse_json_object(content: str | None) -> dict[str, Any]:
    """Parse a JSON object from model output, tolerating code fences and prose around it."""
    if content is None or not content.strip():
        raise LlmOutputError("model returned empty content, expected a JSON object")
    text = content.strip()
    candidates = [text] + [m.strip() for m in _FENCE.findall(text)]
    for cand in candidates:
        try:
            value = json.loads(cand)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    # Small local models often wrap the object in prose: decode from each "{" in turn.
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise LlmOutputError(f"model output is not a JSON object: {text[:200]!r}")


class OpenAIProvider:
    """Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama)."""

    name = "openai"

    def __init__(self, api_key: str, base_url: str, model: str, timeout: float, max_retries: int,
                 *, backoff_base: float = 0.5, backoff_max: float = 8.0, http_client=None) -> None:
        self.model = model
        self.base_url = base_url or "https://api.openai.com/v1"  # recorded in traces: which server answered
        self.max_retries = max(0, int(max_retries))
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        # Local servers (vLLM, Ollama) need no key, but the SDK refuses an empty one.
        # max_retries=0: we retry ourselves so attempts and backoff are visible and testable.
        # http_client: the rate-limited one when OPENAI_RPM/TPM are set (services/ops/ratelimit.py).
        self._client = OpenAI(api_key=api_key or "not-needed", base_url=base_url or None,
                              timeout=timeout, max_retries=0, http_client=http_client)

    def _delay(self, attempt: int, exc: Exception) -> float:
        """Exponential backoff with full jitter, honouring a short Retry-After."""
        delay = min(self.backoff_max, self.backoff_base * (2**attempt))
        delay = random.uniform(delay / 2, delay)  # jitter: spread retries of parallel jobs
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after:
            try:
                delay = max(delay, min(float(retry_after), self.backoff_max))
            except ValueError:
                pass  # HTTP-date form: keep our own delay
        return delay

    def complete_json(self, messages: Messages, *, operation: str, temperature: float, max_tokens: int,
                      context: Mapping[str, Any] | None = None) -> LlmResult:
        """Call the endpoint (retrying 429/5xx/timeouts) and parse the reply as a JSON object."""
        del context  # only the offline writer composes from it
        request: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": temperature,
                                   "max_tokens": max_tokens, "response_format": {"type": "json_object"}}
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                response = self._client.chat.completions.create(**request)
                break
            except openai.APIStatusError as exc:
                code: int | None = exc.status_code
                if not (code in (408, 429) or code >= 500):  # 400/401/404: config, no retry helps
                    raise LlmUnavailableError(f"{operation}: endpoint refused the request with HTTP {code}: "
                                              f"{exc.message}", retryable=False, status_code=code) from exc
                last: Exception = exc
                reason = f"HTTP {code}"
            except openai.APIConnectionError as exc:  # includes APITimeoutError
                last, code = exc, None
                reason = "timeout" if isinstance(exc, openai.APITimeoutError) else "connection error"
            if attempt >= self.max_retries:
                raise LlmUnavailableError(f"{operation}: {self.model} failed after {attempt + 1} attempts, "
                                          f"last: {reason}", retryable=True, status_code=code) from last
            time.sleep(self._delay(attempt, last))
            attempt += 1
        latency_ms = (time.perf_counter() - started) * 1000.0

        if not response.choices:
            raise LlmOutputError(f"{operation}: response has no choices")
        choice = response.choices[0]
        content = choice.message.content or ""
        try:
            data = parse_json_object(content)
        except LlmOutputError as exc:
            hint = " (cut off by max_tokens)" if choice.finish_reason == "length" else ""
            raise LlmOutputError(f"{operation}: {exc}{hint}") from exc
        usage = response.usage
        return LlmResult(
            provider=self.name, model=response.model or self.model, content=content, data=data,
            latency_ms=round(latency_ms, 1),
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            total_tokens=usage.total_tokens if usage else 0,
            token_usage=usage.model_dump(exclude_none=True) if usage else {},
            request={**request, "base_url": self.base_url}, attempts=attempt + 1,
        )


# Tone keyword -> (closing phrase for the copy, call to action for the post).
_TONES: list[tuple[tuple[str, ...], str, str]] = [
    (("친근", "캐주얼", "귀여", "다정", "friendly", "casual"), "{title}에서 만나요!", "편하게 놀러 오세요 😊"),
    (("고급", "세련", "럭셔리", "우아", "premium", "elegant", "luxury"),
     "{title}에서 경험해 보세요.", "특별한 시간을 {title}에서 만나보세요."),
    (("활기", "유쾌", "신나", "강렬", "energetic", "fun", "bold"), "지금 바로 {title}에서!", "지금 바로 들러 보세요! 🔥"),
]
_DEFAULT_TONE = ("{title}에서 만나보세요.", "지금 방문해 보세요.")
# Case particles that follow a noun as a word of their own (부대찌개를 = 부대찌개 + 를): removing one keeps
# the whole noun. 은/는 are not here: they also end verb forms (맛있는), where removing them cuts a word.
_PARTICLES = ("에서", "으로", "을", "를", "로", "와", "과", "의", "에", "도")
# Adnominal verb endings (볶은, 내린, 맛있는): descriptive words, not things worth a hashtag; a token
# ending in one is left out whole (커피는 too: noun + 는 and a verb form cannot be told apart).
_ADNOMINAL = ("은", "는", "린", "한", "운", "된", "던", "인")


def _tone_phrases(tone: str, title: str) -> tuple[str, str]:
    """Closing phrase and call to action for the owner's tone (a keyword match, not a model)."""
    low = tone.lower()
    copy_end, cta = next(((c, a) for keys, c, a in _TONES if any(k in low for k in keys)), _DEFAULT_TONE)
    name = title or "저희 가게"
    return copy_end.format(title=name), cta.format(title=name)


def _first_sentence(text: str) -> str:
    """First sentence or line of text, without its closing punctuation."""
    text = " ".join(text.split())
    head = re.split(r"(?<=[.!?。])\s|\n", text, maxsplit=1)[0]
    return head.rstrip(" .!?。~")


def _keywords(text: str) -> list[str]:
    """Whole words of 2+ characters: a noun loses its case particle, nothing is ever cut inside a word."""
    words = []
    for token in re.findall(r"\w+", text):
        if has_syllable(token):
            # Checked on the token as written: stripping first turned 맛있는 into the non-word 맛있.
            if token.endswith(_ADNOMINAL):
                continue
            for particle in _PARTICLES:
                if len(token) >= len(particle) + 2 and token.endswith(particle):
                    token = token[: -len(particle)]
                    break
        if len(token) >= 2 and not token.isdigit():
            words.append(token)
    return words


class OfflineWriter:
    """Template writer used when no model endpoint is configured; it calls no model.

    It is a documented fallback, not a translator: "eng_to_kor" composes Korean copy
    from the owner's own Korean description (desc_kor), the store title and the tone.
    """

    name = "offline"
    model = "offline-template-v1"

    def complete_json(self, messages: Messages, *, operation: str, temperature: float = 0.0,
                      max_tokens: int = 0, context: Mapping[str, Any] | None = None) -> LlmResult:
        """Compose the reply of `operation` from `context` deterministically."""
        started = time.perf_counter()
        ctx = dict(context or {})
        note = ""
        if operation == "eng_to_kor":
            data, note = {"ad_copy_kor": self._copy_kor(ctx)}, OFFLINE_NOTE
        elif operation == "instagram_feed":
            data = self._feed(ctx)
        elif operation == "refine_copy":
            # Without a model no word may be dropped (a cut changes the offer): the layout fits the whole copy.
            data = {"refined_ad_copy_eng": " ".join(str(ctx.get("ad_copy_eng", "")).split())}
            note = "offline: the copy is kept whole, the layout fits it"
        else:
            raise ValueError(f"offline writer has no template for operation {operation!r}")
        if note:
            data["note"] = note
        return LlmResult(
            provider=self.name, model=self.model, content=json.dumps(data, ensure_ascii=False), data=data,
            latency_ms=round((time.perf_counter() - started) * 1000.0, 3),
            request={"operation": operation, "messages": messages, "context": ctx}, note=note,
        )

    @staticmethod
    def _copy_kor(ctx: dict[str, Any]) -> str:
        """Korean copy: the first sentence of desc_kor plus a tone-matched closing with the title."""
        title = str(ctx.get("store_title") or "").strip()
        tone = str(ctx.get("tone") or ctx.get("tone_style") or "")
        hook = _first_sentence(str(ctx.get("desc_kor") or ""))
        copy_end, _ = _tone_phrases(tone, title)
        return f"{hook}! {copy_end}" if has_syllable(hook) else copy_end

    def _feed(self, ctx: dict[str, Any]) -> dict[str, Any]:
        """Korean post (hook, detail, store line, call to action) and hashtags from the job data."""
        title = str(ctx.get("store_title") or "").strip()
        body = " ".join(str(ctx.get("store_body") or "").split())
        tone = str(ctx.get("tone_style") or ctx.get("tone") or "")
        desc = str(ctx.get("desc_kor") or ctx.get("product_description") or "")
        copy_kor = str(ctx.get("ad_copy_kor") or "").strip()
        hook = copy_kor if has_syllable(copy_kor) else self._copy_kor(ctx)
        lines = [hook]
        detail = _first_sentence(desc)
        if detail and has_syllable(detail) and detail not in hook:
            lines.append(detail + ".")
        if title or body:
            lines.append("📍 " + " · ".join(p for p in (title, post_rules.shorten_copy(body, 120)) if p))
        lines.append(_tone_phrases(tone, title)[1])

        words = re.split(r"[/,>·|]", str(ctx.get("store_category") or ""))
        words += [title.replace(" ", "")] + _keywords(desc)
        words += [w for w in _keywords(body) if re.search(r"[구동역]$", w) and has_syllable(w)]
        words += re.findall(r"@(\w+)", body)  # the shop's own handle is the best tag it has
        return {"instagram_ad_copy": "\n".join(lines), "hashtags": post_rules.normalise_hashtags(words)[:15]}
