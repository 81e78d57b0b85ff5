"""Atomic file writing: the one writer every result, table, manifest, checkpoint and store uses.

A file is written to a temporary sibling, flushed to disk and renamed over its target, so a
reader (or a run killed half-way) sees the old file or the new one, never half of one. The file
gets the mode a plain ``open()`` would give it (``0o666`` less the umask): results and tables are
meant to be read by others (``mkstemp`` alone would leave them ``0600``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_paths(paths: Sequence[str | os.PathLike[str]], durable: bool = True) -> Iterator[list[Path]]:
    """Temporary paths beside each of ``paths``; all renamed over their targets when the block
    finishes cleanly, none otherwise.

    Every temporary file is complete (and, if ``durable``, flushed to disk) before the first
    rename, so a full disk, a quota or a read-only folder met while writing leaves every target
    as it was: files that belong together (a table and its page, a result and its per-video
    scores) are replaced all together or not at all (a rename allocates no space). On an error
    every temporary file is removed, and an ``OSError`` about a temporary file (or about no file:
    a failed write) is made to name its target, so the message says which file could not be
    written. ``durable=False``: no ``fsync``, for caches that can be rebuilt.
    """
    targets = [Path(p) for p in paths]
    temps: list[Path] = []
    current: Path | None = targets[0] if len(targets) == 1 else None  # whose failure it would be
    try:
        for path in targets:
            current = path
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            except OSError as exc:  # names the temporary file, which the user never asked for
                if exc.errno is not None:
                    exc.filename, exc.filename2 = str(path), None
                raise
            os.close(fd)
            temps.append(Path(name))
        current = targets[0] if len(targets) == 1 else None
        yield temps
        mode = 0o666 & ~_umask()
        for tmp, path in zip(temps, targets, strict=True):
            current = path
            if durable:
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())  # on disk before it is renamed into place (power loss)
            os.chmod(tmp, mode)
        for tmp, path in zip(temps, targets, strict=True):
            current = path
            os.replace(tmp, path)
    except BaseException as exc:
        for tmp in temps:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            _name_target(exc, dict(zip(map(str, temps), targets, strict=False)), current)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], durable: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed over ``path`` when the block finishes cleanly.

    For writers that need a file name (``torch.save``, a video encoder, ``numpy.save``). On an
    error the temporary file is removed and ``path`` is left as it was. ``durable``: flushed to
    disk before the rename (survives power loss); off for caches that can be rebuilt, where one
    ``fsync`` per entry would slow extraction of many thousand videos.
    """
    with atomic_paths([path], durable) as (tmp,):
        yield tmp


def _name_target(exc: OSError, targets: Mapping[str, Path], current: Path | None) -> None:
    """Make ``exc`` name the target file rather than a temporary one (or none at all)."""
    if exc.errno is None:
        return
    name = None if exc.filename is None else os.fsdecode(exc.filename)
    target = targets.get(name) if name is not None else current
    if target is not None:
        exc.filename, exc.filename2 = str(target), None


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", newline: str | None = None, durable: bool = True
) -> Iterator[IO[Any]]:
    """``open(path, mode)`` that replaces ``path`` only once the block finishes cleanly."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', got {mode!r}")
    encoding = None if "b" in mode else "utf-8"  # text is UTF-8 whatever the locale
    with atomic_path(path, durable) as tmp, open(tmp, mode, newline=newline, encoding=encoding) as f:
        yield f


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically; returns ``path``."""
    with atomic_open(path) as f:
        f.write(text)
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_files_atomic(files: Mapping[str | os.PathLike[str], bytes], durable: bool = True) -> list[Path]:
    """Write several files as one: every target is replaced, or (on an error) none is.

    ``files``: path -> content. See :func:`atomic_paths`. Returns the paths.
    """
    paths = [Path(p) for p in files]
    with atomic_paths(paths, durable) as temps:
        for tmp, (path, data) in zip(temps, files.items(), strict=True):
            try:
                tmp.write_bytes(data)
            except OSError as exc:
                _name_target(exc, {str(tmp): Path(path)}, Path(path))
                raise
    return paths


def same_content(path: str | os.PathLike[str], data: bytes) -> bool:
    """Whether ``path`` already holds exactly ``data`` (then there is nothing to write: a file
    that is current is never rewritten, so a complete cache or checkout may be read-only)."""
    try:
        if os.path.getsize(path) != len(data):
            return False
        with open(path, "rb") as f:
            return f.read() == data
    except OSError:
        return False


def write_json_atomic(
    path: str | os.PathLike[str], data: Any, indent: int | None = 1, durable: bool = True
) -> Path:
    """Write ``data`` as JSON to ``path`` atomically; returns ``path``."""
    with atomic_open(path, "wb", durable=durable) as f:
        f.write(json_bytes(data, indent))
    return Path(path)


def json_bytes(data: Any, indent: int | None = 1) -> bytes:
    """``data`` as the harness writes JSON files (the one format: results, manifests, caches)."""
    return json.dumps(data, indent=indent).encode("utf-8")


def jsonable(value: Any) -> Any:
    """``value`` with NumPy scalars, paths and non-finite floats made JSON-safe.

    NaN becomes ``null``; infinities become the strings ``"inf"`` / ``"-inf"``: JSON has neither,
    and a result must never silently read back a number that was not computed.
    """
    import math

    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # NumPy / torch scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


# Storage faults a user fixes (not bugs): what each is, and what to do about it.
_WHERE = "--results-dir / --cache-dir ($HARNESS_CACHE)"
_RESUME = "finished work is kept: run the same command again to resume"
_STORAGE: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on device", f"free space or point {_WHERE} elsewhere; {_RESUME}"),
    errno.EDQUOT: (
        "disk quota exceeded",
        f"free space (or raise the quota) or point {_WHERE} elsewhere; {_RESUME}",
    ),
    errno.EROFS: ("read-only file system", f"point {_WHERE} at a writable folder"),
    errno.EACCES: (
        "permission denied",
        f"check the permissions of the file and its folder, or point {_WHERE} at a writable folder",
    ),
    errno.EPERM: (
        "operation not permitted",
        f"check the permissions of the file and its folder, or point {_WHERE} at a writable folder",
    ),
}
STORAGE_ERRNOS = frozenset(_STORAGE)


def describe_os_error(exc: OSError) -> str:
    """One line for a user: what went wrong, on which path, and the fix.

    E.g. ``no space left on device writing runs/results/x.json: free space or point ...``. Disk
    full, quota, read-only and permission errors (:data:`STORAGE_ERRNOS`) say how to fix them;
    any other error says what the system said and on which path.
    """
    paths = [os.fsdecode(p) for p in (exc.filename, exc.filename2) if p is not None]
    where = " -> ".join(paths)
    if exc.errno in _STORAGE:
        what, fix = _STORAGE[exc.errno]
        verb = "writing" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) else "on"
        return f"{what} {verb} {where}: {fix}" if where else f"{what}: {fix}"
    reason = exc.strerror or str(exc)
    reason = reason[:1].lower() + reason[1:]
    return f"{reason}: {where}" if where else reason


__all__ = [
    "STORAGE_ERRNOS",
    "atomic_open",
    "atomic_path",
    "atomic_paths",
    "describe_os_error",
    "json_bytes",
    "jsonable",
    "same_content",
    "write_bytes_atomic",
    "write_files_atomic",
    "write_json_atomic",
    "write_text_atomic",
]
