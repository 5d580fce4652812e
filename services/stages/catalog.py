"""Rows of vlm_prompt_assets (every prompt the service sends) and llm_models (every model it used), with stable ids.

Both tables are shared with the other parts and have no unique key but the id, so each row's id is a UUIDv5 of
its whole content: the same prompt wording (or model and configured prices) is always the same row, a new wording
or a new price is a new row, and `INSERT ... ON CONFLICT (id) DO NOTHING` never rewrites a row, ours or theirs.
Old traces keep pointing at the prompt and the prices that were in force when they ran.
"""
import hashlib
import json
import uuid

from services.stages import store
from services.text import prompts

NAMESPACE = uuid.UUID("6b1d3c52-8f0e-5a7b-9c4d-2e6f1a0b3c5d")  # this service's names; never change it
OFFLINE_PROVIDER = "offline"  # the offline writer calls no model: it costs nothing


def _content_id(kind: str, content: dict) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{kind}:{json.dumps(content, sort_keys=True, ensure_ascii=False)}")


def prompt_asset(name: str) -> dict:
    """The vlm_prompt_assets row of one prompt: type, version, and its fixed wording with the inputs it takes."""
    template = prompts.TEMPLATES[name]
    body = {"name": name, "template": template, "inputs": list(prompts.USER_FIELDS.get(name, ())),
            "sha256": hashlib.sha256(template.encode()).hexdigest()}
    if name in prompts.USER_FIELDS:
        body["messages"] = ["system: the template", "user: the inputs as one JSON object"]
    else:
        body["messages"] = ["user: one image, then the template with its {placeholders} filled"]
    row = {"prompt_type": prompts.PROMPT_TYPES[name], "prompt_version": prompts.PROMPT_VERSIONS[name], "prompt": body}
    return {"prompt_asset_id": _content_id("prompt", row), **row}


def llm_model(settings, provider: str, model: str) -> dict:
    """The llm_models row of (provider, model) with the configured prices per 1M tokens and call defaults."""
    paid = provider != OFFLINE_PROVIDER
    row = {"model_name": model[:255], "model_version": None, "provider": provider[:255],
           "default_temperature": settings.openai_temperature, "default_max_tokens": settings.openai_max_tokens,
           "prompt_token_cost_per_1m": settings.llm_prompt_token_cost_per_1m if paid else 0.0,
           "completion_token_cost_per_1m": settings.llm_completion_token_cost_per_1m if paid else 0.0,
           "description": ("offline writer: composes from the job's data, calls no model" if not paid else
                           "used by the ad-creative pipeline service; prices from LLM_PROMPT_TOKEN_COST_PER_1M / "
                           "LLM_COMPLETION_TOKEN_COST_PER_1M (USD)")}
    return {"llm_model_id": _content_id("llm_model", row), **row}


async def ensure_prompt(conn, name: str | None) -> uuid.UUID | None:
    """The prompt's row id, inserting the row if it is new; None for a call that sent no prompt (measured VLM)."""
    if not name or name not in prompts.TEMPLATES:
        return None
    row = prompt_asset(name)
    await store.insert_prompt_asset(conn, prompt_asset_id=row["prompt_asset_id"], prompt_type=row["prompt_type"],
                                    prompt_version=row["prompt_version"], prompt=row["prompt"])
    return row["prompt_asset_id"]


async def ensure_llm_model(conn, settings, provider: str, model: str) -> uuid.UUID:
    """The model's row id, inserting the row if it is new (never updating one)."""
    row = llm_model(settings, provider, model)
    await store.insert_llm_model(conn, **row)
    return row["llm_model_id"]
