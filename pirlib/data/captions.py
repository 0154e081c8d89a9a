"""Caption normalisation exactly as the official PIR / X-VLM `pre_caption` (docs/official_behaviour.md §1, "captions").

Lowercase; delete the characters , . ' ! ? " ( ) * # : ; ~ ; replace "-" and "/" by a space; collapse runs of two or
more whitespace characters into one space; strip; keep at most `max_words` words (30 in the paper). A caption that
normalises to nothing is an error (`BlankCaptionError`); `pirlib prepare` catches it and applies the blank-caption
policy of `data/README.md`.
"""

from __future__ import annotations

import re

MAX_WORDS = 30  # the paper's `max_words`
_DELETED = re.compile(r"([,.'!?\"()*#:;~])")
_WHITESPACE_RUN = re.compile(r"\s{2,}")


class BlankCaptionError(ValueError):
    """A caption is empty once normalised."""


def pre_caption(caption: str, max_words: int = MAX_WORDS) -> str:
    """Normalise one caption the way the official code does before tokenisation."""
    text = _DELETED.sub("", caption.lower()).replace("-", " ").replace("/", " ")
    text = _WHITESPACE_RUN.sub(" ", text)
    text = text.rstrip("\n").strip(" ")
    words = text.split(" ")
    if len(words) > max_words:
        text = " ".join(words[:max_words])
    if not text:
        raise BlankCaptionError(f"caption {caption!r} is blank once normalised")
    return text


def is_blank(caption: str) -> bool:
    """True when `pre_caption` would reject the caption."""
    try:
        pre_caption(caption)
    except BlankCaptionError:
        return True
    return False
