"""Running under torchrun: which process this is, and the few collective steps the harness needs.

``torchrun --nproc_per_node=N --no-python harness run ...`` starts N copies of the command with
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and a rendezvous in the environment (``--nnodes`` and
``--rdzv-endpoint`` spread them over machines). The harness then joins one process group
(NCCL when every process has its own CUDA device, gloo on the CPU), shards the work by video,
and gathers per-video records on every process; only rank 0 writes results and leaderboards and
prints. Without torchrun (``WORLD_SIZE`` unset or 1) every function here is a no-op and the
harness runs as one process: there is no scheduler of our own.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

# Collective steps wait for the slowest process (rank 0 may train a demo model first).
TIMEOUT = datetime.timedelta(hours=int(os.environ.get("HARNESS_DIST_TIMEOUT_HOURS", "12")))


@dataclass(frozen=True)
class World:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def world() -> World:
    """This process's place, from torchrun's environment (one process when unset)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


def is_main() -> bool:
    return world().main


def local_device(device: str) -> str:
    """The device this process uses: under torchrun ``auto``/``cuda`` mean ``cuda:LOCAL_RANK``."""
    import torch

    w = world()
    if not w.distributed or device not in ("auto", "cuda") or not torch.cuda.is_available():
        return device
    return f"cuda:{w.local_rank % torch.cuda.device_count()}"


@contextlib.contextmanager
def process_group(device: str) -> Iterator[World]:
    """Join torchrun's process group for the duration (no-op for one process or if joined)."""
    w = world()
    if not w.distributed:
        yield w
        return
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        yield w
        return
    dev = local_device(device)
    backend = "nccl" if dev.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(torch.device(dev))
    dist.init_process_group(backend=backend, timeout=TIMEOUT)
    try:
        yield w
    finally:
        dist.destroy_process_group()


def _active() -> bool:
    if not world().distributed:
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    """Wait for every process (no-op for one process)."""
    import torch
    import torch.distributed as dist

    if _active():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def all_gather(obj: T) -> list[T]:
    """Every process's ``obj`` (picklable), in rank order, on every process."""
    import torch.distributed as dist

    if not _active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast(obj: T) -> T:
    """Rank 0's ``obj`` on every process."""
    import torch.distributed as dist

    if not _active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def any_failed(failed: bool) -> bool:
    """True on every process when any process reports failure (so all stop together)."""
    return any(all_gather(bool(failed)))


@contextlib.contextmanager
def main_first() -> Iterator[bool]:
    """Rank 0 runs the block first (e.g. trains a missing model), the others after it is done."""
    w = world()
    if not w.main:
        barrier()
    try:
        yield w.main
    finally:
        if w.main:
            barrier()


__all__ = [
    "World",
    "all_gather",
    "any_failed",
    "barrier",
    "broadcast",
    "is_main",
    "local_device",
    "main_first",
    "process_group",
    "world",
]
