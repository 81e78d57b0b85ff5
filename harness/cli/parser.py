"""The ``harness`` argument parser: every subcommand, its flags and their help.

Flags of ``run``, ``check``, ``submit``, ``train`` and ``transfer`` default to
``argparse.SUPPRESS``: an unset flag never overrides the YAML config (CLI > YAML > defaults).
"""

from __future__ import annotations

import argparse

from harness.cli.commands import (
    REGISTRIES,
    cmd_app,
    cmd_certify,
    cmd_check,
    cmd_data_prepare,
    cmd_describe,
    cmd_explain,
    cmd_leaderboard,
    cmd_ls,
    cmd_predict,
    cmd_run,
    cmd_submit,
    cmd_train,
    cmd_transfer,
)
from harness.version import package_version


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detector", help="detector name (default xception; see `harness ls detectors`)")
    p.add_argument("--dataset", help="dataset name (default synthetic)")
    p.add_argument("--root", help="folder holding the dataset (not needed for synthetic)")
    p.add_argument("--device", help="auto|cpu|cuda (default auto: the GPU when there is one)")
    p.add_argument("--cache-dir", help="cache folder (default $HARNESS_CACHE or ~/.cache/deepfake-harness)")
    p.add_argument("--config", help="YAML config file (flags and --set override it)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override any config key: attack.eps=4/255, attack.eps=[1/255,4/255] (a curve), "
        "detector.input_size=128, dataset.size=tiny, faces.detector=haar, split=all, ...",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _add_speed(p: argparse.ArgumentParser) -> None:
    """Flags of evaluation speed and resumption (also ``--set workers=...`` etc.)."""
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], help="detector autocast (default fp32)")
    p.add_argument("--workers", type=int, help="processes reading cached crops (default 2; 0: none)")
    p.add_argument("--batch-size", type=int, dest="batch_size", help="samples per batch (default 16)")
    p.add_argument("--channels-last", action="store_true", dest="channels_last", help="NHWC memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the detector")
    p.add_argument(
        "--fresh",
        action="store_true",
        help="recompute: ignore this run's finished results and resume records",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Deepfake-detector robustness harness: evaluate detectors clean and under attack.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p_ls = sub.add_parser("ls", help="list registered detectors, attacks or datasets")
    p_ls.add_argument("kind", choices=sorted(REGISTRIES), help="what to list")
    p_ls.set_defaults(func=cmd_ls)

    p_desc = sub.add_parser(
        "describe",
        help="a detector's input spec, size and checkpoint facts, or an attack's settings and defaults",
    )
    p_desc.add_argument("detector", metavar="NAME", help="detector or attack name (see `harness ls`)")
    p_desc.add_argument(
        "--checkpoint", help="harness checkpoint, Keras MesoNet .h5, or mesonet:Meso4_DF-style alias"
    )
    p_desc.add_argument(
        "-o",
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="builder option, e.g. -o input_size=[64,64] -o backbone=xception (repeatable)",
    )
    p_desc.set_defaults(func=cmd_describe)

    p_data = sub.add_parser("data", help="dataset tools (prepare: index, split, extract faces)")
    data_sub = p_data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p_prep = data_sub.add_parser(
        "prepare",
        help="build the index, the split manifest and the face cache; print a summary",
        argument_default=argparse.SUPPRESS,  # unset flags never override the YAML config
    )
    p_prep.add_argument("--dataset", help="dataset name (default synthetic; see `harness ls datasets`)")
    p_prep.add_argument("--root", help="folder holding the dataset (not needed for synthetic)")
    p_prep.add_argument("--protocol", choices=["random", "official"], help="split protocol (default random)")
    p_prep.add_argument("--seed", type=int, help="split seed (default 0)")
    p_prep.add_argument("--face-detector", choices=["mtcnn", "haar", "none"], help="default mtcnn")
    p_prep.add_argument("--frames", type=int, help="frames sampled per video (default 32)")
    p_prep.add_argument("--margin", type=float, help="crop margin per side (default 0.3)")
    p_prep.add_argument("--crop-size", type=int, help="stored crop size in pixels (default 256)")
    p_prep.add_argument("--decoder", choices=["pyav", "opencv"], help="video decoder (default pyav)")
    p_prep.add_argument(
        "--cache-dir", help="cache folder (default $HARNESS_CACHE or ~/.cache/deepfake-harness)"
    )
    p_prep.add_argument("--device", help="auto|cpu|cuda for MTCNN (default auto)")
    p_prep.add_argument("--workers", type=int, help="processes decoding videos (default 0: in this process)")
    p_prep.add_argument("--config", help="YAML file of these settings (flags override it)")
    p_prep.add_argument(
        "-o",
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="dataset adapter option, e.g. -o size=tiny (synthetic) or -o group_by=part (dfdc)",
    )
    p_prep.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="any config key, e.g. faces.min_face_size=30"
    )
    p_prep.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p_prep.set_defaults(func=cmd_data_prepare)

    p_run = sub.add_parser(
        "run",
        help="evaluate a detector clean and under attack; write results and leaderboards",
        argument_default=argparse.SUPPRESS,
    )
    _add_common(p_run)
    p_run.add_argument("--attack", help="attack name (default pgd; see `harness ls attacks`)")
    p_run.add_argument(
        "--suite",
        help="run every member of a suite instead of one attack: standard, smoke (configs/suites/) or a YAML path",
    )
    p_run.add_argument(
        "--checkpoint",
        help="detector weights (default on synthetic: its demo model, trained once if missing)",
    )
    p_run.add_argument(
        "--save-adversarial",
        metavar="DIR",
        help="write the attacked crops as scored (8-bit PNG) to DIR/real/<video>/ and DIR/fake/<video>/",
    )
    p_run.add_argument(
        "--name",
        help="leaderboard row (results folder) for this detector with --checkpoint, e.g. meso4-Meso4_DF",
    )
    p_run.add_argument(
        "--threat",
        choices=["crops", "pipeline"],
        help="where the attack acts: crops (the face crops the detector sees; default) or pipeline "
        "(full video frames, H.264 re-encoded at --set threat.crf=23, faces re-detected)",
    )
    p_run.add_argument(
        "--results-dir",
        help="where results go (default runs/results, git-ignored; `results` adds them to the "
        "committed leaderboard)",
    )
    p_run.add_argument(
        "--leaderboard-dir",
        help="leaderboard regenerated from --results-dir (default: leaderboards/ beside it)",
    )
    _add_speed(p_run)
    p_run.set_defaults(func=cmd_run)

    p_cert = sub.add_parser(
        "certify",
        help="randomized smoothing: a confidence interval on every test frame's smoothed score and the "
        "certified AUROC per L2 radius (a curve); writes a result beside the row's and the leaderboard",
        argument_default=argparse.SUPPRESS,
    )
    _add_common(p_cert)
    p_cert.add_argument("--checkpoint", help="detector weights (default on synthetic: its demo model)")
    p_cert.add_argument(
        "--name", help="leaderboard row of the result (default <detector>-smooth<sigma>, as a smoothed run)"
    )
    p_cert.add_argument("--sigma", type=float, help="Gaussian noise level in [0,1] pixels (default 0.25)")
    p_cert.add_argument(
        "--n",
        "--num-samples",
        type=int,
        dest="n",
        help="noisy samples per frame for its interval (default 1000; under torchrun, whose own parser "
        "takes --n for its flags, spell it --num-samples)",
    )
    p_cert.add_argument(
        "--n0", type=int, help="noisy samples per frame selecting its class certificate (default 100)"
    )
    p_cert.add_argument(
        "--alpha", type=float, help="failure probability of each frame's bound (default 0.001)"
    )
    p_cert.add_argument("--radii", help="L2 radii of the curve, comma list (default 0,0.1,0.25,0.5)")
    p_cert.add_argument(
        "--score",
        choices=["soft", "hard"],
        help="soft: the smoothed fake probability (default; what a smoothed run scores); hard: the "
        "probability that the detector says fake (Cohen et al.)",
    )
    p_cert.add_argument("--results-dir", help="where the result goes (default runs/results)")
    p_cert.add_argument("--leaderboard-dir", help="leaderboard regenerated (default: beside --results-dir)")
    p_cert.add_argument(
        "--precision", choices=["fp32", "bf16", "fp16"], help="detector autocast (default fp32)"
    )
    p_cert.add_argument("--workers", type=int, help="processes reading cached crops (default 2; 0: none)")
    p_cert.add_argument("--batch-size", type=int, dest="batch_size", help="frames per batch (default 16)")
    p_cert.add_argument(
        "--fresh", action="store_true", help="recompute, ignoring a finished result and resume logs"
    )
    p_cert.set_defaults(func=cmd_certify)

    p_tr = sub.add_parser(
        "transfer",
        help="craft adversarial examples once on source detectors, score them on targets: a "
        "source x target matrix of attacked AUROC",
        argument_default=argparse.SUPPRESS,
    )
    p_tr.add_argument("--source", help="detector(s) the attack is crafted on, comma list (default xception)")
    p_tr.add_argument(
        "--targets", help="detectors that score the examples, comma list (default: the sources)"
    )
    p_tr.add_argument("--attack", help="attack name (default pgd; see `harness ls attacks`)")
    p_tr.add_argument("--dataset", help="dataset name (default synthetic)")
    p_tr.add_argument("--root", help="folder holding the dataset (not needed for synthetic)")
    p_tr.add_argument("--device", help="auto|cpu|cuda (default auto)")
    p_tr.add_argument(
        "--cache-dir", help="cache folder (default $HARNESS_CACHE or ~/.cache/deepfake-harness)"
    )
    p_tr.add_argument("--config", help="YAML config file (flags and --set override it)")
    p_tr.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="attack.eps=4/255 (a list gives one matrix per budget), checkpoints.NAME=PATH (weights of a "
        "detector; default on synthetic: its demo model), frames_per_video=4, split=test, results_dir=...",
    )
    p_tr.add_argument("--workers", type=int, help="processes reading crops (default 2; 0: none)")
    p_tr.add_argument("--batch-size", type=int, dest="batch_size", help="crops per attack call (default 16)")
    p_tr.add_argument(
        "--fresh", action="store_true", help="craft again even when the store holds the examples"
    )
    p_tr.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p_tr.set_defaults(func=cmd_transfer)

    p_train = sub.add_parser(
        "train",
        help="train a detector on the train split (best validation AUROC kept)",
        argument_default=argparse.SUPPRESS,
    )
    _add_common(p_train)
    p_train.add_argument("--output", help="checkpoint path (default: in the cache)")
    p_train.add_argument(
        "--recipe",
        choices=["demo", "none"],
        default="demo",
        help="start from configs/demo/<detector>.yaml (default) or from the plain defaults",
    )
    p_train.add_argument(
        "--adversarial",
        choices=["pgd", "trades", "fgsm-rs"],
        help="adversarial training: PGD-AT (Madry), TRADES, or FGSM from a random start (Wong); "
        "budget and steps with --set adversarial.eps=4/255 adversarial.steps=5 ...",
    )
    p_train.add_argument(
        "--noise-sigma",
        type=float,
        dest="noise_sigma",
        help="Gaussian noise augmentation x + N(0, sigma^2) (the base of randomized smoothing)",
    )
    p_train.add_argument("--workers", type=int, help="processes reading crops (default 2; 0: none)")
    p_train.add_argument(
        "--fresh", action="store_true", help="start over: ignore the saved state of an interrupted run"
    )
    p_train.set_defaults(func=cmd_train)

    p_pred = sub.add_parser("predict", help="fake probability of one video (and per sampled frame)")
    p_pred.add_argument("video", help="video or image file")
    p_pred.add_argument("--detector", default="meso4", help="detector name (default meso4)")
    p_pred.add_argument(
        "--checkpoint",
        default="mesonet:Meso4_DF",
        help="weights (default mesonet:Meso4_DF, the published MesoNet detector)",
    )
    p_pred.add_argument("--face-detector", default="mtcnn", choices=["mtcnn", "haar", "none"])
    p_pred.add_argument("--frames", type=int, default=32, help="frames sampled (default 32)")
    p_pred.add_argument("--device", default="auto")
    p_pred.set_defaults(func=cmd_predict)

    p_ex = sub.add_parser(
        "explain",
        help="per sampled frame: face crop, fake probability clean and attacked, perturbation, Grad-CAM",
    )
    p_ex.add_argument("video", help="video or image file")
    p_ex.add_argument("--detector", default="meso4", help="detector name (default meso4)")
    p_ex.add_argument(
        "--checkpoint",
        default="mesonet:Meso4_DF",
        help="weights (default mesonet:Meso4_DF, the published MesoNet detector; none: untrained)",
    )
    p_ex.add_argument("--attack", default="pgd", help="attack name, or none for clean only (default pgd)")
    p_ex.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="attack.eps=4/255, attack.steps=20, detector.input_size=128 (no checkpoint), "
        "faces.margin=0.2, ...",
    )
    p_ex.add_argument("--label", type=int, choices=[0, 1], help="true label (default: the clean prediction)")
    p_ex.add_argument("--face-detector", default="mtcnn", choices=["mtcnn", "haar", "none"])
    p_ex.add_argument("--frames", type=int, default=8, help="frames sampled (default 8)")
    p_ex.add_argument("--seed", type=int, default=0, help="the attack's seed (default 0)")
    p_ex.add_argument("--device", default="auto")
    p_ex.add_argument("--dpi", type=int, default=100, help="figure resolution (default 100)")
    p_ex.add_argument("--output", default="runs/explain", help="folder for <video>.png and .json")
    p_ex.set_defaults(func=cmd_explain)

    p_app = sub.add_parser(
        "app", help="a local web page for one video: scores, per-frame plot, attack, Grad-CAM, download"
    )
    p_app.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p_app.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p_app.add_argument(
        "--share",
        type=lambda v: v.lower() in ("1", "true", "yes"),
        default=False,
        metavar="BOOL",
        help="also open a public Gradio share link (default false)",
    )
    p_app.add_argument("--device", default="auto", help="auto|cpu|cuda (default auto)")
    p_app.add_argument(
        "--cache-dir", help="cache folder (default $HARNESS_CACHE or ~/.cache/deepfake-harness)"
    )
    p_app.set_defaults(func=cmd_app)

    p_lb = sub.add_parser(
        "leaderboard", help="regenerate the leaderboard (Markdown, CSV, HTML page) from result files"
    )
    p_lb.add_argument("--results-dir", default="results")
    p_lb.add_argument("--output", default="leaderboards")
    p_lb.set_defaults(func=cmd_leaderboard)

    p_check = sub.add_parser(
        "check",
        help="CI regression check: run a suite, compare with a baseline, exit 1 on a regression",
        argument_default=argparse.SUPPRESS,
    )
    _add_common(p_check)
    p_check.add_argument("--baseline", required=True, help="baseline JSON (written by --update-baseline)")
    p_check.add_argument("--suite", help="suite name or YAML path (default smoke)")
    p_check.add_argument("--checkpoint", help="detector weights (default on synthetic: its demo model)")
    p_check.add_argument(
        "--tolerance", type=float, help="AUROC change allowed before a member fails (default 0.02)"
    )
    p_check.add_argument("--junit", help="write JUnit XML here (one test case per suite member)")
    p_check.add_argument("--results-dir", help="where the check's own result files go")
    p_check.add_argument(
        "--update-baseline", action="store_true", help="write the current numbers as the new baseline"
    )
    _add_speed(p_check)
    p_check.set_defaults(func=cmd_check)

    p_sub = sub.add_parser(
        "submit",
        help="submit a detector: validate its contract, run the standard suite, add it to the leaderboard",
        argument_default=argparse.SUPPRESS,
    )
    _add_common(p_sub)
    p_sub.add_argument("--model", required=True, help="path/to/model.py:build_fn (your code, run locally)")
    p_sub.add_argument("--checkpoint", required=True, help="weights: a state dict (.pt/.pth) or .safetensors")
    p_sub.add_argument("--name", required=True, help="leaderboard name of the entry")
    p_sub.add_argument("--meta", help="authors=...,paper=...,notes=... (stored in the entry)")
    p_sub.add_argument("--suite", help="suite to run (default standard)")
    p_sub.add_argument(
        "--gradient-free",
        action="store_true",
        help="the model is not differentiable: only black-box and perturbation attacks apply",
    )
    p_sub.add_argument("--results-dir", help="results folder (default results)")
    p_sub.add_argument(
        "--leaderboard-dir", help="leaderboard folder (default: leaderboards/ beside the results folder)"
    )
    p_sub.add_argument(
        "--contract-timeout",
        type=float,
        help="seconds each call into your model may take while it is built and checked (default 60)",
    )
    p_sub.add_argument(
        "--precision", choices=["fp32", "bf16", "fp16"], help="detector autocast (default fp32)"
    )
    p_sub.add_argument("--workers", type=int, help="processes reading cached crops (default 2; 0: none)")
    p_sub.add_argument("--fresh", action="store_true", help="recompute finished members of this submission")
    p_sub.set_defaults(func=cmd_submit)
    return parser
