"""pre_caption: the official caption normalisation (PIR_SPEC §1)."""

from __future__ import annotations

import pytest

from pirlib.data.captions import BlankCaptionError, is_blank, pre_caption


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "Two large ships docked on both sides of the grey port.",
            "two large ships docked on both sides of the grey port",
        ),
        ("A red-roofed building / a lawn", "a red roofed building a lawn"),
        ('It\'s (very) "nice": yes; no? ~ok* #1!', "its very nice yes no ok 1"),
        ("  many   spaces  ", "many spaces"),
        ("line ends with newline .\n", "line ends with newline"),
    ],
)
def test_pre_caption_matches_the_official_rules(raw: str, expected: str) -> None:
    assert pre_caption(raw) == expected


def test_pre_caption_keeps_at_most_max_words() -> None:
    caption = " ".join(f"w{k}" for k in range(40))
    assert pre_caption(caption).split() == [f"w{k}" for k in range(30)]
    assert pre_caption(caption, max_words=5) == "w0 w1 w2 w3 w4"


@pytest.mark.parametrize("raw", ["", "   ", " .", "?!..", "\n"])
def test_blank_captions_are_errors(raw: str) -> None:
    assert is_blank(raw)
    with pytest.raises(BlankCaptionError, match="blank"):
        pre_caption(raw)


def test_a_normal_caption_is_not_blank() -> None:
    assert not is_blank("a plane")
