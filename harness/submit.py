"""``harness submit``: put a researcher's own model on the leaderboard.

The researcher brings a model definition (``path/to/model.py:build_fn``, their own code, run
locally by them) and weights. The harness:

1. builds the model and loads the weights without unpickling arbitrary objects
   (``torch.load(weights_only=True)`` or safetensors);
2. checks the detector contract and reports every failure at once: ``[0,1]`` input accepted,
   ``(N,2)`` finite logits, deterministic in eval mode, non-zero input gradients (unless the
   submission declares itself gradient-free: then only black-box and perturbation attacks run);
3. flags what would make the evaluation untrustworthy, as AutoAttack's checks do: outputs that
   look like probabilities, zero or non-finite gradients, randomness, scores that depend on the
   rest of the batch. (A black-box attack stronger than the white-box ones, the sign of gradient
   masking, is flagged by the leaderboard from the results.)
4. runs the standard suite and writes the entry (metadata, flags, the model file and checkpoint
   as paths relative to the working folder with their sha256, input spec, code version,
   environment) next to the results; the leaderboard beside those results is regenerated
   (``leaderboards/`` next to ``results_dir``, as ``harness run`` does, unless
   ``leaderboard_dir`` names another): a submission never rewrites a leaderboard it was not
   pointed at.

Every call into the submitted code (``build_fn()`` and each contract check) is time-boxed by
``contract_timeout`` seconds and shown as a progress line: code that never returns fails with one
line naming the model file and the call, instead of stalling silently.

``build_fn()`` returns either a harness :class:`~harness.detectors.Detector` (e.g. made with
:func:`harness.detectors.wrap_model`, which puts normalization inside) or a plain ``nn.Module``
that has an ``input_size`` attribute (then wrapped with no normalization: it gets [0,1] input).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.contract import (
    DEFAULT_CALL_TIMEOUT,
    CallTimeout,
    ContractReport,
    Flag,
    call_with_time_limit,
    check_contract,
)
from harness.results import COMMITTED_RESULTS_DIR
from harness.runner import RunConfig

# How a submission is evaluated unless the YAML or flags say otherwise (see SubmitConfig). No
# leaderboard_dir: the leaderboard goes beside results_dir (leaderboards/ next to results/), so
# `--results-dir elsewhere/results` never regenerates the checkout's leaderboards/ from it.
SUBMIT_RUN_DEFAULTS: dict[str, Any] = {
    "suite": "standard",
    "split": "test",
    "results_dir": COMMITTED_RESULTS_DIR,
}

ENTRY_FILE = "entry.json"
ENTRY_SCHEMA = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SubmissionError(ValueError):
    """The submission cannot be evaluated (bad model file, weights or contract); names the fix."""


@dataclass(frozen=True)
class SubmitConfig:
    """Everything ``harness submit`` does; precedence CLI > YAML > these defaults.

    ``run``: how the entry is evaluated, a :class:`~harness.runner.RunConfig` whose defaults here
    differ from ``harness run``'s in three ways: the ``standard`` suite, the ``test`` split (the
    researcher's model must not have seen it) and the committed ``results/`` folder (submitting
    is the explicit step that adds a row to the committed leaderboard). Its ``detector`` and
    ``checkpoint`` are set from ``name`` and ``checkpoint``; its leaderboard is regenerated in
    ``run.leaderboard_dir``, by default ``leaderboards/`` beside ``run.results_dir``.
    ``contract_timeout``: seconds each call into the submitted code (``build_fn()``, each
    contract check) may take before the submission fails, naming the call.
    """

    model: str = ""  # path/to/model.py:build_fn
    checkpoint: str = ""
    name: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    gradient_free: bool = False
    contract_timeout: float = DEFAULT_CALL_TIMEOUT
    run: RunConfig = field(default_factory=lambda: RunConfig(**SUBMIT_RUN_DEFAULTS))


# -- loading ---------------------------------------------------------------------------------------
def model_file(spec: str) -> tuple[Path, str]:
    """``path/to/model.py:build_fn`` -> (the file, ``build_fn``); the file must exist."""
    path_text, sep, attr = spec.rpartition(":")
    if not sep or not path_text or not attr:
        raise SubmissionError(f"--model must be path/to/model.py:build_fn, got {spec!r}")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise SubmissionError(f"model file {path} not found (--model path/to/model.py:build_fn)")
    return path, attr


def load_build_fn(spec: str) -> Any:
    """Import ``path/to/model.py:build_fn`` from a file (the user's own code) and return the callable."""
    path, attr = model_file(spec)
    module_name = f"harness_submission_{abs(hash(str(path.resolve()))):x}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise SubmissionError(f"cannot import {path}: not a Python file?")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        raise SubmissionError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        names = sorted(n for n in vars(module) if not n.startswith("_") and callable(getattr(module, n)))
        raise SubmissionError(
            f"{path} has no callable {attr!r}; callables there: {', '.join(names) or 'none'}"
        )
    return fn


def build_submission(spec: str, name: str, timeout: float | None = None, progress: bool = False) -> Any:
    """Call ``build_fn()`` (at most ``timeout`` seconds) and put the result behind the detector contract."""
    import torch.nn as nn

    from harness.detectors import Detector, wrap_model

    fn = load_build_fn(spec)
    try:
        model = call_with_time_limit(
            fn, f"{spec.rpartition(':')[2]}()", timeout, progress, "building the model"
        )
    except CallTimeout:
        raise
    except Exception as exc:
        raise SubmissionError(f"{spec}() raised {type(exc).__name__}: {exc}") from exc
    if isinstance(model, Detector):
        return model
    if not isinstance(model, nn.Module):
        raise SubmissionError(f"{spec}() returned {type(model).__name__}, expected a torch.nn.Module")
    size = getattr(model, "input_size", None)
    if size is None:
        raise SubmissionError(
            f"{spec}() returned a plain nn.Module without an `input_size` attribute: return "
            "harness.detectors.wrap_model(model, name=..., input_size=..., mean=..., std=...) so the "
            "harness knows the input it takes and the normalization to apply"
        )
    return wrap_model(model, name=name, input_size=size, reference=f"submission {spec}")


def load_weights(detector: Any, checkpoint: str | Path) -> None:
    """Load a state dict (``.pt``/``.pth`` via ``weights_only``, or ``.safetensors``) into the model.

    Keys may be the detector's own (``model.``-prefixed for a wrapped model) or the inner
    module's; a harness checkpoint's ``state_dict`` is taken too. Mismatches name the keys.
    """
    import torch

    from harness.checkpoint import CheckpointError, safe_torch_load

    path = Path(checkpoint).expanduser()
    try:
        payload = safe_torch_load(path)
    except CheckpointError as exc:
        raise SubmissionError(str(exc)) from exc
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        payload = payload["state_dict"]
    if not isinstance(payload, dict) or not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise SubmissionError(
            f"{path} is not a state dict of tensors (save it with torch.save(model.state_dict(), path) "
            "or safetensors.torch.save_file)"
        )
    targets = [detector]
    inner = getattr(detector, "model", None)
    if isinstance(inner, torch.nn.Module):
        targets.append(inner)
    errors = []
    for target in targets:
        own = target.state_dict()
        missing = [k for k in own if k not in payload and not k.endswith(".num_batches_tracked")]
        unexpected = [k for k in payload if k not in own]
        if not missing and not unexpected:
            shapes = [k for k in payload if payload[k].shape != own[k].shape]
            if shapes:
                k = shapes[0]
                raise SubmissionError(
                    f"{path}: {len(shapes)} tensors have the wrong shape, e.g. {k}: file "
                    f"{tuple(payload[k].shape)} vs model {tuple(own[k].shape)} (another architecture?)"
                )
            target.load_state_dict(payload, strict=False)
            return
        errors.append((len(missing) + len(unexpected), missing, unexpected))
    _, missing, unexpected = min(errors, key=lambda e: e[0])
    raise SubmissionError(
        f"{path} does not match the model built by --model: {len(missing)} missing keys "
        f"(e.g. {missing[:3]}), {len(unexpected)} unexpected keys (e.g. {unexpected[:3]})"
    )


# -- the submission --------------------------------------------------------------------------------
def parse_meta(text: str | None) -> dict[str, str]:
    """``authors=A. B.,paper=https://...`` -> dict (values may contain ``=``; keys are trimmed)."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise SubmissionError(f"--meta entries are key=value, got {part!r}")
        out[key.strip()] = value.strip()
    return out


def submit(config: SubmitConfig, progress: bool = True) -> tuple[Path, list[Any], ContractReport]:
    """Validate, evaluate on the suite and write the entry; returns (entry path, results, report)."""
    from harness import workflow
    from harness.checkpoint import sha256_file
    from harness.detectors import DETECTORS
    from harness.provenance import device_name, library_versions, portable
    from harness.runner import attack_plan
    from harness.version import code_version

    if not _NAME.match(config.name or ""):
        raise SubmissionError(
            f"--name {config.name!r}: use 1-64 letters, digits, '.', '_' or '-' (it names files)"
        )
    if config.name in DETECTORS:
        raise SubmissionError(f"--name {config.name!r} is a zoo detector's name; choose another")
    if not config.contract_timeout > 0:
        raise SubmissionError(
            f"contract_timeout must be a positive number of seconds, got {config.contract_timeout!r}"
        )
    try:
        detector = build_submission(config.model, config.name, config.contract_timeout, progress)
        load_weights(detector, config.checkpoint)
        report = check_contract(
            detector,
            config.gradient_free,
            config.run.seed,
            timeout=config.contract_timeout,
            progress=progress,
        )
    except CallTimeout as exc:
        # The call is still running in an abandoned thread: give up on this model, in one line.
        raise SubmissionError(
            f"{model_file(config.model)[0]}: {exc.call} did not return within {exc.timeout:g} s "
            "(each call into a submitted model is time-boxed): make it return, or allow more time "
            "with --contract-timeout SECONDS (--set contract_timeout=SECONDS)"
        ) from exc
    if not report.ok:
        lines = "\n  - ".join(report.failures)
        raise SubmissionError(f"{config.model} does not meet the detector contract:\n  - {lines}")
    run_config = dataclasses.replace(config.run, detector=config.name, checkpoint=str(config.checkpoint))
    members, suite_name = attack_plan(run_config)
    skipped: list[str] = []
    if config.gradient_free:
        from harness.attacks import ATTACKS

        kept = [m for m in members if not ATTACKS.get(m.attack).uses_gradients]
        skipped = [m.key for m in members if m not in kept]
        members = kept
    entry_dir = Path(run_config.results_dir) / run_config.data.dataset / config.name
    model_path, build_name = model_file(config.model)
    checkpoint_path = Path(config.checkpoint).expanduser()
    cache = run_config.data.cache_dir
    entry = {
        "kind": "entry",
        "schema_version": ENTRY_SCHEMA,
        "name": config.name,
        "dataset": run_config.data.dataset,
        "meta": dict(config.meta),
        "flags": [dataclasses.asdict(f) for f in report.flags],
        # Paths as a re-run from the same working folder gives them (no absolute paths of this
        # machine: under the working folder relative, under home ~/..., else the file name),
        # and the files' hashes say exactly what was evaluated.
        "model": f"{portable(model_path.resolve(), cache)}:{build_name}",
        "model_sha256": sha256_file(model_path),
        "checkpoint": portable(checkpoint_path.resolve(), cache),
        "checkpoint_sha256": sha256_file(checkpoint_path),
        "input_spec": detector.spec.to_dict(),
        "gradient_free": config.gradient_free,
        "suite": suite_name,
        "members": [m.key for m in members],
        "skipped_members": skipped,
        "code_version": code_version(),
        "environment": library_versions(),
        "status": "running",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    from harness.distributed import is_main
    from harness.fileio import write_json_atomic

    main = is_main()  # under torchrun rank 0 alone writes the entry and the leaderboard
    if main:
        write_json_atomic(entry_dir / ENTRY_FILE, entry)  # present (and flagged) even if interrupted
    try:
        results = workflow.run(run_config, progress, detector=detector, members=members, leaderboard=False)
        entry["status"] = "complete"
        entry["device"] = device_name(_devices(detector)[0])
        if main:
            write_json_atomic(entry_dir / ENTRY_FILE, entry)
    finally:
        if main:  # once, after the entry's status is known (its flags show on the leaderboard)
            from harness.leaderboard import write_leaderboards

            write_leaderboards(Path(run_config.results_dir), workflow.leaderboard_dir(run_config))
    return entry_dir / ENTRY_FILE, results, report


def _devices(detector: Any) -> list[Any]:
    import torch

    found = [p.device for p in detector.parameters()] + [b.device for b in detector.buffers()]
    return found or [torch.device("cpu")]


def cli_submit(args: argparse.Namespace) -> int:
    """``harness submit``: build the config from flags, run, print the table and the entry path."""
    from harness import workflow
    from harness.config import build_config
    from harness.flags import data_flags, translate_sets
    from harness.runner import SuiteError, format_table

    own = ("model", "checkpoint", "name", "contract_timeout")
    cli: dict[str, Any] = {k: getattr(args, k) for k in own if hasattr(args, k)}
    run = {
        k: getattr(args, k)
        for k in ("suite", "device", "results_dir", "leaderboard_dir", "precision", "workers", "fresh")
        if hasattr(args, k)
    }
    if getattr(args, "gradient_free", False):
        cli["gradient_free"] = True
    if hasattr(args, "meta"):
        cli["meta"] = parse_meta(args.meta)
    data = data_flags(args)
    if data:
        run["data"] = data
    if run:
        cli["run"] = run
    # --set items name run settings (attack.eps=..., batch_size=...) unless they are the entry's own
    sets = [
        item
        if item.partition("=")[0].split(".")[0] in (*own, "meta", "gradient_free", "run")
        else item.nested("run")
        for item in translate_sets(getattr(args, "set", None))
    ]
    config = build_config(SubmitConfig, getattr(args, "config", None), cli=cli, sets=sets)
    board = workflow.leaderboard_dir(config.run)  # beside the results unless leaderboard_dir says
    try:
        entry, results, report = submit(config, progress=not getattr(args, "quiet", False))
    except SuiteError as exc:
        print(format_table(exc.results))
        print(f"leaderboard: {board}")  # regenerated with the members that finished
        print(f"harness: error: {exc}", file=sys.stderr)
        return 1
    print(format_table(results))
    for flag in report.flags:
        print(f"flag {flag.code}: {flag.message}")
    print(f"entry: {entry}")
    print(f"leaderboard: {board}")
    return 0


__all__ = [
    "ContractReport",
    "Flag",
    "SubmissionError",
    "SubmitConfig",
    "build_submission",
    "check_contract",
    "load_build_fn",
    "load_weights",
    "model_file",
    "parse_meta",
    "submit",
]
