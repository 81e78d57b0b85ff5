"""Atomic file writing: the one writer every result, table, manifest, checkpoint and store uses.

A file is written to a temporary sibling, flushed to disk and renamed over its target, so a
reader (or a run killed half-way) sees the old file or the new one, never half of one. The file
gets the mode a plain ``open()`` would give it (``0o666`` less the umask): results and tables are
meant to be read by others (``mkstemp`` alone would leave them ``0600``).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], durable: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed over ``path`` when the block finishes cleanly.

    For writers that need a file name (``torch.save``, a video encoder, ``numpy.save``). On an
    error the temporary file is removed and ``path`` is left as it was. ``durable``: flushed to
    disk before the rename (survives power loss); off for caches that can be rebuilt, where one
    ``fsync`` per entry would slow extraction of many thousand videos.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())  # on disk before it is renamed into place (power loss)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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


def write_json_atomic(
    path: str | os.PathLike[str], data: Any, indent: int | None = 1, durable: bool = True
) -> Path:
    """Write ``data`` as JSON to ``path`` atomically; returns ``path``."""
    with atomic_open(path, durable=durable) as f:
        f.write(json.dumps(data, indent=indent))
    return Path(path)


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


__all__ = [
    "atomic_open",
    "atomic_path",
    "jsonable",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]
