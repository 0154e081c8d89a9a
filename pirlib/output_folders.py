"""Where the commands write, and what they read: nothing already on disk is replaced without being asked, one writer
at a time, and no dataset is rewritten while a command reads it.

Every output (a run directory, a dataset directory, a checkpoint directory, a weights or embeddings file) is claimed
before anything is computed or written:

- an exclusive lock (`fcntl.flock` on a lock file: `RUN/.pirlib.lock` in a run directory, `.NAME.lock` beside any
  other output) is held until the command ends; a second process fails at once, naming the holder's PID. The
  kernel drops the lock when its process dies, so a lock file left by a killed process never blocks anyone;
- what would be replaced is refused unless the caller passes `overwrite` (the commands' `--overwrite`); a run
  directory is also refused when it holds anything at all without `resume` (the commands' `--resume`);
- the location is checked writable, so a read-only folder fails before the long work starts.

A dataset a command reads is held with a shared lock on the same `.NAME.lock` (`reading`), so `synth` and `prepare`
refuse to rewrite it meanwhile, and a reader refuses a dataset being written. A lock file and the folders created to
hold it are removed when the command ends (the last reader removes a shared one), so a refused command leaves the
filesystem as it found it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".pirlib.lock"

# What `pirlib train` (and the experiment runner, `pirlib.tutorial.runs`) write in a run directory.
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
    "vir_ground_truth.json",  # pirlib.tutorial.ground_truth.CACHE_FILE: kept by notebooks 04 and 05
    LOCK_FILE,
}
FINISHED_RUN = "eval.json"
RESUMABLE = ("last", ".last.previous")
SWAPPED = ("last", "best")  # replaced by pirlib.checkpoint.atomic_directory, so a crash may leave a swap half-done


class OutputError(RuntimeError):
    """An output location is in use, holds something that would be lost, or cannot be written."""


def _lock_path(path: Path, is_directory: bool) -> Path:
    return path / LOCK_FILE if is_directory else path.with_name(f".{path.name}.lock")


def absolute(path: str | os.PathLike) -> Path:
    """`path` made absolute and normalised (`.` and `..` resolved, symlinks followed), so that every way of naming
    a folder locks the same file."""
    return Path(path).resolve()


def lock_holder(lock_path: Path) -> int | None:
    """The PID holding `lock_path` exclusively (0 when it cannot be read), or None when nobody holds it exclusively;
    writes nothing."""
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


def _is_current(descriptor: int, lock_path: Path) -> bool:
    """True when `lock_path` still names the file open as `descriptor` (its last holder may have removed it)."""
    try:
        on_disk = os.stat(lock_path)
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (on_disk.st_dev, on_disk.st_ino) == (opened.st_dev, opened.st_ino)


def _locked_descriptor(lock_path: Path, operation: int) -> int:
    """Open `lock_path` and take the flock `operation` without waiting (BlockingIOError when held), retrying when
    the file was removed or replaced between the open and the lock."""
    while True:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)  # the umask applies
        try:
            fcntl.flock(descriptor, operation | fcntl.LOCK_NB)
            if _is_current(descriptor, lock_path):
                return descriptor
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)


def _release(descriptor: int, lock_path: Path) -> None:
    """Remove the lock file when nobody else holds it, then drop the lock."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # other readers still hold it: the last one removes it
        pass
    else:
        if _is_current(descriptor, lock_path):
            with contextlib.suppress(OSError):
                lock_path.unlink()
    finally:
        os.close(descriptor)


@contextmanager
def created_directories(directory: Path) -> Iterator[None]:
    """Create `directory` and its missing parents (checked writable) for the block; afterwards remove those of them
    that are still empty."""
    missing, probe = [], directory
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    try:
        ensure_writable(directory)
        yield
    finally:
        for created in missing:  # the deepest first
            with contextlib.suppress(OSError):
                created.rmdir()


@contextmanager
def exclusive_lock(path: Path, is_directory: bool) -> Iterator[None]:
    """Hold the lock of `path` (creating the directory, or the file's parent) for the duration of the block."""
    lock_path = _lock_path(path, is_directory)
    _refuse_if_locked(path, lock_path)
    with created_directories(lock_path.parent):
        try:
            descriptor = _locked_descriptor(lock_path, fcntl.LOCK_EX)
        except BlockingIOError:
            _refuse_if_locked(path, lock_path)
            raise OutputError(
                f"{path} is being read by another process (a train, evaluate, embed or pretrain-prior run holds the "
                f"lock {lock_path}): wait for it to finish, or choose another --out"
            ) from None
        try:
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode())
            yield
        finally:
            _release(descriptor, lock_path)


@contextmanager
def reading(path: str | os.PathLike) -> Iterator[None]:
    """Hold a shared lock on the input `path` (a dataset directory) for the block: `claim_output` of the same path
    (`synth`, `prepare`) refuses meanwhile, and a dataset being written is refused here. A location where no lock
    file can be made (a read-only folder, which no command rewrites either) is read without a lock."""
    path = absolute(path)
    lock_path = _lock_path(path, is_directory=False)
    try:
        descriptor = _locked_descriptor(lock_path, fcntl.LOCK_SH)
    except BlockingIOError:
        holder = lock_holder(lock_path)
        who = f"process {holder}" if holder else "another process"
        raise OutputError(
            f"the dataset {path} is being written by {who} (lock {lock_path}): wait for it to finish"
        ) from None
    except OSError as error:
        if not (is_write_error(error) or error.errno == errno.ENOENT):
            raise
        descriptor = None
    try:
        yield
    finally:
        if descriptor is not None:
            _release(descriptor, lock_path)


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
    """Check, lock, check again under the lock (another process may have written meanwhile), clear if `overwrite`;
    with `resume`, finish the checkpoint swaps a crash interrupted (`last/`, `best/`), so that the run continues from,
    and every reader finds, the checkpoints its training state records."""
    check_run_directory(directory, resume, overwrite)
    with exclusive_lock(directory, is_directory=True):
        check_run_directory(directory, resume, overwrite, locked_by_us=True)
        if overwrite:
            clear_run_directory(directory)
        if resume:
            from pirlib.checkpoint import repair_interrupted_swap

            for name in SWAPPED:
                repair_interrupted_swap(directory / name)
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
    `replaced` unless `overwrite`. Nothing is created inside `path` before the block writes there; folders made for
    the lock and left empty are removed afterwards."""
    path = absolute(path)
    replaced = list(replaced)
    refuse_existing(replaced, overwrite)
    if path.is_dir():
        ensure_writable(path)
    with exclusive_lock(path, is_directory=False):
        refuse_existing(replaced, overwrite)
        yield


def is_write_error(error: OSError) -> bool:
    """True for the OSErrors a full or read-only disk gives (user errors, not bugs)."""
    return error.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT)
