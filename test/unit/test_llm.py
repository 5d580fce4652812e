"""LLM providers against a real local chat-completions server, the offline writer, and post rules."""
from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from services.backends.factory import make_llm
from services.text import prompts
from services.text.llm import (
    OFFLINE_NOTE,
    LlmOutputError,
    LlmUnavailableError,
    OfflineWriter,
    OpenAIProvider,
    parse_json_object,
)
from services.text.post_rules import (
    MAX_POST_CHARS,
    combine_post,
    ig_len,
    normalise_hashtags,
    shorten_copy,
    validate_korean_copy,
    validate_post,
)

HANGUL = re.compile(r"[\uac00-\ud7a3]")
TAG = re.compile(r"^#\w+$")


def completion(content: str, usage: dict[str, int] | None = None) -> dict[str, Any]:
    """A chat.completion body as OpenAI-compatible servers send it."""
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": usage or {"prompt_tokens": 42, "completion_tokens": 17, "total_tokens": 59},
    }


class FakeChatServer:
    """A chat-completions endpoint on 127.0.0.1 that plays a script of (status, body, delay) replies."""

    def __init__(self, script: list[tuple[int, Any, float]]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append({"path": self.path, "headers": headers, "json": json.loads(body)})
                status, reply, delay = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                time.sleep(delay)
                payload = (reply if isinstance(reply, str) else json.dumps(reply)).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test): nothing to answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_factory():
    servers: list[FakeChatServer] = []

    def make(*script: tuple[int, Any, float]) -> FakeChatServer:
        servers.append(FakeChatServer(list(script)))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def provider(server: FakeChatServer, *, timeout: float = 5.0, max_retries: int = 2) -> OpenAIProvider:
    return OpenAIProvider("sk-test", server.base_url, "test-model", timeout, max_retries, backoff_base=0.01)


def test_request_shape_parsing_and_token_accounting(server_factory) -> None:
    server = server_factory((200, completion('{"ad_copy_kor": "매일 신선한 커피"}'), 0.0))
    messages, prompt_id, version = prompts.eng_to_kor("Fresh coffee every day", "친근한")
    result = provider(server).complete_json(messages, operation=prompt_id, temperature=0.3, max_tokens=123)

    assert len(server.requests) == 1
    sent = server.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["authorization"] == "Bearer sk-test"
    body = sent["json"]
    assert body["model"] == "test-model"
    assert body["messages"] == messages
    assert body["temperature"] == 0.3
    assert body["max_tokens"] == 123
    assert body["response_format"] == {"type": "json_object"}
    assert "Fresh coffee every day" in body["messages"][1]["content"]
    assert (prompt_id, version) == ("eng_to_kor", prompts.PROMPT_VERSIONS["eng_to_kor"])

    assert result.provider == "openai" and result.model == "test-model"
    assert result.data == {"ad_copy_kor": "매일 신선한 커피"}
    assert (result.prompt_tokens, result.completion_tokens, result.total_tokens) == (42, 17, 59)
    assert result.token_usage["total_tokens"] == 59
    assert result.request["max_tokens"] == 123 and result.attempts == 1
    assert result.latency_ms >= 0


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_retryable_status_then_succeeds(server_factory, status: int) -> None:
    server = server_factory(
        (status, {"error": {"message": "busy", "type": "server_error"}}, 0.0),
        (200, completion('{"refined_ad_copy_eng": "Fresh coffee"}'), 0.0),
    )
    result = provider(server).complete_json([{"role": "user", "content": "x"}], operation="refine_copy",
                                            temperature=0.0, max_tokens=50)
    assert len(server.requests) == 2
    assert result.attempts == 2
    assert result.data["refined_ad_copy_eng"] == "Fresh coffee"


def test_gives_up_after_max_retries(server_factory) -> None:
    server = server_factory((500, {"error": {"message": "down"}}, 0.0))
    with pytest.raises(LlmUnavailableError, match="3 attempts.*HTTP 500") as info:
        provider(server, max_retries=2).complete_json([], operation="eng_to_kor", temperature=0, max_tokens=5)
    assert len(server.requests) == 3 and info.value.retryable


def test_client_error_is_not_retried(server_factory) -> None:
    server = server_factory((401, {"error": {"message": "bad key"}}, 0.0))
    with pytest.raises(LlmUnavailableError, match="HTTP 401") as info:
        provider(server).complete_json([], operation="eng_to_kor", temperature=0, max_tokens=5)
    assert len(server.requests) == 1 and not info.value.retryable


def test_timeout_is_retried_then_reported(server_factory) -> None:
    server = server_factory((200, completion('{"a": 1}'), 1.5))
    started = time.perf_counter()
    with pytest.raises(LlmUnavailableError, match="2 attempts.*timeout"):
        provider(server, timeout=0.3, max_retries=1).complete_json([], operation="instagram_feed",
                                                                  temperature=0, max_tokens=5)
    assert time.perf_counter() - started < 1.4  # it did not wait for the slow server
    assert len(server.requests) == 2


def test_malformed_content_raises_output_error_without_http_retry(server_factory) -> None:
    server = server_factory((200, completion("Sure! Here is your ad copy: fresh coffee."), 0.0))
    with pytest.raises(LlmOutputError, match="not a JSON object"):
        provider(server).complete_json([], operation="eng_to_kor", temperature=0, max_tokens=5)
    assert len(server.requests) == 1


def test_json_inside_fences_or_prose_is_parsed(server_factory) -> None:
    server = server_factory((200, completion('Here you go:\n```json\n{"hashtags": ["#a"]}\n```'), 0.0))
    result = provider(server).complete_json([], operation="instagram_feed", temperature=0, max_tokens=5)
    assert result.data == {"hashtags": ["#a"]}
    assert parse_json_object('Answer: {"x": {"y": 2}} hope it helps') == {"x": {"y": 2}}
    with pytest.raises(LlmOutputError):
        parse_json_object('["a list", "not an object"]')
    with pytest.raises(LlmOutputError):
        parse_json_object("")


JOB = {
    "desc_kor": "수제 버거 전문점 신메뉴 출시",
    "store_title": "버거하우스",
    "store_body": "서울 마포구 와우산로 12 1층 · 매일 11:00-21:00 · 인스타 @burgerhouse",
    "store_category": "음식점/버거",
    "tone": "친근한",
    "ad_copy_eng": "Juicy handmade burgers, our new menu is out now! Come taste it today.",
}


def test_offline_writer_eng_to_kor_is_korean_and_says_it_is_a_fallback() -> None:
    messages, op, _ = prompts.eng_to_kor(JOB["ad_copy_eng"], JOB["tone"])
    result = OfflineWriter().complete_json(messages, operation=op, context=JOB, temperature=0.7, max_tokens=100)
    copy = validate_korean_copy(result.data["ad_copy_kor"])
    assert "수제 버거" in copy and "버거하우스" in copy
    assert result.provider == "offline" and result.model == "offline-template-v1"
    assert result.note == OFFLINE_NOTE and result.data["note"] == OFFLINE_NOTE
    assert result.total_tokens == 0 and json.loads(result.content) == result.data
    again = OfflineWriter().complete_json(messages, operation=op, context=JOB, temperature=0.7, max_tokens=100)
    assert again.data == result.data  # deterministic


def test_offline_writer_instagram_feed_post_and_hashtags() -> None:
    ctx = dict(JOB, ad_copy_kor="육즙 가득 수제 버거, 신메뉴 출시!", tone_style="친근한")
    messages, op, _ = prompts.instagram_feed(ctx["ad_copy_kor"], JOB["ad_copy_eng"], "친근한", JOB["desc_kor"],
                                             JOB["store_title"], JOB["store_body"], JOB["store_category"])
    data = OfflineWriter().complete_json(messages, operation=op, context=ctx, temperature=0.7, max_tokens=500).data
    post, tags = data["instagram_ad_copy"], data["hashtags"]
    lines = post.splitlines()
    assert 2 <= len(lines) <= 5 and HANGUL.search(post)
    assert "버거하우스" in post and "마포구" in post
    assert all(TAG.match(t) for t in tags) and normalise_hashtags(tags) == tags
    for expected in ("#음식점", "#버거", "#버거하우스", "#신메뉴", "#burgerhouse"):
        assert expected in tags
    body, tags_str = validate_post(post, tags)
    assert ig_len(combine_post(body, tags_str)) <= MAX_POST_CHARS


def test_offline_writer_refine_copy_keeps_every_word() -> None:
    ctx = dict(JOB, max_chars=40)
    result = OfflineWriter().complete_json([], operation="refine_copy", context=ctx, temperature=0, max_tokens=50)
    # Without a model no word is dropped (a cut changed the offer): the layout fits the whole copy.
    assert result.data["refined_ad_copy_eng"] == " ".join(JOB["ad_copy_eng"].split())
    assert "kept whole" in result.note
    assert shorten_copy("Fresh coffee daily. Baked bread too, all morning long.", 30) == "Fresh coffee daily."
    assert shorten_copy("Supercalifragilistic", 5) == "Super"


def test_make_llm_picks_provider() -> None:
    base = dict(openai_api_key="", openai_base_url="", openai_model="m", openai_timeout_seconds=1.0,
                openai_max_retries=1)
    assert isinstance(make_llm(SimpleNamespace(**base))[0], OfflineWriter)
    assert isinstance(make_llm(SimpleNamespace(**dict(base, openai_base_url="http://127.0.0.1:1/v1")))[0],
                      OpenAIProvider)
    assert isinstance(make_llm(SimpleNamespace(**dict(base, openai_api_key="sk-x")))[0], OpenAIProvider)


def test_hashtag_rules() -> None:
    assert len(normalise_hashtags([f"tag{i}" for i in range(31)])) == 30
    assert normalise_hashtags(["#Cafe", "cafe", "#카페", "카페", "#CAFE"]) == ["#Cafe", "#카페"]
    assert normalise_hashtags(["#new york!", "#브런치☕", "##", "", "#2024", "#맛집-추천"]) == \
        ["#newyork", "#브런치", "#맛집추천"]
    assert normalise_hashtags("#a #b,#c#d a") == ["#a", "#b", "#c", "#d"]


def test_korean_copy_rules() -> None:
    assert validate_korean_copy('  "매일 신선한 커피"  ') == "매일 신선한 커피"
    with pytest.raises(LlmOutputError):
        validate_korean_copy("Fresh coffee every day")
    with pytest.raises(LlmOutputError):
        validate_korean_copy(None)


def test_long_post_is_truncated_to_fit_with_hashtags() -> None:
    sentence = "오늘도 신선한 원두로 내린 커피를 준비했어요. "
    post = (sentence * 200)[:3000]
    tags = [f"#태그{i}" for i in range(25)]
    body, tags_str = validate_post(post, tags)
    caption = combine_post(body, tags_str)
    assert len(post) == 3000 and ig_len(caption) <= MAX_POST_CHARS
    assert len(caption) > 1800  # truncated, not emptied
    assert body.endswith("요.")  # cut at a sentence boundary
    assert tags_str.split() == tags
    short_body, short_tags = validate_post("짧은 글", "#a #a #b")
    assert (short_body, short_tags) == ("짧은 글", "#a #b")


def test_offline_hashtags_are_whole_words_never_cut() -> None:
    # The earlier callers got "#맛있" (맛있는 cut at its ending): a tag is a whole word or left out.
    ctx = dict(JOB, desc_kor="맛있는 부대찌개를 드셔보세요. 진한 국물과 라면사리", ad_copy_kor="맛있는 부대찌개!",
               store_body="서울 마포구 연남동", store_category="한식")
    messages, op, _ = prompts.instagram_feed(ctx["ad_copy_kor"], JOB["ad_copy_eng"], "친근한", ctx["desc_kor"],
                                             JOB["store_title"], ctx["store_body"], ctx["store_category"])
    tags = OfflineWriter().complete_json(messages, operation=op, context=ctx).data["hashtags"]
    assert "#맛있" not in tags and "#맛있는" not in tags
    assert "#부대찌개" in tags and "#라면사리" in tags and "#연남동" in tags
    source = " ".join((ctx["desc_kor"], ctx["store_body"], ctx["store_category"], JOB["store_title"]))
    tokens = set(re.findall(r"\w+", source))
    for tag in tags:  # each tag is a source word, or a source word without its case particle (를, 과, ...)
        word = tag[1:]
        assert word in tokens or any(t.startswith(word) and t[len(word):] in ("를", "과", "을", "에서", "으로")
                                     for t in tokens), tag
