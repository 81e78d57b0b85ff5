"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session", autouse=True)
def _threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture(scope="module")
def one_thread() -> Any:
    """One torch thread for a module of tiny-tensor tests (fastest, and robust to a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """A small cnn trained for 3 epochs on the tiny embedded benchmark, and its data config."""
    from harness.config import build_config
    from harness.data import DataConfig
    from harness.train import TrainConfig, train

    cache = tmp_path_factory.mktemp("cache")
    data = build_config(
        DataConfig,
        cli={
            "options": {"size": "tiny"},
            "cache_dir": str(cache),
            "faces": {"detector": "haar", "num_frames": 8},
        },
    )
    config = TrainConfig(
        detector="cnn",
        detector_options={"input_size": 32},
        data=data,
        epochs=3,
        batch_size=16,
        patience=5,
        output=str(cache / "cnn.pt"),
    )
    result = train(config, progress=False)
    assert len(result.history) == 3
    best = max(result.history, key=lambda h: (h["val_auroc"], -h["val_loss"]))
    assert result.best_epoch == best["epoch"], "the kept checkpoint is the best on validation"
    return data, result.checkpoint
