"""`harness submit`: contract checks, trust flags, safe weights, entries; entry-point plugins."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn as nn

from harness.cli import main
from harness.detectors import DETECTORS, create_detector, wrap_model
from harness.submit import (
    SubmissionError,
    build_submission,
    check_contract,
    load_weights,
    parse_meta,
)


class _Net(nn.Module):
    """A small differentiable frame model on 32x32 input."""

    def __init__(self, out: int = 2, mode: str = "logits") -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, out)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.fc(self.conv(x).mean((2, 3)))
        if self.mode == "probs":
            return z.softmax(1)
        if self.mode == "random":
            return z + torch.randn_like(z)
        if self.mode == "argmax":
            return nn.functional.one_hot(z.argmax(1), 2).float()
        if self.mode == "nan":
            return z * float("nan")
        return z


def _wrapped(mode: str = "logits", out: int = 2) -> Any:
    return wrap_model(_Net(out, mode), name="t", input_size=32)


def test_a_well_behaved_model_passes_without_flags() -> None:
    report = check_contract(_wrapped())
    assert report.ok and report.flags == ()


@pytest.mark.parametrize(
    ("mode", "failure", "flag"),
    [
        ("random", "not deterministic", "randomness"),
        ("argmax", "gradients are all zero", "zero-gradients"),
        ("nan", "NaN", None),
    ],
)
def test_contract_failures_are_reported_with_the_fix(mode: str, failure: str, flag: str | None) -> None:
    report = check_contract(_wrapped(mode))
    assert not report.ok
    assert any(failure in f for f in report.failures), report.failures
    if flag:
        assert flag in {f.code for f in report.flags}


def test_wrong_output_shape_fails() -> None:
    report = check_contract(_wrapped(out=3))
    assert not report.ok and "(4, 3), not (N,1|2)" in report.failures[0]


def test_probability_outputs_are_flagged_not_refused() -> None:
    report = check_contract(_wrapped("probs"))
    assert report.ok
    assert [f.code for f in report.flags] == ["probability-outputs"]


def test_a_gradient_free_model_is_accepted_when_it_says_so() -> None:
    assert not check_contract(_wrapped("argmax")).ok
    assert check_contract(_wrapped("argmax"), gradient_free=True).ok


def test_batch_dependence_is_flagged() -> None:
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.BatchNorm2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    det = wrap_model(net, name="bn", input_size=32)
    det.eval()
    net[1].train()  # a BatchNorm left in training mode: batch statistics
    det.eval = lambda: det  # type: ignore[method-assign]  # the model keeps itself that way
    report = check_contract(det)
    assert "batch-dependent" in {f.code for f in report.flags}


def _model_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "my_model.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_model_file_errors_name_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match="path/to/model.py:build_fn"):
        build_submission("nofunction", "x")
    with pytest.raises(SubmissionError, match="not found"):
        build_submission(str(tmp_path / "missing.py") + ":build", "x")
    path = _model_file(tmp_path, "import torch\ndef build():\n    return torch.nn.Linear(2, 2)\n")
    with pytest.raises(SubmissionError, match="no callable 'make'.*build"):
        build_submission(f"{path}:make", "x")
    with pytest.raises(SubmissionError, match="input_size"):
        build_submission(f"{path}:build", "x")
    path.write_text("raise ImportError('no such thing')\n")
    with pytest.raises(SubmissionError, match="importing .*my_model.py failed"):
        build_submission(f"{path}:build", "x")


def test_a_plain_module_with_input_size_is_wrapped(tmp_path: Path) -> None:
    path = _model_file(
        tmp_path,
        """
        import torch.nn as nn
        class Net(nn.Module):
            input_size = 32
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(3, 2)
            def forward(self, x):
                return self.fc(x.mean((2, 3)))
        def build():
            return Net()
        """,
    )
    det = build_submission(f"{path}:build", "plain")
    assert det.spec.input_size == (32, 32) and det(torch.rand(2, 3, 32, 32)).shape == (2, 2)


def test_weights_load_safely_and_mismatches_name_the_keys(tmp_path: Path) -> None:
    det = _wrapped()
    inner = tmp_path / "inner.pt"
    torch.save(det.model.state_dict(), inner)  # the researcher's own module's keys
    fresh = _wrapped()
    load_weights(fresh, inner)
    assert torch.equal(fresh.model.fc.weight, det.model.fc.weight)
    wrong = tmp_path / "wrong.pt"
    torch.save({"layer.weight": torch.zeros(1)}, wrong)
    with pytest.raises(SubmissionError, match="missing keys"):
        load_weights(fresh, wrong)
    shapes = tmp_path / "shapes.pt"
    torch.save(_Net(out=3).state_dict(), shapes)
    with pytest.raises(SubmissionError, match="wrong shape"):
        load_weights(fresh, shapes)


class Evil:
    def __reduce__(self) -> Any:
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_a_pickled_object_in_the_checkpoint_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"fc.weight": Evil()}, path)
    with pytest.raises(SubmissionError):
        load_weights(_wrapped(), path)
    assert not (tmp_path / "PWNED").exists()


def test_meta_parsing() -> None:
    assert parse_meta("authors=A. B.,paper=https://x.org/?a=b") == {
        "authors": "A. B.",
        "paper": "https://x.org/?a=b",
    }
    with pytest.raises(SubmissionError, match="key=value"):
        parse_meta("authors")


def _tiny_args(tiny: tuple[Any, Path]) -> list[str]:
    data, _ = tiny
    return [
        "--cache-dir",
        data.cache_dir,
        "--set",
        "dataset.size=tiny",
        "--set",
        "faces.detector=haar",
        "--set",
        "faces.num_frames=8",
        "--set",
        "n_boot=100",
        "-q",
    ]


def test_submit_end_to_end_writes_the_entry_and_the_leaderboard(
    tiny: tuple[Any, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, ckpt = tiny
    # The researcher's code: the same small CNN architecture, their weights as a plain state dict.
    model = _model_file(
        tmp_path,
        """
        from harness.detectors import create_detector
        def build():
            return create_detector("cnn", input_size=32)
        """,
    )
    weights = tmp_path / "weights.pt"
    torch.save(create_detector("cnn", checkpoint=ckpt).state_dict(), weights)
    suite = tmp_path / "mini.yaml"
    suite.write_text("members:\n  - attack: fgsm\n    eps: 8/255\n  - attack: jpeg\n    quality: 30\n")
    out = tmp_path / "out"
    rc = main(
        [
            "submit",
            "--model",
            f"{model}:build",
            "--checkpoint",
            str(weights),
            "--name",
            "my-cnn",
            "--meta",
            "authors=Ada,paper=https://example.org/p",
            "--suite",
            str(suite),
            "--results-dir",
            str(out / "results"),
            "--leaderboard-dir",
            str(out / "lb"),
            *_tiny_args(tiny),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0, text
    entry = json.loads((out / "results" / "synthetic" / "my-cnn" / "entry.json").read_text())
    assert entry["meta"] == {"authors": "Ada", "paper": "https://example.org/p"}
    assert entry["status"] == "complete" and entry["flags"] == []
    assert entry["members"] == ["fgsm@eps8of255", "jpeg@quality30"]
    assert len(entry["checkpoint_sha256"]) == 64 and entry["input_spec"]["input_size"] == [32, 32]
    assert entry["environment"]["torch"] and entry["code_version"]
    results = sorted(p.name for p in (out / "results" / "synthetic" / "my-cnn").glob("*.json"))
    assert results == ["entry.json", "fgsm-eps8of255.json", "jpeg-quality30.json"]
    fgsm = json.loads((out / "results" / "synthetic" / "my-cnn" / "fgsm-eps8of255.json").read_text())
    assert fgsm["split"] == "test" and fgsm["detector"] == "my-cnn"
    assert fgsm["metrics"]["auroc_adv"] <= fgsm["metrics"]["auroc_clean"]
    assert "my-cnn" in (out / "lb" / "leaderboard.md").read_text()
    # The submitted weights were really loaded: its clean scores equal the zoo model's with that checkpoint.
    rc = main(
        [
            "run",
            "--detector",
            "cnn",
            "--checkpoint",
            str(ckpt),
            "--attack",
            "noise",
            "--set",
            f"results_dir={out / 'zoo'}",
            "--set",
            f"leaderboard_dir={out / 'zoo-lb'}",
            *_tiny_args(tiny),
        ]
    )
    assert rc == 0
    ours = (out / "results" / "synthetic" / "my-cnn" / "fgsm-eps8of255.videos.csv").read_text().splitlines()
    zoo = (out / "zoo" / "synthetic" / "cnn" / "noise-sigma0p05.videos.csv").read_text().splitlines()
    assert [r.split(",")[:3] for r in ours] == [r.split(",")[:3] for r in zoo]


def test_a_gradient_free_submission_runs_only_black_box_and_perturbations(
    tiny: tuple[Any, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _model_file(
        tmp_path,
        """
        import torch, torch.nn as nn
        from harness.detectors import wrap_model
        class Hard(nn.Module):
            def __init__(self):
                super().__init__()
                self.w = nn.Parameter(torch.ones(1))
            def forward(self, x):
                score = (x.mean((1, 2, 3)) > 0.5).float() * self.w  # a hard threshold
                return torch.stack([-score, score], 1)
        def build():
            return wrap_model(Hard(), name="hard", input_size=32)
        """,
    )
    weights = tmp_path / "w.safetensors"
    from safetensors.torch import save_file

    save_file({"w": torch.ones(1)}, str(weights))
    suite = tmp_path / "mini.yaml"
    suite.write_text("members:\n  - attack: fgsm\n  - attack: noise\n")
    common = [
        "submit",
        "--model",
        f"{model}:build",
        "--checkpoint",
        str(weights),
        "--name",
        "hard",
        "--suite",
        str(suite),
        "--results-dir",
        str(tmp_path / "r"),
        "--leaderboard-dir",
        str(tmp_path / "lb"),
        *_tiny_args(tiny),
    ]
    assert main(common) == 2
    assert "gradients are all zero" in capsys.readouterr().err
    assert main([*common, "--gradient-free"]) == 0
    entry = json.loads((tmp_path / "r" / "synthetic" / "hard" / "entry.json").read_text())
    assert entry["members"] == ["noise@sigma0p05"] and entry["skipped_members"] == ["fgsm@eps4of255"]
    assert entry["gradient_free"] is True


def test_zoo_names_and_unsafe_names_are_refused(tmp_path: Path) -> None:
    from harness.submit import SubmitConfig, submit

    for name in ("xception", "../evil", ""):
        with pytest.raises(SubmissionError, match="name"):
            submit(SubmitConfig(model="m.py:build", checkpoint="w.pt", name=name))


def test_installed_packages_register_detectors_through_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    (site / "acme_detectors").mkdir(parents=True)
    (site / "acme_detectors" / "__init__.py").write_text(
        textwrap.dedent(
            """
            import torch.nn as nn
            from harness.detectors import wrap_model

            def acme_net(input_size=32):
                '''ACME's detector.'''
                net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
                return wrap_model(net, name="acme_net", input_size=input_size)
            """
        )
    )
    info = site / "acme_detectors-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-detectors\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[harness.detectors]\nacme_net = acme_detectors:acme_net\nxception = acme_detectors:acme_net\n"
    )
    monkeypatch.syspath_prepend(str(site))
    try:
        added = DETECTORS.load_plugins(force=True)
        assert added == ["acme_net"], "a plugin cannot take a built-in name"
        assert "xception" in capsys.readouterr().err
        assert "acme_net" in DETECTORS.names()
        det = create_detector("acme_net", input_size=48)
        assert det.spec.input_size == (48, 48) and det(torch.rand(1, 3, 48, 48)).shape == (1, 2)
        assert main(["ls", "detectors"]) == 0
        assert "acme_net" in capsys.readouterr().out
    finally:
        if "acme_net" in DETECTORS:
            DETECTORS.remove("acme_net")
        DETECTORS.plugin_warnings.clear()


# -- issue 20: the leaderboard beside the results, portable entries, a time limit per call ---------
_SMALL_MODEL = """
import torch.nn as nn
from harness.detectors import wrap_model
def build():
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return wrap_model(net, name="small", input_size=32)
"""


def _submit_small(tiny: tuple[Any, Path], where: Path, results_dir: Path, *extra: str) -> int:
    """Submit a small differentiable model (files under ``where``) on a one-member suite: seconds."""
    where.mkdir(parents=True, exist_ok=True)
    model = where / "models" / "small_model.py"
    model.parent.mkdir(exist_ok=True)
    model.write_text(_SMALL_MODEL)
    weights = where / "small.pt"
    torch.manual_seed(0)
    torch.save(nn.Sequential(nn.Conv2d(3, 2, 3)).state_dict(), weights)  # keys 0.weight, 0.bias
    suite = where / "one.yaml"
    suite.write_text("members:\n  - attack: noise\n")
    return main(
        [
            "submit",
            "--model",
            f"{model}:build",
            "--checkpoint",
            str(weights),
            "--name",
            "small",
            "--suite",
            str(suite),
            "--results-dir",
            str(results_dir),
            *_tiny_args(tiny),
            *extra,
        ]
    )


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_submit_writes_its_leaderboard_beside_its_results_and_leaves_the_checkout_alone(
    tiny: tuple[Any, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A checkout with its committed leaderboard (a copy of the repository's: rows, figures, the
    # threat and transfer tables); the submission's results go elsewhere.
    import shutil

    checkout = tmp_path / "checkout"
    committed = Path(__file__).resolve().parents[1] / "leaderboards"
    if committed.is_dir():
        shutil.copytree(committed, checkout / "leaderboards")
    (checkout / "leaderboards" / "figures").mkdir(parents=True, exist_ok=True)
    (checkout / "leaderboards" / "figures" / "sentinel.svg").write_text("<svg/>")
    before = _tree_bytes(checkout / "leaderboards")
    monkeypatch.chdir(checkout)
    results = tmp_path / "elsewhere" / "results"
    assert _submit_small(tiny, tmp_path / "src", results) == 0
    out = capsys.readouterr().out
    assert _tree_bytes(checkout / "leaderboards") == before, "submit touched a leaderboard it was not given"
    board = tmp_path / "elsewhere" / "leaderboards"
    assert "small" in (board / "leaderboard.md").read_text()
    assert f"leaderboard: {board}" in out, out


def test_the_entry_stores_portable_paths_and_the_model_file_hash(
    tiny: tuple[Any, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hashlib

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert _submit_small(tiny, work, work / "runs" / "results") == 0
    text = (work / "runs" / "results" / "synthetic" / "small" / "entry.json").read_text()
    assert str(tmp_path) not in text, "the entry leaks an absolute path of this machine"
    entry = json.loads(text)
    # Relative to the working folder the command ran in: the same command re-runs the entry.
    assert entry["model"] == "models/small_model.py:build"
    assert entry["checkpoint"] == "small.pt"
    digest = hashlib.sha256((work / "models" / "small_model.py").read_bytes()).hexdigest()
    assert entry["model_sha256"] == digest


_SLEEPY_MODEL = """
import time
import torch
import torch.nn as nn
from harness.detectors import wrap_model
class Sleepy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
    def forward(self, x):
        if WHEN == "always" or torch.is_grad_enabled():
            time.sleep(1000)
        return self.fc(x.mean((2, 3)))
def build():
    return wrap_model(Sleepy(), name="sleepy", input_size=32)
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("when", "call"),
    [
        ("always", "forward on (4, 3, 32, 32)"),
        ("grad", "forward+backward on (4, 3, 32, 32) (input gradients)"),
    ],
)
def test_a_model_that_never_returns_fails_promptly_naming_the_file_and_the_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], when: str, call: str
) -> None:
    import time

    model = tmp_path / "sleepy.py"
    model.write_text(f"WHEN = {when!r}\n" + _SLEEPY_MODEL)
    weights = tmp_path / "sleepy.pt"
    torch.save({"fc.weight": torch.zeros(2, 3), "fc.bias": torch.zeros(2)}, weights)
    start = time.perf_counter()
    rc = main(
        [
            "submit",
            "--model",
            f"{model}:build",
            "--checkpoint",
            str(weights),
            "--name",
            "sleepy",
            "--results-dir",
            str(tmp_path / "r"),
            "--set",
            "contract_timeout=2",
        ]
    )
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err
    assert rc == 2 and elapsed < 20, (rc, elapsed, err)
    message = [line for line in err.splitlines() if line.startswith("harness: error:")]
    assert len(message) == 1, err
    assert "sleepy.py" in message[0] and call in message[0] and "2 s" in message[0], message[0]
    assert "contract_timeout" in message[0], "the error names the setting that raises the limit"
    assert not (tmp_path / "r").exists(), "nothing is evaluated or written after a timed-out check"


def test_the_contract_check_shows_progress_per_call(capsys: pytest.CaptureFixture[str]) -> None:
    report = check_contract(_wrapped(), progress=True)
    assert report.ok
    err = capsys.readouterr().err
    assert "checking contract: forward on (4, 3, 32, 32) ... ok (" in err, err
    assert "forward+backward on (4, 3, 32, 32) (input gradients) ... ok (" in err, err


def test_a_time_limit_must_be_positive(tmp_path: Path) -> None:
    from harness.submit import SubmitConfig, submit

    with pytest.raises(SubmissionError, match="contract_timeout"):
        submit(SubmitConfig(model="m.py:build", checkpoint="w.pt", name="ok", contract_timeout=0))
