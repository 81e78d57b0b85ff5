"""``harness transfer``: craft adversarial examples once on a source detector, score them on targets.

``transfer(TransferConfig(...))`` is the library function behind the CLI. For every source
detector and attack budget, every evaluated video is attacked once through the source; the
adversarial crops are kept in a store (8-bit, per video) and then scored by every target
detector, the source included (the diagonal of the matrix is the white-box number). The result is
a source x target matrix of attacked AUROC with 95% bootstrap intervals resampled by video, one
JSON per (source, attack, budget) under ``<results_dir>/<dataset>/transfer/``.

The package reads in one direction: :mod:`~harness.transfer.config` (what to compute) ->
:mod:`~harness.transfer.surrogate` (the source behind a differentiable crop resize) ->
:mod:`~harness.transfer.store` (content-addressed uint8 examples) -> :mod:`~harness.transfer.models`
(weights found first, detectors loaded one at a time) -> :mod:`~harness.transfer.craft` ->
:mod:`~harness.transfer.score` -> :mod:`~harness.transfer.document` -> :mod:`~harness.transfer.run`.
Regenerating the leaderboard is the caller's step (``harness transfer``).
"""

from harness.transfer.config import TRANSFER_SCHEMA, TransferConfig, TransferResult
from harness.transfer.document import format_matrix, result_path
from harness.transfer.models import ensure_checkpoints
from harness.transfer.run import transfer
from harness.transfer.store import (
    StoreReader,
    crops_sha256,
    read_example,
    store_key,
    store_path,
    store_root,
    video_key,
)
from harness.transfer.surrogate import resize_matrix, through_resize

__all__ = [
    "TRANSFER_SCHEMA",
    "StoreReader",
    "TransferConfig",
    "TransferResult",
    "crops_sha256",
    "ensure_checkpoints",
    "format_matrix",
    "read_example",
    "resize_matrix",
    "result_path",
    "store_key",
    "store_path",
    "store_root",
    "through_resize",
    "transfer",
    "video_key",
]
