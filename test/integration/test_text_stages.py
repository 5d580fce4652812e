"""The text side of the pipeline through the engine: the OpenAI path against a local chat-completions
server, the refined copy when the English copy does not fit, and the choice of the best variant."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from services.engine.selection import EVALUATION_TYPES, rank_key
from services.stages.text import prompt_uuid
from services.text import prompts
from test.conftest import app_settings, serve
from test.integration.helpers import job_finished, wait_for

HANGUL_COPY = "갓 볶은 원두로 천천히 내린 커피, 오늘 들러 주세요!"
FEED_BODY = "천천히 내린 핸드드립 한 잔 ☕\n연남동 해오름 커피에서 기다릴게요."
# Shorter, and it keeps every fact of the copy (places, origins, "today"), so the integrity check accepts it.
REFINED_BY_SERVER = "Fresh coffee roasted in Yeonnam-dong from Ethiopia, Colombia and Guatemala beans. Visit us today!"
# Distinct token counts per operation, so the test can tell which trace got which usage block.
USAGE = {
    "eng_to_kor": {"prompt_tokens": 111, "completion_tokens": 22, "total_tokens": 133},
    "instagram_feed": {"prompt_tokens": 444, "completion_tokens": 155, "total_tokens": 599},
    "refine_copy": {"prompt_tokens": 77, "completion_tokens": 9, "total_tokens": 86},
}
REPLIES = {
    "eng_to_kor": {"ad_copy_kor": HANGUL_COPY},
    "instagram_feed": {"instagram_ad_copy": FEED_BODY, "hashtags": ["#카페", "#커피", "#카페"]},
    "refine_copy": {"refined_ad_copy_eng": REFINED_BY_SERVER},
}
# A long English copy: far more than any sample photo has calm room for at a legible size.
LONG_COPY = " ".join([
    "Fresh roasted coffee, made slowly for you every single morning by our friendly baristas in Yeonnam-dong.",
    "We pick single-origin beans from small farms in Ethiopia, Colombia and Guatemala and roast them in house.",
    "Every cup is brewed by hand, pour over or espresso, exactly the way you like it, with oat or whole milk.",
    "Pair it with a warm butter croissant or our famous basque cheesecake baked fresh each and every day.",
    "Bring a friend, bring a book, stay as long as you like: free wifi, quiet corners and a sunny terrace.",
    "Visit us today and taste the difference that patience makes!",
])
# The planner sets LONG_COPY whole at the legibility floor on the samples; twice as long fits no photo.
UNFIT_COPY = " ".join([LONG_COPY] * 2)


def _rows(db, sql: str, **params) -> list:
    db.rollback()  # a fresh snapshot
    return db.execute(text(sql), params).mappings().all()


def _scalar(db, sql: str, **params):
    db.rollback()
    return db.execute(text(sql), params).scalar()


def _operation(system_prompt: str) -> str:
    """Which prompt of services/text/prompts.py a request carries, from its reply format."""
    for key, operation in (('"ad_copy_kor"', "eng_to_kor"), ('"instagram_ad_copy"', "instagram_feed"),
                           ('"refined_ad_copy_eng"', "refine_copy")):
        if key in system_prompt:
            return operation
    raise AssertionError(f"unknown prompt: {system_prompt[:120]!r}")


class ChatServer:
    """A chat-completions endpoint on 127.0.0.1 answering each operation; it can fail the first N calls of one."""

    def __init__(self, fail_first: dict[str, int] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []  # {"operation", "status", "json", "headers"}
        self.fail_first = dict(fail_first or {})
        # operation -> "hang" (answer after `hang_seconds`, past the client's timeout) or "prose" (not JSON)
        self.misbehave: dict[str, str] = {}
        self.hang_seconds = 3.0
        self.released = threading.Event()  # set on close: hanging answers stop waiting
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                operation = _operation(body["messages"][0]["content"])
                with outer._lock:
                    fail = outer.fail_first.get(operation, 0) > 0
                    if fail:
                        outer.fail_first[operation] -= 1
                    outer.requests.append({"path": self.path, "operation": operation, "status": 429 if fail else 200,
                                           "json": body, "headers": {k.lower(): v for k, v in self.headers.items()}})
                mode = outer.misbehave.get(operation)
                if mode == "hang":
                    outer.released.wait(outer.hang_seconds)
                if fail:
                    reply = {"error": {"message": "Rate limit reached", "type": "rate_limit_error", "code": None}}
                    status = 429
                else:
                    content = ("Sure! Here is a lovely copy for your cafe." if mode == "prose"
                               else json.dumps(REPLIES[operation], ensure_ascii=False))
                    reply = {"id": "chatcmpl-local", "object": "chat.completion", "created": 0,
                             "model": body["model"],
                             "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                 "role": "assistant", "content": content}}],
                             "usage": USAGE[operation]}
                    status = 200
                payload = json.dumps(reply, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                if status == 429:
                    self.send_header("retry-after", "0")
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def seen(self, operation: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["operation"] == operation]

    def close(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def chat_server():
    server = ChatServer(fail_first={"eng_to_kor": 1})
    yield server
    server.close()


def test_openai_provider_through_the_engine(db, db_url, tmp_path, chat_server):
    settings = app_settings(db_url, tmp_path, openai_base_url=f"http://127.0.0.1:{chat_server.port}/v1",
                            openai_api_key="test", openai_model="local-gpt", openai_temperature=0.35,
                            openai_max_tokens=321)
    with serve(create_app(settings), settings.port):
        health = httpx.get(f"http://127.0.0.1:{settings.port}/healthz").json()
        assert health["models"]["llm"] == {"provider": "openai", "model": "local-gpt"}
        # A copy no sample photo has room for: the refinement path runs, whatever the photos.
        job_id, _ = seedlib.start_job(db, settings.assets_dir, variants_count=3, ad_copy_eng=UNFIT_COPY)
        wait_for(lambda: job_finished(db, job_id), 90, interval=0.2, what="the job's feed")

    # The 429 was retried by the provider inside one stage attempt: the stage ran once and succeeded.
    kor_requests = chat_server.seen("eng_to_kor")
    assert [r["status"] for r in kor_requests] == [429, 200]
    runs = _rows(db, "SELECT step, status, attempt FROM stage_runs WHERE job_id = :j AND job_variants_id IS NULL "
                     "ORDER BY started_at", j=job_id)
    assert [(r["step"], r["status"], r["attempt"]) for r in runs] == [
        ("ad_copy_gen_kor", "done", 1), ("instagram_feed_gen", "done", 1)]
    assert len(chat_server.seen("instagram_feed")) == 1

    # Every request used the configured model, temperature and token limit, asked for JSON, carried the key.
    for request in chat_server.requests:
        assert request["path"] == "/v1/chat/completions"
        assert request["headers"]["authorization"] == "Bearer test"
        body = request["json"]
        assert body["model"] == "local-gpt" and body["temperature"] == 0.35 and body["max_tokens"] == 321
        assert body["response_format"] == {"type": "json_object"}

    traces = _rows(db, "SELECT * FROM llm_traces WHERE job_id = :j ORDER BY created_at, pk", j=job_id)
    by_operation = {t["operation_type"]: t for t in traces}
    assert {"eng_to_kor", "instagram_feed"} <= set(by_operation)
    assert len(traces) == len(chat_server.requests) - 1  # one trace per successful call (the 429 is not one)
    for trace in traces:
        operation = trace["operation_type"]
        usage = USAGE[operation]
        assert trace["provider"] == "openai"
        assert (trace["prompt_tokens"], trace["completion_tokens"], trace["total_tokens"]) == (
            usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])
        assert trace["token_usage"]["total_tokens"] == usage["total_tokens"]
        assert trace["request"]["prompt_name"] == operation
        assert trace["request"]["prompt_version"] == prompts.PROMPT_VERSIONS[operation]
        assert trace["request"]["model"] == "local-gpt" and trace["request"]["temperature"] == 0.35
        assert trace["prompt_id"] == prompt_uuid(operation, prompts.PROMPT_VERSIONS[operation])
        assert trace["response"]["data"] == REPLIES[operation]
        assert trace["latency_ms"] is not None and trace["latency_ms"] >= 0
    assert by_operation["eng_to_kor"]["response"]["attempts"] == 2
    assert by_operation["instagram_feed"]["response"]["attempts"] == 1

    kor = _rows(db, "SELECT * FROM txt_ad_copy_generations WHERE job_id = :j AND generation_stage = 'eng_to_kor'",
                j=job_id)
    assert len(kor) == 1 and kor[0]["ad_copy_kor"] == HANGUL_COPY
    assert kor[0]["llm_trace_id"] == by_operation["eng_to_kor"]["llm_trace_id"]

    feed = _rows(db, "SELECT * FROM instagram_feeds WHERE job_id = :j", j=job_id)
    assert len(feed) == 1
    feed = feed[0]
    assert feed["hashtags"] == "#카페 #커피"  # the repeated tag is dropped
    assert feed["instagram_ad_copy"] == FEED_BODY and feed["ad_copy_kor"] == HANGUL_COPY
    assert feed["llm_trace_id"] == by_operation["instagram_feed"]["llm_trace_id"]
    assert feed["used_temperature"] == 0.35 and feed["used_max_tokens"] == 321
    # The feed prompt carried the Korean copy the first call produced.
    assert HANGUL_COPY in chat_server.seen("instagram_feed")[0]["json"]["messages"][1]["content"]
    # The copy did not fit: the server refined it once per job (vlm_analyze runs one at a time here, and a
    # variant analysed after the refinement does not ask again) and the text stages used the refined copy.
    refined = _rows(db, "SELECT refined_ad_copy_eng FROM txt_ad_copy_generations WHERE job_id = :j AND "
                        "generation_stage = 'refined_ad_copy'", j=job_id)
    assert len(chat_server.seen("refine_copy")) == 1
    assert [r["refined_ad_copy_eng"] for r in refined] == [REFINED_BY_SERVER]
    assert feed["refined_ad_copy_eng"] == REFINED_BY_SERVER and kor[0]["ad_copy_eng"] == REFINED_BY_SERVER


def test_a_long_copy_is_set_whole_offline_never_cut(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path)  # no openai settings: the offline writer
    # Two sentences (209 characters): more than the VLM's area estimate allows, and OCR stays fast.
    copy = " ".join(LONG_COPY.split()[:33])
    assert copy.endswith("in house.") and len(copy) > 200
    with serve(create_app(settings), settings.port):
        job_id, variants = seedlib.start_job(db, settings.assets_dir, variants_count=3, ad_copy_eng=copy)
        wait_for(lambda: job_finished(db, job_id), 90, interval=0.2, what="the job's feed")

    analyses = _rows(db, "SELECT pk, job_variants_id, provider, request, response FROM vlm_traces WHERE job_id = :j "
                         "AND operation_type = 'analyze' ORDER BY pk", j=job_id)
    assert len(analyses) == 3
    for trace in analyses:
        assert trace["request"]["ad_copy_eng"] == copy  # analyze always judges the original copy
    # The VLM's area estimate says it does not fit, but the layout sets it whole at a legible size:
    # copy that fits is never refined, and without a model no word is ever dropped.
    assert any(t["response"]["copy_fits"] is False for t in analyses)
    refined_rows = _rows(db, "SELECT * FROM txt_ad_copy_generations WHERE job_id = :j AND "
                             "generation_stage = 'refined_ad_copy'", j=job_id)
    assert refined_rows == []
    overlays = _rows(db, "SELECT o.layout FROM overlay_layouts o JOIN jobs_variants v USING (job_variants_id) "
                         "WHERE v.job_id = :j", j=job_id)
    assert len(overlays) == 3
    for o in overlays:
        assert o["layout"]["text"] == copy and " ".join(o["layout"]["lines"]) == copy
        assert o["layout"]["copy_fits"] is True
    feed = _rows(db, "SELECT refined_ad_copy_eng FROM instagram_feeds WHERE job_id = :j", j=job_id)
    assert [f["refined_ad_copy_eng"] for f in feed] == [copy]


def _value(metrics: dict, key: str) -> float:
    """A metric's number, stored bare or as {"value": ...}; 0 when missing (the README's rule)."""
    item = metrics.get(key, 0.0)
    if isinstance(item, dict):
        item = item.get("value", 0.0)
    return float(item) if isinstance(item, (int, float)) and not isinstance(item, bool) else 0.0


def test_exactly_one_variant_is_selected_and_it_is_the_best(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path)
    with serve(create_app(settings), settings.port):
        job_id, variants = seedlib.start_job(db, settings.assets_dir, variants_count=3)
        wait_for(lambda: job_finished(db, job_id), 90, interval=0.2, what="the job's feed")
        detail = httpx.get(f"http://127.0.0.1:{settings.port}/api/yh/jobs/{job_id}").json()

    rows = _rows(db, """
        SELECT v.job_variants_id, v.creation_order, v.selected, e.evaluation_type, e.metrics
        FROM jobs_variants v
        JOIN LATERAL (SELECT overlay_id FROM overlay_layouts o WHERE o.job_variants_id = v.job_variants_id
                      ORDER BY o.created_at DESC, o.pk DESC LIMIT 1) o ON TRUE
        JOIN evaluations e ON e.overlay_id = o.overlay_id
        WHERE v.job_id = :j""", j=job_id)
    evals: dict[str, dict] = {}
    orders, selected = {}, set()
    for r in rows:
        vid = str(r["job_variants_id"])
        evals.setdefault(vid, {})[r["evaluation_type"]] = r["metrics"]
        orders[vid] = r["creation_order"]
        if r["selected"]:
            selected.add(vid)
    assert set(evals) == set(variants)
    assert all(set(e) == set(EVALUATION_TYPES) for e in evals.values())
    assert _scalar(db, "SELECT count(*) FROM jobs_variants WHERE job_id = :j AND selected", j=job_id) == 1

    # The rule, recomputed here: most evaluations passed, then judge overall, OCR similarity, creation order.
    def mine(vid: str) -> tuple:
        e = evals[vid]
        passed = sum(1 for t in ("llava_judge", "ocr", "readability", "iou") if e[t].get("passed") is True)
        return (-passed, -_value(e["llava_judge"], "overall"), -_value(e["ocr"], "similarity"), orders[vid])

    best = min(evals, key=mine)
    assert selected == {best}, {v: mine(v) for v in evals}
    assert all(mine(v) == rank_key(evals[v], orders[v]) for v in evals)
    assert [v["job_variants_id"] for v in detail["variants"] if v["selected"]] == [best]
    feed_overlay = _scalar(db, "SELECT overlay_id FROM instagram_feeds WHERE job_id = :j", j=job_id)
    assert str(_scalar(db, "SELECT job_variants_id FROM overlay_layouts WHERE overlay_id = :o", o=feed_overlay)) == best


def _judge(overall: float) -> dict:
    return {"overall": {"value": overall, "passed": overall >= 6}, "passed": overall >= 6}


def test_rank_key_orders_by_passed_then_judge_then_ocr_then_order():
    def evals(passed: set[str], overall: float, similarity: float) -> dict:
        out = {t: {"passed": t in passed} for t in EVALUATION_TYPES}
        out["llava_judge"]["overall"] = {"value": overall}
        out["ocr"]["similarity"] = {"value": similarity}
        return out

    all_four = set(EVALUATION_TYPES)
    three = {"ocr", "readability", "iou"}
    # More evaluations passed beats a higher judge score (and a better OCR read).
    assert rank_key(evals(three | {"llava_judge"}, 6.0, 0.5), 3) < rank_key(evals(three, 9.9, 1.0), 1)
    # Same number passed: the judge's overall score decides.
    assert rank_key(evals(three, 8.0, 0.1), 2) < rank_key(evals(three, 7.5, 1.0), 1)
    # Same passed and judge: OCR similarity decides.
    assert rank_key(evals(all_four, 7.0, 0.95), 2) < rank_key(evals(all_four, 7.0, 0.9), 1)
    # Everything equal: the earlier creation order wins.
    assert rank_key(evals(all_four, 7.0, 0.9), 1) < rank_key(evals(all_four, 7.0, 0.9), 2)
    # Bare numbers count like {"value": ...}; a missing evaluation counts as not passed and scores 0.
    bare = evals(three, 7.0, 0.9)
    bare["llava_judge"]["overall"], bare["ocr"]["similarity"] = 7.0, 0.9
    assert rank_key(bare, 1) == rank_key(evals(three, 7.0, 0.9), 1)
    assert rank_key({"llava_judge": _judge(9.0)}, 1) == (-1, -9.0, -0.0, 1)
    assert rank_key({}, 4) == (0, -0.0, -0.0, 4)
    # "passed" must be True itself: a truthy string is not a pass.
    assert rank_key({"ocr": {"passed": "yes"}}, 1)[0] == 0

    candidates = {
        "a": (evals(three, 9.5, 1.0), 1),
        "b": (evals(all_four, 6.1, 0.2), 4),
        "c": (evals(all_four, 6.1, 0.8), 3),
        "d": (evals(all_four, 8.0, 0.1), 2),
        "e": (evals(all_four, 6.1, 0.8), 5),
    }
    ranked = sorted(candidates, key=lambda k: rank_key(*candidates[k]))
    assert ranked == ["d", "c", "e", "b", "a"]
