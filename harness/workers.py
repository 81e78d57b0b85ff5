"""How the harness starts worker processes: the one place that chooses it.

Every worker pool and DataLoader the harness starts (face decoding, crop streaming, training,
transfer, the app's work) gets its processes from :func:`worker_context`, never from a plain
``fork`` of the calling process. A forked child inherits whatever the parent holds: PyAV/FFmpeg
decoder state, OpenCV's thread pool, torch's intra-op threads, locks held by other threads at
the moment of the fork. Measured: a child forked after the parent decoded five frames with PyAV
18 never returns from ``frame.to_ndarray``. Workers fork instead from a *fork server*, a small
clean process started once (it imports torch and the harness's data modules, and has decoded
nothing), or are spawned where there is no fork server (Windows, macOS before 3.14's default).

Every worker also ends with the run that started it (:func:`exit_with`), however the run ends:
a killed run (SIGKILL, out of memory) leaves no worker, fork server or resource tracker behind.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import signal
import threading
import time
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


def init_worker(run_pid: int, worker_id: int) -> None:
    """Start of every data-loading worker (``run_pid``: the process that started it).

    Ctrl-C at a terminal reaches every process of the group: a worker ignores it and the run
    stops its workers on its way out. The worker exits when the run is gone (:func:`exit_with`),
    and keeps a fixed allocator threshold (flat worker memory).
    """
    from harness.stream import fixed_mmap_threshold

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with(run_pid)
    fixed_mmap_threshold()


def exit_with(pid: int) -> None:
    """End this process as soon as process ``pid`` has ended (a daemon thread waits for it).

    Needed because the DataLoader's own watchdog watches a worker's *parent*, here the fork
    server, and the fork server lives as long as any worker holds its "alive" pipe: after the
    run is killed they wait on each other for good (measured: ~435 MB and semaphores in /dev/shm
    left per killed run), and so does multiprocessing's resource tracker, which they also hold
    open. Once the workers are gone the fork server sees its pipe close and exits, and the
    resource tracker unlinks the run's semaphores and exits. Not ``prctl(PR_SET_PDEATHSIG)``: it
    names the parent (the fork server), and fires on the death of the parent's *thread*. Windows
    spawns workers from the run itself, whose watchdog then suffices (and ``os.kill`` there
    would terminate the run).
    """
    if os.name == "nt":
        return
    threading.Thread(target=_exit_when_gone, args=(pid,), name=f"exit-with-{pid}", daemon=True).start()


def _exit_when_gone(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)  # Linux 5.3+: readable once the process has exited (no polling)
    except ProcessLookupError:
        os._exit(0)
    except (AttributeError, OSError):  # elsewhere: poll
        while _alive(pid):
            time.sleep(1.0)
    else:
        import select

        select.select([fd], [], [])
    os._exit(0)  # nothing to flush or report: the process that would read it is gone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # the pid now belongs to another user's process
        return False
    return True


def loader_options(workers: int) -> dict[str, Any]:
    """DataLoader keyword arguments that start ``workers`` clean processes (none for 0)."""
    workers = max(0, int(workers))
    if workers == 0:
        return {"num_workers": 0}
    return {
        "num_workers": workers,
        "multiprocessing_context": worker_context(),
        # bound here, in the process that starts the workers: the one they end with
        "worker_init_fn": functools.partial(init_worker, os.getpid()),
    }


__all__ = ["PRELOAD", "exit_with", "init_worker", "loader_options", "worker_context"]
