"""``harness certify``: the certificate's math against closed forms, a cross-check with ART's
``PyTorchRandomizedSmoothing.certify``, the soundness of the certified AUROC under an L2 attack
with EOT, and the command end to end (result file, leaderboard, torchrun)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from probit import direction, frames_at, hard_g, probit_detector, soft_g
from scipy.stats import binom, binomtest, norm

from harness.certify import CertifyConfig, certify, certify_batch, result_path
from harness.metrics import auroc
from harness.metrics.certified import (
    certified_auroc_curve,
    certified_range,
    certified_video_scores,
    clopper_pearson,
    frame_certificates,
    lower_confidence_bound,
)

BIN = Path(sys.executable).parent
SIZE = 8
SIGMA = 0.25


# -- the math -------------------------------------------------------------------------------------
def test_clopper_pearson_matches_closed_forms_and_scipy() -> None:
    n, alpha = 1000, 0.001
    lo, hi = clopper_pearson([0, n], n, alpha)
    assert lo[0] == 0.0 and hi[1] == 1.0
    assert hi[0] == pytest.approx(1 - (alpha / 2) ** (1 / n), rel=1e-9)  # k = 0: 1 - (a/2)^(1/n)
    assert lo[1] == pytest.approx((alpha / 2) ** (1 / n), rel=1e-9)  # k = n: (a/2)^(1/n)
    assert lower_confidence_bound([n], n, alpha)[0] == pytest.approx(alpha ** (1 / n), rel=1e-9)
    ks = np.array([1, 37, 500, 912, 999])
    lo, hi = clopper_pearson(ks, n, alpha)
    for k, low, high in zip(ks, lo, hi, strict=True):
        ci = binomtest(int(k), n).proportion_ci(confidence_level=1 - alpha, method="exact")
        assert (low, high) == pytest.approx((ci.low, ci.high), rel=1e-7)
    with pytest.raises(ValueError, match="counts"):
        clopper_pearson([n + 1], n, alpha)


def test_certified_range_is_exact_for_a_hard_linear_classifier() -> None:
    """For ``g = Phi((a.x + b) / (sigma |a|))`` the bound is attained: moving ``r`` along
    ``-a/|a|`` (``+a/|a|``) gives exactly the certified low (high); any other direction stays inside."""
    u = direction(SIZE)
    a, sigma, r = 7.0 * u, SIGMA, 0.3
    x = frames_at(u, torch.tensor([-0.2, 0.05, 0.3]), SIZE).double()
    g = hard_g(a, 0.0, sigma, x).numpy()
    low, high = certified_range(g, g, sigma, r)
    shift = (r * u).view(1, 3, SIZE, SIZE)
    np.testing.assert_allclose(low, hard_g(a, 0.0, sigma, x - shift).numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(high, hard_g(a, 0.0, sigma, x + shift).numpy(), rtol=1e-9, atol=1e-12)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        d = torch.randn(x.shape, generator=gen, dtype=torch.float64)
        d = r * d / d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        moved = hard_g(a, 0.0, sigma, x + d).numpy()
        assert np.all(moved >= low - 1e-12) and np.all(moved <= high + 1e-12)
    # the range only widens with r, and at r = 0 it is the interval itself
    assert certified_range(g, g, sigma, 0.0)[0] == pytest.approx(g)
    assert np.all(certified_range(g, g, sigma, 2 * r)[0] <= low)


def test_the_sampled_interval_holds_the_exact_smoothed_score() -> None:
    """``certify_batch``'s Bernoulli counts give intervals containing the closed-form ``g`` of a
    probit model (soft and hard), and the counts do not depend on how frames are batched."""
    u = direction(SIZE)
    a = 40.0 * u
    x = frames_at(u, torch.linspace(-0.3, 0.3, 8), SIZE, jitter=0.02)
    det = probit_detector(a, 0.0, SIZE)
    keys = [(f"v{i // 2}", i % 2) for i in range(len(x))]
    for score, exact in (("soft", soft_g), ("hard", hard_g)):
        cfg = CertifyConfig(sigma=SIGMA, n=2000, n0=20, alpha=0.001, score=score)
        out = certify_batch(det, x, keys, cfg)
        lo, hi = clopper_pearson(out["k"], cfg.n, cfg.alpha)
        g = exact(a, 0.0, SIGMA, x).numpy()
        assert np.all(lo <= g) and np.all(g <= hi), (score, lo, g, hi)
        assert np.all(hi - lo < 0.12), "n = 2000 gives a useful interval"
        halves = [certify_batch(det, x[s], keys[s], cfg) for s in (slice(0, 3), slice(3, None))]
        assert out["k"] == halves[0]["k"] + halves[1]["k"], "seeded by video and crop, not by batch"
        if score == "soft":
            np.testing.assert_allclose(out["m"], g, atol=0.03)  # the Monte Carlo mean of f


def test_certified_auroc_puts_fakes_low_and_reals_high() -> None:
    """Hand-made intervals: at r = 0 the certified AUROC ranks fakes at their lows and reals at
    their highs; a radius only lowers it; videos are the mean of their frames' bounds."""
    ids = ["f1", "f1", "f2", "r1", "r1", "r2"]
    labels = [1, 1, 1, 0, 0, 0]
    lo = np.array([0.7, 0.8, 0.55, 0.1, 0.3, 0.4])
    hi = np.array([0.9, 0.95, 0.7, 0.2, 0.5, 0.6])
    vids, vlab, v_lo, v_hi = certified_video_scores(ids, labels, lo, hi, SIGMA, 0.0)
    assert list(vids) == ["f1", "f2", "r1", "r2"] and list(vlab) == [1, 1, 0, 0]
    np.testing.assert_allclose(v_lo, [0.75, 0.55, 0.2, 0.4])
    np.testing.assert_allclose(v_hi, [0.925, 0.7, 0.35, 0.6])
    curve = certified_auroc_curve(ids, labels, lo, hi, SIGMA, [0.0, 0.1, 0.5], n_boot=200)
    # worst case at r = 0: fakes 0.75, 0.55; reals 0.35, 0.6 -> 3 of 4 pairs ordered
    assert curve[0]["certified_auroc"] == pytest.approx(0.75)
    values = [p["certified_auroc"] for p in curve]
    assert values == sorted(values, reverse=True) and values[-1] < values[0]
    assert len(curve[0]["certified_auroc_ci"]) == 2  # (nan, nan) here: too few videos to resample


# -- ART cross-check -----------------------------------------------------------------------------
@pytest.fixture
def statsmodels_proportion(monkeypatch: pytest.MonkeyPatch) -> None:
    """ART's ``_lower_confidence_bound`` imports statsmodels, which this project does not depend
    on: without it, a stand-in with statsmodels' ``proportion_confint(method="beta")`` formula."""
    try:
        import statsmodels.stats.proportion  # noqa: F401
    except ImportError:
        from scipy.stats import beta

        def proportion_confint(count: Any, nobs: Any, alpha: float = 0.05, method: str = "normal") -> Any:
            assert method == "beta"
            low = beta.ppf(alpha / 2, count, nobs - count + 1) if count > 0 else 0.0
            high = beta.isf(alpha / 2, count + 1, nobs - count) if count < nobs else 1.0
            return low, high

        proportion = types.ModuleType("statsmodels.stats.proportion")
        proportion.proportion_confint = proportion_confint  # type: ignore[attr-defined]
        stats = types.ModuleType("statsmodels.stats")
        stats.proportion = proportion  # type: ignore[attr-defined]
        root = types.ModuleType("statsmodels")
        root.stats = stats  # type: ignore[attr-defined]
        for name, module in (
            ("statsmodels", root),
            ("statsmodels.stats", stats),
            ("statsmodels.stats.proportion", proportion),
        ):
            monkeypatch.setitem(sys.modules, name, module)


def test_class_certificates_agree_with_art(statsmodels_proportion: None) -> None:
    """Cohen et al.'s CERTIFY from our counts (hard decision, same n0, n, alpha, sigma) and ART's
    ``PyTorchRandomizedSmoothing.certify`` give the same class and, allowing for each one's own
    sampling, the same radius; both radii are at most the exact one of the linear model."""
    from art.estimators.certification.randomized_smoothing import PyTorchRandomizedSmoothing

    n0, n, alpha = 100, 1000, 0.001
    u = direction(SIZE)
    a = 5.0 * u
    # exact hard g: ~0, 0.03, 0.2, 0.5, 0.8, 0.97, ~1: abstentions, both classes, all-agree counts
    z = torch.tensor([-6.0, -1.88, -0.84, 0.0, 0.84, 1.88, 6.0])
    x = frames_at(u, z * SIGMA * float(a.norm()) / 5.0, SIZE)
    g = hard_g(a, 0.0, SIGMA, x).numpy()
    det = probit_detector(a, 0.0, SIZE)
    cfg = CertifyConfig(sigma=SIGMA, n=n, n0=n0, alpha=alpha, score="hard")
    out = certify_batch(det, x, [(f"v{i}", 0) for i in range(len(x))], cfg)
    ours, our_radius = frame_certificates(out["k0"], n0, out["k"], n, alpha, SIGMA)

    det.check_range = False  # ART feeds the noisy copies straight to the model
    art = PyTorchRandomizedSmoothing(
        model=det,
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=(3, SIZE, SIZE),
        nb_classes=2,
        device_type="cpu",
        sample_size=n0,
        scale=SIGMA,
        alpha=alpha,
    )
    np.random.seed(0)  # ART draws its noise from NumPy's global generator
    theirs, their_radius = art.certify(x.numpy(), n=n, batch_size=500)

    expected_class = np.where(g > 0.5, 1, 0)
    for i, p in enumerate(g):
        if abs(p - 0.5) < 0.01:  # a coin flip: both abstain (p_A's lower bound < 0.5)
            assert ours[i] == theirs[i] == -1 and our_radius[i] == their_radius[i] == 0
            continue
        assert ours[i] == theirs[i] == expected_class[i], (i, p)
        # where the counts must agree (p ~ 0 or 1) the radii are equal; elsewhere within the range
        # that the binomial sampling of either side allows
        p_class = max(p, 1 - p)
        k_lo, k_hi = binom.ppf(1e-5, n, p_class), binom.isf(1e-5, n, p_class)
        band = SIGMA * norm.ppf(lower_confidence_bound([k_lo, k_hi], n, alpha))
        for r in (our_radius[i], their_radius[i]):
            assert band[0] - 1e-9 <= r <= band[1] + 1e-9, (i, p, r, band)
            assert r <= SIGMA * norm.ppf(p_class) + 1e-9, "a certified radius never exceeds the exact one"
        if p_class > 0.99999:
            assert our_radius[i] == pytest.approx(their_radius[i], rel=1e-9)
            assert our_radius[i] == pytest.approx(SIGMA * norm.ppf(alpha ** (1 / n)), rel=1e-9)


# -- soundness ----------------------------------------------------------------------------------
def _videos(n_videos: int, frames: int) -> tuple[list[str], np.ndarray, torch.Tensor]:
    """Half real, half fake videos of a probit model's frames with exact smoothed scores spread
    over Phi^-1(g) in +-[0.3, 2.6] (fakes positive), frames shuffled among a class's videos."""
    u = direction(SIZE)
    a = 40.0 * u  # sigma |a| = 10: the soft certificate is within 0.5% of tight
    s = math.sqrt(1 + SIGMA**2 * float(a.norm()) ** 2)
    half = n_videos // 2 * frames
    rng = np.random.default_rng(0)
    zs = np.concatenate(
        [-rng.permutation(np.linspace(0.3, 2.6, half)), rng.permutation(np.linspace(0.3, 2.6, half))]
    )
    x = frames_at(u, torch.tensor(zs * s / float(a.norm())), SIZE, jitter=0.02)
    labels = np.repeat([0, 1], half)
    ids = [f"{'fake' if labels[i] else 'real'}{i // frames}" for i in range(len(zs))]
    return ids, labels, x


@pytest.mark.timeout(120)
def test_an_l2_attack_with_eot_never_beats_the_certified_auroc(one_thread: None) -> None:
    """PGD-L2 on the smoothed detector (fresh noise at every step: EOT) at radius r lowers the
    AUROC, yet never below the certified AUROC at r, nor any frame beyond its certified range; the
    attack is strong enough to catch a certificate 30% too optimistic (at 0.7 r)."""
    from harness.attacks import create_attack
    from harness.smoothing import GaussianSmoothing

    r = 0.4
    ids, labels, x = _videos(16, 2)
    a = 40.0 * direction(SIZE)
    det = probit_detector(a, 0.0, SIZE)
    cfg = CertifyConfig(sigma=SIGMA, n=1000, n0=10, alpha=0.001)
    counts = certify_batch(det, x, [(v, i) for i, v in enumerate(ids)], cfg)
    lo, hi = clopper_pearson(counts["k"], cfg.n, cfg.alpha)
    curve = certified_auroc_curve(ids, labels, lo, hi, SIGMA, [0.0, r], n_boot=0)
    certified = curve[1]["certified_auroc"]
    assert curve[0]["certified_auroc"] == 1.0 and 0.05 < certified < 0.95, curve

    det.smoothing = GaussianSmoothing(SIGMA, n=64)
    attack = create_attack("pgdl2", eps=r, steps=20, quantize=False, seed=0)
    y = torch.as_tensor(labels)
    adv = attack(det, x, y).x_adv
    assert float((adv - x).flatten(1).norm(dim=1).max()) <= r + 1e-4
    g_adv = soft_g(a, 0.0, SIGMA, adv).numpy()
    g_clean = soft_g(a, 0.0, SIGMA, x).numpy()
    f_lo, f_hi = certified_range(lo, hi, SIGMA, r)
    assert np.all(np.where(labels == 1, g_adv >= f_lo, g_adv <= f_hi)), "a frame beyond its certified range"

    def video_auroc(frame_scores: np.ndarray) -> float:
        from harness.metrics import aggregate_by_video, video_labels

        _, scores = aggregate_by_video(ids, frame_scores)
        return auroc(video_labels(ids, labels)[1], scores)

    exact = video_auroc(g_adv)
    det.smoothing = GaussianSmoothing(SIGMA, n=2000, seed=1)  # what a smoothed `harness run` scores
    with torch.no_grad():
        estimated = video_auroc(det(adv).softmax(1)[:, 1].double().numpy())
    assert exact < video_auroc(g_clean) - 0.1, "the attack works"
    assert exact >= certified and estimated >= certified, (exact, estimated, certified)
    # power: the attacked frames fall outside a certificate that claims only 70% of the effect
    f_lo7, f_hi7 = certified_range(lo, hi, SIGMA, 0.7 * r)
    assert np.any(np.where(labels == 1, g_adv < f_lo7, g_adv > f_hi7))


# -- the command ---------------------------------------------------------------------------------
def _certify_args(tiny: tuple[Any, Path], out: Path, *extra: str) -> list[str]:
    data, ckpt = tiny
    return [
        "certify",
        "--detector",
        "cnn",
        "--checkpoint",
        str(ckpt),
        "--cache-dir",
        str(data.cache_dir),
        "--sigma",
        "0.25",
        "--n",
        "64",
        "--n0",
        "8",
        "--radii",
        "0,0.05,0.1",
        "--set",
        "dataset.size=tiny",
        "--set",
        "faces.detector=haar",
        "--set",
        "faces.num_frames=8",
        "--set",
        "n_boot=50",
        "--results-dir",
        str(out / "results"),
        "--workers",
        "0",
        "-q",
        *extra,
    ]


@pytest.mark.timeout(240)  # the session's tiny cnn may be trained first
def test_certify_writes_a_result_with_provenance_and_a_leaderboard_section(tiny: Any, tmp_path: Path) -> None:
    from harness.certify import build_certify_config
    from harness.cli.parser import build_parser

    args = build_parser().parse_args(_certify_args(tiny, tmp_path))
    config = build_certify_config(args)
    assert config.radii == (0.0, 0.05, 0.1) and config.n == 64
    result = certify(config, progress=False)
    path = result_path(tmp_path / "results", "synthetic", "cnn-smooth0p25", 0.25)
    assert result.path == path and path.is_file() and path.with_suffix(".videos.csv").is_file()
    doc = json.loads(path.read_text())
    assert doc["kind"] == "certify" and doc["detector"] == "cnn-smooth0p25" and doc["base_detector"] == "cnn"
    for key in ("checkpoint_sha256", "split_manifest_hash", "code_version", "seed", "libraries"):
        assert doc[key] not in (None, ""), key
    assert (doc["sigma"], doc["n"], doc["n0"], doc["alpha"]) == (0.25, 64, 8, 0.001)
    assert doc["detector_options"]["smoothing_sigma"] == 0.25 and doc["detector_options"]["smoothing_n"] == 64
    assert doc["n_frames"] == 8 * doc["n_videos"] and doc["family_wise_alpha"] == pytest.approx(
        doc["n_frames"] * 0.001
    )
    values = [p["certified_auroc"] for p in doc["curve"]]
    assert [p["radius"] for p in doc["curve"]] == [0.0, 0.05, 0.1]
    assert values == sorted(values, reverse=True), "a larger radius never certifies more"
    # the same command again: already finished, nothing recomputed
    again = certify(config, progress=False)
    assert again.result["created"] == doc["created"]
    looser = certify(dataclasses.replace(config, alpha=0.05), progress=False)  # another alpha: recomputed
    assert looser.result["alpha"] == 0.05 and looser.result["created"] != doc["created"]
    assert all(
        p["certified_auroc"] >= q["certified_auroc"]
        for p, q in zip(looser.result["curve"], doc["curve"], strict=True)
    ), "a larger failure probability certifies at least as much"
    certify(config, progress=False)  # back to the committed settings for the leaderboard below

    from harness.leaderboard import write_leaderboards

    board = tmp_path / "lb"
    write_leaderboards(tmp_path / "results", board)
    md = (board / "leaderboard.md").read_text()
    assert "## Certified AUROC (randomized smoothing)" in md and "cnn-smooth0p25" in md
    assert "r = 0.05" in md and (board / "figures" / "certified.png").is_file()
    html = (board / "index.html").read_text()
    assert 'id="certified-table"' in html and "figures/certified.png" in html
    assert "certify" not in (board / "leaderboard.csv").read_text(), "not a row of the attack table"


def test_certify_refuses_smoothing_options_and_bad_settings() -> None:
    with pytest.raises(ValueError, match="certify smooths the base detector itself"):
        CertifyConfig(detector_options={"smoothing_sigma": 0.25})
    with pytest.raises(ValueError, match="alpha"):
        CertifyConfig(alpha=1.5)
    with pytest.raises(ValueError, match="radii"):
        CertifyConfig(radii=(-0.1,))


@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("torchrun", path=str(BIN)) is None, reason="torchrun not installed")
def test_two_torchrun_ranks_certify_the_same_numbers_as_one_process(tiny: Any, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run(
        [str(BIN / "harness"), *_certify_args(tiny, tmp_path / "one")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert one.returncode == 0, one.stderr
    torchrun = [
        str(BIN / "torchrun"),
        "--nproc_per_node=2",
        "--standalone",
        "--no-python",
        str(BIN / "harness"),
    ]
    # torchrun's own parser would take ``--n`` for one of its flags: the long spelling
    args = ["--num-samples" if a == "--n" else a for a in _certify_args(tiny, tmp_path / "two")]
    two = subprocess.run([*torchrun, *args], capture_output=True, text=True, env=env)
    assert two.returncode == 0, two.stderr + two.stdout
    assert two.stdout.count("certified AUROC") == 1, "only rank 0 prints"
    a, b = (
        json.loads(result_path(tmp_path / d / "results", "synthetic", "cnn-smooth0p25", 0.25).read_text())
        for d in ("one", "two")
    )
    assert a["world_size"] == 1 and b["world_size"] == 2
    for key in ("curve", "auroc_smoothed", "auroc_smoothed_ci", "n_frames", "frames_abstained"):
        assert a[key] == b[key], key
    csv = [
        result_path(tmp_path / d / "results", "synthetic", "cnn-smooth0p25", 0.25).with_suffix(".videos.csv")
        for d in ("one", "two")
    ]
    assert csv[0].read_text() == csv[1].read_text()
