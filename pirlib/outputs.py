"""Where the commands write: nothing already on disk is replaced without being asked, and one writer at a time.

Every output (a run directory, a dataset directory, a checkpoint directory, a weights or embeddings file) is claimed
before anything is computed or written:

- an exclusive lock (`fcntl.flock` on a lock file: `RUN/.pirlib.lock` in a run directory, `.NAME.lock` beside any
  other output) is held until the command ends; a second process fails at once, naming the holder's PID. The
  kernel drops the lock when its process dies, so a lock file left by a killed process never blocks anyone;
- what would be replaced is refused unless the caller passes `overwrite` (the commands' `--overwrite`); a run
  directory is also refused when it holds anything at all without `resume` (the commands' `--resume`);
- the location is checked writable, so a read-only folder fails before the long work starts.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".pirlib.lock"

# What `pirlib train` (and the experiment runner, `pirlib.experiments`) write in a run directory.
RUN_ENTRIES = {
    "config.yaml",
    "metrics.jsonl",
    "metrics.csv",
    "eval.json",
    "last",
    "best",
    ".last.previous",
    ".last.partial",
    ".best.previous",
    ".best.partial",
    "inputs.json",
    "train.log",
    "progress.json",
    "test_embeddings.safetensors",
    "vir_ground_truth.json",  # pirlib.vir_ground_truth.CACHE_FILE: kept by notebooks 04 and 05
    LOCK_FILE,
}
FINISHED_RUN = "eval.json"
RESUMABLE = ("last", ".last.previous")


class OutputError(RuntimeError):
    """An output location is in use, holds something that would be lost, or cannot be written."""


def _lock_path(path: Path, is_directory: bool) -> Path:
    return path / LOCK_FILE if is_directory else path.with_name(f".{path.name}.lock")


def lock_holder(lock_path: Path) -> int | None:
    """The PID holding `lock_path` (0 when it cannot be read), or None when nobody holds it; writes nothing."""
    try:
        descriptor = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.read(descriptor, 32).decode(errors="replace").strip()
        return int(text) if text.isdigit() else 0
    finally:
        os.close(descriptor)
    return None


def _refuse_if_locked(path: Path, lock_path: Path) -> None:
    holder = lock_holder(lock_path)
    if holder is not None:
        who = f"process {holder}" if holder else "another process"
        raise OutputError(
            f"{path} is in use by {who} (lock {lock_path}): wait for it to finish, or choose another --out"
        )


@contextmanager
def exclusive_lock(path: Path, is_directory: bool) -> Iterator[None]:
    """Hold the lock of `path` (creating the directory, or the file's parent) for the duration of the block."""
    lock_path = _lock_path(path, is_directory)
    _refuse_if_locked(path, lock_path)
    ensure_writable(lock_path.parent)
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _refuse_if_locked(path, lock_path)
            raise OutputError(f"{path} is in use by another process (lock {lock_path}): choose another --out") from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(descriptor)  # releases the lock


def ensure_writable(directory: Path) -> None:
    """Create `directory` if needed and check a file can be written there (raise OutputError naming it)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise OutputError(f"cannot write in {directory} ({reason}): choose a writable --out") from error


def _listing(names: Iterable[str], limit: int = 5) -> str:
    names = sorted(names)
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _entries(directory: Path) -> set[str]:
    return {entry.name for entry in directory.iterdir()} - {LOCK_FILE} if directory.is_dir() else set()


def check_run_directory(directory: Path, resume: bool, overwrite: bool, locked_by_us: bool = False) -> None:
    """Refuse to start a run in `directory` where it would replace something (reads only).

    Without `resume` the directory must be empty; with `resume` it must hold a resumable run (`last/`) or only
    what a run that never reached its first checkpoint leaves (never a finished run, never foreign files);
    `overwrite` allows replacing the run's own files (never deletes other files); `locked_by_us`: this process holds
    the directory's lock already."""
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"the run directory is a file ({directory}): choose a directory for --out")
    if not locked_by_us:
        _refuse_if_locked(directory, _lock_path(directory, True))
    entries = _entries(directory)
    if overwrite or not entries:
        return
    if resume and any((directory / name).is_dir() for name in RESUMABLE):
        return
    foreign = entries - RUN_ENTRIES
    if not resume:
        raise OutputError(
            f"the run directory is not empty ({directory} holds {_listing(entries)}): pass --resume to continue "
            f"the run in it, --overwrite to replace it, or choose another --out"
        )
    if foreign:
        raise OutputError(
            f"nothing to resume and files pirlib did not write ({directory} holds {_listing(foreign)}): "
            f"choose another --out"
        )
    if FINISHED_RUN in entries:
        raise OutputError(
            f"a finished run without its last/ checkpoint cannot be resumed ({directory / FINISHED_RUN}): pass "
            f"--overwrite to train it again from scratch, or choose another --out"
        )


def clear_run_directory(directory: Path) -> None:
    """Delete a run's own files in `directory` (RUN_ENTRIES, temporary files of atomic writes); keep anything else."""
    for entry in directory.iterdir() if directory.is_dir() else []:
        if entry.name == LOCK_FILE or not (entry.name in RUN_ENTRIES or entry.name.endswith(".tmp")):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


@contextmanager
def claim_run_directory(directory: Path, resume: bool, overwrite: bool) -> Iterator[None]:
    """Check, lock, check again under the lock (another process may have written meanwhile), clear if `overwrite`."""
    check_run_directory(directory, resume, overwrite)
    with exclusive_lock(directory, is_directory=True):
        check_run_directory(directory, resume, overwrite, locked_by_us=True)
        if overwrite:
            clear_run_directory(directory)
        yield


def refuse_existing(paths: Iterable[Path], overwrite: bool, advice: str = "choose another --out") -> None:
    """Raise OutputError naming every path of `paths` that exists, unless `overwrite`."""
    existing = [str(path) for path in paths if path.exists() or path.is_symlink()]
    if existing and not overwrite:
        raise OutputError(
            f"the output already exists ({_listing(existing)}): pass --overwrite to replace it, or {advice}"
        )


@contextmanager
def claim_output(path: Path, replaced: Iterable[Path], overwrite: bool) -> Iterator[None]:
    """Lock the output `path` (a file or a directory; the lock file is beside it) and refuse to replace the paths
    `replaced` unless `overwrite`. Nothing is created inside `path` before the block writes there."""
    replaced = list(replaced)
    refuse_existing(replaced, overwrite)
    ensure_writable(path.parent)
    if path.is_dir():
        ensure_writable(path)
    with exclusive_lock(path, is_directory=False):
        refuse_existing(replaced, overwrite)
        yield


def is_write_error(error: OSError) -> bool:
    """True for the OSErrors a full or read-only disk gives (user errors, not bugs)."""
    return error.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT)
