"""Validation and repair of every generated text, whichever provider produced it."""
from __future__ import annotations

import re

from services.errors import LlmOutputError
from services.text.hangul import has_hangul

MAX_POST_CHARS = 2200  # Instagram's caption limit
MAX_HASHTAGS = 30  # Instagram rejects a caption with more
HASHTAG_SEPARATOR = "\n\n"

_QUOTES = "\"'“”‘’「」『』"


def ig_len(text: str) -> int:
    """Length as Instagram counts it, conservatively: UTF-16 code units (an emoji may be 2)."""
    return len(text.encode("utf-16-le")) // 2


def validate_korean_copy(text: object) -> str:
    """Strip the copy (and quotes a model wrapped it in); raise LlmOutputError without Hangul."""
    if not isinstance(text, str):
        raise LlmOutputError(f"Korean copy must be a string, got {type(text).__name__}")
    text = text.replace("\x00", "").strip()  # PostgreSQL text cannot hold NUL
    # Models often answer "\"카피\"": a quote pair around the whole copy is never wanted.
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    if not has_hangul(text):
        raise LlmOutputError(f"Korean copy contains no Hangul: {text[:80]!r}")
    return text


def normalise_hashtags(tags: list[str] | str | None) -> list[str]:
    """Repair tags to `#` + word characters (Hangul allowed), dedupe case-insensitively, cap at 30."""
    if tags is None:
        return []
    if isinstance(tags, str):
        # "#a #b", "#a,#b" and "#a#b" all mean several tags.
        raw = re.split(r"[\s,]+|(?=#)", tags)
    else:
        raw = [str(t) for t in tags]
    result: list[str] = []
    seen: set[str] = set()
    for item in raw:
        # str patterns match Unicode word characters, so 카페 and café survive; spaces,
        # punctuation and emoji are stripped because Instagram ends a tag at them.
        word = re.sub(r"\W", "", item, flags=re.UNICODE)
        if not word or word.isdigit():  # Instagram does not link a tag of digits only
            continue
        key = word.casefold()
        if key in seen:
            continue
        seen.add(key)
        result.append("#" + word)
        if len(result) == MAX_HASHTAGS:
            break
    return result


def shorten_copy(text: str, max_chars: int) -> str:
    """Cut text to max_chars at a sentence end, else a word boundary, else hard."""
    text = " ".join(str(text).split())
    if len(text) <= max_chars:
        return text
    head = text[: max_chars + 1]
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", head) if m.end() <= max_chars]
    if ends and ends[-1] >= max_chars // 3:  # a sentence cut must keep a useful part
        return head[: ends[-1]].strip()
    space = head.rfind(" ")
    cut = head[:space] if space > 0 else text[:max_chars]
    # Drop dangling joiners so the copy does not end on "and" / "with" / a comma.
    joiners = r"(?:[\s,;:&-]+|\s+(?:and|or|with|for|the|a|an|of|to|at|in))+$"
    return re.sub(joiners, "", cut, flags=re.IGNORECASE) or cut


def _truncate_body(text: str, budget: int) -> str:
    """Longest prefix within budget ending at a line, else a sentence, else a word boundary."""
    if ig_len(text) <= budget:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # binary search: the longest prefix whose Instagram length fits
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if ig_len(text[:mid]) <= budget else (lo, mid - 1)
    head = text[:lo]
    min_keep = lo // 2  # a boundary that throws away more than half is worse than a word cut
    for pattern in (r"\n", r"[.!?。](?=\s)|[.!?。]$|다\.", r"\s"):
        cuts = [m.end() for m in re.finditer(pattern, head)]
        if cuts and cuts[-1] >= min_keep:
            return head[: cuts[-1]].rstrip()
    return head.rstrip()


def validate_post(text: object, hashtags: list[str] | str | None) -> tuple[str, str]:
    """Repair a post so body + blank line + hashtags fits 2,200 characters; return (body, "#a #b")."""
    if not isinstance(text, str) or not text.strip():
        raise LlmOutputError("Instagram post text is empty")
    body = text.replace("\x00", "").strip()  # PostgreSQL text cannot hold NUL
    tags = normalise_hashtags(hashtags)
    # The hashtags line may not eat the caption: keep at most half of the limit for it.
    while tags and ig_len(" ".join(tags)) > MAX_POST_CHARS // 2:
        tags.pop()
    tags_str = " ".join(tags)
    budget = MAX_POST_CHARS - (ig_len(HASHTAG_SEPARATOR + tags_str) if tags_str else 0)
    body = _truncate_body(body, budget)
    return body, tags_str


def combine_post(body: str, hashtags_str: str) -> str:
    """The caption as posted: body, a blank line, then the hashtags."""
    return f"{body}{HASHTAG_SEPARATOR}{hashtags_str}" if hashtags_str else body
