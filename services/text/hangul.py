"""What counts as Korean text: the one definition of the Hangul ranges."""
import re

# Jamo, compatibility Jamo, Jamo extended-A, syllables (with the block's tail), Jamo extended-B.
_ANY = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff]")
_SYLLABLE = re.compile("[\uac00-\ud7a3]")  # composed syllables only: a word, not a stray letter


def has_hangul(text: str) -> bool:
    """True when the text contains at least one Hangul syllable or Jamo."""
    return bool(_ANY.search(text))


def has_syllable(text: str) -> bool:
    """True when the text contains at least one composed Hangul syllable (가-힣)."""
    return bool(_SYLLABLE.search(text))
