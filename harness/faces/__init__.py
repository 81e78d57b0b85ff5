"""Face extraction shared by every dataset: sampled frames -> detected faces -> cached crops.

For each video: ``num_frames`` evenly spaced frames are decoded (PyAV or OpenCV), a face detector
(MTCNN from facenet-pytorch, batched and on the GPU when there is one, or OpenCV's Haar cascade
``haarcascade_frontalface_alt.xml`` as in the seeds) finds faces, the largest face is kept, and a
square crop with a margin is stored at a fixed size (resized to each detector's input at load
time). ``detector="none"`` takes whole frames as already-cropped faces.

Cache: one compressed ``.npz`` (crops) plus one ``.json`` (frame indices, boxes, scores, settings,
source size and mtime) per video, under a folder keyed by every setting. A second run decodes and
detects nothing. Unusable inputs (no face, corrupt, zero-length, absent) become skip records with a
reason; they never crash a run, and the skip is cached too.

At scale (:func:`extract_faces`): videos are decoded in DataLoader worker processes, the detector
runs here on batches of frames gathered across videos, each video is cached as soon as it is done
(an interrupted run resumes), memory is bounded by the batch, not the dataset, and
``rank``/``world_size`` split the videos between processes or machines sharing one cache.

The package reads in one direction: :mod:`~harness.faces.config` (settings, tracks) ->
:mod:`~harness.faces.media` (frames) -> :mod:`~harness.faces.detect` (faces, crops) ->
:mod:`~harness.faces.cache` -> :mod:`~harness.faces.track` (one video) ->
:mod:`~harness.faces.extract` (a dataset, streamed and sharded); :mod:`~harness.faces.tensors`
turns cached crops into a detector's input. Import-light: PyAV, OpenCV, torch, facenet-pytorch and
tqdm are imported by the functions that use them.
"""

from harness.faces.cache import FaceCache
from harness.faces.config import FACES_VERSION, FaceConfig, FaceTrack, MediaError
from harness.faces.detect import HAAR_CASCADE, FaceDetector, Hit, square_crop
from harness.faces.extract import ExtractionReport, extract_faces, stream_tracks
from harness.faces.media import image_sequence, read_frames, sample_indices
from harness.faces.tensors import crops_to_tensor, resize_crops
from harness.faces.track import DecodedVideo, crop_faces, decode_video, extract_track

__all__ = [
    "FACES_VERSION",
    "HAAR_CASCADE",
    "DecodedVideo",
    "ExtractionReport",
    "FaceCache",
    "FaceConfig",
    "FaceDetector",
    "FaceTrack",
    "Hit",
    "MediaError",
    "crop_faces",
    "crops_to_tensor",
    "decode_video",
    "extract_faces",
    "extract_track",
    "image_sequence",
    "read_frames",
    "resize_crops",
    "sample_indices",
    "square_crop",
    "stream_tracks",
]
