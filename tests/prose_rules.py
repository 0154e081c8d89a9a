"""The rule of notebooks/README.md, "Numbers in the prose": static Markdown states no number the run did not print.

A notebook's Markdown cells are written once; its code cells' outputs are rewritten by every run. A number in a
Markdown cell is allowed only when it is

- **printed**: an output of the same section prints it, as it stands or with more decimals that round to it ("90.3"
  for a printed 90.32). A section runs from one `#` or `##` heading to the next; a section without printed output
  (an introduction, a summary) may use every output of the notebook. Outputs are stdout and the text/plain,
  text/markdown and text/html of results and displays.
- **quoted**: its paragraph, list item or table carries `(quoted: SOURCE)`, or a parenthesis ending in
  `; quoted: SOURCE)`, naming where it comes from: the paper ("the paper, Table 1") or files of the repository,
  separated by ";". When every source is a repository file, each unprinted number of the block must occur in one of
  them (in a notebook: in its outputs).

Stricter, on top:

- `name = number` ("D = 128", "`filter_size` = 40") counts as printed only when an output prints that name with that
  value: a 128 elsewhere in the outputs does not make "D = 128" true.
- Durations ("19.2 s", "27 min 21 s", "one to two minutes") depend on the machine: quoted only, in the Markdown and in
  the comments of the `parameters` cell, even when an output prints them.
- Trend words (`TREND_WORDS`: "more alike", "grows", "cycle after cycle", "monotonic", ...) claim a direction the
  outputs need not show: quoted only; otherwise say what the outputs show.

Never read as numbers: code spans and fenced code, LaTeX, link addresses, HTML comments, file names
(`03_training.png`), a heading's section number, list-item markers, numbers with a leading zero ("notebook 04"),
references (§3.2, Table 1, Fig. 5, equation 3, section 7, notebooks 03–05), names with digits (ResNet-50, R@1, bf16,
VSE₂), years 1990–2039 and ISO dates, integers 0 to 10 (counts in the text), and the result of arithmetic written out
in full that evaluates correctly ("1/16 = 6.25%", "1 + 7 × 7 = 50": the operands are read; a wrong result is an error).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

QUOTE = re.compile(r"\((?P<before>[^()]*?;\s*)?quoted:\s*(?P<source>[^()]*)\)", re.IGNORECASE)

# A number as a writer types it: 2,300 or 2300, 47.1, 1e-5; not glued to a word (bf16, R@1, ResNet-50, VSE2, x2).
NUMBER_CORE = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[-+]?\d+)?(?![\w@]|\.\d)"
NUMBER = r"(?<![\w@.\-])" + NUMBER_CORE
NUMBER_RE = re.compile(NUMBER)
PRINTED_NUMBER_RE = re.compile(r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:e[-+]?\d+)?")

NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|"
    "a few|a couple of|several|half an|half a|a|an"
)
TIME_UNIT = r"(?:ms|s|sec|secs|seconds?|min|mins|minutes?|h|hrs?|hours?|days?)"
DURATION_NUMBER = rf"(?:(?<![\w.])\d[\d,]*(?:\.\d+)?|\b(?:{NUMBER_WORDS})\s)"
DURATION_RE = re.compile(rf"{DURATION_NUMBER}(?:\s*(?:–|-|to|or)\s*{DURATION_NUMBER})?\s*{TIME_UNIT}\b", re.IGNORECASE)
NOT_DURATIONS = {"a second", "an h"}  # "a second fixture" counts fixtures

TREND_WORDS = (
    "more alike",
    "less alike",
    "more similar",
    "less similar",
    "cycle after cycle",
    "step after step",
    "epoch after epoch",
    "layer after layer",
    "monotonic",
    "steadily",
    "increasingly",
    "ever more",
    "grows",
    "shrinks",
    "keeps rising",
    "keeps falling",
    "keeps growing",
    "keeps improving",
)
TREND_RE = re.compile(r"\b(?:" + "|".join(re.escape(word) for word in TREND_WORDS) + r")\w*", re.IGNORECASE)

# Numbers that are not claims about a run, blanked before numbers are read.
EXEMPT = [
    re.compile(r"[\w./\-]+\.(?:png|jpe?g|svg|json|ya?ml|md|csv|ipynb|py|pt|pth|safetensors|txt|sh|cfg|toml|log)\b"),
    re.compile(r"https?://\S+|\b[\w.-]+\.(?:com|org|io|net)/\S*"),
    re.compile(r"§\s*\d+(?:\.\d+)*"),
    re.compile(
        r"\b(?:Tables?|Fig\.|Figs\.|Figures?|Eqs?\.|equations?|sections?|notebooks?|chapters?)"
        r"\s*\(?\d+[a-z]?\)?(?:\s*(?:–|-|,|and|or)\s*\(?\d+[a-z]?\)?)*",
        re.IGNORECASE,
    ),
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),
    re.compile(r"(?<![\d,.])\b(?:199\d|20[0-3]\d)\b(?![,.]\d)"),
    re.compile(r"(?<![\w.,])0\d+\b"),
]

ARITHMETIC_RE = re.compile(
    rf"(?P<expression>{NUMBER}(?:\s*[-+−×*/]\s*{NUMBER})+)\s*=\s*(?P<result>{NUMBER})(?P<percent>\s*%)?"
)
# `name = number` where the number stands alone (not the start of an expression); ⟨…⟩ is a code span.
ASSIGNMENT_RE = re.compile(
    rf"(?P<name>⟨[^⟩]*⟩|(?<![\w⟩])[A-Za-z][\w⁰-⁹₀-₉]*)\s*=\s*(?P<value>{NUMBER})(?!\s*[-+−×*/]\s*\d)"
)


@dataclass(frozen=True)
class Finding:
    notebook: str
    cell: int  # index in the notebook's cells
    cell_id: str
    rule: str  # "unsourced number", "name = value", "arithmetic", "duration", "trend", "quote"
    text: str  # what was found
    context: str  # the block it sits in, shortened

    def __str__(self) -> str:
        return f"{self.notebook} cell {self.cell} ({self.cell_id}): {self.rule}: {self.text!r} in: {self.context}"


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


# ---------------------------------------------------------------------------------------------------------------------
# What the run printed.


def cell_output_text(cell: dict) -> str:
    """The printed text of one code cell: stdout, and text/plain (unless a figure's repr), markdown and html."""
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream" and output.get("name") == "stdout":
            parts.append(_text(output["text"]))
        elif output["output_type"] in ("execute_result", "display_data"):
            data = output.get("data", {})
            if "text/markdown" in data:
                parts.append(_text(data["text/markdown"]))
            if "text/html" in data:
                parts.append(re.sub(r"<[^>]+>", " ", _text(data["text/html"])))
            if "text/plain" in data and not any(kind.startswith("image/") for kind in data):
                parts.append(_text(data["text/plain"]))
    return "\n".join(parts)


def _value(token: str) -> tuple[float, int]:
    """A number token's value and its count of decimals."""
    plain = token.replace(",", "")
    mantissa = re.split(r"[eE]", plain)[0]
    return float(plain), len(mantissa.split(".")[1]) if "." in mantissa else 0


def printed_values(text: str) -> list[tuple[float, int]]:
    return [_value(token) for token in PRINTED_NUMBER_RE.findall(text)]


def is_printed(token: str, printed: list[tuple[float, int]]) -> bool:
    """The number as printed, or rounded from a printed number with more decimals."""
    value, decimals = _value(token)
    tolerance = 1e-9 * max(1.0, abs(value))
    return any(
        abs(candidate - value) <= tolerance
        or (candidate_decimals > decimals and abs(candidate - value) <= 0.5 * 10**-decimals + tolerance)
        for candidate, candidate_decimals in printed
    )


# ---------------------------------------------------------------------------------------------------------------------
# The Markdown: blocks (paragraphs, list items, tables, headings) and the text read for numbers.


def blocks(source: str) -> list[str]:
    """Paragraphs, list items, tables and headings of one Markdown cell (fenced code removed)."""
    source = re.sub(r"^```.*?^```[^\n]*$", "", source, flags=re.DOTALL | re.MULTILINE)
    result, current = [], []
    for line in source.split("\n"):
        if line.strip() and not line.startswith("#") and not re.match(r"\s*(?:[-*+]|\d+\.)\s", line):
            current.append(line)
            continue
        if current:
            result.append("\n".join(current))
        current = [line] if line.strip() and not line.startswith("#") else []
        if line.startswith("#"):
            result.append(line)
    if current:
        result.append("\n".join(current))
    return result


def prose(block: str) -> str:
    """The block as read for numbers: quote sources and markup removed, a code span as ⟨its text, digits masked⟩."""
    text = re.sub(r"<!--.*?-->", " ", block, flags=re.DOTALL)
    text = QUOTE.sub(lambda m: f"({m.group('before') or ''})", text)
    text = re.sub(r"`([^`]*)`", lambda m: "⟨" + re.sub(r"[0-9⟩]", "#", m.group(1)) + "⟩", text)
    text = re.sub(r"\$\$.*?\$\$|\$[^$\n]+\$", " ", text, flags=re.DOTALL)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"^#+\s*\d+[a-z]?\b\s*·?", "#", text)
    text = re.sub(r"^(\s*)\d+\.\s", r"\1- ", text, flags=re.MULTILINE)
    return text.replace("*", "")


def blank_exempt(text: str) -> str:
    """The text with every exempt number blanked (same length, so positions hold)."""
    for pattern in EXEMPT:
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    return text


def evaluate(expression: str) -> float:
    """The value of an arithmetic expression of numbers and + - × / (nothing else is evaluated)."""
    python = expression.replace(",", "").replace("−", "-").replace("×", "*")
    tree = ast.parse(python, mode="eval")
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.USub, ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div)
    if not all(isinstance(node, allowed) for node in ast.walk(tree)):
        raise ValueError(f"not arithmetic: {expression}")
    return float(eval(compile(tree, "<prose>", "eval")))  # only numbers and + - * /, checked above


# ---------------------------------------------------------------------------------------------------------------------
# The checks.


def quote_sources(block: str) -> list[str]:
    return [source.strip() for match in QUOTE.finditer(block) for source in match.group("source").split(";")]


def quoted_text(block: str) -> tuple[list[str], str | None]:
    """(problems with the block's sources, the text of its sources when all are repository files, else None)."""
    problems, texts, external = [], [], False
    for source in quote_sources(block):
        path = REPO_ROOT / source if re.fullmatch(r"[\w.\-]+(?:/[\w.\-]+)*/?", source) and "/" in source else None
        if len(source) < 3:
            problems.append(f"(quoted: {source}) names no source")
        elif source.startswith(("/", "~", "..")):
            problems.append(f"(quoted: {source}) lies outside the repository: name it as the reader can find it")
        elif path is None:
            external = True
        elif path.suffix == ".ipynb" and path.is_file():
            texts.extend(cell_output_text(cell) for cell in json.loads(path.read_text())["cells"])
        elif path.is_file():
            texts.append(path.read_text(errors="replace"))
        elif path.is_dir():
            texts.extend(p.read_text(errors="replace") for p in sorted(path.iterdir()) if p.is_file())
        else:
            problems.append(f"(quoted: {source}): no such file in the repository")
    return problems, None if external or not texts else "\n".join(texts)


def check_block(block: str, printed_text: str, printed: list[tuple[float, int]] | None = None) -> list[tuple[str, str]]:
    """(rule, what) of every violation in one block of static Markdown, given its section's printed text (and the
    numbers in it, when already read)."""
    quoted = QUOTE.search(block) is not None
    problems, source_text = quoted_text(block)
    found = [("quote", problem) for problem in problems]
    text = prose(block)
    if not quoted:
        found += [
            ("duration", m.group(0).strip())
            for m in DURATION_RE.finditer(text)
            if m.group(0).strip().lower() not in NOT_DURATIONS
        ]
        found += [("trend", m.group(0)) for m in TREND_RE.finditer(text)]

    readable = blank_exempt(text)
    printed = printed_values(printed_text) if printed is None else printed
    settled = set()  # start offsets of numbers already judged (a verified result, an assigned value)
    for match in ARITHMETIC_RE.finditer(readable):
        result, decimals = _value(match.group("result"))
        try:
            value = evaluate(match.group("expression")) * (100 if match.group("percent") else 1)
        except (ValueError, SyntaxError, ZeroDivisionError):
            continue
        if abs(round(value, decimals) - result) > 1e-9 * max(1.0, abs(result)):
            found.append(("arithmetic", match.group(0)))
        settled.add(match.start("result"))
    for match in ASSIGNMENT_RE.finditer(readable):
        name, token = match.group("name"), match.group("value")
        said = re.compile(rf"{re.escape(name.strip('⟨⟩'))}\s*[=:]?\s*{re.escape(token)}(?![\d.])")
        if not quoted and not said.search(printed_text):
            found.append(("name = value", f"{name.replace('⟨', '`').replace('⟩', '`')} = {token}"))
            settled.add(match.start("value"))
    for match in NUMBER_RE.finditer(readable):
        token = match.group(0)
        value, decimals = _value(token)
        if match.start() in settled or (decimals == 0 and "e" not in token.lower() and value <= 10):
            continue
        if is_printed(token, printed):
            continue
        if not quoted:
            found.append(("unsourced number", token))
        elif source_text is not None and not is_printed(token, printed_values(source_text)):
            found.append(("quote", f"{token} is not in {'; '.join(quote_sources(block))}"))
    return found


def placed_blocks(notebook: dict) -> tuple[list[tuple[int, int, str]], dict[int, str]]:
    """Every Markdown block as (cell index, section, block), and each section's printed text.

    A section starts at a heading of level 1 or 2, wherever it sits in a cell (`###` subsections belong to their
    section); a code cell's outputs belong to the section it sits in.
    """
    placed, printed, section = [], {}, 0
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "markdown":
            for block in blocks(_text(cell["source"])):
                section += bool(re.match(r"#{1,2}\s", block))
                placed.append((index, section, block))
        elif cell["cell_type"] == "code":
            printed[section] = printed.get(section, "") + "\n" + cell_output_text(cell)
    return placed, printed


def parameter_comments(notebook: dict) -> list[tuple[int, str]]:
    """(cell index, comment) of every comment of the `parameters` cell."""
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            comments = []
            for line in _text(cell["source"]).split("\n"):
                code, hash_, comment = line.partition("#")
                if hash_ and code.count('"') % 2 == 0 and code.count("'") % 2 == 0:
                    comments.append((index, comment.strip()))
            return comments
    return []


def check_notebook(notebook: dict, name: str = "notebook") -> list[Finding]:
    """Every violation of the rule in one notebook (the dict json.load gives)."""
    placed, printed_by_section = placed_blocks(notebook)
    everything = "\n".join(printed_by_section.values())
    numbers = {section: printed_values(text) for section, text in printed_by_section.items()}
    numbers[None] = printed_values(everything)
    findings = []
    for index, section, block in placed:
        if numbers.get(section):
            printed_text, printed = printed_by_section[section], numbers[section]
        else:
            printed_text, printed = everything, numbers[None]  # an introduction or summary speaks of the whole run
        context = " ".join(block.split())
        context = context if len(context) <= 160 else context[:157] + "..."
        cell_id = notebook["cells"][index].get("id", "")
        findings += [
            Finding(name, index, cell_id, rule, what, context)
            for rule, what in check_block(block, printed_text, printed)
        ]
    for index, comment in parameter_comments(notebook):
        if not QUOTE.search(comment):
            cell_id = notebook["cells"][index].get("id", "")
            findings += [
                Finding(name, index, cell_id, "duration", m.group(0).strip(), "# " + comment)
                for m in DURATION_RE.finditer(comment)
                if m.group(0).strip().lower() not in NOT_DURATIONS
            ]
    return findings


def check_file(path: Path) -> list[Finding]:
    return check_notebook(json.loads(path.read_text()), path.name)
