"""Every registered dataset adapter, on the example tree of its own layout, gives a usable index.

The checks are in :mod:`conformance` (``DATASET_CHECKS``): unique video ids, labels 0/1 with both
classes, every record's file on disk, listed-but-missing files reported as ``Skipped``, and
leak-free (video- and group-disjoint) split manifests.

Where the example lives: each adapter writes it (``write_example(root)``, next to ``index()`` in
``datasets/<key>.py``), as TFDS and Hugging Face ``datasets`` keep a dataset's dummy data next to
its builder. So a new dataset, or a plugin from another package, brings its own example and is
tested by being registered; one registered without it fails here, saying what to implement.
The quirk-by-quirk trees of the real datasets are in ``layouts.py`` (``test_adapters.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conformance import DATASET_CHECKS, check_dataset_index, check_ids

from harness.datasets import DATASETS, DatasetAdapter


@pytest.mark.parametrize("check", DATASET_CHECKS, ids=check_ids(DATASET_CHECKS))
@pytest.mark.parametrize("name", DATASETS.names())
def test_dataset_conforms(name: str, check: Callable[[str, Path], None], tmp_path: Path) -> None:
    check(name, tmp_path)


def test_a_dataset_without_an_example_fails_clearly(tmp_path: Path) -> None:
    class NoExample(DatasetAdapter):
        """An adapter that forgot its example."""

    DATASETS.add("no_example", NoExample)
    try:
        with pytest.raises(pytest.fail.Exception, match=r"no_example.*NoExample.write_example\(root\)"):
            check_dataset_index("no_example", tmp_path)
    finally:
        DATASETS.remove("no_example")
