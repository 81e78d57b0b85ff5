"""The embedded ``synthetic`` benchmark: generation, determinism, layout, faces, artifacts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from harness.datasets import DATASETS
from harness.datasets import _synthetic_faces as sf
from harness.datasets._base import FAKE, REAL, DatasetError, DatasetIndex, strip_suffix
from harness.datasets.synthetic import (
    GENERATOR_VERSION,
    METADATA,
    SIZES,
    Synthetic,
    _plan_videos,
    generate_benchmark,
)
from harness.splits import make_manifest

TINY = SIZES["tiny"]


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> DatasetIndex:
    root = tmp_path_factory.mktemp("synthetic") / "tiny"
    return Synthetic(root, size="tiny", seed=0).index()


@pytest.fixture(scope="module")
def frames(tiny: DatasetIndex) -> dict[str, np.ndarray]:
    return {v.video_id: decode(tiny.abspath(v)) for v in tiny.videos}


def metadata(root: Path) -> dict:
    return json.loads((root / METADATA).read_text())


def test_registered_under_its_file_name() -> None:
    assert DATASETS.get("synthetic") is Synthetic
    assert Synthetic.protocols == ("random",)


def test_index_labels_originals_and_identities_are_consistent(tiny: DatasetIndex) -> None:
    by_id = tiny.by_id()
    reals = [v for v in tiny.videos if v.label == REAL]
    fakes = [v for v in tiny.videos if v.label == FAKE]
    assert len(reals) == TINY.identities * TINY.reals_per_identity
    assert len(fakes) == len(reals)  # fakes_per_real defaults to 1
    assert not tiny.skipped
    identities = {v.target_id for v in reals}
    assert len(identities) == TINY.identities
    for v in tiny.videos:
        assert v.video_id == strip_suffix(v.path) and tiny.abspath(v).is_file()
        assert v.group == v.target_id and v.official_split is None
    for v in reals:
        assert re.fullmatch(r"real/id\d\d_\d{4}", v.video_id)
        assert v.original is None and v.source_id is None
        assert v.video_id.startswith(f"real/{v.target_id}_")
    for v in fakes:
        original = by_id[v.original]
        assert original.label == REAL
        assert v.target_id == original.target_id and v.group == original.group
        assert v.source_id in identities and v.source_id != v.target_id
        number = original.video_id.rsplit("_", 1)[1]
        assert v.video_id == f"fake/{v.target_id}_{v.source_id}_{number}"


def test_metadata_records_settings_and_readme_says_synthetic(tiny: DatasetIndex) -> None:
    meta = metadata(tiny.root)
    settings = meta["settings"]
    assert settings["generator_version"] == GENERATOR_VERSION
    assert (settings["size"], settings["seed"], settings["frames_per_video"]) == ("tiny", 0, TINY.frames)
    assert len(meta["videos"]) == len(tiny.videos)
    for v in meta["videos"]:
        assert v["frames"] == TINY.frames and len(v["face_boxes"]) == TINY.frames
    readme = (tiny.root / "README.txt").read_text()
    assert "SYNTHETIC" in readme and "Celeb-DF" in readme and "without downloading" in readme


def test_videos_are_h264_mp4_with_the_stated_frame_count(tiny: DatasetIndex, frames: dict) -> None:
    meta = {v["video_id"]: v for v in metadata(tiny.root)["videos"]}
    for v in tiny.videos:
        with av.open(str(tiny.abspath(v))) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            assert stream.codec_context.pix_fmt == "yuv420p"
            assert stream.average_rate == TINY.fps
        assert frames[v.video_id].shape == (meta[v.video_id]["frames"], TINY.frame_size, TINY.frame_size, 3)


def test_same_seed_same_data_other_seed_other_data(tiny: DatasetIndex, frames: dict, tmp_path: Path) -> None:
    again = generate_benchmark(tmp_path / "again", "tiny", 0, progress=False)
    assert metadata(again) == metadata(tiny.root)
    for vid, clip in frames.items():
        assert np.array_equal(decode(again / f"{vid}.mp4"), clip), vid

    other = generate_benchmark(tmp_path / "other", "tiny", 1, progress=False)
    assert metadata(other)["identities"] != metadata(tiny.root)["identities"]
    first = sorted(frames)[0]
    assert not np.array_equal(decode(other / f"{first}.mp4")[0], frames[first][0])

    # Rendering itself (before encoding) is a pure function of the seed.
    person = sf.build_person(sf.random_style(np.random.default_rng(5), "astronaut", 7))
    a = sf.render_real(person, np.random.default_rng(9), 3, 64)
    b = sf.render_real(person, np.random.default_rng(9), 3, 64)
    assert np.array_equal(a.frames, b.frames)


def test_random_manifest_is_group_disjoint(tiny: DatasetIndex) -> None:
    manifest = make_manifest(tiny, "random", seed=0)
    split_of = {r.video_id: r.split for r in manifest.rows}
    identity_splits: dict[str, set[str]] = {}
    for r in manifest.rows:
        identity_splits.setdefault(r.target_id, set()).add(r.split)
        if r.original is not None:
            assert split_of[r.original] == r.split
    assert all(len(s) == 1 for s in identity_splits.values())
    assert {r.split for r in manifest.rows} == {"train", "val", "test"}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def test_haar_cascade_finds_the_face_in_nearly_every_frame(tiny: DatasetIndex, frames: dict) -> None:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_alt.xml")
    meta = {v["video_id"]: v for v in metadata(tiny.root)["videos"]}
    found = total = 0
    for vid, clip in frames.items():
        for frame, box in zip(clip, meta[vid]["face_boxes"], strict=True):
            total += 1
            dets = cascade.detectMultiScale(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), 1.1, 3)
            # The detection must be the person's face (the recorded box), not background.
            found += any(iou(np.array([x, y, x + w, y + h]), np.array(box)) > 0.4 for x, y, w, h in dets)
    assert found / total >= 0.95, f"Haar found the face in {found}/{total} frames"


def test_mtcnn_finds_faces_on_a_sample(tiny: DatasetIndex, frames: dict) -> None:
    facenet = pytest.importorskip("facenet_pytorch")
    import torch

    mtcnn = facenet.MTCNN(keep_all=True, device="cpu")
    sample = [clip[i] for clip in frames.values() for i in (0, TINY.frames - 1)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # MTCNN resizes each candidate box alone: threads only add overhead
    try:
        boxes, _ = mtcnn.detect(sample)
    finally:
        torch.set_num_threads(threads)
    found = sum(b is not None and len(b) > 0 for b in boxes)
    assert found / len(sample) >= 0.95, f"MTCNN found faces in {found}/{len(sample)} frames"


def test_fake_differs_from_its_original_in_the_face_only(tiny: DatasetIndex, frames: dict) -> None:
    meta = {v["video_id"]: v for v in metadata(tiny.root)["videos"]}
    for v in tiny.videos:
        if v.label != FAKE:
            continue
        fake = frames[v.video_id].astype(np.float32)
        real = frames[v.original].astype(np.float32)
        inside, outside = [], []
        for t, (x0, y0, x1, y1) in enumerate(meta[v.video_id]["face_boxes"]):
            diff = np.abs(fake[t] - real[t]).mean(-1)
            cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
            inside.append(diff[int(cy - h / 4) : int(cy + h / 4), int(cx - w / 4) : int(cx + w / 4)].mean())
            far = np.ones(diff.shape, bool)
            far[max(0, int(y0 - w / 4)) : int(y1 + w / 4), max(0, int(x0 - w / 4)) : int(x1 + w / 4)] = False
            outside.append(diff[far].mean())
        assert np.mean(inside) > 12, v.video_id  # the swapped face
        assert np.mean(outside) < 4, v.video_id  # the rest: only re-encoding noise


def test_interrupted_generation_is_regenerated(
    tiny: DatasetIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = generate_benchmark(tmp_path / "bench", "tiny", 0, progress=False)
    expected = metadata(root)
    (root / METADATA).unlink()  # as if killed before the last step
    victim = root / expected["videos"][0]["path"]
    victim.write_bytes(b"truncated")

    with pytest.raises(DatasetError, match="missing or unreadable"):
        Synthetic(root, size="tiny", generate=False).index()

    index = Synthetic(root, size="tiny", seed=0).index()
    assert "generating" in capsys.readouterr().err
    assert metadata(root) == expected
    assert len(index.videos) == len(expected["videos"])
    assert np.array_equal(decode(victim)[0], decode(tiny.root / victim.relative_to(root))[0])

    Synthetic(root, size="tiny", seed=0).index()  # complete now: nothing to do
    assert "generating" not in capsys.readouterr().err


def test_other_settings_get_their_own_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    roots = {
        Synthetic(size="tiny", seed=3, fakes_per_real=2).root,
        Synthetic(size="tiny", seed=3).root,
        Synthetic(size="tiny", seed=4).root,
        Synthetic(size="default", seed=3).root,
    }
    assert len(roots) == 4
    assert Synthetic(size="tiny", seed=3, fakes_per_real=0.5).root == (
        tmp_path / "synthetic" / f"tiny-seed3-fpr0p5-v{GENERATOR_VERSION}"
    )
    assert (
        Synthetic(size="tiny", cache_dir=tmp_path / "elsewhere").root.parent
        == tmp_path / "elsewhere" / "synthetic"
    )
    assert not any(tmp_path.iterdir())  # constructing never generates


@pytest.mark.parametrize("fakes_per_real", [0, 0.5, 1, 3])
def test_fakes_per_real_sets_the_class_balance(fakes_per_real: float) -> None:
    reals, fakes = _plan_videos(TINY, 0, fakes_per_real)
    assert len(fakes) == round(fakes_per_real * len(reals))
    assert len({f.video_id for f in fakes}) == len(fakes)
    for real in reals:
        donors = [f.donor for f in fakes if f.real == real]
        assert real.identity not in donors and len(set(donors)) == len(donors)


def test_bad_settings_and_foreign_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown size"):
        Synthetic(tmp_path, size="huge")
    with pytest.raises(ValueError, match="fakes_per_real"):
        Synthetic(tmp_path, size="tiny", fakes_per_real=TINY.identities)
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "mine.mp4").write_bytes(b"someone else's data")
    with pytest.raises(DatasetError, match="refusing to overwrite"):
        Synthetic(tmp_path, size="tiny").index()
    assert (tmp_path / "real" / "mine.mp4").exists()


def _face_regions(person: sf.Person) -> tuple[np.ndarray, np.ndarray]:
    """Canvas masks: the core of the swapped region, and a ring of skin just outside it."""
    mid = person.lms[:2].mean(0)
    iod = float(np.linalg.norm(person.lms[1] - person.lms[0]))
    centre, axes = tuple(mid + np.array([0.0, 0.5 * iod])), np.array([0.88, 1.12]) * iod
    shape = (sf.CANVAS_H, sf.CANVAS_W)
    core = sf.ellipse_mask(shape, centre, tuple(0.6 * axes))
    ring = sf.ellipse_mask(shape, centre, tuple(1.4 * axes)) - sf.ellipse_mask(
        shape, centre, tuple(1.15 * axes)
    )
    return core, (ring * (person.skin > 0.9)).astype(np.float32)


def _colour_and_detail(frames: np.ndarray, clip: sf.Clip, person: sf.Person) -> np.ndarray:
    """Mean chroma and fine detail (|L - blurred L|) in the core and the ring, over frames."""
    core, ring = _face_regions(person)
    stats = []
    for frame, m in zip(frames, clip.transforms, strict=True):
        size = frame.shape[0]
        in_core = cv2.warpAffine(core, m, (size, size)) > 0.99
        in_ring = cv2.warpAffine(ring, m, (size, size)) > 0.99
        lab = cv2.cvtColor(frame.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
        chroma = np.hypot(lab[..., 1], lab[..., 2])
        detail = np.abs(lab[..., 0] - cv2.GaussianBlur(lab[..., 0], (0, 0), 1.0))
        stats.append(
            [chroma[in_core].mean(), chroma[in_ring].mean(), detail[in_core].mean(), detail[in_ring].mean()]
        )
    return np.mean(stats, axis=0)


@pytest.mark.parametrize(
    ("head", "lfw"), [("drawn", 56), ("astronaut", 35), ("grace", 7), ("astronaut", None)]
)
def test_real_faces_are_seamless_and_swapped_faces_carry_the_traces(head: str, lfw: int | None) -> None:
    target = sf.build_person(sf.random_style(np.random.default_rng(1), head, lfw))
    donor = sf.build_person(sf.random_style(np.random.default_rng(2), "drawn", 24))
    clip = sf.render_real(target, np.random.default_rng(3), 4, 224)
    fake = sf.render_fake(clip, target, donor, np.random.default_rng(4))
    real_c, real_r, real_detail, ring_detail = _colour_and_detail(clip.frames, clip, target)
    fake_c, fake_r, fake_detail, _ = _colour_and_detail(fake, clip, target)
    # A real face has the colour and the fine detail (grain, sensor noise) of the skin around it.
    assert 0.75 < real_c / real_r < 1.35
    assert 0.6 < real_detail / ring_detail < 1.8
    # A swapped face is washed out next to the skin around it and blurrier than the real one.
    assert fake_c / fake_r < 0.6
    assert fake_detail < 0.5 * real_detail


@pytest.mark.slow
def test_a_small_cnn_learns_the_fakes_in_a_hundred_steps(tmp_path: Path) -> None:
    """The point of the strong traces: held-out identities, 64 px crops, 100 steps of batch 32."""
    import torch
    import torch.nn.functional as F

    from harness.detectors import create_detector
    from harness.faces import crops_to_tensor, square_crop
    from harness.metrics import aggregate_by_video, auroc, video_labels

    index = Synthetic(tmp_path / "default", size="default", seed=0).index()
    split_of = {r.video_id: r.split for r in make_manifest(index, "random", seed=0).rows}
    boxes = {v["video_id"]: v["face_boxes"] for v in metadata(index.root)["videos"]}
    data: dict[str, tuple[list, list, list]] = {"train": ([], [], []), "held_out": ([], [], [])}
    for v in index.videos:
        clip = decode(index.abspath(v))
        crops = np.stack([square_crop(f, b, 0.3, 256) for f, b in zip(clip, boxes[v.video_id], strict=True)])
        xs, ys, ids = data["train" if split_of[v.video_id] == "train" else "held_out"]
        xs.append(crops_to_tensor(crops, (64, 64)))
        ys += [v.label] * len(crops)
        ids += [v.video_id] * len(crops)
    x, y = torch.cat(data["train"][0]), torch.tensor(data["train"][1])
    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, 2))
    try:
        torch.manual_seed(0)
        model = create_detector("cnn", input_size=64)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        model.train()
        for _ in range(100):
            idx = torch.randint(0, len(x), (32,))
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            p = torch.cat([model(t).softmax(1)[:, 1] for t in data["held_out"][0]]).numpy()
    finally:
        torch.set_num_threads(threads)
    ids = data["held_out"][2]
    _, scores = aggregate_by_video(ids, p, "mean")
    _, labels = video_labels(ids, np.array(data["held_out"][1]))
    assert auroc(labels, scores) >= 0.9
