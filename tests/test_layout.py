"""The package's two wings: the library (models, losses, metrics, data, training, evaluation, checkpoints, official
import, command line) never imports the tutorial wing (`pirlib.tutorial`), which the notebooks use; notebooks import
public names only."""

from __future__ import annotations

import ast
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pirlib"


def imported_modules(source: str) -> list[str]:
    """Every module an import statement of `source` names, anywhere in it (functions included); for
    `from A import b` both `A` and `A.b`, since `b` may be a submodule."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found += [node.module or "", *(f"{node.module}.{alias.name}" for alias in node.names)]
    return found


def is_tutorial(module: str) -> bool:
    return module == "pirlib.tutorial" or module.startswith("pirlib.tutorial.")


def test_library_never_imports_the_tutorial_wing():
    library = [path for path in PACKAGE.rglob("*.py") if "tutorial" not in path.relative_to(PACKAGE).parts]
    assert len(library) > 40
    offending = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in library
        for module in imported_modules(path.read_text())
        if is_tutorial(module)
    ]
    assert not offending, "\n".join(offending)


def test_the_scan_finds_imports_inside_functions():
    source = "def f():\n    from pirlib import tutorial\n    import pirlib.tutorial.stats\n"
    assert [module for module in imported_modules(source) if is_tutorial(module)] == [
        "pirlib.tutorial",
        "pirlib.tutorial.stats",
    ]


def test_notebooks_import_public_names_only():
    offending = []
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        for number, cell in enumerate(cells):
            if cell["cell_type"] != "code":
                continue
            lines = "".join(cell["source"]).splitlines()
            source = "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))
            for module in imported_modules(source):
                if module.startswith("pirlib") and any(part.startswith("_") for part in module.split(".")):
                    offending.append(f"{notebook.name} cell {number}: {module}")
    assert not offending, "\n".join(offending)
