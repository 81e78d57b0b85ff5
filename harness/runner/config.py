"""What a run evaluates: its config, its members (attack x settings) and the attacks they build.

:class:`RunConfig` is the one config of ``harness run`` (precedence CLI > YAML > these defaults,
unknown keys rejected by :mod:`harness.config`); :func:`attack_plan` turns it into members.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.data import DataConfig
from harness.results import DEFAULT_RESULTS_DIR
from harness.threat import ThreatConfig

VAL_FPR = 0.01  # the false-positive rate the *_at_val_fpr threshold allows on validation reals


def threshold_provenance(n_val_real: int, n_val_fake: int, both: bool, source: str) -> dict[str, Any]:
    """What the two thresholds of a result rest on, in words and counts (written into every result).

    ``threshold``: Youden's J (balanced accuracy) maximized on the clean validation video
    scores, placed midway between the best cut's score and the next lower one (0.5 when the
    validation scores lack a class). ``threshold_val_fpr``: the lowest observed validation score
    with at most ``VAL_FPR`` of the validation reals at or above it. With fewer than
    ``1 / VAL_FPR`` validation reals that means *no* validation real above it: the rates
    ``*_at_val_fpr`` are then "at zero validation false positives", not at 1% FPR, and say so.
    """
    allowed = int(VAL_FPR * n_val_real + 1e-9)
    if n_val_real == 0:
        fpr_rule = "undefined: no validation reals"
    elif allowed == 0:
        fpr_rule = (
            f"zero false positives among the {n_val_real} validation reals (a {VAL_FPR:.0%} FPR "
            f"needs >= {round(1 / VAL_FPR)} reals to mean more than that)"
        )
    else:
        fpr_rule = (
            f"at most {allowed} of the {n_val_real} validation reals at or above it ({VAL_FPR:.0%} FPR)"
        )
    return {
        "source": source,
        "n_val_real": n_val_real,
        "n_val_fake": n_val_fake,
        "threshold_rule": (
            "max Youden J on clean validation video scores, midway to the next lower score"
            if both
            else "0.5 (validation scores lack a class)"
        ),
        "val_fpr_target": VAL_FPR,
        "val_fpr_allowed_reals": allowed,
        "threshold_val_fpr_rule": fpr_rule,
    }


@dataclass(frozen=True)
class RunConfig:
    """One evaluation; precedence CLI > YAML (``--config``) > these defaults.

    The attack's strength setting in ``attack_options`` (``eps``, ``quality``, ``crf``, ...) may
    be a list: one result per value (a robustness curve). ``suite`` runs a suite's members instead.
    ``split``: ``"auto"`` evaluates the test split, except for a checkpoint that was not trained
    on this dataset (e.g. the published MesoNet weights on a folder of faces): then every video
    is unseen and all of them are evaluated. ``quantize`` (default on) rounds every attacked
    frame to the 8-bit grid inside its budget before scoring, as an attacker must deliver images
    or video; off only to study float perturbations (each result records which).
    ``workers``, ``precision``, ``channels_last``, ``compile``: how fast (see
    :meth:`~harness.detectors.Detector.accelerate`; the last three are recorded in every result
    and are part of its run key, as low precision can move numbers). ``fresh``: recompute even
    if this exact run finished before or left resume records.
    ``save_adversarial``: a folder that receives the attacked crops exactly as scored, as 8-bit
    PNGs in ``real/<video_id>/`` and ``fake/<video_id>/`` (one sub-folder per member,
    ``<attack>-<strength>/``, when the run has several), readable by the ``folder`` dataset;
    under the pipeline threat model, the delivered videos (``real/<video_id>.mp4`` ...).
    ``name``: file the results of ``detector`` with ``checkpoint`` under another row name (the
    published MesoNet weights beside the demo model of the same architecture, ``meso4-Meso4_DF``;
    resolved by :func:`harness.workflow.ensure_detector`).
    ``results_dir``: where results are saved (default ``runs/results``, git-ignored: a user's runs
    never touch the committed ``results/``). ``leaderboard_dir``: where ``harness run`` regenerates
    the leaderboard of ``results_dir`` (default: ``leaderboards/`` beside it, so
    ``--set results_dir=results`` regenerates the committed ``leaderboards/``).
    ``threat``: where the attack acts (:mod:`harness.threat`): on the face crops (default) or on
    the full frames of a video that is then re-encoded and re-detected (:mod:`harness.pipeline`).
    ``convergence``: also attack every white-box member's videos with 5x its steps and with APGD
    with restarts at its budget, and record whether either lowers the AUROC beyond the interval
    (:mod:`harness.runner.convergence`); ``None`` (default): on for a checkpoint whose metadata
    records robust training (``adversarial`` or ``noise_sigma``), off otherwise; a suite member's
    own ``convergence: true|false`` takes precedence.
    """

    detector: str = "xception"
    attack: str = "pgd"
    checkpoint: str | None = None
    detector_options: dict[str, Any] = field(default_factory=dict)
    attack_options: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    suite: str | None = None  # a suite name (configs/suites/) or YAML path: run all its members
    split: str = "auto"  # auto | test | val | train | all
    aggregate: str = "mean"  # video score from frame scores: mean | median | max | mean_logit
    frames_per_video: int | None = (
        None  # frame detectors: score this many crops per video, evenly spaced (None: all)
    )
    batch_size: int = 16
    device: str = "auto"
    seed: int = 0
    n_boot: int = 1000
    quantize: bool = True  # attacked frames rounded to 8 bits inside the budget (what is deliverable)
    save_adversarial: str | None = None  # write the attacked crops as scored (PNG) under this folder
    workers: int = 2  # processes reading cached crops (0: read in the main process)
    precision: str = "fp32"  # fp32 | bf16 | fp16: autocast of the detector's forward/backward
    channels_last: bool = False  # NHWC detector and input (faster convolutions on GPUs, oneDNN)
    compile: bool = False  # torch.compile the detector (the first batch compiles)
    fresh: bool = False  # recompute: ignore finished results and resume logs of this run
    threat: ThreatConfig = field(default_factory=ThreatConfig)  # crops | pipeline (+ its codec)
    name: str | None = None  # the leaderboard row (results folder) of a zoo detector with given weights
    # the convergence check of every white-box member (harness.runner.convergence): None (auto) runs
    # it for a checkpoint trained to be robust (adversarially or with noise); a member may say its own
    convergence: bool | None = None
    results_dir: str = DEFAULT_RESULTS_DIR
    leaderboard_dir: str | None = None  # None: leaderboards/ beside results_dir


@dataclass
class RunResult:
    """One member's result as data: the JSON document and its per-video table (columns by name:
    ``video_id``, ``label``, ``clean_score``, ``adv_score``, ...). ``path``: where a
    :class:`~harness.results.ResultStore` saved it (``None`` when evaluated without a store)."""

    result: dict[str, Any]
    videos: dict[str, list[Any]] = field(default_factory=dict)
    path: Path | None = None


def attack_plan(config: RunConfig) -> tuple[list[Any], str | None]:
    """The (attack, settings) members this run evaluates, and the suite name (if any).

    With ``suite``: its members. Otherwise ``attack`` with ``attack_options``, one member per
    value when its strength setting (``eps``, ``quality``, ...) is a list. Validated up front.
    """
    from harness.attacks import create_attack
    from harness.suites import expand_member, load_suite, split_ordering

    if config.suite:
        if config.attack_options:
            raise ValueError(
                "attack settings (--set attack.*) do not combine with --suite: a suite fixes its "
                "members' settings; copy the suite YAML and edit it instead"
            )
        suite = load_suite(config.suite)
        return [_with_threat(m, config.threat) for m in suite.members], suite.name
    members = [
        _with_threat(m, config.threat) for m in expand_member(config.attack, dict(config.attack_options))
    ]
    for m in members:
        rest, _, _ = split_ordering(m.options)
        create_attack(m.attack, **rest)  # bad settings fail before any work
    return members, None


def _with_threat(member: Any, threat: ThreatConfig) -> Any:
    """``member`` under the run's threat model, unless it names its own (a suite member may)."""
    from harness.suites import SuiteMember

    if not threat.pipeline or "threat" in member.options:
        return member
    return SuiteMember(member.attack, {**member.options, "threat": dataclasses.asdict(threat)})


def create_member_attack(config: RunConfig, member: Any) -> Any:
    """The attack a member runs, seeded by the run and quantized as the run says."""
    from harness.attacks import create_attack
    from harness.suites import split_ordering

    rest, _, _ = split_ordering(member.options)
    return create_attack(member.attack, **{"seed": config.seed, **rest, "quantize": config.quantize})


@dataclass(frozen=True)
class Ordering:
    """A member's codec around its attack: the specs as given and the built codecs."""

    pre_spec: str | None
    post_spec: str | None
    pre: Any  # codec applied before the attack (or None)
    post: Any  # codec applied after it (or None)


def codecs(config: RunConfig, member: Any) -> Ordering:
    """Parse and build a member's ``attack.pre`` / ``attack.post`` once."""
    from harness.attacks import create_attack
    from harness.suites import codec_member, split_ordering

    _, pre, post = split_ordering(member.options)

    def build(spec: str | None) -> Any:
        if not spec:
            return None
        codec = codec_member(spec)
        return create_attack(codec.attack, **{**codec.options, "seed": config.seed})

    return Ordering(pre, post, build(pre), build(post))
