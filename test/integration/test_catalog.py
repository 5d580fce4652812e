"""Issue 23 item 7: after a job, every trace names its model row (llm_models, with the configured prices) and
its prompt row (vlm_prompt_assets, the wording it sent), other parts' rows are untouched, and the jobs API shows
the job's tokens and cost."""
from __future__ import annotations

import json
import uuid

import httpx
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from services.stages import catalog
from services.text import prompts
from test.conftest import app_settings, serve
from test.integration import test_text_stages as chat
from test.integration import test_vlm_served as vision
from test.integration.helpers import job_finished, wait_for

PROMPT_PRICE, COMPLETION_PRICE = 2.5, 10.0  # USD per 1M tokens, as configured


def _rows(db, sql: str, **params) -> list:
    db.rollback()  # a fresh snapshot
    return db.execute(text(sql), params).mappings().all()


def test_traces_link_models_and_prompts_and_the_job_shows_its_cost(db, db_url, tmp_path, monkeypatch):
    # The VLM says the copy does not fit and the copy is too long for any photo: the refinement runs too.
    monkeypatch.setitem(vision.REPLIES, "ad_image_analysis", {**vision.REPLIES["ad_image_analysis"], "copy_fits": False})
    # Another part's rows for the same model and a prompt of its own: they must stay exactly as they are.
    theirs_model, theirs_prompt = uuid.uuid4(), uuid.uuid4()
    db.execute(text("INSERT INTO llm_models (llm_model_id, model_name, provider, prompt_token_cost_per_1m, "
                    "completion_token_cost_per_1m, description) VALUES (:i, 'local-gpt', 'openai', 9.99, 19.99, "
                    "'text part')"), {"i": theirs_model})
    db.execute(text("INSERT INTO vlm_prompt_assets (prompt_asset_id, prompt_type, prompt_version, prompt) "
                    "VALUES (:i, 'analyze', 'v0', '{\"theirs\": true}')"), {"i": theirs_prompt})
    db.commit()
    theirs_before = [dict(r) for r in _rows(db, "SELECT * FROM llm_models WHERE llm_model_id = :i", i=theirs_model)]
    prompt_before = [dict(r) for r in _rows(db, "SELECT * FROM vlm_prompt_assets WHERE prompt_asset_id = :i",
                                            i=theirs_prompt)]

    llm, vlm = chat.ChatServer(), vision.VisionServer()
    try:
        settings = app_settings(db_url, tmp_path, openai_base_url=f"http://127.0.0.1:{llm.port}/v1", openai_api_key="k",
                                openai_model="local-gpt", llm_prompt_token_cost_per_1m=PROMPT_PRICE,
                                llm_completion_token_cost_per_1m=COMPLETION_PRICE, vlm_backend="openai",
                                vlm_base_url=vlm.url, vlm_model=vision.MODEL, vlm_image_side=vision.SIDE)
        with serve(create_app(settings), settings.port):
            job_id, _ = seedlib.start_job(db, settings.assets_dir, variants_count=2, ad_copy_eng=chat.UNFIT_COPY)
            wait_for(lambda: job_finished(db, job_id), 120, interval=0.2, what="the job's feed")
            job = httpx.get(f"http://127.0.0.1:{settings.port}/api/yh/jobs/{job_id}", timeout=10).json()
        sent_vlm = list(vlm.requests)
    finally:
        llm.close()
        vlm.close()

    # Every VLM trace names the prompt row of the wording it sent.
    vtraces = _rows(db, "SELECT t.operation_type, t.request, p.* FROM vlm_traces t "
                        "LEFT JOIN vlm_prompt_assets p ON p.prompt_asset_id = t.prompt_id WHERE t.job_id = :j", j=job_id)
    assert sorted(t["operation_type"] for t in vtraces) == ["analyze"] * 2 + ["judge"] * 2
    for t in vtraces:
        assert t["prompt_asset_id"] is not None, t["operation_type"]
        assert t["prompt_type"] == t["operation_type"] and t["prompt_version"] == prompts.VLM_PROMPT_VERSION
        fixed = t["prompt"]["template"].split("{")[0]  # the wording before the first input
        assert t["request"]["prompt"].startswith(fixed) and len(fixed) > 20
    assert all(any(r["json"]["messages"][0]["content"][1]["text"].startswith(t["prompt"]["template"].split("{")[0])
                   for t in vtraces) for r in sent_vlm)

    # Every LLM trace names its model row (configured prices) and its prompt row.
    ltraces = _rows(db, "SELECT t.operation_type, t.request, t.prompt_tokens, t.completion_tokens, "
                        "m.llm_model_id, m.provider AS m_provider, m.model_name, m.prompt_token_cost_per_1m, "
                        "m.completion_token_cost_per_1m, p.prompt_type, p.prompt_version, p.prompt "
                        "FROM llm_traces t LEFT JOIN llm_models m ON m.llm_model_id = t.llm_model_id "
                        "LEFT JOIN vlm_prompt_assets p ON p.prompt_asset_id = t.prompt_id WHERE t.job_id = :j", j=job_id)
    operations = [t["operation_type"] for t in ltraces]  # both variants may refine at once: each call is traced
    assert set(operations) == {"refine_copy", "eng_to_kor", "instagram_feed"} and len(operations) in (3, 4)
    for t in ltraces:
        assert t["llm_model_id"] is not None and t["llm_model_id"] != theirs_model
        assert (t["m_provider"], t["model_name"]) == ("openai", "local-gpt")
        assert (t["prompt_token_cost_per_1m"], t["completion_token_cost_per_1m"]) == (PROMPT_PRICE, COMPLETION_PRICE)
        assert t["prompt_type"] == t["operation_type"]
        assert t["prompt_version"] == prompts.PROMPT_VERSIONS[t["operation_type"]]
        system, user = (m["content"] for m in t["request"]["messages"])
        assert system == prompts.fill(t["prompt"]["template"], **json.loads(user))  # the wording that was sent
        assert sorted(json.loads(user)) == sorted(t["prompt"]["inputs"])

    # One row per (provider, model) and per prompt used, however many calls; the other part's rows as they were.
    ours = _rows(db, "SELECT * FROM llm_models WHERE llm_model_id <> :i", i=theirs_model)
    assert len(ours) == 1 and ours[0]["llm_model_id"] == catalog.llm_model(settings, "openai", "local-gpt")["llm_model_id"]
    assert _rows(db, "SELECT count(*) AS n FROM vlm_prompt_assets WHERE prompt_asset_id <> :i", i=theirs_prompt)[0][
        "n"] == 5  # analyze, judge, refine, Korean copy, post
    assert [dict(r) for r in _rows(db, "SELECT * FROM llm_models WHERE llm_model_id = :i", i=theirs_model)] == theirs_before
    assert [dict(r) for r in _rows(db, "SELECT * FROM vlm_prompt_assets WHERE prompt_asset_id = :i",
                                   i=theirs_prompt)] == prompt_before

    # The jobs API: tokens as the server reported them, cost = tokens x configured prices.
    usage = job["usage"]
    prompt_tokens = sum(t["prompt_tokens"] for t in ltraces)
    completion_tokens = sum(t["completion_tokens"] for t in ltraces)
    assert prompt_tokens == sum(chat.USAGE[op]["prompt_tokens"] for op in operations)
    assert usage["llm"]["prompt_tokens"] == prompt_tokens and usage["llm"]["completion_tokens"] == completion_tokens
    assert usage["llm"]["calls"] == len(operations)
    expected = (prompt_tokens * PROMPT_PRICE + completion_tokens * COMPLETION_PRICE) / 1e6
    assert abs(usage["cost_usd"] - expected) < 1e-9 and abs(usage["llm"]["cost_usd"] - expected) < 1e-9
    vlm_tokens = sum(vision.USAGE[r["schema"]]["total_tokens"] for r in sent_vlm)
    assert usage["vlm"]["total_tokens"] == vlm_tokens and usage["vlm"]["calls"] == 4
    assert usage["total_tokens"] == sum(chat.USAGE[op]["total_tokens"] for op in operations) + vlm_tokens


def test_offline_job_links_the_offline_model_at_no_cost(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path)
    with serve(create_app(settings), settings.port):
        job_id, _ = seedlib.start_job(db, settings.assets_dir, variants_count=1)
        wait_for(lambda: job_finished(db, job_id), 90, interval=0.2, what="the job's feed")
        job = httpx.get(f"http://127.0.0.1:{settings.port}/api/yh/jobs/{job_id}", timeout=10).json()
    traces = _rows(db, "SELECT m.provider, m.model_name, m.prompt_token_cost_per_1m, p.prompt_type, t.operation_type "
                       "FROM llm_traces t JOIN llm_models m ON m.llm_model_id = t.llm_model_id "
                       "JOIN vlm_prompt_assets p ON p.prompt_asset_id = t.prompt_id WHERE t.job_id = :j", j=job_id)
    assert sorted(t["operation_type"] for t in traces) == ["eng_to_kor", "instagram_feed"]
    assert {(t["provider"], t["model_name"], t["prompt_token_cost_per_1m"]) for t in traces} == {
        ("offline", "offline-template-v1", 0.0)}
    # The measured default VLM sends no prompt: its traces say so by naming none.
    assert {r["prompt_id"] for r in _rows(db, "SELECT prompt_id FROM vlm_traces WHERE job_id = :j", j=job_id)} == {None}
    assert job["usage"]["cost_usd"] == 0.0 and job["usage"]["llm"]["calls"] == 2
