"""Conformance checks for every kind of component, one function per rule (scikit-learn's
``parametrize_with_checks``).

``DETECTOR_CHECKS``, ``ATTACK_CHECKS`` and ``DATASET_CHECKS`` are run on every registered name by
the registry-parametrized suites (``test_detector_conformance.py``, ``test_attacks.py``,
``test_dataset_conformance.py``) and on throwaway plugins by ``test_plugins.py``: a new component
is tested by being registered. Each check takes the registry name and a fresh ``tmp_path``.

Per-attack tables (``FAST_ATTACKS`` in :mod:`tiny`, ``EFFECTIVE``, ``STRONG``, ``MINIMAL``) only
tune the tiny 16x16 test setting; an attack without an entry runs at its defaults.
"""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import sample_input, small_overrides
from tiny import (
    FAST_ATTACKS,
    auroc,
    bn_detector,
    clips,
    faces,
    matched_clip_detector,
    p_fake,
    tiny_clip_detector,
    trained_detector,
)

from harness.attacks import ATTACKS, create_attack
from harness.attacks._base import Attack
from harness.checkpoint import CheckpointError, save_checkpoint
from harness.datasets import DATASETS, DatasetAdapter, DatasetError, DatasetIndex, Example
from harness.detectors import DETECTORS, Detector, create_detector
from harness.splits import Manifest, check_disjoint, make_manifest

Check = Callable[[str, Path], None]


def check_ids(checks: tuple[Check, ...]) -> list[str]:
    """Test ids for a check list: the function names without ``check_``."""
    return [c.__name__.removeprefix("check_") for c in checks]


# =============================================================================================
# Detectors: small variants (64x64 input, small LSTM) keep the suite fast on 2 CPU cores.
_DETECTORS: dict[Any, Detector] = {}


def small_detector(name: str) -> Detector:
    """A fast variant of detector ``name`` (cached per builder), in eval mode."""
    builder = DETECTORS.get(name)
    if builder not in _DETECTORS:
        torch.manual_seed(0)
        _DETECTORS[builder] = create_detector(name, **small_overrides(name))
    return _DETECTORS[builder].eval()


def check_detector_declaration(name: str, tmp_path: Path) -> None:
    builder = DETECTORS.get(name)
    assert callable(builder)
    assert builder.__doc__, f"{name}: the builder needs a docstring saying what it builds"
    assert DETECTORS.description(name), f"{name}: its registry line needs a description"


def check_detector_logits(name: str, tmp_path: Path) -> None:
    model = small_detector(name)
    with torch.no_grad():
        out = model(sample_input(model, batch=3))
    assert out.shape == (3, 2)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def check_detector_gradient(name: str, tmp_path: Path) -> None:
    model = small_detector(name)
    x = sample_input(model).requires_grad_(True)
    loss = F.cross_entropy(model(x), torch.tensor([1, 0]))
    (grad,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(grad).all()
    assert grad.abs().sum() > 0
    assert not model.training, "the attack path must not switch dropout/batch-norm to training"


def check_detector_deterministic(name: str, tmp_path: Path) -> None:
    model = small_detector(name)
    x = sample_input(model)
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a, b)


def check_detector_input_errors(name: str, tmp_path: Path) -> None:
    model = small_detector(name)
    x = sample_input(model)
    with pytest.raises(ValueError, match=r"\[0,1\]"):
        model(x * 255)
    with pytest.raises(ValueError, match=r"\[0,1\]"):
        model(x - 0.5)
    nan = x.clone()
    nan.view(-1)[0] = float("nan")
    with pytest.raises(ValueError, match=r"\[0,1\]"):
        model(nan)
    with pytest.raises(ValueError, match="expects"):
        model(x[0])  # a missing batch (or time) dimension
    with pytest.raises(ValueError, match="resize"):
        model(torch.rand(*x.shape[:-2], x.shape[-2] + 8, x.shape[-1]))
    with pytest.raises(TypeError):
        model((x * 255).to(torch.uint8))
    with model.range_check(False):  # an attack that checked its input may skip the sync
        assert model(x * 1.01).shape == (x.shape[0], 2)
    assert model.check_range


def check_detector_checkpoint_round_trip(name: str, tmp_path: Path) -> None:
    model = small_detector(name)
    path = save_checkpoint(tmp_path / f"{name}.pt", model, meta={"dataset": "unit-test", "epochs": 0})
    loaded = create_detector(name, checkpoint=path)
    x = sample_input(model)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert loaded.spec == model.spec
    assert loaded.checkpoint_meta["dataset"] == "unit-test"
    assert loaded.checkpoint_meta["code_version"]
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.pt"], "no temp files left behind"


def check_detector_refuses_other_checkpoint(name: str, tmp_path: Path) -> None:
    other = next(n for n in DETECTORS.names() if n != name)
    path = save_checkpoint(tmp_path / "other.pt", small_detector(other))
    with pytest.raises(CheckpointError) as info:
        create_detector(name, checkpoint=path, **small_overrides(name))
    assert other in str(info.value) and name in str(info.value)


def check_detector_spec(name: str, tmp_path: Path) -> None:
    model = small_detector(name)
    spec = model.spec
    assert spec.name == name, "the registry names the detector"
    assert spec.kind in ("frame", "clip")
    assert spec.input_size == (64, 64)
    assert len(spec.mean) == 3 and len(spec.std) == 3 and min(spec.std) > 0
    assert (spec.frames_per_clip or 0) > 0 if spec.kind == "clip" else spec.frames_per_clip is None
    assert spec.reference
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "changed"  # type: ignore[misc]
    # Normalization lives inside the model as buffers, not in the state dict.
    assert torch.allclose(model.mean.flatten(), torch.tensor(spec.mean))
    assert "mean" not in model.state_dict()


DETECTOR_CHECKS: tuple[Check, ...] = (
    check_detector_declaration,
    check_detector_logits,
    check_detector_gradient,
    check_detector_deterministic,
    check_detector_input_errors,
    check_detector_checkpoint_round_trip,
    check_detector_refuses_other_checkpoint,
    check_detector_spec,
)


# =============================================================================================
# Attacks, on the tiny 16x16 detectors of tiny.py.
EFFECTIVE: dict[str, dict[str, Any]] = {
    # Budgets where the defaults are tuned for 224-px detectors and thousands of queries.
    "square": {"n_queries": 300, "eps": "8/255"},
    # One perturbation for all: it can push the fakes toward "real" (its default), not both ways.
    "uap": {"target": "fake", "epochs": 10},
    # A decision-based attack stops just across the decision boundary; rounding to 8 bits can
    # pull such points back (the harness reports that honestly): here the float case is tested.
    "hopskipjump": {"max_iter": 10, "max_eval": 100, "init_eval": 20, "eps": 1.0, "quantize": False},
}
# Minimal-perturbation attacks return a sample unchanged unless they flip its label.
MINIMAL = {"cw", "hopskipjump"}
STRONG: dict[str, dict[str, Any]] = {  # perturbations at settings that must change the scores
    "jpeg": {"quality": 5},
    "h264": {"crf": 51},
    "blur": {"sigma": 2.0},
    "noise": {"sigma": 0.3},
    "resize": {"scale": 0.25},
}


def make_attack(name: str, **settings: Any) -> Attack:
    """Attack ``name`` at its fast test settings, ``settings`` on top."""
    return create_attack(name, **{**FAST_ATTACKS.get(name, {}), **settings})


def is_adversarial(attack: Attack) -> bool:
    return attack.uses_gradients or attack.black_box


def assert_within_budget(attack: Attack, x: torch.Tensor, x_adv: torch.Tensor) -> None:
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and x_adv.device == x.device
    assert torch.isfinite(x_adv).all() and x_adv.min() >= 0 and x_adv.max() <= 1
    delta = (x_adv - x).flatten(1)
    if attack.norm == "linf":
        assert delta.abs().amax(dim=1).max() <= attack.eps + 1e-6
    elif attack.norm == "l2":
        assert delta.norm(dim=1).max() <= attack.eps + 1e-4


def ce(detector: Detector, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return F.cross_entropy(detector(x), y, reduction="none")


def check_attack_declaration(name: str, tmp_path: Path) -> None:
    cls = ATTACKS.get(name)
    assert isinstance(cls, type) and issubclass(cls, Attack)
    assert cls.name == name, "the registry names the attack"
    assert cls.norm in ("linf", "l2", None)
    assert isinstance(cls.uses_gradients, bool) and isinstance(cls.black_box, bool)
    assert dataclasses.is_dataclass(cls.Config) and cls.Config.__dataclass_params__.frozen
    assert ("eps" in {f.name for f in dataclasses.fields(cls.Config)}) == (cls.norm is not None)
    assert create_attack(name).config == cls.Config(), "the Config dataclass holds the defaults"
    assert cls.__doc__ and ATTACKS.description(name)


def check_attack_contract(name: str, tmp_path: Path) -> None:
    """Budget, range, the detector's modes, frozen parameters and gradients come back as they were."""
    det = trained_detector()
    det.train()
    det.model.head.eval()  # a mixed state must come back exactly
    frozen = det.model.features[0].bias
    frozen.requires_grad_(False)
    x, y = faces(16, seed=3)
    attack = make_attack(name)
    result = attack(det, x, y)
    assert_within_budget(attack, x, result.x_adv)
    assert det.training and det.model.features.training and not det.model.head.training
    assert all(p.grad is None for p in det.parameters())
    assert not frozen.requires_grad
    assert all(p.requires_grad for p in det.parameters() if p is not frozen)
    assert det.check_range
    assert result.attacked.all() and result.seconds > 0
    assert (result.queries > 0) == is_adversarial(attack)
    assert torch.allclose(result.linf, (result.x_adv - x).flatten(1).abs().amax(dim=1))
    if is_adversarial(attack):
        assert (result.x_adv != x).any()


def check_attack_non_contiguous_input(name: str, tmp_path: Path) -> None:
    # Crops come from HWC arrays: a permuted (channels-last) batch must work with every attack.
    det = trained_detector()
    x, y = faces(4, seed=5)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    assert not x_cl.is_contiguous()
    result = make_attack(name)(det, x_cl, y)
    assert_within_budget(make_attack(name), x, result.x_adv)


def _lowers_auroc(name: str, det: Detector, x: torch.Tensor, y: torch.Tensor) -> None:
    clean = auroc(det, x, y)
    assert clean > 0.99
    attack = make_attack(name, **EFFECTIVE.get(name, {}))
    result = attack(det, x, y)
    attacked = auroc(det, result.x_adv, y)
    if is_adversarial(attack):
        assert attacked <= clean - 0.5, f"{name}: AUROC {clean:.3f} -> {attacked:.3f}"
        assert ce(det, result.x_adv, y).mean() > ce(det, x, y).mean()
    else:
        assert attacked <= clean + 1e-9
        strong = make_attack(name, **STRONG.get(name, {}))(det, x, y).x_adv
        assert (p_fake(det, strong) - p_fake(det, x)).abs().mean() > 0.05


def check_attack_lowers_auroc_on_frames(name: str, tmp_path: Path) -> None:
    _lowers_auroc(name, trained_detector(), *faces(16, seed=5))


def check_attack_lowers_auroc_on_clips(name: str, tmp_path: Path) -> None:
    _lowers_auroc(name, matched_clip_detector(frames=3), *clips(8, frames=3, seed=5))


def check_attack_reproducible_from_seed(name: str, tmp_path: Path) -> None:
    """Same seed, same output; the caller's global RNG states are untouched."""
    det = trained_detector()
    x, y = faces(8, seed=7)
    torch_state, np_state, py_state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    a = make_attack(name, seed=1)(det, x, y).x_adv
    b = make_attack(name, seed=1)(det, x, y).x_adv
    assert torch.equal(a, b)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state[1]) and random.getstate() == py_state
    attack = make_attack(name, seed=2)
    if attack.randomized:
        assert not torch.equal(attack(det, x, y).x_adv, a)


def check_attack_target_selects_samples(name: str, tmp_path: Path) -> None:
    det = trained_detector()
    x, y = faces(8, seed=9)
    for target, label in (("fake", 1), ("real", 0)):
        result = make_attack(name, target=target)(det, x, y)
        untouched = y != label
        assert torch.equal(result.x_adv[untouched], x[untouched])  # bit-identical
        assert torch.equal(result.attacked, y == label)
        assert (result.x_adv[~untouched] != x[~untouched]).any()


def check_attack_clip_detector(name: str, tmp_path: Path) -> None:
    det = tiny_clip_detector(frames=3)
    det.train()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 3, 16, 16, generator=gen).mul(255).round().div(255)  # 8-bit, as decoded
    y = torch.tensor([0, 1, 0, 1])
    attack = make_attack(name)
    result = attack(det, x, y)
    assert_within_budget(attack, x, result.x_adv)  # budget per clip
    assert det.training and all(p.grad is None for p in det.parameters())
    det.eval()  # no dropout when scoring
    if is_adversarial(attack):
        before, after = ce(det, x, y), ce(det, result.x_adv, y)
        assert (after >= before - 1e-5).all()
        if attack.uses_gradients and name not in MINIMAL:
            assert after.mean() > before.mean()


def check_attack_perturbation_is_per_sample(name: str, tmp_path: Path) -> None:
    """A deterministic perturbation (no budget) does not depend on the rest of the batch."""
    attack = make_attack(name)
    if attack.norm is not None or attack.randomized:
        return  # optimized attacks, and noise whose draw depends on the batch shape
    det = trained_detector()
    x, y = faces(6, seed=29)
    assert torch.equal(attack(det, x, y).x_adv[:2], attack(det, x[:2], y[:2]).x_adv)


def detector_state(det: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every parameter and buffer (persistent or not) of ``det``."""
    out = {k: v.detach().clone() for k, v in det.state_dict().items()}
    out.update({f"buffer:{k}": v.detach().clone() for k, v in det.named_buffers()})
    return out


def check_attack_changes_no_parameter_or_buffer(name: str, tmp_path: Path) -> None:
    det = bn_detector()
    x, y = faces(8, seed=4)
    before = detector_state(det)
    with torch.no_grad():
        clean = det(x)
    make_attack(name)(det, x, y)
    after = detector_state(det)
    assert before.keys() == after.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert not changed, f"{name} changed {changed}"
    assert not any(m.training for m in det.modules()), f"{name} left the detector in train mode"
    with torch.no_grad():
        assert torch.equal(det(x), clean), f"{name}: clean logits moved"


def check_attack_output_is_8bit_within_budget(name: str, tmp_path: Path) -> None:
    det = trained_detector()
    x, y = faces(8, seed=7)
    attack = make_attack(name)
    res = attack(det, x, y)
    k = res.x_adv * 255
    assert torch.equal(k, k.round()), f"{name}: attacked frames are not on the 8-bit grid"
    assert res.quantized
    if attack.norm == "linf":
        assert float(res.linf.max()) <= attack.eps + 1e-6
    elif attack.norm == "l2":
        assert float(res.l2.max()) <= attack.eps + 1e-4


ATTACK_CHECKS: tuple[Check, ...] = (
    check_attack_declaration,
    check_attack_contract,
    check_attack_non_contiguous_input,
    check_attack_lowers_auroc_on_frames,
    check_attack_lowers_auroc_on_clips,
    check_attack_reproducible_from_seed,
    check_attack_target_selects_samples,
    check_attack_clip_detector,
    check_attack_perturbation_is_per_sample,
    check_attack_changes_no_parameter_or_buffer,
    check_attack_output_is_8bit_within_budget,
)


# =============================================================================================
# Datasets, on the example tree each adapter writes of its own layout (``write_example``).
_EXAMPLES: dict[type, tuple[Example, DatasetIndex]] = {}


def example_index(name: str, tmp_path: Path) -> tuple[Example, DatasetIndex]:
    """The adapter's example tree (written once per adapter class, under the first ``tmp_path``)
    and its index. An adapter without an example fails here, saying what to implement."""
    cls = DATASETS.get(name)
    if cls not in _EXAMPLES:
        root = tmp_path / "example"
        try:
            example = cls.write_example(root)
        except NotImplementedError as exc:
            pytest.fail(f"dataset {name!r} is registered without an example tree: {exc}", pytrace=False)
        adapter = cls(example.root, **example.options)
        adapter.progress = False
        _EXAMPLES[cls] = (example, adapter.index())
    return _EXAMPLES[cls]


def assert_leak_free(manifest: Manifest, index: DatasetIndex) -> None:
    """``check_disjoint`` plus the same rules checked here from the adapter's own records: every
    video once, groups and fakes with their originals (even absent ones) on one side."""
    check_disjoint(manifest)
    records = index.by_id()
    split_of = {r.video_id: r.split for r in manifest.rows}
    assert len(split_of) == len(manifest.rows), "a video appears twice"
    assert set(split_of) | {d.video_id for d in manifest.dropped} == set(records)
    sides: dict[str, set[str]] = defaultdict(set)
    for video_id, split in split_of.items():
        sides["group " + records[video_id].group].add(split)
        original = records[video_id].original
        if original is not None:
            sides["original " + original].add(split)  # fakes of one original, even an absent one
            if original in split_of:
                assert split_of[original] == split, f"{video_id} and its original {original} split apart"
    crossing = {key: s for key, s in sides.items() if len(s) > 1}
    assert not crossing, f"crosses splits: {crossing}"


def check_dataset_declaration(name: str, tmp_path: Path) -> None:
    cls = DATASETS.get(name)
    assert isinstance(cls, type) and issubclass(cls, DatasetAdapter)
    assert cls.name == name, "the registry names the adapter"
    assert "random" in cls.protocols and set(cls.protocols) <= {"random", "official"}
    assert cls.__doc__ and DATASETS.description(name)


def check_dataset_index(name: str, tmp_path: Path) -> None:
    """Unique ids, labels 0/1 with both classes, every record's file on disk, relative paths."""
    example, index = example_index(name, tmp_path)
    assert index.dataset == name
    video_ids = [v.video_id for v in index.videos]
    assert video_ids and len(video_ids) == len(set(video_ids)), "video ids must be unique"
    assert {v.label for v in index.videos} == {0, 1}, "the example must hold reals and fakes"
    for v in index.videos:
        assert not Path(v.path).is_absolute() and "\\" not in v.path, v
        assert index.abspath(v).exists(), f"{v.video_id}: {v.path} is not on disk"
        assert v.group, f"{v.video_id}: no leakage group"


def check_dataset_skips_missing_files(name: str, tmp_path: Path) -> None:
    """A file the metadata lists but the disk lacks is a ``Skipped`` entry, not a crash."""
    example, index = example_index(name, tmp_path)
    skipped = {s.video_id: s for s in index.skipped}
    for video_id in example.missing:
        assert video_id in skipped, f"{video_id} is listed but missing: it must be reported as skipped"
        assert skipped[video_id].reason
    assert not set(example.missing) & {v.video_id for v in index.videos}


def check_dataset_splits_are_leak_free(name: str, tmp_path: Path) -> None:
    """Random manifests are video- and group-disjoint, fill every split, and are seeded; an
    official test list, where the adapter reads one, gives a leak-free official manifest."""
    example, index = example_index(name, tmp_path)
    manifest = make_manifest(index, "random", seed=0)
    assert_leak_free(manifest, index)
    assert all(manifest.split(s) for s in ("train", "val", "test")), "too few groups to fill every split"
    assert make_manifest(index, "random", seed=0).hash == manifest.hash
    if "official" in DATASETS.get(name).protocols and index.official_test_available:
        official = make_manifest(index, "official", seed=0)
        assert_leak_free(official, index)
        listed = {v.video_id for v in index.videos if v.official_split == "test"}
        assert {r.video_id for r in official.split("test")} == listed
    else:
        with pytest.raises(DatasetError, match="official test list"):
            make_manifest(index, "official")


def check_dataset_bad_root_and_options(name: str, tmp_path: Path) -> None:
    cls = DATASETS.get(name)
    if cls.needs_root:
        with pytest.raises(DatasetError, match="nowhere does not exist"):
            cls(tmp_path / "nowhere").index()
    with pytest.raises(TypeError):
        cls(tmp_path, colour="blue")


DATASET_CHECKS: tuple[Check, ...] = (
    check_dataset_declaration,
    check_dataset_index,
    check_dataset_skips_missing_files,
    check_dataset_splits_are_leak_free,
    check_dataset_bad_root_and_options,
)


def run_checks(checks: tuple[Check, ...], name: str, tmp_path: Path) -> None:
    """Every check of ``checks`` on ``name``, each in its own folder (for one-off components)."""
    for check in checks:
        folder = tmp_path / check.__name__
        folder.mkdir(parents=True)
        check(name, folder)
