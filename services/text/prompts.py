"""Every prompt of the service (LLM and VLM), in one place, each with a name, a type and a version."""
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

VLM_PROMPT_VERSION = "2026-11-22.1"  # the vision prompts of the served and the in-process LLaVA backends

PROMPT_VERSIONS: dict[str, str] = {
    "eng_to_kor": ENG_TO_KOR_VERSION,
    "instagram_feed": INSTAGRAM_FEED_VERSION,
    "refine_copy": REFINE_COPY_VERSION,
    "vlm_analyze_served": VLM_PROMPT_VERSION,
    "vlm_judge_served": VLM_PROMPT_VERSION,
    "vlm_analyze_llava": VLM_PROMPT_VERSION,
    "vlm_judge_llava": VLM_PROMPT_VERSION,
}
# prompt name -> the trace's operation_type (vlm_prompt_assets.prompt_type)
PROMPT_TYPES: dict[str, str] = {"eng_to_kor": "eng_to_kor", "instagram_feed": "instagram_feed",
                                "refine_copy": "refine_copy", "vlm_analyze_served": "analyze",
                                "vlm_judge_served": "judge", "vlm_analyze_llava": "analyze", "vlm_judge_llava": "judge"}

_JSON_ONLY = "Reply with one JSON object only, no markdown, no explanation."

# The fixed wording of each prompt; `{name}` marks an input filled in per call (see fill()). These strings are
# what vlm_prompt_assets stores (services/stages/catalog.py), so a trace names the exact wording it used.
ENG_TO_KOR_SYSTEM = (
    "You are a senior Korean copywriter for small local shops. "
    "Translate the English advertising copy into natural, fluent Korean advertising copy, "
    "not a literal translation. Keep the meaning, keep it about as short as the original, "
    "and write it in the requested tone (e.g. 친근한 = friendly, 고급스러운 = premium). "
    "Do not add prices, dates or claims that are not in the original. "
    'Reply format: {"ad_copy_kor": "<Korean copy>"}. ' + _JSON_ONLY
)
INSTAGRAM_FEED_SYSTEM = (
    "You write Instagram feed posts for small Korean shops. Write one post in Korean: "
    "a short hook, one or two lines about the product, the store name and where to find it "
    "(only facts given in store_body), and a call to action, in the requested tone. "
    "Use line breaks between ideas, at most a few emoji, and no more than 1,800 characters. "
    "Then give 10 to 20 relevant hashtags (Korean or English, no spaces inside a tag), "
    "each starting with #. Never invent prices, phone numbers, addresses or events. "
    'Reply format: {"instagram_ad_copy": "<post text without hashtags>", '
    '"hashtags": ["#tag", "..."]}. ' + _JSON_ONLY
)
REFINE_COPY_SYSTEM = (
    "You edit short English advertising copy so it fits on an image. "
    "A vision model judged that the current copy does not fit; its reason is given. "
    "Rewrite the copy so it addresses that reason and is at most {max_chars} characters "
    "including spaces. Keep the key message and the brand or product name, drop filler words, "
    "and do not add new claims. "
    'Reply format: {"refined_ad_copy_eng": "<copy>"}. ' + _JSON_ONLY
)
# The user message of each text prompt: these inputs as one JSON object (_user_payload).
USER_FIELDS: dict[str, tuple[str, ...]] = {
    "eng_to_kor": ("ad_copy_eng", "tone"),
    "instagram_feed": ("ad_copy_kor", "ad_copy_eng", "tone_style", "product_description", "store_title",
                       "store_body", "store_category"),
    "refine_copy": ("ad_copy_eng", "reason", "max_chars"),
}
# The vision prompts (one image + this text); {ad_copy} is the copy as a JSON string.
VLM_ANALYZE_SERVED = (
    "This photo may become an Instagram ad with the copy {ad_copy}. "
    "Is it usable as an ad background, does the copy fit legibly in a calm area without covering the "
    "subject, what is the subject and where (boxes as fractions 0-1 of the frame), where could text go?")
VLM_JUDGE_SERVED = (
    "This is a finished Instagram ad. Its text is in the box x1={x1}, y1={y1}, "
    "x2={x2}, y2={y2} (fractions of the frame). Measured WCAG contrast "
    "{contrast}:1, saliency under the text {occ}. Score legibility, placement, "
    "harmony and overall from 0 to 10; does the text hide the product?")
VLM_ANALYZE_LLAVA = (
    "This photo may become an Instagram ad with the copy {ad_copy}. "
    "Reply with one JSON object only, with keys: \"suitable\" (true if usable as an ad background), "
    "\"copy_fits\" (true if the copy fits legibly in a calm area without covering the subject), "
    "\"subject\" (short noun phrase), \"subject_box\" ([x1, y1, x2, y2] as fractions 0-1 of the frame, "
    "or null), \"free_regions\" (list of [x1, y1, x2, y2] fractions 0-1 where text could go), "
    "\"reason\" (one sentence).")
VLM_JUDGE_LLAVA = (
    "This is an Instagram ad ({w}x{h} px); its text is in the box x={x}, "
    "y={y}, w={bw}, h={bh}. Measured WCAG contrast "
    "{contrast}:1, saliency under the text {occ}. Reply with one JSON object only, "
    "with keys: \"legibility\", \"placement\", \"harmony\", \"overall\" (numbers 0-10), "
    "\"covers_product\" (true if the text hides the product), \"reason\" (one sentence).")
TEMPLATES: dict[str, str] = {"eng_to_kor": ENG_TO_KOR_SYSTEM, "instagram_feed": INSTAGRAM_FEED_SYSTEM,
                             "refine_copy": REFINE_COPY_SYSTEM, "vlm_analyze_served": VLM_ANALYZE_SERVED,
                             "vlm_judge_served": VLM_JUDGE_SERVED, "vlm_analyze_llava": VLM_ANALYZE_LLAVA,
                             "vlm_judge_llava": VLM_JUDGE_LLAVA}


def fill(template: str, **values: object) -> str:
    """The template with each `{name}` given replaced (other braces, e.g. JSON examples, are left alone)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return template


def _user_payload(fields: dict[str, Any]) -> str:
    """Serialise the inputs as JSON so owner-typed text cannot break the prompt's structure."""
    return json.dumps(fields, ensure_ascii=False, indent=2)


def _messages(name: str, system: str, values: tuple) -> Messages:
    user = _user_payload(dict(zip(USER_FIELDS[name], values, strict=True)))
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def eng_to_kor(ad_copy_eng: str, tone: str) -> PromptBuild:
    """Messages that translate English ad copy into natural Korean ad copy in a tone."""
    return _messages("eng_to_kor", ENG_TO_KOR_SYSTEM, (ad_copy_eng, tone)), "eng_to_kor", ENG_TO_KOR_VERSION


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
    values = (ad_copy_kor, ad_copy_eng, tone_style, product_description, store_title, store_body, store_category)
    return _messages("instagram_feed", INSTAGRAM_FEED_SYSTEM, values), "instagram_feed", INSTAGRAM_FEED_VERSION


def refine_copy(ad_copy_eng: str, reason: str, max_chars: int) -> PromptBuild:
    """Messages that shorten or adapt an English copy that did not fit the image."""
    system = fill(REFINE_COPY_SYSTEM, max_chars=max_chars)
    return _messages("refine_copy", system, (ad_copy_eng, reason, max_chars)), "refine_copy", REFINE_COPY_VERSION
