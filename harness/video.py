"""Video files in and out, streamed (a video is never held whole in memory).

Decoding with PyAV, H.264 encoding that gives the same bytes for the same frames (x264 MB-tree off,
one thread; ``lossless``: libx264rgb at qp 0, bit-exact), re-encoding a video with some frames
replaced, and how far a delivered video is from its source. Used by the pipeline threat model
(:mod:`harness.pipeline`).

Orientation: frames are decoded *upright* (a display matrix, as phones write, is applied: the
same frames as face extraction reads, see :mod:`harness.faces.media`), and written upright with no
display matrix. A delivered video therefore shows the source's upright picture in any player, and
decodes to exactly the pixel grid the attack optimized and the face boxes were found on, whatever
the decoder does with matrices (the way a platform that transcodes phone footage delivers it).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from harness.fileio import atomic_path


def _source(path: Path) -> Path:
    from harness.faces import MediaError

    if path.is_dir() or not path.is_file():
        raise MediaError(
            f"{path}: the pipeline threat model needs the source video file (pre-cropped face "
            "folders and missing files cannot be re-encoded): use --threat crops for this dataset"
        )
    return path


def iter_frames(path: Path) -> Iterator[np.ndarray]:
    """The frames of a video as uint8 RGB ``(H, W, 3)``, upright (its display matrix applied, as
    face extraction reads them), one at a time in decode order."""
    import av

    from harness.faces import MediaError
    from harness.faces.media import quarter_turns, upright_rgb

    try:
        with av.open(str(_source(path))) as container:
            stream = container.streams.video[0]
            n = turns = 0
            for frame in container.decode(stream):
                if not n:  # the first frame's matrix holds for the stream: one shape throughout
                    turns = quarter_turns(frame)
                n += 1
                yield upright_rgb(frame, turns)
    except (av.error.FFmpegError, IndexError) as exc:
        raise MediaError(f"{path}: cannot decode ({type(exc).__name__}: {exc})") from exc
    if not n:
        raise MediaError(f"{path}: no decodable frames")


def frame_rate(path: Path) -> Fraction:
    """A video's frame rate (25 when the container does not say)."""
    import av

    with av.open(str(_source(path))) as container:
        stream = container.streams.video[0]
        return Fraction(stream.average_rate or stream.guessed_rate or 25)


def read_video(path: Path) -> tuple[np.ndarray, Fraction]:
    """Every frame of a (short) video as ``(T, H, W, 3)`` and its frame rate (tests, small clips)."""
    return np.stack(list(iter_frames(path))), frame_rate(path)


def read_frames_at(path: Path, indices: Sequence[int]) -> np.ndarray:
    """The frames at ``indices`` (decode order; repeats allowed) as ``(len(indices), H, W, 3)``."""
    from harness.faces import MediaError

    wanted, found = set(indices), {}
    for i, frame in enumerate(iter_frames(path)):
        if i in wanted:
            found[i] = frame
            if len(found) == len(wanted):
                break
    missing = sorted(wanted - set(found))
    if missing:
        raise MediaError(
            f"{path}: frames {missing[:5]} not found (the file changed since its faces were cached?)"
        )
    return np.stack([found[i] for i in indices])


def encode_video(
    path: Path, frames: Iterable[np.ndarray], fps: Fraction, crf: int | str, preset: str
) -> None:
    """Write uint8 RGB ``(H, W, 3)`` frames (any iterable: streamed) as an H.264 mp4, stored as
    given with no display matrix (upright frames make an upright video in every player).

    ``crf="lossless"``: libx264rgb at qp 0 in RGB, bit-exact. Otherwise libx264 yuv420p at
    ``crf`` (odd sides are edge-padded to even, as yuv420p needs), MB-tree off and one thread,
    so the same frames give the same bytes.
    """
    import av

    lossless = crf == "lossless"
    frames = iter(frames)
    first = next(frames)
    h, w = first.shape[:2]
    ph, pw = (h, w) if lossless else (h + h % 2, w + w % 2)
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264rgb" if lossless else "libx264", rate=fps)
        stream.width, stream.height = pw, ph
        stream.pix_fmt = "rgb24" if lossless else "yuv420p"
        if lossless:
            stream.options = {"qp": "0", "preset": preset}
        else:
            stream.options = {"crf": str(crf), "preset": preset, "x264-params": "mbtree=0"}
        stream.codec_context.thread_count = 1
        for frame in itertools.chain([first], frames):
            if (ph, pw) != (h, w):
                frame = np.pad(frame, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            for packet in stream.encode(image):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def deliver(
    source: Path, out: Path, replace: Mapping[int, np.ndarray], fps: Fraction, crf: int | str, preset: str
) -> None:
    """Re-encode ``source`` into ``out`` with the frames at ``replace``'s indices replaced (streamed).

    ``replace`` holds upright frames, as :func:`read_frames_at` gives them; ``out`` is written
    upright without a display matrix, so it shows what ``source`` shows, rotated phone footage
    included, and decodes to exactly the frames written (lossless) in any decoder.
    """
    encode_video(out, (replace.get(i, f) for i, f in enumerate(iter_frames(source))), fps, crf, preset)


@dataclass
class Fidelity:
    """How far a delivered video is from its source: PSNR over all frames and over the attacked ones."""

    psnr: float
    psnr_attacked: float
    linf_attacked: float  # largest |delivered - source| at the attacked frames, in [0, 1]


def fidelity(source: Path, delivered: Path, attacked: Iterable[int]) -> Fidelity:
    """Compare two videos frame by frame (streamed); the delivered one cropped to the source's size."""
    marked = set(attacked)
    sq = sq_att = 0.0
    n = n_att = 0
    linf = 0.0
    for i, (a, b) in enumerate(zip(iter_frames(source), iter_frames(delivered), strict=True)):
        d = b[: a.shape[0], : a.shape[1]].astype(np.float64) - a.astype(np.float64)
        e = float(np.square(d).sum())
        sq, n = sq + e, n + d.size
        if i in marked:
            sq_att, n_att = sq_att + e, n_att + d.size
            linf = max(linf, float(np.abs(d).max()) / 255.0)

    def psnr(total: float, count: int) -> float:
        mse = total / max(1, count)
        return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))

    return Fidelity(psnr(sq, n), psnr(sq_att, n_att), linf)


__all__ = [
    "Fidelity",
    "deliver",
    "encode_video",
    "fidelity",
    "frame_rate",
    "iter_frames",
    "read_frames_at",
    "read_video",
]
