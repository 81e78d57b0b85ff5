"""Randomized smoothing of any detector (``--set detector.smoothing_sigma=...``): the detector
contract, seeding, the Monte Carlo estimate against a closed form, gradients (EOT for attacks),
options recorded in results but never in checkpoints, and a smoothed ``harness run`` row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from probit import direction, frames_at, probit_detector, soft_g

from harness.detectors import create_detector, detector_options
from harness.smoothing import (
    GaussianSmoothing,
    content_seeds,
    fake_probability,
    noisy_scores,
    smoothed_row_name,
)


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.rand((4, 3, 16, 16), generator=torch.Generator().manual_seed(0))


def test_a_smoothed_detector_keeps_the_contract_and_is_seeded(x: torch.Tensor, one_thread: None) -> None:
    det = create_detector("cnn", input_size=16, smoothing_sigma=0.25, smoothing_n=8)
    rng = torch.get_rng_state()
    out = det(x)
    assert torch.equal(torch.get_rng_state(), rng), "no draw from the global RNG"
    assert out.shape == (4, 2) and torch.isfinite(out).all() and torch.all(out[:, 0] == 0)
    assert torch.equal(det(x), out), "the same input gives the same output"
    torch.testing.assert_close(det(x[2:]), out[2:], rtol=0, atol=1e-6)  # whatever else is in the batch
    other = create_detector("cnn", input_size=16, smoothing_sigma=0.25, smoothing_n=8, smoothing_seed=1)
    other.load_state_dict(det.state_dict())
    assert not torch.allclose(other(x), out), "another seed draws other noise"
    chunked = create_detector("cnn", input_size=16, smoothing_sigma=0.25, smoothing_n=8, smoothing_batch=1)
    chunked.load_state_dict(det.state_dict())
    torch.testing.assert_close(chunked(x), out, rtol=0, atol=1e-6)  # chunking: speed and memory only
    with pytest.raises(ValueError, match=r"\[0,1\]"):
        det(x + 1.0)  # the input is still checked; only the noisy copies leave [0, 1]


def test_the_smoothed_score_is_the_monte_carlo_mean_of_the_base_score(one_thread: None) -> None:
    u = direction(8)
    a = 10.0 * u
    x = frames_at(u, torch.linspace(-0.25, 0.25, 5), 8, jitter=0.02)
    det = probit_detector(a, 0.0, 8)
    det.smoothing = GaussianSmoothing(0.25, n=4000, seed=3)
    g = det(x).softmax(dim=1)[:, 1].double()
    torch.testing.assert_close(g, soft_g(a, 0.0, 0.25, x), rtol=0, atol=0.02)  # E f(x + noise), exactly known
    p = noisy_scores(lambda z: fake_probability(det.base_logits(z)), x, content_seeds(x, 3), 0.25, 4000)
    torch.testing.assert_close(g, p.mean(dim=1), rtol=1e-5, atol=1e-6)


def test_gradients_flow_and_every_new_input_draws_fresh_noise(x: torch.Tensor, one_thread: None) -> None:
    det = create_detector("cnn", input_size=16, smoothing_sigma=0.25, smoothing_n=8)
    xg = x.clone().requires_grad_(True)
    det(xg)[:, 1].sum().backward()
    assert (
        xg.grad is not None and torch.isfinite(xg.grad).all() and (xg.grad.flatten(1).abs().amax(1) > 0).all()
    )
    seeds = content_seeds(x, 0)
    assert len(set(seeds)) == 4
    assert content_seeds(x.clone(), 0) == seeds and content_seeds(x[1:], 0) == seeds[1:]
    assert content_seeds(x.contiguous(memory_format=torch.channels_last), 0) == seeds
    moved = (x + 1 / 255).clamp(0, 1)
    assert not set(content_seeds(moved, 0)) & set(seeds), "an attack step sees new noise (EOT)"
    assert content_seeds(x, 1) != seeds


def test_a_confident_detector_keeps_its_gradient_when_smoothed() -> None:
    """Every noisy copy scored fake with a logit of ~400: 1 - g is far below float64's epsilon,
    yet the smoothed logit is finite and its gradient is not zero (no accidental masking)."""
    u = direction(8)
    det = probit_detector(100.0 * u, 0.0, 8)
    det.smoothing = GaussianSmoothing(0.01, n=8)
    x = frames_at(u, torch.full((2,), 0.3), 8).requires_grad_(True)
    z = det(x)[:, 1]
    assert torch.isfinite(z).all() and (z > 300).all()
    (grad,) = torch.autograd.grad(
        torch.nn.functional.cross_entropy(det(x), torch.zeros(2, dtype=torch.long)), x
    )
    assert (grad.flatten(1).abs().amax(1) > 0).all()


def test_smoothing_options_are_recorded_but_never_checkpointed(tmp_path: Path) -> None:
    from harness.checkpoint import save_checkpoint

    det = create_detector("cnn", input_size=16, smoothing_sigma=0.5)
    assert "smoothing_sigma" not in det.build_overrides
    opts = detector_options(det)
    assert opts["smoothing_sigma"] == 0.5 and opts["smoothing_n"] == 32 and opts["smoothing_seed"] == 0
    path = save_checkpoint(tmp_path / "cnn.pt", det, {"dataset": "synthetic"})
    assert create_detector("cnn", checkpoint=path).smoothing is None, "the weights are the base detector's"
    again = create_detector("cnn", checkpoint=path, smoothing_sigma=0.25, smoothing_n=4)
    assert again.smoothing is not None and detector_options(again)["smoothing_n"] == 4
    assert "smoothing" not in detector_options(create_detector("cnn", checkpoint=path))
    with pytest.raises(ValueError, match="need smoothing_sigma > 0"):
        create_detector("cnn", smoothing_n=8)
    with pytest.raises(TypeError, match="Did you mean 'smoothing_sigma'"):
        create_detector("cnn", smoothing_sigmaa=0.25)
    with pytest.raises(ValueError, match="smoothing_n must be >= 1"):
        create_detector("cnn", smoothing_sigma=0.25, smoothing_n=0)
    assert smoothed_row_name("cnn", {"smoothing_sigma": 0.25}) == "cnn-smooth0p25"
    assert smoothed_row_name("cnn", {}) is None


@pytest.mark.parametrize(
    "attack, options",
    [
        ("pgd_eot", {"eps": 8 / 255, "steps": 3, "eot_samples": 2, "transforms": ["blur", "noise"]}),
        ("pgdl2", {"eps": 0.5, "steps": 3}),
    ],
)
def test_white_box_attacks_lower_a_smoothed_detectors_score(attack: str, options: dict[str, Any]) -> None:
    from harness.attacks import create_attack

    u = direction(16)
    a = 10.0 * u
    x = frames_at(u, torch.full((4,), 0.3), 16, jitter=0.02)  # fakes, g ~ 0.8
    det = probit_detector(a, 0.0, 16)
    det.smoothing = GaussianSmoothing(0.1, n=8)
    result = create_attack(attack, **options)(det, x, torch.ones(4, dtype=torch.long))
    assert result.zero_grad is not None and not result.zero_grad.any(), "the gradient is not masked"
    before, after = soft_g(a, 0.0, 0.1, x), soft_g(a, 0.0, 0.1, result.x_adv)
    assert (after < before - 0.05).all(), (before, after)


@pytest.mark.timeout(240)  # the session's tiny cnn may be trained first
def test_a_smoothed_run_is_a_row_of_its_own_with_its_options(tiny: Any, tmp_path: Path) -> None:
    from harness import workflow
    from harness.runner import RunConfig

    data, ckpt = tiny
    config = RunConfig(
        detector="cnn",
        checkpoint=str(ckpt),
        data=data,
        attack="fgsm",
        attack_options={"eps": 2 / 255},
        detector_options={"smoothing_sigma": 0.1, "smoothing_n": 4},
        n_boot=20,
        workers=0,
        results_dir=str(tmp_path / "results"),
    )
    (run,) = workflow.run(config, progress=False)
    assert run.path is not None and run.path.parent.name == "cnn-smooth0p1", "never the base detector's row"
    opts = run.result["detector_options"]
    assert (opts["smoothing_sigma"], opts["smoothing_n"], opts["smoothing_seed"]) == (0.1, 4, 0)
    assert run.result["metrics"]["n_videos"] > 0
