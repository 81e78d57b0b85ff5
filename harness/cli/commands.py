"""What each ``harness`` subcommand does: parse flags into a config, call the library, print.

Each command composes library steps in one direction (``run``: ensure the model -> evaluate ->
save results -> regenerate the leaderboard, through :func:`harness.workflow.run`) and imports
what it needs when it runs, so ``harness --help`` and ``harness ls`` stay light.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from harness.flags import data_flags, translate_sets

REGISTRIES = {
    "detectors": "harness.detectors:DETECTORS",
    "attacks": "harness.attacks:ATTACKS",
    "datasets": "harness.datasets:DATASETS",
}


def _registry(kind: str) -> Any:
    import importlib

    module, _, attr = REGISTRIES[kind].partition(":")
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
    if args.kind == "detectors":
        from harness.detectors import FRONT_OPTIONS_HELP

        # A note, not a row: stdout stays one registered name per line for scripts.
        print(FRONT_OPTIONS_HELP, file=sys.stderr)
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    """Build a detector (optionally from a checkpoint) and print its spec and size; for an
    attack, print its settings with their defaults (its ``Config`` dataclass)."""
    from harness.config import parse_sets
    from harness.detectors import DETECTORS, create_detector

    if args.detector not in DETECTORS:
        from harness.attacks import ATTACKS

        if args.detector in ATTACKS:
            return _describe_attack(ATTACKS.get(args.detector), parse_sets(args.option or [], flag="-o"))

    options = parse_sets(args.option or [], flag="-o")
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


def _describe_attack(cls: Any, options: dict[str, Any]) -> int:
    import dataclasses

    attack = cls(**options)
    print(f"attack       {cls.name}")
    print(
        f"norm         {attack.norm}; uses gradients: {attack.uses_gradients}; black box: {attack.black_box}"
    )
    doc = (cls.__doc__ or "").strip().splitlines()
    if doc:
        print(f"reference    {doc[0]}")
    print("settings (default; --set attack.<name>=...):")
    for f in dataclasses.fields(attack.config):
        print(f"  {f.name:<18} {getattr(attack.config, f.name)!r}")
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
        cli["options"] = parse_sets(args.option, flag="-o")
    config = build_config(DataConfig, getattr(args, "config", None), cli=cli, sets=getattr(args, "set", []))
    start = time.perf_counter()
    prep = prepare_dataset(config, progress=not getattr(args, "quiet", False))
    print(format_summary(prep))
    print(f"\ntook {time.perf_counter() - start:.1f}s")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Evaluate a detector clean and under attack; save the results, regenerate their leaderboard,
    print the table."""
    from harness import distributed, workflow
    from harness.config import build_config
    from harness.runner import RunConfig, SuiteError, format_table

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
            "results_dir",
            "leaderboard_dir",
        )
        if hasattr(args, k)
    }
    if hasattr(args, "threat"):
        cli["threat"] = {"model": args.threat}
    data = data_flags(args)
    if data:
        cli["data"] = data
    config = build_config(
        RunConfig, getattr(args, "config", None), cli=cli, sets=translate_sets(getattr(args, "set", None))
    )
    try:
        results = workflow.run(config, progress=not getattr(args, "quiet", False))
    except SuiteError as exc:
        print(format_table(exc.results))
        print(f"harness: error: {exc}", file=sys.stderr)
        return 1
    print(format_table(results))
    if distributed.world().main:
        print(f"leaderboard: {workflow.leaderboard_dir(config)}")
    return 0


def cmd_transfer(args: argparse.Namespace) -> int:
    """Craft adversarial examples on source detectors once; score them on every target.

    Composes: transfer (finds or trains the weights, crafts, scores, saves the results) ->
    regenerate the leaderboard of the results folder.
    """
    from pathlib import Path

    from harness.config import build_config
    from harness.distributed import is_main
    from harness.results import default_leaderboard_dir
    from harness.transfer import TransferConfig, format_matrix, transfer

    cli: dict[str, Any] = {
        k: getattr(args, k)
        for k in ("attack", "device", "workers", "batch_size", "fresh")
        if hasattr(args, k)
    }
    for flag, key in (("source", "sources"), ("targets", "targets")):
        if hasattr(args, flag):
            cli[key] = [n.strip() for n in getattr(args, flag).split(",") if n.strip()]
    data = data_flags(args)
    if data:
        cli["data"] = data
    config = build_config(
        TransferConfig,
        getattr(args, "config", None),
        cli=cli,
        sets=translate_sets(getattr(args, "set", None)),
    )
    result = transfer(config, progress=not getattr(args, "quiet", False))
    if is_main():
        from harness.leaderboard import write_leaderboards

        board = config.leaderboard_dir or default_leaderboard_dir(config.results_dir)
        write_leaderboards(Path(config.results_dir), Path(board))
    print(format_matrix(result))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a detector; keep the best validation-AUROC checkpoint."""
    from harness import distributed
    from harness.config import build_config
    from harness.train import TrainConfig, demo_recipe_path

    keys = ("detector", "device", "output", "noise_sigma", "workers")
    cli: dict[str, Any] = {k: getattr(args, k) for k in keys if hasattr(args, k)}
    if hasattr(args, "adversarial"):
        cli["adversarial"] = {"method": args.adversarial}
    if getattr(args, "fresh", False):
        cli["resume"] = False
    data = data_flags(args)
    if data:
        cli["data"] = data
    yaml_path = getattr(args, "config", None)
    if yaml_path is None and getattr(args, "recipe", "demo") == "demo":
        candidate = demo_recipe_path(cli.get("detector", TrainConfig.detector))
        yaml_path = candidate if candidate.is_file() else None
    config = build_config(TrainConfig, yaml_path, cli=cli, sets=translate_sets(getattr(args, "set", None)))
    from harness.train import train

    with distributed.process_group(config.device):
        result = train(config, progress=not getattr(args, "quiet", False))
    if not distributed.is_main():
        return 0
    robust = [
        h["val_auroc_robust"]
        for h in result.history
        if h["epoch"] == result.best_epoch and "val_auroc_robust" in h
    ]
    rob = f" (robust val AUROC {robust[0]:.4f} at eps {config.adversarial.eps:.5f})" if robust else ""
    print(
        f"trained {config.detector} on {config.data.dataset}: best val AUROC {result.val_auroc:.4f}{rob} at epoch "
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


def cmd_certify(args: argparse.Namespace) -> int:
    """Certified AUROC of a detector under randomized smoothing, per L2 radius (harness.certify)."""
    from harness.certify import cli_certify

    return cli_certify(args)


def cmd_submit(args: argparse.Namespace) -> int:
    """Validate a researcher's model, run the standard suite on it and add it to the leaderboard."""
    from harness.submit import cli_submit

    return cli_submit(args)


def cmd_predict(args: argparse.Namespace) -> int:
    """Fake probability of one video and of each sampled frame."""
    from harness.faces import FaceConfig
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


def cmd_explain(args: argparse.Namespace) -> int:
    """Grad-CAM and scores of one video, clean and attacked: a PNG figure and a JSON of numbers."""
    from pathlib import Path

    from harness.config import ConfigError, from_dict, parse_sets
    from harness.detectors import create_detector
    from harness.explain import explain, render_figure, write_json
    from harness.faces import FaceConfig
    from harness.predict import NoFaceError

    sets = parse_sets(translate_sets(args.set))
    data_set = sets.pop("data", {})
    faces_set = data_set.pop("faces", {})
    unknown = sorted(set(sets) - {"attack_options", "detector_options"}) + [f"data.{k}" for k in data_set]
    if unknown:
        raise ConfigError(
            f"harness explain: --set takes attack.KEY, detector.KEY or faces.KEY, got {', '.join(unknown)}"
        )
    faces = from_dict(FaceConfig, {"detector": args.face_detector, **faces_set}, "faces")
    checkpoint = None if args.checkpoint in ("none", "") else args.checkpoint
    detector = create_detector(args.detector, checkpoint=checkpoint, **sets.get("detector_options", {}))
    attack = None if args.attack in ("none", "") else args.attack
    try:
        expl = explain(
            args.video,
            detector,
            checkpoint=checkpoint,
            attack=attack,
            attack_options=sets.get("attack_options", {}),
            faces=faces,
            frames=args.frames,
            label=args.label,
            seed=args.seed,
            device=args.device,
        )
    except NoFaceError as exc:
        print(f"harness: no face found: {exc}", file=sys.stderr)
        return 3
    out = Path(args.output)
    png = render_figure(expl, out / f"{expl.video.stem}.png", dpi=args.dpi)
    js = write_json(expl, out / f"{expl.video.stem}.json")
    adv = "" if expl.p_attacked is None else f", attacked ({expl.attack}) {expl.p_attacked:.3f}"
    print(f"{expl.video}: fake probability clean {expl.p_clean:.3f}{adv}; Grad-CAM at {expl.cam_layer}")
    for f in expl.frames:
        p_c = "   -  " if f.p_clean is None else f"{f.p_clean:.3f}"
        p_a = "   -  " if f.p_attacked is None else f"{f.p_attacked:.3f}"
        linf = "" if f.linf is None else f"  linf {f.linf * 255:.1f}/255"
        print(f"  frame {f.index:>5}  clean {p_c}  attacked {p_a}{linf}")
    print(f"wrote {png} and {js}")
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    """Serve the one-video web page (Gradio) until interrupted."""
    from harness.app import launch
    from harness.data import DataConfig

    print(f"harness: serving the app on http://{args.host}:{args.port} (Ctrl+C stops it)", flush=True)
    launch(args.host, args.port, args.share, DataConfig(cache_dir=args.cache_dir), args.device)
    return 0
