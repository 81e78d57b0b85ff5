"""The ``harness`` command: a thin layer over the library.

Import-light on purpose: ``harness --help`` and ``harness ls ...`` never import torch, timm, ART,
facenet-pytorch or PyAV; each subcommand imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from harness.version import package_version

_REGISTRIES = {
    "detectors": "harness.detectors:DETECTORS",
    "attacks": "harness.attacks:ATTACKS",
    "datasets": "harness.datasets:DATASETS",
}


def _registry(kind: str) -> Any:
    import importlib

    module, _, attr = _REGISTRIES[kind].partition(":")
    return getattr(importlib.import_module(module), attr)


def cmd_ls(args: argparse.Namespace) -> int:
    """Print each registered component with its one-line description."""
    registry = _registry(args.kind)
    rows = registry.describe()
    if not rows:
        print(f"no {args.kind} registered yet")
        return 0
    width = max(len(name) for name, _ in rows)
    for name, description in rows:
        print(f"{name:<{width}}  {description}")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    """Build a detector (optionally from a checkpoint) and print its spec and size."""
    from harness.config import parse_sets
    from harness.detectors import create_detector

    options = parse_sets(args.option or [])
    model = create_detector(args.detector, checkpoint=args.checkpoint, **options)
    spec = model.spec
    n_params = sum(p.numel() for p in model.parameters())
    print(f"detector     {spec.name}")
    print(f"kind         {spec.kind}")
    print(
        f"input        {'(N,T,3,H,W)' if spec.kind == 'clip' else '(N,3,H,W)'} in [0,1], "
        f"H x W = {spec.input_size[0]} x {spec.input_size[1]}"
    )
    if spec.frames_per_clip:
        print(f"frames/clip  {spec.frames_per_clip}")
    print(f"mean / std   {spec.mean} / {spec.std}")
    print(f"parameters   {n_params:,}")
    print(f"reference    {spec.reference}")
    if model.build_overrides:
        print(f"options      {model.build_overrides}")
    if model.checkpoint_path is not None:
        from harness.checkpoint import sha256_file

        print(f"checkpoint   {model.checkpoint_path} (sha256 {sha256_file(model.checkpoint_path)[:16]}...)")
        for key, value in sorted(model.checkpoint_meta.items()):
            print(f"  {key:<11} {value}")
    return 0


def cmd_data_prepare(args: argparse.Namespace) -> int:
    """Index, split and extract faces ahead of time; print the summary table."""
    import time

    from harness.config import build_config, parse_sets
    from harness.data import DataConfig, format_summary, prepare_dataset

    cli: dict[str, Any] = {}
    for flag in ("dataset", "root", "protocol", "seed", "cache_dir", "device", "workers"):
        if hasattr(args, flag):
            cli[flag] = getattr(args, flag)
    faces = {
        field: getattr(args, flag)
        for flag, field in (
            ("face_detector", "detector"),
            ("frames", "num_frames"),
            ("margin", "margin"),
            ("crop_size", "crop_size"),
            ("decoder", "decoder"),
        )
        if hasattr(args, flag)
    }
    if faces:
        cli["faces"] = faces
    if getattr(args, "option", None):
        cli["options"] = parse_sets(args.option)
    config = build_config(DataConfig, getattr(args, "config", None), cli=cli, sets=getattr(args, "set", []))
    start = time.perf_counter()
    prep = prepare_dataset(config, progress=not getattr(args, "quiet", False))
    print(format_summary(prep))
    print(f"\ntook {time.perf_counter() - start:.1f}s")
    return 0


_SET_PREFIXES = {
    "attack.": "attack_options.",
    "detector.": "detector_options.",
    "dataset.": "data.options.",
    "faces.": "data.faces.",
}


def _translate_sets(items: list[str] | None) -> list[str]:
    """``attack.eps=4/255`` -> ``attack_options.eps=4/255`` (and detector./dataset./faces.)."""
    out = []
    for item in items or []:
        for short, full in _SET_PREFIXES.items():
            if item.startswith(short):
                item = full + item[len(short) :]
                break
        out.append(item)
    return out


def _data_cli(args: argparse.Namespace) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for flag in ("dataset", "root", "cache_dir"):
        if hasattr(args, flag):
            data[flag] = getattr(args, flag)
    if getattr(args, "device", None):
        data["device"] = args.device
    return data


def cmd_run(args: argparse.Namespace) -> int:
    """Evaluate a detector clean and under attack; print the table."""
    from harness.config import build_config
    from harness.runner import RunConfig, SuiteError, evaluate, format_table

    cli: dict[str, Any] = {
        k: getattr(args, k)
        for k in (
            "detector",
            "attack",
            "suite",
            "checkpoint",
            "device",
            "save_adversarial",
            "precision",
            "workers",
            "batch_size",
            "channels_last",
            "compile",
            "fresh",
            "name",
        )
        if hasattr(args, k)
    }
    if hasattr(args, "threat"):
        cli["threat"] = {"model": args.threat}
    data = _data_cli(args)
    if data:
        cli["data"] = data
    config = build_config(
        RunConfig, getattr(args, "config", None), cli=cli, sets=_translate_sets(getattr(args, "set", None))
    )
    try:
        results = evaluate(config, progress=not getattr(args, "quiet", False))
    except SuiteError as exc:
        print(format_table(exc.results))
        print(f"harness: error: {exc}", file=sys.stderr)
        return 1
    print(format_table(results))
    return 0


def cmd_transfer(args: argparse.Namespace) -> int:
    """Craft adversarial examples on source detectors once; score them on every target."""
    from harness.config import build_config
    from harness.transfer import TransferConfig, format_matrix, transfer

    cli: dict[str, Any] = {
        k: getattr(args, k)
        for k in ("attack", "device", "workers", "batch_size", "fresh")
        if hasattr(args, k)
    }
    for flag, key in (("source", "sources"), ("targets", "targets")):
        if hasattr(args, flag):
            cli[key] = [n.strip() for n in getattr(args, flag).split(",") if n.strip()]
    data = _data_cli(args)
    if data:
        cli["data"] = data
    config = build_config(
        TransferConfig,
        getattr(args, "config", None),
        cli=cli,
        sets=_translate_sets(getattr(args, "set", None)),
    )
    print(format_matrix(transfer(config, progress=not getattr(args, "quiet", False))))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a detector; keep the best validation-AUROC checkpoint."""
    from harness.config import build_config
    from harness.train import TrainConfig, demo_recipe_path

    cli: dict[str, Any] = {k: getattr(args, k) for k in ("detector", "device", "output") if hasattr(args, k)}
    data = _data_cli(args)
    if data:
        cli["data"] = data
    yaml_path = getattr(args, "config", None)
    if yaml_path is None and getattr(args, "recipe", "demo") == "demo":
        candidate = demo_recipe_path(cli.get("detector", TrainConfig.detector))
        yaml_path = candidate if candidate.is_file() else None
    config = build_config(TrainConfig, yaml_path, cli=cli, sets=_translate_sets(getattr(args, "set", None)))
    from harness.train import train

    result = train(config, progress=not getattr(args, "quiet", False))
    print(
        f"trained {config.detector} on {config.data.dataset}: best val AUROC {result.val_auroc:.4f} at epoch "
        f"{result.best_epoch}/{result.epochs_run}; test AUROC of that checkpoint {result.test_auroc:.4f}; "
        f"{result.seconds:.0f}s\ncheckpoint: {result.checkpoint}"
    )
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Regenerate the leaderboard (Markdown, CSV, HTML and figures) from the result files."""
    from pathlib import Path

    from harness.leaderboard import write_leaderboards

    for path in write_leaderboards(Path(args.results_dir), Path(args.output)):
        print(path)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Run a suite and compare with a baseline: non-zero exit on a robustness regression."""
    from harness.check import cli_check

    return cli_check(args)


def cmd_submit(args: argparse.Namespace) -> int:
    """Validate a researcher's model, run the standard suite on it and add it to the leaderboard."""
    from harness.submit import cli_submit

    return cli_submit(args)


def cmd_predict(args: argparse.Namespace) -> int:
    """Fake probability of one video and of each sampled frame."""
    from harness.datasets._faces import FaceConfig
    from harness.predict import NoFaceError, predict

    faces = FaceConfig(detector=args.face_detector, num_frames=args.frames)
    try:
        p = predict(args.video, args.detector, args.checkpoint, faces, args.device)
    except NoFaceError as exc:
        print(f"harness: no face found: {exc}", file=sys.stderr)
        return 3
    verdict = "FAKE" if p.probability >= 0.5 else "REAL"
    print(
        f"{p.path}: fake probability {p.probability:.3f} ({verdict} at 0.5) from {len(p.frames) or 1} face(s) "
        f"in {p.frames_sampled} sampled frame(s), detector {p.detector}"
    )
    for index, prob in p.frames:
        print(f"  frame {index:>5}  {prob:.3f}")
    return 0


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
    p_ls.add_argument("kind", choices=sorted(_REGISTRIES), help="what to list")
    p_ls.set_defaults(func=cmd_ls)

    p_desc = sub.add_parser(
        "describe", help="build a detector and print its input spec, size and checkpoint facts"
    )
    p_desc.add_argument("detector", help="detector name (see `harness ls detectors`)")
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
    _add_speed(p_run)
    p_run.set_defaults(func=cmd_run)

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
    p_sub.add_argument("--leaderboard-dir", help="leaderboard folder (default leaderboards)")
    p_sub.add_argument(
        "--precision", choices=["fp32", "bf16", "fp16"], help="detector autocast (default fp32)"
    )
    p_sub.add_argument("--workers", type=int, help="processes reading cached crops (default 2; 0: none)")
    p_sub.add_argument("--fresh", action="store_true", help="recompute finished members of this submission")
    p_sub.set_defaults(func=cmd_submit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``harness`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from harness import distributed

    if not distributed.world().main:  # under torchrun only rank 0 prints tables (errors still show)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    try:
        with distributed.process_group(getattr(args, "device", None) or "auto"):
            return int(args.func(args))
    except (KeyError, ValueError, TypeError, FileNotFoundError, FloatingPointError) as exc:
        # Expected user errors (unknown names, bad options, bad checkpoints): one clear line.
        # HARNESS_DEBUG=1 shows the traceback instead.
        if os.environ.get("HARNESS_DEBUG"):
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"harness: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
