"""Progress of the long steps (data generation, scene-prior pretraining, training, embedding, a study of runs).

One function, `progress_bar`, makes every bar, in one of four modes:

    bar     tqdm.auto: a live widget in JupyterLab (needs ipywidgets), a redrawn bar in a terminal
    lines   plain text for executed notebooks (papermill, nbval) and log files, never thousands of redraws. In a
            Jupyter kernel each bar is one text output that its redraws replace (at most every DISPLAY_INTERVAL
            seconds), so that an executed cell keeps the bar's final state only; the transient bars of a cell
            (`leave=False`, e.g. one per epoch) share one such output. Elsewhere (a terminal, a log file) a bar prints a
            line when it starts, at most every LINE_INTERVAL seconds, and when it ends. Either way a transient bar
            shows only once it has run LINE_INTERVAL seconds.
    off     nothing
    auto    the default: $PIRLIB_PROGRESS when set, else "bar" in a Jupyter kernel or at a terminal, else "lines"

Papermill and nbval run real Jupyter kernels, so a kernel cannot tell them from a reader's JupyterLab: the Makefile's
`reproduce` and `test` targets and the notebook tests set PIRLIB_PROGRESS=lines.

Worker processes report to their parent through a small status file: inside `reporting_to(path)`, every bar also
writes {"description", "n", "total", "unit"} to `path` atomically at most every STATUS_INTERVAL seconds (and when it
ends). `pirlib.tutorial.scheduler.run_many` points each training job at `<run dir>/progress.json` and shows them with
`StudyProgress`: one bar of finished jobs and one bar per running job.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from tqdm.auto import tqdm as auto_tqdm
from tqdm.std import tqdm as text_tqdm

MODES = ("auto", "bar", "lines", "off")
ENVIRONMENT_VARIABLE = "PIRLIB_PROGRESS"
LINE_INTERVAL = 30.0  # seconds between two lines of one bar in "lines" mode, outside a Jupyter kernel
DISPLAY_INTERVAL = 1.0  # seconds between two redraws of a bar's output in "lines" mode, in a Jupyter kernel
STATUS_INTERVAL = 2.0  # seconds between two writes of a status file
STATUS_FILE = "progress.json"
LINE_FORMAT = "{desc}: {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"

_status_path: Path | None = None  # the status file of `reporting_to`, in this process
_cell_output: tuple[object, object] | None = None  # (the cell, its output) shared by the transient bars of a cell


def resolve_mode(mode: str = "auto") -> str:
    """The mode "bar", "lines" or "off" that `mode` stands for (see the module docstring for "auto")."""
    if mode == "auto":
        mode = os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower() or ("bar" if _interactive() else "lines")
    if mode not in MODES or mode == "auto":
        raise ValueError(f"progress mode {mode!r}: expected one of bar, lines, off (or auto; ${ENVIRONMENT_VARIABLE})")
    return mode


def _interactive() -> bool:
    """True in a Jupyter kernel or when stderr is a terminal."""
    return _jupyter_shell() is not None or (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())


def _jupyter_shell():
    """The IPython shell of the Jupyter kernel this process is, or None."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return shell if shell is not None and type(shell).__name__ == "ZMQInteractiveShell" else None


class _LineWriter:
    """The file of a "lines" bar: each redraw tqdm writes ("\\r" + text) becomes one line on stdout (or nothing, for
    an "off" bar)."""

    def __init__(self, shown: bool) -> None:
        self.shown = shown

    def write(self, text: str) -> None:
        text = text.strip("\r\n ")
        if text and self.shown:
            print(text, flush=True)

    def flush(self) -> None:
        pass


class _OutputWriter:
    """The file of a "lines" bar in a Jupyter kernel: the first redraw displays the text as an output of the running
    cell, later ones replace it (IPython's display_id). A transient bar writes to the output the transient bars of
    the same cell share; clearing writes (tqdm's empty redraw when a transient bar closes) leave the output as it is."""

    def __init__(self, transient: bool) -> None:
        self.transient, self.output = transient, None

    def write(self, text: str) -> None:
        global _cell_output
        text = text.strip("\r\n ")
        if not text:
            return
        content = {"text/plain": text}
        cell = _jupyter_shell().execution_count
        if self.output is None and self.transient and _cell_output is not None and _cell_output[0] == cell:
            self.output = _cell_output[1]
        if self.output is None:
            from IPython.display import display

            self.output = display(content, raw=True, display_id=True)
            if self.transient:
                _cell_output = (cell, self.output)
        else:
            self.output.update(content, raw=True)

    def flush(self) -> None:
        pass


class _ReportingMixin:
    """Writes the bar's state to the status file of `reporting_to` (at most every STATUS_INTERVAL seconds)."""

    _status_path: Path | None = None
    _status_written = 0.0

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._status_path is None or (not force and now - self._status_written < STATUS_INTERVAL):
            return
        self._status_written = now
        status = {"description": self.desc, "n": self.n, "total": self.total, "unit": self.unit, "time": time.time()}
        _write_status(self._status_path, status)

    def update(self, n=1):
        shown = super().update(n)
        self._report()
        return shown

    def close(self):
        if not self.disable:
            self._report(force=True)
        super().close()


class _ReportingBar(_ReportingMixin, auto_tqdm):
    pass


class _ReportingTextBar(_ReportingMixin, text_tqdm):
    """A "lines" or "off" bar: drawn only by `update` (at most every `mininterval` seconds) and when it ends.

    Never by tqdm's monitor thread (`maxinterval` infinite): every 10 s it redraws a bar silent for `maxinterval`
    seconds, and an iterated bar then shows the count of its previous redraw with a later time (a repeated line)."""

    def close(self):
        shown = isinstance(self.fp, _OutputWriter) and self.fp.output is not None
        if shown and not self.leave and not self.disable:
            self.refresh()  # the output a transient bar shares keeps its final state
        super().close()

    def set_postfix(self, ordered_dict=None, refresh=True, **values):
        super().set_postfix(ordered_dict, refresh=False, **values)

    def set_description(self, desc=None, refresh=True):
        super().set_description(desc, refresh=False)


def progress_bar(iterable: Iterable | None = None, mode: str = "auto", **options) -> text_tqdm:
    """A tqdm bar in `mode` (see the module docstring); `options` are tqdm's (total, desc, unit, initial, leave...).

    `disable=True` turns it off whatever the mode, status file included, as in tqdm."""
    mode = resolve_mode(mode)
    if mode == "bar":
        bar = _ReportingBar(iterable, **options)
    else:  # "off" still counts, for the status file
        transient = not options.get("leave", True)
        if mode == "lines" and _jupyter_shell() is not None:
            interval, writer = DISPLAY_INTERVAL, _OutputWriter(transient)
        else:
            interval, writer = (LINE_INTERVAL if mode == "lines" else math.inf), _LineWriter(mode == "lines")
        delay = LINE_INTERVAL if transient and mode == "lines" else 0  # a short transient bar shows nothing
        options = {"mininterval": interval, "maxinterval": math.inf, "delay": delay, "bar_format": LINE_FORMAT,
                   **options}  # fmt: skip
        bar = _ReportingTextBar(iterable, file=writer, **options)
    if not bar.disable and _status_path is not None:
        bar._status_path = _status_path
        bar._report(force=True)
    return bar


@contextlib.contextmanager
def reporting_to(path: str | os.PathLike) -> Iterator[None]:
    """Inside this block, every bar of this process also writes its state to `path` (a JSON status file)."""
    global _status_path
    previous, _status_path = _status_path, Path(path)
    _status_path.parent.mkdir(parents=True, exist_ok=True)
    _write_status(_status_path, {"description": "starting", "n": 0, "total": None, "time": time.time()})
    try:
        yield
    finally:
        _status_path = previous


def _write_status(path: Path, status: dict) -> None:
    from pirlib.io import atomic_write_json  # imported here: the SynthRS generator needs no torch

    atomic_write_json(path, status)


def read_status(path: str | os.PathLike) -> dict | None:
    """The last state written to a status file, or None when there is none (yet)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


class StudyProgress:
    """Progress of a set of jobs run in worker processes: one bar of finished jobs, and for each running job the
    state of its status file (in "bar" mode one bar per running job, in "lines" mode the overall bar's postfix)."""

    def __init__(self, total: int, mode: str = "auto", description: str = "runs finished") -> None:
        self.mode = resolve_mode(mode)
        self.finished = progress_bar(total=total, desc=description, unit="run", mode=self.mode)
        self.bars: dict[str, text_tqdm] = {}
        self.running: dict[str, str] = {}  # "lines" mode: the state of each running job, for the postfix
        self.line_shown, self.line_n = time.monotonic(), 0
        self.line_interval = DISPLAY_INTERVAL if _jupyter_shell() is not None else LINE_INTERVAL

    def show(self, running: dict[str, Path]) -> None:
        """Show the jobs `running` ({name: status file}); bars of jobs no longer running are closed."""
        statuses = {name: read_status(path) for name, path in running.items()}
        for name in [name for name in self.bars if name not in running]:
            self.bars.pop(name).close()
        if self.mode == "lines":
            self.running = {name: _short(status) for name, status in statuses.items()}
            if time.monotonic() - self.line_shown >= self.line_interval:
                self._line()
            return
        for name, status in statuses.items():
            if status is None or status.get("total") is None:
                continue
            bar = self.bars.get(name)
            if bar is None:
                bar = self.bars[name] = progress_bar(total=status["total"], unit=status.get("unit", "it"),
                                                     leave=False, mode=self.mode)  # fmt: skip
            elif bar.total != status["total"]:
                bar.reset(total=status["total"])
            bar.set_description(f"{name}: {status['description']}", refresh=False)
            bar.n = status["n"]
            bar.refresh()

    def job_done(self, name: str) -> None:
        if name in self.bars:
            self.bars.pop(name).close()
        if self.mode == "lines":
            self.running.pop(name, None)
            self.finished.n += 1
            self._line()
        else:
            self.finished.update(1)

    def _line(self) -> None:
        self.finished.set_postfix_str("; ".join(f"{name} {state}" for name, state in self.running.items()), False)
        self.finished.refresh()
        self.line_shown, self.line_n = time.monotonic(), self.finished.n

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        if self.mode == "lines" and self.finished.n == self.line_n:
            self.finished.leave = False  # its last line is already out
        self.finished.close()


def _short(status: dict | None) -> str:
    if status is None or status.get("total") is None:
        return "starting"
    return f"{status['description']} {status['n']}/{status['total']}"
