"""File mechanics of the whole package, without torch: atomic writes, SHA-256 of files, and results kept on disk
under a key of SHA-256 digests.

An atomic write goes to a temporary file in the target's folder, then `os.replace` puts it in place, so a reader
sees the old file or the new one, never a part; an interruption, even SIGKILL, leaves at most a hidden
`.NAME.*.tmp` file. A failed write names the target file, also where the writer (torch, safetensors) reports a full
disk in an error of its own. The new file gets the permissions any new file gets under the process's umask (0644
under the usual 022), not the private 0600 of a temporary file; a folder made through `tempfile.mkdtemp` is given
the mode any new folder gets (`umask`), not mkdtemp's private 0700.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

FULL_DISK_BYTES = 1 << 20  # a writer's failure with less room left than this is reported as a full disk


def umask() -> int:
    """The process's umask (read by setting it and back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, writer: Callable[[str], object]) -> Path:
    """Call `writer(temporary_path)`, then rename the temporary file to `path` (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        writer(temporary)
        os.chmod(temporary, 0o666 & ~umask())
        os.replace(temporary, path)
    except OSError as error:
        if error.filename in (None, temporary):
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    except Exception as error:  # torch and safetensors report a full disk in their own error types
        if shutil.disk_usage(path.parent).free < FULL_DISK_BYTES:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from error
        raise
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | os.PathLike, data: Any, indent: int = 2, sort_keys: bool = False) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=indent, sort_keys=sort_keys) + "\n")


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _keyed_entries(path: Path) -> list[dict]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(entries, list):
        return []
    return [entry for entry in entries if isinstance(entry, dict) and {"key", "result"} <= entry.keys()]


def keyed_json(path: str | os.PathLike, key: dict, compute: Callable[[], Any]) -> Any:
    """The result stored in the JSON file `path` under exactly `key` (a dict of the SHA-256 digests and settings
    the result depends on), else `compute()`'s, added to the file beside the results of other keys.

    A missing or unreadable file counts as empty and is rewritten; a read-only folder still gets the result, which
    is then not kept."""
    path = Path(path)
    entries = _keyed_entries(path)
    for entry in entries:
        if entry["key"] == key:
            return entry["result"]
    result = compute()
    with contextlib.suppress(OSError):
        atomic_write_json(path, [*entries, {"key": key, "result": result}])
    return result
