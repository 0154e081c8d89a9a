"""The tutorial notebooks: their structure (fast) and a headless papermill run with injected parameters (slow).

Every `notebooks/NN_*.ipynb` must
- start with a code cell tagged `parameters` that holds literal assignments only (papermill overrides them);
- be committed executed with the default parameters (a reader on GitHub sees real outputs);
- have an entry in `notebooks/smoke_parameters.yaml` whose keys are variables of that cell.

The slow test executes every notebook, in file order, with papermill and those smoke parameters (tiny budget, every
output in a temporary workspace) and checks that the injection took effect: the executed copy holds papermill's
`injected-parameters` cell, and the notebook's figures landed in the workspace, where only the injected
`figures_dir` could have sent them. The default-parameter outputs themselves are checked by nbval (`make test`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
SMOKE_PARAMETERS = NOTEBOOK_DIR / "smoke_parameters.yaml"


def read_notebook(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def parameters_cell(notebook: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if not code_cells or "parameters" not in code_cells[0].metadata.get("tags", []):
        pytest.fail(f"{path.name}: the first code cell must be tagged 'parameters' (papermill injects after it)")
    return code_cells[0]


def parameter_names(cell: nbformat.NotebookNode, path: Path) -> set[str]:
    """Names assigned in the parameters cell; fails unless every statement is `name = <literal>`."""
    names = set()
    for statement in ast.parse(cell.source).body:
        if not (isinstance(statement, ast.Assign) and all(isinstance(t, ast.Name) for t in statement.targets)):
            pytest.fail(f"{path.name}: parameters cell line {statement.lineno}: only `name = literal` assignments")
        try:
            ast.literal_eval(statement.value)
        except ValueError:
            pytest.fail(f"{path.name}: parameters cell line {statement.lineno}: the value must be a literal")
        names.update(target.id for target in statement.targets)
    return names


def smoke_parameters(path: Path, workspace: Path) -> dict:
    entries = yaml.safe_load(SMOKE_PARAMETERS.read_text()) or {}
    if path.name not in entries:
        pytest.fail(f"{SMOKE_PARAMETERS.name} has no entry for {path.name}: add its smoke-budget parameters there")
    return {
        key: value.replace("{workspace}", str(workspace)) if isinstance(value, str) else value
        for key, value in (entries[path.name] or {}).items()
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_structure(path):
    notebook = read_notebook(path)
    names = parameter_names(parameters_cell(notebook, path), path)
    assert {"figures_dir", "results_dir"} <= names, f"{path.name}: figures_dir and results_dir must be parameters"
    unknown = set(smoke_parameters(path, Path("/workspace"))) - names
    assert not unknown, f"{SMOKE_PARAMETERS.name}: {path.name} has no parameters {sorted(unknown)}"
    assert notebook.metadata.kernelspec.name == "python3", f"{path.name}: the kernel must be python3 (the .venv one)"
    unexecuted = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code" and not cell.execution_count]
    assert not unexecuted, f"{path.name}: cells {unexecuted} are not executed; commit it after `make reproduce`"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("notebook_smoke")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_runs_with_injected_parameters(path, workspace):
    import papermill

    parameters = smoke_parameters(path, workspace)
    executed_path = workspace / "executed" / path.name
    executed_path.parent.mkdir(exist_ok=True)
    papermill.execute_notebook(
        str(path),
        str(executed_path),
        parameters=parameters,
        cwd=str(NOTEBOOK_DIR),
        kernel_name="python3",
        progress_bar=False,
    )
    executed = read_notebook(executed_path)
    injected = [cell for cell in executed.cells if "injected-parameters" in cell.metadata.get("tags", [])]
    assert len(injected) == 1, f"{path.name}: papermill did not inject the parameters"
    assert parameter_names(injected[0], path) == set(parameters)
    figures = sorted(p.name for p in (workspace / "figures").glob(f"{path.name[:2]}_*.png"))
    assert figures, f"{path.name}: no figure {path.name[:2]}_*.png in the injected figures_dir {workspace / 'figures'}"
