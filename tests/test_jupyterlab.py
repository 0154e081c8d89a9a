"""Reading and running a notebook in JupyterLab, in a real browser (marked `browser`; about a minute).

The test starts JupyterLab from the interpreter that runs the tests (in `make test`: the project's `.venv`) on a free
loopback port with a random token and `notebooks/` as its root, opens notebook 02 in headless Chromium and, through
the page's keyboard, runs its parameters cell, a cell it types in below (parameter overrides, as papermill injects
them, and a report of the kernel's interpreter), the imports, the scene-prior cell (told to use a random prior, so
that nothing trains) and the first two cells of section 1 (a figure and printed shapes). It reads the rendered
outputs from the page, checks that the kernel is the tests' interpreter and
imports `pirlib` from this checkout, saves screenshots to `tests/artifacts/` (gitignored), and shuts the server down
through its API, checking that no process it or the browser started survives.

Notebook 02 needs a dataset: the overrides point it at a tiny SynthRS generated in the test's temporary directory
(under two seconds), and its figures and tables go there too; autosave is off and the notebook file is compared
byte for byte afterwards, so the checkout is never written to.

The browser is driven with Selenium through the chromedriver of Debian's `chromium-driver` package, which always
matches the `chromium` package's version: Selenium needs nothing else (given the driver's path, it downloads
nothing), whereas Playwright's Python client expects browsers of its own build, which cannot be downloaded here.
`.ci/run` installs both packages when missing; without them the test skips and says why.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pirlib.data.synthrs import SynthSettings, generate_synthrs

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "02_vir_lca_construction.ipynb"
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
TIMEOUT = 300  # seconds for the page to load, for any one cell to finish, for any one browser command (a busy CPU)


def _browser_binaries() -> tuple[str, str]:
    """(chromium, chromedriver) from the system, or skip saying what is missing."""
    pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[dev]')")
    pytest.importorskip("psutil", reason="psutil is not installed (a dependency of ipykernel)")
    browser = next((path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("Chromium and its driver are not installed (Debian: apt-get install chromium chromium-driver)")
    return browser, driver


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


LAB_SETTINGS = {
    "docmanager-extension/plugin": {"autosave": False},  # the notebook is edited but must never be saved
    "apputils-extension/notification": {"fetchNews": "false"},  # no news pop-up (and no request off the machine)
}


def _lab_settings(directory: Path) -> Path:
    """A JupyterLab user-settings directory holding LAB_SETTINGS."""
    for name, values in LAB_SETTINGS.items():
        path = directory / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return directory


def _start_lab(tmp: Path, port: int, token: str) -> subprocess.Popen:
    environment = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp / "config"),  # no user configuration of the machine leaks in
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "PIRLIB_PROGRESS": "lines",
    }
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={REPO_ROOT / 'notebooks'}",
        f"--FileCheckpoints.checkpoint_dir={tmp / 'checkpoints'}",
        f"--LabApp.user_settings_dir={_lab_settings(tmp / 'settings')}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root
    log = open(tmp / "jupyterlab.log", "w")  # noqa: SIM115 (closed with the process)
    server = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n{(tmp / 'jupyterlab.log').read_text()[-3000:]}")
        try:
            _get_json(f"http://127.0.0.1:{port}/api/status?token={token}")
            return server
        except OSError:
            time.sleep(0.5)
    server.kill()
    pytest.fail(f"JupyterLab did not answer on port {port} within {TIMEOUT} s")


def _stop_lab(server: subprocess.Popen, port: int, token: str) -> list:
    """Shut the server down through its API (it stops its kernels first); the processes still alive afterwards."""
    import psutil

    processes = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/shutdown?token={token}", method="POST")
    try:
        urllib.request.urlopen(request, timeout=10).close()
        server.wait(timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        server.send_signal(signal.SIGKILL)
        server.wait()
    _, alive = psutil.wait_procs(processes, timeout=10)
    for process in alive:
        process.kill()
    return alive


def _browser(browser: str, driver: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,2600"):
        options.add_argument(argument)
    options.page_load_strategy = "eager"  # JupyterLab is ready when its cells are: the test waits for them itself
    page = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    page.command_executor.client_config.timeout = TIMEOUT
    return page


class Notebook:
    """The open notebook of the page: its cells, running them through the keyboard, their rendered output."""

    def __init__(self, page, port: int, token: str) -> None:
        self.page, self.port, self.token = page, port, token

    def cells(self) -> list:
        from selenium.webdriver.common.by import By

        return self.page.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")

    def wait(self, condition, what: str, timeout: float = TIMEOUT):
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.page, timeout, poll_frequency=0.25).until(lambda _: condition())
        except TimeoutException:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")

    def kernel_state(self) -> str | None:
        sessions = _get_json(f"http://127.0.0.1:{self.port}/api/sessions?token={self.token}")
        states = [session["kernel"]["execution_state"] for session in sessions if session.get("kernel")]
        return states[0] if len(states) == 1 else None

    def select(self, position: int, block: str = "center") -> None:
        """Make cell `position` the active cell, in command mode, scrolled to `block` (start, center) of the view."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        cell = self.cells()[position]
        self.page.execute_script("arguments[0].scrollIntoView({block: arguments[1]})", cell, block)
        cell.find_element(By.CSS_SELECTOR, ".jp-InputPrompt").click()
        self.wait(lambda: "jp-mod-active" in self.cells()[position].get_attribute("class"), f"cell {position}")
        ActionChains(self.page).send_keys(Keys.ESCAPE).perform()

    def type_cell_below(self, position: int, source: str) -> None:
        """Insert a code cell below cell `position` (key B) and type `source` (one line) into it."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        self.select(position)
        count = len(self.cells())
        ActionChains(self.page).send_keys("b").perform()
        self.wait(lambda: len(self.cells()) == count + 1, "the inserted cell")
        ActionChains(self.page).send_keys(Keys.ENTER).send_keys(source).perform()
        self.wait(lambda: self.source(position + 1) == source, "the typed source")

    def source(self, position: int) -> str:
        from selenium.webdriver.common.by import By

        lines = self.cells()[position].find_elements(By.CSS_SELECTOR, ".cm-content .cm-line")
        return "\n".join(line.text for line in lines)

    def run(self, position: int) -> str:
        """Run cell `position` (Shift+Enter), wait for the kernel to finish it; its rendered output text."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        self.select(position)
        ActionChains(self.page).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
        prompt = self.cells()[position].find_element(By.CSS_SELECTOR, ".jp-InputPrompt")
        self.wait(lambda: prompt.text.strip() not in ("", "[ ]:", "[*]:") and self.kernel_state() == "idle",
                  f"cell {position} to finish")  # fmt: skip
        outputs = self.cells()[position].find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output")
        errors = [
            out.text for out in outputs if out.get_attribute("data-mime-type") == "application/vnd.jupyter.stderr"
        ]
        if any("Error" in text for text in errors):
            pytest.fail(f"cell {position} raised in the kernel:\n" + "\n".join(errors)[-2000:])
        return "\n".join(out.text for out in outputs)

    def images(self, position: int | None = None) -> int:
        """Rendered images in the output of cell `position` (None: of every cell)."""
        from selenium.webdriver.common.by import By

        cells = self.cells() if position is None else [self.cells()[position]]
        return sum(len(cell.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output img")) for cell in cells)


def test_notebook_02_runs_in_jupyterlab(tmp_path):
    browser, driver = _browser_binaries()
    data_dir = tmp_path / "synthrs"
    generate_synthrs(data_dir, SynthSettings(images=48, test_images=32), workers=1)
    notebook_file = REPO_ROOT / "notebooks" / NOTEBOOK
    committed = notebook_file.read_bytes()
    ARTIFACTS.mkdir(exist_ok=True)
    port, token = _free_port(), secrets.token_hex(16)
    started = time.monotonic()
    server = _start_lab(tmp_path, port, token)
    page = None
    browser_processes = []
    try:
        page = _browser(browser, driver)
        import psutil

        browser_processes = [psutil.Process(page.service.process.pid)]
        browser_processes += browser_processes[0].children(recursive=True)
        page.get(f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}?token={token}")
        notebook = Notebook(page, port, token)
        notebook.wait(lambda: len(notebook.cells()) > 20 and notebook.kernel_state() == "idle", "notebook and kernel")
        outputs = [output for cell in json.loads(committed)["cells"] for output in cell.get("outputs", [])]
        figures = sum("image/png" in output.get("data", {}) for output in outputs)
        notebook.wait(lambda: notebook.images() == figures, f"the {figures} committed figures to render")
        tables = len(page.find_elements("css selector", ".jp-RenderedHTMLCommon table"))
        assert tables >= 5, f"the committed outputs show {tables} tables, expected the 5 of the notebook"
        dialogs = page.find_elements("css selector", ".jp-Dialog")
        assert not dialogs, f"JupyterLab shows a dialog: {dialogs[0].text}"

        overrides = (
            f'data_dir, figures_dir, results_dir, batch_size = "{data_dir}", "{tmp_path / "figures"}", '
            f'"{tmp_path / "results"}", 3; pretrain_prior, prior_checkpoint = False, None; '
            f'import sys; print("kernel", sys.executable); '
            f'import pirlib; print("pirlib", pirlib.__file__)'
        )
        parameters = 2
        notebook.run(parameters)
        notebook.type_cell_below(parameters, overrides)
        report = notebook.run(parameters + 1).splitlines()
        assert f"kernel {sys.executable}" in report, (
            f"the kernel is not the tests' interpreter {sys.executable}: {report}"
        )
        pirlib_file = Path(next(line for line in report if line.startswith("pirlib ")).split(" ", 1)[1])
        assert pirlib_file.is_relative_to(REPO_ROOT), f"the kernel imports pirlib from {pirlib_file}, not {REPO_ROOT}"
        imports = notebook.run(parameters + 2)
        assert "profile tiny" in imports, imports
        prior = notebook.run(parameters + 4)  # the scene prior: none pretrained here (the override), a random one
        assert "VIR's scene prior: random" in prior, prior
        notebook.run(parameters + 6)  # section 1: the batch figure
        assert notebook.images(parameters + 6) == 1, "the batch figure is not shown"
        shapes = notebook.run(parameters + 7)
        assert "images         (3, 3, 112, 112)   [B, 3, H, W]" in shapes, shapes
        notebook.select(parameters, block="start")
        page.save_screenshot(str(ARTIFACTS / "jupyterlab_02_run.png"))
        notebook.select(parameters + 18, block="start")  # further down: committed tables and the rank & filter figure
        page.save_screenshot(str(ARTIFACTS / "jupyterlab_02_committed.png"))
        dialogs = page.find_elements("css selector", ".jp-Dialog")
        assert not dialogs, f"JupyterLab shows a dialog: {dialogs[0].text}"
    finally:
        if page is not None:
            page.quit()
        survivors = _stop_lab(server, port, token)
        survivors += [process for process in browser_processes if process.is_running()]
    print(f"\nscreenshots: {ARTIFACTS / 'jupyterlab_02_run.png'}, {ARTIFACTS / 'jupyterlab_02_committed.png'}")
    print(f"JupyterLab session: {time.monotonic() - started:.0f} s")
    assert not survivors, f"processes left running after the shutdown: {survivors}"
    assert notebook_file.read_bytes() == committed, f"{NOTEBOOK} was modified on disk"
