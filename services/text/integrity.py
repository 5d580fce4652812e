"""Message integrity: the facts of an ad copy (numbers, prices, dates, names) that a rewrite must keep."""
import re

_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|december|"
           "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun"
_RELATIVE_DAYS = "today|tonight|tomorrow|weekend|weekday|weekdays"
_PATTERNS = (
    ("price", r"[$€£¥₩]\s?\d[\d,]*(?:\.\d+)?|\d[\d,]*(?:\.\d+)?\s?(?:원|won|usd|eur|krw|dollars?)\b"),
    ("percent", r"\d+(?:\.\d+)?\s?%|\d+(?:\.\d+)?\s?percent\b"),
    ("date", r"\d{1,4}[./-]\d{1,2}(?:[./-]\d{1,4})?"),
    ("time", r"\d{1,2}(?::\d{2})?\s?(?:am|pm)\b|\d{1,2}:\d{2}"),
    ("number", r"\d+(?:[.,]\d+)*(?:st|nd|rd|th|x)?"),
    ("month", rf"\b(?:{_MONTHS})\b\.?"),
    ("weekday", rf"\b(?:{_DAYS})s?\b"),
    ("day", rf"\b(?:{_RELATIVE_DAYS})\b"),
)
_TOKEN = re.compile("|".join(f"(?P<{k}>{p})" for k, p in _PATTERNS), re.IGNORECASE)
# A capitalised word that does not start a sentence is a proper noun (brand, product, place); so is an
# all-caps word, a word with inner capitals (iPhone) and a word with a trademark sign anywhere.
_WORD = re.compile(r"[^\W\d_][\w'’&®™+-]*[™®]?")
_SENTENCE_END = re.compile(r"[.!?:;]\s*$")
_NOT_NAMES = {"i", "a", "an", "the", "and", "or", "our", "your", "we", "you", "get", "new", "now", "all"}


def _norm(token: str) -> str:
    """Compare facts without case, spaces or thousands separators ("$1,000" == "$1000", "30 %" == "30%")."""
    return re.sub(r"[\s,]", "", token).rstrip(".").casefold()


def key_tokens(text: str) -> list[tuple[str, str]]:
    """The facts of a copy as (kind, token): prices, percentages, dates, times, numbers, days, proper nouns."""
    found: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(text):
        found.append((m.lastgroup or "number", m.group(0).strip()))
    for m in _WORD.finditer(text):
        word = m.group(0)
        if _TOKEN.fullmatch(word):
            continue  # a month or weekday is already a date fact
        starts_sentence = not text[:m.start()].strip() or bool(_SENTENCE_END.search(text[:m.start()]))
        inner_caps = any(c.isupper() for c in word[1:]) and any(c.islower() for c in word)
        shouting = len(word) > 1 and word.isupper()
        marked = "™" in word or "®" in word
        # A sentence's first word is a name only when a capitalised word follows ("Blue Bottle Coffee").
        after = text[m.end():].lstrip(" ")
        capitalised = word[0].isupper() and (not starts_sentence or after[:1].isupper())
        if word.casefold() not in _NOT_NAMES and (inner_caps or shouting or marked or capitalised):
            found.append(("name", word.rstrip("'’")))
    return found


def missing_facts(original: str, refined: str) -> list[str]:
    """Facts of the original a rewrite dropped or changed (empty: the rewrite keeps the message)."""
    have = {_norm(t) for _, t in key_tokens(refined)} | {_norm(w) for w in _WORD.findall(refined)}
    # A fact token must come back as a whole token: "30%" is not kept by "130%", nor "Sunday" by "Sundays".
    missing = []
    for _, token in key_tokens(original):
        if _norm(token) not in have and token not in missing:
            missing.append(token)
    return missing
