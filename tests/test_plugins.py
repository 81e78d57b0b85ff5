"""Adding a component touches its own file and one registry line (plus, for a detector, at most one
demo config): proved for each kind with a throwaway plugin.

Each test writes a new component's own file into ``tmp_path``, makes that folder part of the
package (``harness.detectors.__path__`` etc., so the file is ``harness.<kind>.throwaway`` exactly
as ``<kind>/throwaway.py`` in the tree would be), adds the one registry line and runs the same
conformance checks the registry-parametrized suites run (:mod:`conformance`). A fixture removes
the registration and the module again. The last test installs a dataset through the
``harness.datasets`` entry-point group instead, as a separate package would.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conformance import ATTACK_CHECKS, DATASET_CHECKS, DETECTOR_CHECKS, run_checks

import harness.attacks
import harness.datasets
import harness.detectors
from harness.attacks import ATTACKS
from harness.cli import main
from harness.datasets import DATASETS
from harness.detectors import DETECTORS

KEY = "throwaway"

DETECTOR_FILE = '''
"""A throwaway frame detector: one convolution, global average pooling, two logits."""

from torch import nn

from harness.detectors import register_detector
from harness.detectors._base import DetectorSpec, FrameDetector, as_size


@register_detector
def throwaway(*, input_size: int | tuple[int, int] = (32, 32)) -> FrameDetector:
    """One conv layer and a linear head (a plugin test's detector)."""
    trunk = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    spec = DetectorSpec(
        kind="frame", input_size=as_size(input_size), mean=(0.5,) * 3, std=(0.25,) * 3, reference="test_plugins"
    )
    return FrameDetector(spec, trunk, nn.Linear(4, 2), 4)
'''

ATTACK_FILE = '''
"""A throwaway attack: FGSM written out in plain torch, L-inf."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from harness.attacks import register_attack
from harness.attacks._base import Attack, AttackConfig, AttackModel, project_linf


@dataclass(frozen=True)
class ThrowawayConfig(AttackConfig):
    eps: float = 4 / 255  # L-inf budget in [0,1] pixel units


@register_attack
class Throwaway(Attack):
    """One signed-gradient step of the cross-entropy loss (a plugin test's attack)."""

    Config = ThrowawayConfig
    norm = "linf"
    uses_gradients = True

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        x_var = x.clone().requires_grad_(True)
        loss = F.cross_entropy(model(x_var), y)
        (grad,) = torch.autograd.grad(loss, x_var)
        return project_linf(x + self.config.eps * grad.sign(), x, self.config.eps)
'''

DATASET_FILE = '''
"""A throwaway dataset: ``labels.csv`` (``path,label``, 1 = fake) next to its videos."""

import csv
from pathlib import Path

from harness.datasets import (
    DatasetAdapter,
    DatasetIndex,
    Example,
    Skipped,
    VideoRecord,
    placeholder,
    register_dataset,
    strip_suffix,
)


@register_dataset
class ListedVideos(DatasetAdapter):
    """Videos listed in labels.csv; each video is its own leakage group."""

    def index(self) -> DatasetIndex:
        self.require_root()
        videos, skipped = [], []
        with (self.root / "labels.csv").open(newline="") as f:
            for row in csv.DictReader(f):
                video_id = strip_suffix(row["path"])
                if (self.root / row["path"]).is_file():
                    videos.append(VideoRecord(video_id, row["path"], int(row["label"]), group=video_id))
                else:
                    skipped.append(Skipped(video_id, row["path"], "listed in labels.csv but missing"))
        return DatasetIndex(self.name, self.root, videos, skipped)

    @classmethod
    def write_example(cls, root: Path) -> Example:
        rows = [f"v{i}.mp4,{i % 2}" for i in range(6)]
        for row in rows:
            placeholder(root / row.split(",")[0])
        (root / "labels.csv").write_text("path,label\\n" + "\\n".join([*rows, "gone.mp4,1"]) + "\\n")
        return Example(root, missing=("gone",))
'''


@pytest.fixture
def add_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``add_file(package, text)`` writes ``<package folder>/throwaway.py`` (a folder in
    ``tmp_path`` added to the package's ``__path__``). Afterwards every registration made during
    the test and the throwaway modules are gone again."""
    registries = (DETECTORS, ATTACKS, DATASETS)
    before = {id(r): set(r.names()) for r in registries}

    def add_file(package: Any, text: str) -> None:
        folder = tmp_path / package.__name__
        folder.mkdir()
        (folder / f"{KEY}.py").write_text(textwrap.dedent(text))
        monkeypatch.setattr(package, "__path__", [*package.__path__, str(folder)])
        importlib.invalidate_caches()

    yield add_file
    for registry in registries:
        for name in set(registry.names()) - before[id(registry)]:
            registry.remove(name)
        registry.plugin_warnings.clear()
    for module in (*(f"{r.package}.{KEY}" for r in registries), "acme_listed"):
        sys.modules.pop(module, None)


def test_a_detector_is_its_file_and_one_registry_line(add_file: Any, tmp_path: Path) -> None:
    add_file(harness.detectors, DETECTOR_FILE)
    DETECTORS.register_lazy(KEY, "A throwaway detector: one conv, GAP, two logits")  # the one line

    run_checks(DETECTOR_CHECKS, KEY, tmp_path / "checks")
    assert DETECTORS.get(KEY).__module__ == f"harness.detectors.{KEY}"


def test_an_attack_is_its_file_and_one_registry_line(add_file: Any, tmp_path: Path, one_thread: None) -> None:
    add_file(harness.attacks, ATTACK_FILE)
    ATTACKS.register_lazy(KEY, "A throwaway attack: FGSM in plain torch, L-inf")  # the one line

    run_checks(ATTACK_CHECKS, KEY, tmp_path / "checks")
    assert ATTACKS.get(KEY).name == KEY


def test_a_dataset_is_its_file_and_one_registry_line(add_file: Any, tmp_path: Path) -> None:
    add_file(harness.datasets, DATASET_FILE)
    DATASETS.register_lazy(KEY, "A throwaway dataset: labels.csv next to its videos")  # the one line

    run_checks(DATASET_CHECKS, KEY, tmp_path / "checks")
    assert DATASETS.get(KEY).name == KEY


@pytest.mark.parametrize(
    ("package", "registry", "text"),
    [
        (harness.detectors, DETECTORS, DETECTOR_FILE),
        (harness.attacks, ATTACKS, ATTACK_FILE),
        (harness.datasets, DATASETS, DATASET_FILE),
    ],
    ids=["detectors", "attacks", "datasets"],
)
def test_the_cli_lists_the_new_component_without_importing_it(
    add_file: Any, package: Any, registry: Any, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add_file(package, text)
    registry.register_lazy(KEY, "Listed from its registry line")
    kind = package.__name__.rpartition(".")[2]
    assert main(["ls", kind]) == 0
    assert [KEY, "Listed from its registry line"] in [
        line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines()
    ]
    assert f"{package.__name__}.{KEY}" not in sys.modules, "listing imports nothing"


def test_an_installed_package_adds_a_dataset_through_its_entry_point(
    add_file: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "acme_listed.py").write_text(textwrap.dedent(DATASET_FILE))
    info = site / "acme_listed-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-listed\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[harness.datasets]\nacme_listed = acme_listed\n")
    monkeypatch.syspath_prepend(str(site))

    assert DATASETS.load_plugins(force=True) == ["acme_listed"]
    assert "acme_listed" not in sys.modules, "declared lazily"
    run_checks(DATASET_CHECKS, "acme_listed", tmp_path / "checks")
    assert DATASETS.description("acme_listed") == "[plugin: acme-listed] acme_listed"
