"""Numbers in the notebooks' prose are printed by the run or quoted with their source (notebooks/README.md).

The rule and its checker live in `prose_rules.py`. Here: every committed notebook follows it; the checker catches the
five findings that motivated it when their original wording is put back into a copy of the notebook; a few small
notebooks pin the rule's edges; and notebook 01's `noise` comment states the range the generator accepts.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import NamedTuple

import pytest
from prose_rules import check_notebook

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("0[1-5]_*.ipynb"))


@functools.cache
def load(name: str) -> dict:
    """The committed notebook (shared between tests: never modify it, copy what you change)."""
    return json.loads((REPO_ROOT / "notebooks" / name).read_text())


def cell_by_id(notebook: dict, cell_id: str) -> dict:
    cells = [cell for cell in notebook["cells"] if cell.get("id") == cell_id]
    assert cells, f"no cell {cell_id}: update the self-test's anchor"
    return cells[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_prose_numbers_are_printed_or_quoted(path):
    findings = check_notebook(json.loads(path.read_text()), path.name)
    assert not findings, (
        "numbers in the Markdown must be printed by the run or quoted with their source "
        '(notebooks/README.md, "Numbers in the prose"):\n' + "\n".join(str(finding) for finding in findings)
    )


# ---------------------------------------------------------------------------------------------------------------------
# The five findings, re-introduced with their original wording.


class Original(NamedTuple):
    notebook: str
    cell_id: str
    where: str  # "start" / "end" of a Markdown cell, or "comment": the line of the parameters cell it replaces
    text: str
    rule: str  # what the checker must report
    what: str


FINDINGS = {
    "02 D = 128 here": Original(
        notebook="02_vir_lca_construction.ipynb",
        cell_id="b557e63d",
        where="end",
        text="VIR first projects the Swin tokens and the prior into the common space (D = 128 here, 512 in the paper).",
        rule="name = value",
        what="D = 128",
    ),
    "02 unquoted paper share": Original(
        notebook="02_vir_lca_construction.ipynb",
        cell_id="a4b8289e",
        where="start",
        text="VIR and LCA add about 13% to the paper model; in the tiny profile, whose encoders are very small, they "
        "are a much larger share.",
        rule="unsourced number",
        what="13",
    ),
    "02 more alike cycle after cycle": Original(
        notebook="02_vir_lca_construction.ipynb",
        cell_id="5e82f135",
        where="end",
        text="Attention mixes information across the sentence, so the positions become more alike cycle after cycle; "
        "training decides *what* gets mixed into the [CLS] position that the embedding reads.",
        rule="trend",
        what="more alike",
    ),
    "01 one to two minutes": Original(
        notebook="01_data_prep.ipynb",
        cell_id="7707f547",
        where="end",
        text="- SynthRS gives retrieval with five distinct captions per image over confusable scene classes, generated "
        "on CPU in\n  one to two minutes.",
        rule="duration",
        what="one to two minutes",
    ),
    "01 probe about 30 s": Original(
        notebook="01_data_prep.ipynb",
        cell_id="36159f69",
        where="comment",
        text="scene_probe_enabled = True  # SynthRS: fit the linear scene probe (about 30 s)",
        rule="duration",
        what="30 s",
    ),
}


def reintroduce(notebook: dict, cell_id: str, where: str, text: str) -> dict:
    """A copy of the notebook with `text` put back: as a paragraph at the start or end of a Markdown cell, or as the
    line of the parameters cell that assigns the same name."""
    cell = dict(cell_by_id(notebook, cell_id))
    notebook = {**notebook, "cells": [cell if c.get("id") == cell_id else c for c in notebook["cells"]]}
    source = "".join(cell["source"])
    if where == "comment":
        name = text.split("=")[0].strip()
        source, count = re.subn(rf"^{re.escape(name)} =.*$", text, source, flags=re.MULTILINE)
        assert count == 1, f"no line assigning {name} in cell {cell_id}"
    elif where == "start":
        source = text + "\n\n" + source
    else:
        source = source.rstrip("\n") + "\n\n" + text
    cell["source"] = source.splitlines(keepends=True)
    return notebook


@pytest.mark.parametrize("original", FINDINGS.values(), ids=FINDINGS.keys())
def test_checker_catches_the_original_wording(original):
    notebook = load(original.notebook)
    reported = {(f.cell_id, f.rule, f.text) for f in check_notebook(notebook, original.notebook)}
    expected = (original.cell_id, original.rule, original.what)
    assert expected not in reported, f"{original.notebook} already states {original.what!r}"
    changed = reintroduce(notebook, original.cell_id, original.where, original.text)
    reported = check_notebook(changed, original.notebook)
    assert expected in {(f.cell_id, f.rule, f.text) for f in reported}, (
        f"{original.rule} {original.what!r} not reported; the checker reported: {[str(f) for f in reported]}"
    )


# ---------------------------------------------------------------------------------------------------------------------
# The rule's edges, on one-section notebooks that print "accuracy 81.04%, 2300 images, 47.1 s, D: 64".


def notebook_with(markdown: str, printed: str = "accuracy 81.04%, 2300 images, 47.1 s, D: 64\n") -> dict:
    return {
        "cells": [
            {"cell_type": "markdown", "id": "m", "metadata": {}, "source": ["## 1 · Section\n\n", markdown]},
            {
                "cell_type": "code",
                "id": "c",
                "metadata": {},
                "source": [],
                "execution_count": 1,
                "outputs": [{"output_type": "stream", "name": "stdout", "text": [printed]}],
            },
        ]
    }


def violations(markdown: str) -> list[tuple[str, str]]:
    return [(finding.rule, finding.text) for finding in check_notebook(notebook_with(markdown))]


@pytest.mark.parametrize(
    "markdown",
    [
        "The prior reaches 81.0 % here, on 2,300 images; D: 64 is printed as D = 64.",  # printed, or rounded from it
        "The paper reports 24.46 mR for PIR on RSICD (quoted: the paper, Table 1).",  # quoted from the paper
        "The tiny BERT has 512 intermediate units (quoted: configs/tiny_synthrs.yaml).",  # found in the quoted file
        "See `figures/03_training.png`, notebook 04, §3.2, Table 1, Fig. 5, section 12, ResNet-50, R@10, in 2023.",
        "Three seeds, 5 captions per image and a 10 % warm-up are counts in the text.",
        "Chance over the 2,300 images is 1/8 = 12.5%, and 1 + 7 × 7 = 50 tokens.",  # results of true arithmetic
    ],
)
def test_allowed(markdown):
    assert violations(markdown) == []


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("The prior reaches 83 % here.", ("unsourced number", "83")),  # 81.04 does not round to 83
        ("Here D = 128.", ("name = value", "D = 128")),
        ("Generation took 47.1 s.", ("duration", "47.1 s")),  # printed, but a duration
        ("Accuracy grows with every pass.", ("trend", "grows")),
        ("Chance is 1/16 = 6.5%.", ("arithmetic", "1/16 = 6.5%")),
        (
            "The tiny BERT has 513 intermediate units (quoted: configs/tiny_synthrs.yaml).",
            ("quote", "513 is not in configs/tiny_synthrs.yaml"),
        ),
        (
            "It reached 99.9 % (quoted: docs/no_such_file.md).",
            ("quote", "(quoted: docs/no_such_file.md): no such file in the repository"),
        ),
    ],
)
def test_caught(markdown, expected):
    assert expected in violations(markdown)


def test_sections_scope_the_outputs():
    """A number printed in another section does not support the prose of this one."""
    notebook = notebook_with("Section 1 prints 2300 and 81.04.")
    notebook["cells"] += [
        {"cell_type": "markdown", "id": "n", "metadata": {}, "source": ["## 2 · Next\n\nIt prints 4600, not 81.04."]},
        {
            "cell_type": "code",
            "id": "d",
            "metadata": {},
            "source": [],
            "execution_count": 2,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": ["4600 pairs\n"]}],
        },
    ]
    assert [(f.cell_id, f.rule, f.text) for f in check_notebook(notebook)] == [("n", "unsourced number", "81.04")]


# ---------------------------------------------------------------------------------------------------------------------
# Notebook 01's `noise` comment states the range SynthSettings.validate accepts.


def test_noise_comment_states_the_valid_range():
    from pirlib.data.synthrs.generate import SynthSettings

    parameters = next(cell for cell in load("01_data_prep.ipynb")["cells"] if cell["cell_type"] == "code")
    line = next(line for line in "".join(parameters["source"]).split("\n") if line.startswith("noise ="))
    match = re.search(r"\[(\d+(?:\.\d+)?), (\d+(?:\.\d+)?)\]", line)
    assert match, f"the noise comment must state its range as [low, high]: {line}"
    low, high = float(match.group(1)), float(match.group(2))
    for inside in (low, high):
        SynthSettings(noise=inside).validate()
    for outside in (low - 0.01, high + 0.01):
        with pytest.raises(ValueError):
            SynthSettings(noise=outside).validate()
