"""Handlers of the job-level text stages: ad_copy_gen_kor and instagram_feed_gen."""
import uuid

from services.engine.stage_types import StageHandler
from services.errors import InputError
from services.stages import catalog, store
from services.stages.inputs import english_copy
from services.text import post_rules, prompts


def prompt_uuid(name: str, version: str) -> uuid.UUID:
    """The vlm_prompt_assets id of a prompt (llm_traces.prompt_id); `version` must be the prompt's current one."""
    if prompts.PROMPT_VERSIONS.get(name) != version:
        raise ValueError(f"prompt {name!r} has version {prompts.PROMPT_VERSIONS.get(name)!r}, not {version!r}")
    return catalog.prompt_asset(name)["prompt_asset_id"]


async def job_context(conn, job_id) -> dict:
    """Owner's description, tone and store of the job, as the prompts and the offline writer need."""
    row = await store.job_context(conn, job_id=job_id)
    tone = (row and (row["kor_name"] or row["eng_name"] or row["code"])) or "친근한"
    return {"desc_kor": row["desc_kor"] or "", "desc_eng": row["desc_eng"] or "", "tone": tone, "tone_style": tone,
            "tone_style_id": row["tone_style_id"], "store_title": row["title"] or "", "store_body": row["body"] or "",
            "store_category": row["store_category"] or ""}


class _TextStage(StageHandler):
    """Shared: the LLM provider and writing its trace."""

    process_group = None  # I/O-bound (a remote LLM): a thread of the app process, no worker needed

    def __init__(self, models):
        self.models = models
        self.settings = models.settings

    def complete(self, build, operation: str, context: dict):
        messages, name, version = build
        result = self.models.llm.complete_json(messages, operation=operation, context=context,
                                               temperature=self.settings.openai_temperature,
                                               max_tokens=self.settings.openai_max_tokens)
        result.request = {**result.request, "prompt_name": name, "prompt_version": version}
        return result, prompt_uuid(name, version)


class AdCopyGenKor(_TextStage):
    """Translate the (refined) English copy into Korean advertising copy in the job's tone."""

    async def load(self, conn, ctx):
        return {"ad_copy_eng": await english_copy(conn, ctx.job_id), **await job_context(conn, ctx.job_id)}

    def run(self, inputs):
        result, prompt_id = self.complete(prompts.eng_to_kor(inputs["ad_copy_eng"], inputs["tone"]), "eng_to_kor",
                                          inputs)
        kor = post_rules.validate_korean_copy(result.data.get("ad_copy_kor"))
        return {"result": result, "prompt_id": prompt_id, "ad_copy_kor": kor, "inputs": inputs}

    async def save(self, conn, ctx, out):
        trace_id = await self.models.save_llm_trace(conn, ctx.job_id, out["result"], out["prompt_id"],
                                                    out["inputs"]["tone_style_id"])
        # A re-run replaces the job's Korean copy instead of adding a second one.
        gen_id = await store.replace_korean_copy(conn, job_id=ctx.job_id, llm_trace_id=trace_id,
                                                 ad_copy_eng=out["inputs"]["ad_copy_eng"], ad_copy_kor=out["ad_copy_kor"])
        return {"llm_trace_id": str(trace_id), "ad_copy_gen_id": str(gen_id), "provider": out["result"].provider,
                "ad_copy_kor": out["ad_copy_kor"]}


class InstagramFeedGen(_TextStage):
    """Write the job's one Instagram post, with hashtags, for the selected variant."""

    async def load(self, conn, ctx):
        kor = await store.latest_korean_copy(conn, job_id=ctx.job_id)
        if not kor:
            raise InputError("no Korean copy (eng_to_kor) for this job")
        overlay_id = await store.selected_overlay(conn, job_id=ctx.job_id)
        context = await job_context(conn, ctx.job_id)
        product = context["desc_kor"] or context["desc_eng"]
        return {**context, "ad_copy_kor": kor, "ad_copy_eng": await english_copy(conn, ctx.job_id),
                "product_description": product, "overlay_id": overlay_id}

    def run(self, inputs):
        build = prompts.instagram_feed(inputs["ad_copy_kor"], inputs["ad_copy_eng"], inputs["tone"],
                                       inputs["product_description"], inputs["store_title"], inputs["store_body"],
                                       inputs["store_category"])
        result, prompt_id = self.complete(build, "instagram_feed", inputs)
        body, hashtags = post_rules.validate_post(result.data.get("instagram_ad_copy"), result.data.get("hashtags"))
        gpt_prompt = "\n\n".join(m["content"] for m in build[0])
        return {"result": result, "prompt_id": prompt_id, "body": body, "hashtags": hashtags, "inputs": inputs,
                "gpt_prompt": gpt_prompt}

    async def save(self, conn, ctx, out):
        inputs, result = out["inputs"], out["result"]
        trace_id = await self.models.save_llm_trace(conn, ctx.job_id, result, out["prompt_id"], inputs["tone_style_id"])
        tenant = ctx.tenant_id or await store.job_tenant(conn, job_id=ctx.job_id)
        feed_id = await store.upsert_instagram_feed(
            conn, job_id=ctx.job_id, llm_trace_id=trace_id, overlay_id=inputs["overlay_id"], tenant_id=tenant or "",
            refined_ad_copy_eng=inputs["ad_copy_eng"], ad_copy_kor=inputs["ad_copy_kor"], tone_style=inputs["tone"],
            product_description=inputs["product_description"] or "", gpt_prompt=out["gpt_prompt"],
            instagram_ad_copy=out["body"], hashtags=out["hashtags"], temperature=self.settings.openai_temperature,
            max_tokens=self.settings.openai_max_tokens, latency_ms=result.latency_ms)
        return {"llm_trace_id": str(trace_id), "instagram_feed_id": str(feed_id), "provider": result.provider,
                "instagram_ad_copy": out["body"], "hashtags": out["hashtags"]}
