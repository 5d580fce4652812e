"""Every LLM prompt of the service, in one place, each with an id and a version."""
from __future__ import annotations

import json
from typing import Any

Messages = list[dict[str, str]]
PromptBuild = tuple[Messages, str, str]

# Bump a version whenever its wording changes: traces store (prompt_id, version) so a
# change in output quality can be tied to the prompt that produced it.
ENG_TO_KOR_VERSION = "2026-11-21.1"
INSTAGRAM_FEED_VERSION = "2026-11-21.1"
REFINE_COPY_VERSION = "2026-11-21.1"

PROMPT_VERSIONS: dict[str, str] = {
    "eng_to_kor": ENG_TO_KOR_VERSION,
    "instagram_feed": INSTAGRAM_FEED_VERSION,
    "refine_copy": REFINE_COPY_VERSION,
}

_JSON_ONLY = "Reply with one JSON object only, no markdown, no explanation."


def _user_payload(fields: dict[str, Any]) -> str:
    """Serialise the inputs as JSON so owner-typed text cannot break the prompt's structure."""
    return json.dumps(fields, ensure_ascii=False, indent=2)


def eng_to_kor(ad_copy_eng: str, tone: str) -> PromptBuild:
    """Messages that translate English ad copy into natural Korean ad copy in a tone."""
    system = (
        "You are a senior Korean copywriter for small local shops. "
        "Translate the English advertising copy into natural, fluent Korean advertising copy, "
        "not a literal translation. Keep the meaning, keep it about as short as the original, "
        "and write it in the requested tone (e.g. 친근한 = friendly, 고급스러운 = premium). "
        "Do not add prices, dates or claims that are not in the original. "
        'Reply format: {"ad_copy_kor": "<Korean copy>"}. ' + _JSON_ONLY
    )
    user = _user_payload({"ad_copy_eng": ad_copy_eng, "tone": tone})
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    return messages, "eng_to_kor", ENG_TO_KOR_VERSION


def instagram_feed(
    ad_copy_kor: str,
    ad_copy_eng: str,
    tone_style: str,
    product_description: str,
    store_title: str,
    store_body: str,
    store_category: str,
) -> PromptBuild:
    """Messages that write one Instagram feed post (Korean) with hashtags for a shop."""
    system = (
        "You write Instagram feed posts for small Korean shops. Write one post in Korean: "
        "a short hook, one or two lines about the product, the store name and where to find it "
        "(only facts given in store_body), and a call to action, in the requested tone. "
        "Use line breaks between ideas, at most a few emoji, and no more than 1,800 characters. "
        "Then give 10 to 20 relevant hashtags (Korean or English, no spaces inside a tag), "
        "each starting with #. Never invent prices, phone numbers, addresses or events. "
        'Reply format: {"instagram_ad_copy": "<post text without hashtags>", '
        '"hashtags": ["#tag", "..."]}. ' + _JSON_ONLY
    )
    user = _user_payload(
        {
            "ad_copy_kor": ad_copy_kor,
            "ad_copy_eng": ad_copy_eng,
            "tone_style": tone_style,
            "product_description": product_description,
            "store_title": store_title,
            "store_body": store_body,
            "store_category": store_category,
        }
    )
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    return messages, "instagram_feed", INSTAGRAM_FEED_VERSION


def refine_copy(ad_copy_eng: str, reason: str, max_chars: int) -> PromptBuild:
    """Messages that shorten or adapt an English copy that did not fit the image."""
    system = (
        "You edit short English advertising copy so it fits on an image. "
        "A vision model judged that the current copy does not fit; its reason is given. "
        f"Rewrite the copy so it addresses that reason and is at most {max_chars} characters "
        "including spaces. Keep the key message and the brand or product name, drop filler words, "
        "and do not add new claims. "
        'Reply format: {"refined_ad_copy_eng": "<copy>"}. ' + _JSON_ONLY
    )
    user = _user_payload({"ad_copy_eng": ad_copy_eng, "reason": reason, "max_chars": max_chars})
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    return messages, "refine_copy", REFINE_COPY_VERSION
