"""`make lab` serves JupyterLab on the port `JUPYTER_PORT` names, also as root (containers and CI run as root, where
JupyterLab refuses to start without --allow-root). Slow: starts a real server (about 10 s)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120  # seconds for the server to answer (a busy machine imports slowly)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_serves_on_the_chosen_port(tmp_path):
    if not (REPO_ROOT / ".venv" / ".installed").is_file():
        pytest.skip("the project's .venv is not set up (make lab would install it first)")
    port, token = _free_port(), secrets.token_hex(16)
    environment = {
        **os.environ,
        "JUPYTER_TOKEN": token,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "BROWSER": "true",  # the `true` command: no browser window is opened
    }
    log_path = tmp_path / "lab.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            ["make", "--no-print-directory", "lab", f"JUPYTER_PORT={port}"],
            cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        status, deadline = None, time.monotonic() + TIMEOUT
        while status is None and time.monotonic() < deadline:
            assert server.poll() is None, f"make lab exited with {server.returncode}:\n{log_path.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=5) as answer:
                    status = json.load(answer)
            except OSError:
                time.sleep(0.5)
        assert status is not None, f"no answer on port {port} within {TIMEOUT} s:\n{log_path.read_text()[-3000:]}"
        assert "started" in status
        if os.geteuid() == 0:
            assert "make lab: running as root: JupyterLab gets --allow-root" in log_path.read_text()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
