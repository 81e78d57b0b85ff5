"""How the harness starts worker processes: the one place that chooses it.

Every worker pool and DataLoader the harness starts (face decoding, crop streaming, training,
transfer, the app's work) gets its processes from :func:`worker_context`, never from a plain
``fork`` of the calling process. A forked child inherits whatever the parent holds: PyAV/FFmpeg
decoder state, OpenCV's thread pool, torch's intra-op threads, locks held by other threads at
the moment of the fork. Measured: a child forked after the parent decoded five frames with PyAV
18 never returns from ``frame.to_ndarray``. Workers fork instead from a *fork server*, a small
clean process started once (it imports torch and the harness's data modules, and has decoded
nothing), or are spawned where there is no fork server (Windows, macOS before 3.14's default).
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

#: Modules the fork server imports once, so each worker forks with them loaded (cheap starts).
#: Importing them decodes nothing and starts no thread pool.
PRELOAD = ("harness.stream", "harness.train", "harness.faces.track")


def worker_context() -> Any:
    """The multiprocessing context for every worker the harness starts (forkserver, else spawn).

    Not plain ``fork``: besides the hang above, a worker forked from the run inherits its whole
    heap (the model, the index, the attack's buffers) and every page either side writes is then
    copied, so workers creep toward a copy of the parent each over a long run. Workers forked
    from the fork server share its pages and receive only their small, picklable dataset. It is
    also safe after CUDA is initialized, where ``fork`` is not.
    """
    if "forkserver" not in mp.get_all_start_methods():  # Windows: spawn (each worker imports)
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


def init_worker(_: int) -> None:
    """Start of every data-loading worker: a fixed allocator threshold (flat worker memory)."""
    from harness.stream import fixed_mmap_threshold

    fixed_mmap_threshold()


def loader_options(workers: int) -> dict[str, Any]:
    """DataLoader keyword arguments that start ``workers`` clean processes (none for 0)."""
    workers = max(0, int(workers))
    if workers == 0:
        return {"num_workers": 0}
    return {
        "num_workers": workers,
        "multiprocessing_context": worker_context(),
        "worker_init_fn": init_worker,
    }


__all__ = ["PRELOAD", "init_worker", "loader_options", "worker_context"]
