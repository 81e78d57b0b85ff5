"""Numbers you can trust (issue 9): no attack changes the detector; attacked frames are 8-bit and
inside the budget; step sizes follow the budget; Square pushes every sample as far as its query
budget allows; the per-sample self-checks (unperturbed, zero gradients) report what they say.

The checks every registered attack gets (no parameter or buffer changed, 8-bit output inside the
budget) are in :mod:`conformance` and run by ``test_attacks.py``; here are the attack-specific ones.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conformance import detector_state
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny import bn_detector, faces, trained_detector
from torch import Tensor, nn

from harness.attacks import create_attack
from harness.attacks._base import Attack, AttackConfig, AttackError, AttackModel, quantize_8bit
from harness.attacks.square import margin
from harness.detectors import wrap_model
from harness.detectors._base import Detector

pytestmark = pytest.mark.usefixtures("one_thread")


class _Corrupting(Attack):
    """Misbehaves as a library in train mode would: updates a running statistic."""

    name = "corrupting"
    Config = AttackConfig

    def run(self, model: AttackModel, x: Tensor, y: Tensor) -> Tensor:
        model.detector.train()  # a library that "restores" train mode
        with torch.no_grad():
            model(x)  # BatchNorm updates its running statistics
        return x


def test_the_base_class_restores_and_refuses_a_changed_detector() -> None:
    det = bn_detector()
    x, y = faces(4, seed=4)
    before = detector_state(det)
    with pytest.raises(AttackError, match="running_mean"):
        _Corrupting()(det, x, y)
    after = detector_state(det)
    assert all(torch.equal(before[k], after[k]) for k in before), "snapshot restored"


def test_apgd_scores_its_points_in_eval_mode() -> None:
    """The regression: torchattacks left the model in train mode and APGD's last re-scoring
    compared losses with batch statistics, returning many samples unperturbed."""
    det = bn_detector()
    x, y = faces(16, seed=6)
    res = create_attack("apgd", steps=10)(det, x, y)
    assert int(res.unperturbed.sum()) == 0
    with torch.no_grad():
        ce_clean = F.cross_entropy(det(x), y, reduction="none")
        ce_adv = F.cross_entropy(det(res.x_adv), y, reduction="none")
    assert (ce_adv >= ce_clean - 1e-4).all()


def test_quantize_off_keeps_the_float_attack() -> None:
    det = trained_detector()
    x, y = faces(8, seed=7)
    res = create_attack("pgd", eps="2/255", quantize=False)(det, x, y)
    k = res.x_adv * 255
    assert not torch.equal(k, k.round()) and not res.quantized


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**31 - 1),
    st.sampled_from(["linf", "l2", None]),
    st.floats(min_value=0.2 / 255, max_value=12 / 255),
    st.booleans(),
)
def test_quantize_8bit_stays_on_the_grid_and_in_budget(
    seed: int, norm: str | None, eps: float, on_grid: bool
) -> None:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 3, 5, 5, generator=gen)
    if on_grid:
        x = (x * 255).round() / 255
    budget = eps if norm == "linf" else eps * 10
    delta = (torch.rand(x.shape, generator=gen) * 2 - 1) * budget
    if norm == "l2":
        delta = delta * (budget / delta.flatten(1).norm(dim=1).clamp_min(1e-12)).clamp(max=1).view(
            -1, 1, 1, 1
        )
    adv = (x + delta).clamp(0, 1)
    q = quantize_8bit(adv, x, norm, budget if norm else None)
    assert q.min() >= 0 and q.max() <= 1
    d = (q - x).flatten(1)
    if norm == "linf":
        assert float(d.abs().max()) <= budget + 1e-6
    elif norm == "l2":
        assert float(d.norm(dim=1).max()) <= budget + 1e-4
    off = (q * 255 - (q * 255).round()).abs() > 1e-4
    if on_grid or norm is None:
        assert not off.any(), "every value on the 8-bit grid"
    else:  # an off-grid x may keep its own value where no grid point fits the budget
        assert torch.equal(q[off], x[off])


def test_step_sizes_follow_the_budget() -> None:
    pgd = create_attack("pgd", eps="8/255")
    assert pgd.alpha == pytest.approx(2 / 255) and pgd.resolved_config()["alpha"] == pytest.approx(2 / 255)
    assert create_attack("pgd", eps="8/255", alpha="1/255").alpha == pytest.approx(1 / 255)
    mi = create_attack("mifgsm", eps="8/255", steps=10)
    assert mi.alpha == pytest.approx(0.8 / 255)
    assert create_attack("pgdl2", eps=2.0).alpha == pytest.approx(0.5)
    # MI-FGSM at 8/255 can use its whole budget (a fixed 0.4/255 step could reach only 4/255)
    det = trained_detector()
    x, y = faces(8, seed=2)
    res = mi(det, x, y)
    assert float(res.linf.max()) == pytest.approx(8 / 255, abs=1e-6)


def _margins(det: Detector, x: Tensor, y: Tensor) -> Tensor:
    with torch.no_grad():
        return margin(det, x, y)


def test_square_keeps_pushing_after_the_label_flips_and_spends_its_budget() -> None:
    det = trained_detector()
    x, y = faces(16, seed=8)
    short = create_attack("square", eps="8/255", n_queries=50)(det, x, y)
    long = create_attack("square", eps="8/255", n_queries=400)(det, x, y)
    m_clean, m_short, m_long = (
        _margins(det, x, y),
        _margins(det, short.x_adv, y),
        _margins(det, long.x_adv, y),
    )
    assert (m_short <= m_clean + 1e-6).all() and (m_long <= m_clean + 1e-6).all(), "never worse than clean"
    flipped_early = m_short < 0
    assert flipped_early.any(), "the budget flips some samples early"
    # a reference Square stops on these; ours keeps lowering their margin
    assert (m_long[flipped_early] < m_short[flipped_early] - 1e-3).float().mean() > 0.5
    assert long.queries == 16 * 400 and short.queries == 16 * 50


class _Constant(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return (x.flatten(1)[:, :1] * 0).expand(-1, 2) + torch.tensor([0.0, 1.0])


def test_self_checks_report_zero_gradients_and_unperturbed_samples() -> None:
    det = wrap_model(_Constant(), name="constant", input_size=16, reference="test").eval()
    x, y = faces(6, seed=1)
    res = create_attack("fgsm", target="fake")(det, x, y)
    fakes = y == 1
    assert torch.equal(res.zero_grad, fakes), "zero gradient flagged on the attacked samples only"
    assert torch.equal(res.unperturbed, fakes), "FGSM on a zero gradient leaves them unchanged"
    ok = create_attack("fgsm")(trained_detector(), x, y)
    assert not ok.zero_grad.any() and not ok.unperturbed.any()
    assert create_attack("jpeg")(det, x, y).zero_grad is None, "no gradients, no gradient check"
