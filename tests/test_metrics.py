"""Metrics against hand-computed values, plus bootstrap behaviour (determinism, grouping, pairing)."""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from harness import metrics as m


def _realistic(n_real: int, n_fake: int, seed: int = 0, frames: int = 1) -> tuple[np.ndarray, ...]:
    """Overlapping real/fake score distributions (AUROC around 0.85); ``frames`` rows per video."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n_real, int), np.ones(n_fake, int)]
    s = 1 / (1 + np.exp(-(rng.normal(0, 1, y.size) + 1.5 * y - 0.75)))
    vid = np.arange(y.size)
    if frames > 1:
        y, s, vid = np.repeat(y, frames), np.repeat(s, frames), np.repeat(vid, frames)
    return y, s, vid


# -- AUROC / ROC / EER -----------------------------------------------------------------------------
def test_auroc_hand_examples_with_ties():
    # pairs (fake, real): (.5,.1)=1 (.5,.5)=1/2 (.9,.1)=1 (.9,.5)=1 -> 3.5/4
    assert m.auroc([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9]) == pytest.approx(0.875)
    # fakes .3 .8 .6 vs reals .2 .4: 1 + 2 + 2 of 6 pairs
    assert m.auroc([1, 0, 1, 0, 1], [0.3, 0.2, 0.8, 0.4, 0.6]) == pytest.approx(5 / 6)
    assert m.auroc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.5)


def test_auroc_perfect_inverted_and_bool_labels():
    assert m.auroc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert m.auroc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert m.auroc(np.array([False, True]), [0.2, 0.7]) == 1.0


def test_auroc_single_class_or_empty_is_nan_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(m.auroc([1, 1, 1], [0.1, 0.5, 0.9]))
        assert math.isnan(m.auroc([0, 0], [0.1, 0.5]))
        assert math.isnan(m.auroc([], []))


def test_malformed_input_raises():
    with pytest.raises(ValueError, match="0 \\(real\\) or 1"):
        m.auroc([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="entries"):
        m.auroc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="non-finite"):
        m.auroc([0, 1], [0.1, float("nan")])


def test_roc_points_hand_and_empty_safe():
    fpr, tpr, thr = m.roc_points([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9])
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 1, 1])
    np.testing.assert_allclose(thr[1:], [0.9, 0.5, 0.1])
    for labels, scores in (([], []), ([1, 1], [0.2, 0.3])):
        out = m.roc_points(labels, scores)
        assert [a.size for a in out] == [0, 0, 0]


def test_eer_hand_examples():
    # ROC (0,0) (0,.5) (.5,1) (1,1): the tie makes a diagonal segment, FPR = FNR = 0.25 halfway along it
    assert m.eer([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9]) == pytest.approx(0.25)
    # ROC passes through (.5,.5) exactly
    assert m.eer([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9]) == pytest.approx(0.5)
    # reals .1 .2 .3, fake .25: vertical ROC segment at FPR 1/3 crosses FNR = FPR
    assert m.eer([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.25]) == pytest.approx(1 / 3)
    assert m.eer([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert m.eer([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert math.isnan(m.eer([1, 1], [0.2, 0.3]))


# -- thresholds ------------------------------------------------------------------------------------
def test_threshold_at_fpr_hand():
    reals = np.arange(100) / 100  # 0.00 ... 0.99
    labels = np.r_[np.zeros(100, int), np.ones(3, int)]
    scores = np.r_[reals, [0.5, 0.985, 0.995]]
    t = m.threshold_at_fpr(labels, scores, fpr=0.01)
    assert t == 0.985  # one real (0.99) at or above; 0.98 would flag two
    assert m.fpr_at(labels, scores, t) == pytest.approx(0.01)
    t0 = m.threshold_at_fpr(labels, scores, fpr=0.0)
    assert t0 == 0.995 and m.fpr_at(labels, scores, t0) == 0.0


def test_threshold_at_fpr_ties_are_conservative():
    # allowed one false positive of four, but the two top reals are tied: the threshold must clear both
    labels = [0, 0, 0, 0, 1, 1]
    assert m.threshold_at_fpr(labels, [0.1, 0.2, 0.9, 0.9, 0.5, 0.95], fpr=0.25) == 0.95
    t = m.threshold_at_fpr([0, 0, 0, 0, 1], [0.1, 0.2, 0.9, 0.9, 0.5], fpr=0.25)
    assert t > 0.9 and m.fpr_at([0, 0, 0, 0], [0.1, 0.2, 0.9, 0.9], t) == 0.0


def test_threshold_at_fpr_bound_and_minimality_random_ties():
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(5, 60))
        y = rng.integers(0, 2, n)
        y[0] = 0
        s = np.round(rng.random(n), 1)  # heavy ties
        target = float(rng.choice([0.0, 0.01, 0.1, 0.25, 0.5]))
        t = m.threshold_at_fpr(y, s, target)
        assert m.fpr_at(y, s, t) <= target + 1e-12
        lower = np.unique(s)[np.unique(s) < t]
        if lower.size:  # the next smaller observed score would break the bound
            assert m.fpr_at(y, s, lower[-1]) > target


def test_threshold_at_fpr_edge_cases():
    assert m.threshold_at_fpr([0, 1], [0.3, 0.6], fpr=1.0) == float("-inf")
    with pytest.raises(ValueError, match="real"):
        m.threshold_at_fpr([1, 1], [0.3, 0.6])
    with pytest.raises(ValueError, match="fpr"):
        m.threshold_at_fpr([0, 1], [0.3, 0.6], fpr=1.5)


def test_threshold_balanced_hand():
    labels = [0, 0, 0, 0, 1, 1, 1]
    # cut at .35: TPR 1, FPR 1/4 (J .75); at .8: TPR 2/3, FPR 0 (J .67); placed midway to .3
    assert m.threshold_balanced(labels, [0.1, 0.2, 0.3, 0.4, 0.35, 0.8, 0.9]) == pytest.approx(0.325)
    # J ties (2/3 at .5 and at .7): the smallest cut wins, midway to .2
    assert m.threshold_balanced([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.6, 0.5, 0.7, 0.9]) == pytest.approx(0.35)
    # the lowest score is the best cut: nothing below to go halfway to
    assert m.threshold_balanced([1, 1, 0], [0.1, 0.2, 0.05]) == pytest.approx(0.075)
    with pytest.raises(ValueError, match="both"):
        m.threshold_balanced([0, 0], [0.1, 0.2])


def test_threshold_balanced_sits_between_the_classes_of_a_separable_split():
    """Regression: on a separable validation split the threshold sat on the lowest validation
    fake, so a test fake a hair below it counted as missed."""
    y = [0, 0, 0, 1, 1, 1]
    t = m.threshold_balanced(y, [0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert t == pytest.approx(0.5) and 0.3 < t < 0.7
    assert m.accuracy(y, [0.1, 0.2, 0.3, 0.69, 0.8, 0.9], t) == 1.0


def test_rates_at_threshold_hand():
    labels = [0, 0, 1, 1, 1]
    scores = [0.2, 0.6, 0.5, 0.4, 0.9]  # at t=0.5 predictions 0 1 1 0 1 (0.5 itself counts as fake)
    assert m.accuracy(labels, scores, 0.5) == pytest.approx(3 / 5)
    assert m.tpr_at(labels, scores, 0.5) == pytest.approx(2 / 3)
    assert m.fpr_at(labels, scores, 0.5) == pytest.approx(1 / 2)
    assert math.isnan(m.tpr_at([0, 0], [0.1, 0.9], 0.5))
    assert math.isnan(m.accuracy([], [], 0.5))


def test_attack_success_rate_hand():
    labels = [1, 1, 1, 0, 0, 0, 0]
    clean = [0.9, 0.8, 0.3, 0.1, 0.2, 0.7, 0.05]  # fake#3 and real#3 are wrong on clean input
    adv = [0.2, 0.85, 0.1, 0.6, 0.3, 0.1, 0.4]  # fake#1 evades, real#1 raises a false alarm
    out = m.attack_success_rate(labels, clean, adv, threshold=0.5)
    assert out["fake"] == pytest.approx(1 / 2)
    assert out["real"] == pytest.approx(1 / 3)
    assert out["all"] == pytest.approx(2 / 5)
    assert (out["n_fake_correct"], out["n_real_correct"], out["n_all_correct"]) == (2, 3, 5)
    assert (out["n_fake_success"], out["n_real_success"], out["n_all_success"]) == (1, 1, 2)
    none_right = m.attack_success_rate([1, 0], [0.1, 0.9], [0.9, 0.1], threshold=0.5)
    assert math.isnan(none_right["all"]) and none_right["n_all_correct"] == 0


# -- aggregation -----------------------------------------------------------------------------------
def test_aggregate_video_hand():
    frames = [0.2, 0.4, 0.9]
    assert m.aggregate_video(frames, "mean") == pytest.approx(0.5)
    assert m.aggregate_video(frames, "median") == pytest.approx(0.4)
    assert m.aggregate_video([0.8, 0.1, 0.4, 0.3], "median") == pytest.approx(0.35)
    assert m.aggregate_video(frames, "max") == pytest.approx(0.9)
    # logits ln(1/4) + ln(2/3) + ln(9) = ln(1.5): sigmoid(ln(1.5) / 3)
    assert m.aggregate_video(frames, "mean_logit") == pytest.approx(1 / (1 + 1.5 ** (-1 / 3)))
    assert m.aggregate_video([0.0, 1.0], "mean_logit") == pytest.approx(0.5)
    assert m.aggregate_video([1.0, 1.0], "mean_logit") == pytest.approx(1 - 1e-7)


def test_aggregate_by_video_order_and_agreement():
    ids = ["b", "a", "b", "c", "a", "b"]
    scores = np.array([0.9, 0.1, 0.3, 0.5, 0.4, 0.6])
    for how in m.AGGREGATIONS:
        uniq, out = m.aggregate_by_video(ids, scores, how)
        assert uniq.tolist() == ["b", "a", "c"]
        expected = [m.aggregate_video(scores[np.array(ids) == v], how) for v in uniq]
        np.testing.assert_allclose(out, expected)
    _, means = m.aggregate_by_video([7, 3, 7], [0.2, 0.5, 0.4], "mean")
    np.testing.assert_allclose(means, [0.3, 0.5])


def test_aggregate_unknown_how_and_empty():
    with pytest.raises(ValueError, match="mean, median, max, mean_logit"):
        m.aggregate_video([0.1], "min")
    with pytest.raises(ValueError, match="mean_logit"):
        m.aggregate_by_video([0], [0.1], "avg")
    with pytest.raises(ValueError, match="no frame"):
        m.aggregate_video([])


def test_video_labels():
    uniq, y = m.video_labels(["v2", "v1", "v2"], [1, 0, 1])
    assert uniq.tolist() == ["v2", "v1"] and y.tolist() == [1, 0]
    with pytest.raises(ValueError, match="both labels"):
        m.video_labels(["v1", "v1"], [0, 1])


# -- perturbation size -----------------------------------------------------------------------------
def test_psnr_hand():
    x = np.full((2, 3, 4, 4), 0.2)
    out = m.psnr(x, x + 0.1)  # MSE 0.01 -> 10 log10(1 / 0.01)
    np.testing.assert_allclose(out, [20.0, 20.0])
    assert m.psnr(x * 255, x * 255 + 25.5, data_range=255)[0] == pytest.approx(20.0)
    x_adv = x.copy()
    x_adv[1] += 0.01  # 40 dB
    out = m.psnr(x, x_adv)
    assert np.isposinf(out[0]) and out[1] == pytest.approx(40.0)
    with pytest.raises(ValueError, match="shape"):
        m.psnr(x, x[:1])


def test_perturbation_stats_inf_safe():
    out = m.perturbation_stats([0.01, 0.03], [0.5, 1.5], [20.0, float("inf"), 40.0])
    assert out["linf_mean"] == pytest.approx(0.02) and out["linf_max"] == pytest.approx(0.03)
    assert out["l2_mean"] == pytest.approx(1.0) and out["l2_max"] == pytest.approx(1.5)
    assert out["psnr_mean"] == pytest.approx(30.0) and out["psnr_max"] == 40.0
    assert out["psnr_min"] == 20.0 and out["psnr_n_inf"] == 1
    assert math.isnan(m.perturbation_stats([], [], [float("inf")])["psnr_mean"])


# -- bootstrap -------------------------------------------------------------------------------------
def test_bootstrap_contains_estimate_and_is_deterministic():
    y, s, _ = _realistic(60, 60)
    value = m.auroc(y, s)
    low, high = m.bootstrap_ci(m.auroc, y, s, n_boot=500, seed=1)
    assert low < value < high and 0.05 < high - low < 0.3
    assert m.bootstrap_ci(m.auroc, y, s, n_boot=500, seed=1) == (low, high)
    assert m.bootstrap_ci(m.auroc, y, s, n_boot=500, seed=2) != (low, high)
    acc = functools.partial(m.accuracy, threshold=0.5)
    a_low, a_high = m.bootstrap_ci(acc, y, s, n_boot=300, seed=1)
    assert a_low < m.accuracy(y, s, 0.5) < a_high


def test_bootstrap_narrows_with_n():
    widths = []
    for n in (30, 300, 3000):
        y, s, _ = _realistic(n, n, seed=n)
        low, high = m.bootstrap_ci(m.auroc, y, s, n_boot=400)
        widths.append(high - low)
    assert widths[0] > 2 * widths[1] > 4 * widths[2]


def test_bootstrap_fast_auroc_path_matches_generic_loop():
    y, s, vid = _realistic(25, 25, seed=4, frames=3)
    s = np.round(s + np.random.default_rng(0).normal(0, 0.02, s.size), 2)  # ties across videos

    def generic(labels, scores):
        return m.auroc(labels, scores)

    for groups in (None, vid):
        fast = m.bootstrap_ci(m.auroc, y, s, groups, n_boot=200, seed=5)
        slow = m.bootstrap_ci(generic, y, s, groups, n_boot=200, seed=5)
        np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)


def test_bootstrap_resamples_whole_groups():
    y, s, vid = _realistic(10, 10, frames=4)
    seen = []

    def metric(labels, scores, gid):
        _, counts = np.unique(gid, return_counts=True)
        seen.append(bool((counts % 4 == 0).all()))
        return float(labels.mean())

    m.bootstrap_ci(metric, y, s, vid, n_boot=50, gid=vid)
    assert len(seen) == 50 and all(seen)
    seen.clear()
    m.bootstrap_ci(metric, y, s, None, n_boot=50, gid=vid)  # rows: groups get split
    assert not all(seen)


def test_group_bootstrap_is_wider_than_row_bootstrap_for_duplicated_rows():
    # 40 videos x 25 identical frames: row resampling sees 1000 "independent" rows, groups only 40
    y, s, vid = _realistic(20, 20, seed=7, frames=25)
    row_low, row_high = m.bootstrap_ci(m.auroc, y, s, n_boot=500)
    grp_low, grp_high = m.bootstrap_ci(m.auroc, y, s, vid, n_boot=500)
    assert grp_high - grp_low > 3 * (row_high - row_low)
    # identical frames: resampling videos with all their frames = resampling one row per video
    one_per_video = m.bootstrap_ci(m.auroc, y[::25], s[::25], n_boot=500)
    np.testing.assert_allclose((grp_low, grp_high), one_per_video, rtol=0, atol=1e-12)


def test_bootstrap_skips_single_class_resamples():
    y = np.r_[np.zeros(29, int), 1]  # P(a resample misses the fake) = (29/30)^30 ~ 0.36
    s = np.linspace(0, 1, 30)
    assert all(math.isnan(v) for v in m.bootstrap_ci(m.auroc, y, s, n_boot=200))
    low, high = m.bootstrap_ci(m.auroc, y, s, n_boot=200, max_skip_frac=0.9)
    assert 0.0 <= low <= high <= 1.0
    calls = []

    def metric(labels, scores):
        calls.append(labels.min() != labels.max())
        return 0.5

    m.bootstrap_ci(metric, y, s, n_boot=200, max_skip_frac=0.9)
    assert calls and all(calls) and len(calls) < 200


def test_auroc_with_ci_and_paired_drop():
    y, clean, vid = _realistic(50, 50, seed=11, frames=2)
    rng = np.random.default_rng(0)
    adv = np.clip(clean - 0.15 * y + rng.normal(0, 0.01, clean.size), 0, 1)  # the attack lowers fakes
    c = m.auroc_with_ci(y, clean, vid, n_boot=500)
    a = m.auroc_with_ci(y, adv, vid, n_boot=500)
    d = m.auroc_drop_ci(y, clean, adv, vid, n_boot=500)
    assert c["low"] < c["value"] < c["high"] and a["low"] < a["value"] < a["high"]
    assert d["value"] == pytest.approx(c["value"] - a["value"])
    assert 0 < d["low"] < d["value"] < d["high"]

    # pairing: the same resample for both; the generic loop with the drop as metric agrees exactly
    def drop(labels, scores, adv):
        return m.auroc(labels, scores) - m.auroc(labels, adv)

    generic = m.bootstrap_ci(drop, y, clean, vid, n_boot=150, adv=adv)
    fast = m.auroc_drop_ci(y, clean, adv, vid, n_boot=150)
    np.testing.assert_allclose([fast["low"], fast["high"]], generic, rtol=0, atol=1e-12)
    # shared variance cancels: narrower than independent resampling of the two AUROCs would give
    unpaired = math.hypot(c["high"] - c["low"], a["high"] - a["low"])
    assert d["high"] - d["low"] < 0.6 * unpaired
    same = m.auroc_drop_ci(y, clean, clean, vid, n_boot=100)
    assert (same["value"], same["low"], same["high"]) == (0.0, 0.0, 0.0)


def test_bootstrap_is_fast():
    y, s, vid = _realistic(50, 50, frames=20)  # 100 videos, 2000 frames
    m.bootstrap_ci(m.auroc, y[::20], s[::20], n_boot=10)  # warm-up (imports)
    start = time.perf_counter()
    m.auroc_with_ci(y[::20], s[::20], n_boot=1000)
    m.auroc_drop_ci(y[::20], s[::20], s[::20] ** 2, n_boot=1000)
    m.auroc_with_ci(y, s, vid, n_boot=1000)
    assert time.perf_counter() - start < 1.0


# -- summary ---------------------------------------------------------------------------------------
def test_summarize_values_and_json():
    y_val, s_val, _ = _realistic(200, 200, seed=21)
    t_bal = m.threshold_balanced(y_val, s_val)
    t_1 = m.threshold_at_fpr(y_val, s_val, 0.01)
    y, clean, _ = _realistic(40, 60, seed=22)
    adv = np.clip(clean - 0.3 * y, 0, 1)
    out = m.summarize(y, clean, adv, threshold=t_bal, threshold_val_fpr=t_1, n_boot=200)
    assert (out["n_videos"], out["n_real"], out["n_fake"]) == (100, 40, 60)
    assert out["auroc_clean"] == m.auroc(y, clean) and out["auroc_adv"] == m.auroc(y, adv)
    assert out["auroc_drop"] == pytest.approx(out["auroc_clean"] - out["auroc_adv"]) and out["auroc_drop"] > 0
    ci = m.auroc_with_ci(y, clean, n_boot=200)
    assert out["auroc_clean_ci"] == [ci["low"], ci["high"]]  # same seed, same resamples
    assert out["auroc_drop_ci"] == pytest.approx(
        list(m.auroc_drop_ci(y, clean, adv, n_boot=200).values())[1:]
    )
    assert out["acc_adv"] == m.accuracy(y, adv, t_bal) < out["acc_clean"] == m.accuracy(y, clean, t_bal)
    assert out["tpr_at_val_fpr_clean"] == m.tpr_at(y, clean, t_1)
    assert out["eer_clean"] == m.eer(y, clean)
    assert out["asr_fake"] == m.attack_success_rate(y, clean, adv, t_bal)["fake"] > 0
    for key, value in out.items():
        ok = isinstance(value, (int, float)) or (
            isinstance(value, list) and all(type(v) is float for v in value)
        )
        assert ok and not isinstance(value, (bool, np.generic)), key
    assert json.loads(json.dumps(out))["n_fake"] == 60
    no_t1 = m.summarize(y, clean, adv, threshold=t_bal, n_boot=20)
    assert math.isnan(no_t1["tpr_at_val_fpr_clean"]) and math.isnan(no_t1["threshold_val_fpr"])


def test_attack_success_counts_only_the_attacked_videos():
    """Regression: with target=fake the untouched reals diluted the attack success rate."""
    y = np.array([0, 0, 0, 0, 1, 1])
    clean = np.array([0.1, 0.2, 0.1, 0.2, 0.9, 0.8])
    adv = np.array([0.1, 0.2, 0.1, 0.2, 0.1, 0.8])  # one of two fakes evades; reals not attacked
    out = m.summarize(y, clean, adv, threshold=0.5, attacked=y == 1, n_boot=20)
    assert out["asr_all"] == out["asr_fake"] == 0.5 and out["asr_n_all_correct"] == 2
    assert math.isnan(out["asr_real"]) and out["n_videos_attacked"] == 2
    diluted = m.summarize(y, clean, adv, threshold=0.5, n_boot=20)
    assert diluted["asr_all"] == pytest.approx(1 / 6)  # what "attacked = everything" would say
    with pytest.raises(ValueError, match="one entry per video"):
        m.summarize(y, clean, adv, threshold=0.5, attacked=[True], n_boot=20)


def test_import_is_light():
    code = "import sys, harness.metrics; bad = {'sklearn', 'torch'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_package_exports_the_public_api_from_its_modules():
    """Every public name comes from one submodule of the package, under the same object."""
    import importlib

    for name in m.__all__:
        obj = getattr(m, name)
        if callable(obj):
            module = importlib.import_module(obj.__module__)
            assert module.__name__.startswith("harness.metrics.") and getattr(module, name) is obj
    assert m.bootstrap_ci.__module__ == "harness.metrics.bootstrap" and m.auroc is m.ranking.auroc
