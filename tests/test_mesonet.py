"""The MesoNet authors' published Keras weights, imported into the PyTorch ports."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers import REPO_ROOT

from harness.checkpoint import CheckpointError
from harness.detectors import MESONET_WEIGHTS, MESONET_WEIGHTS_DIR, create_detector

IMAGES = REPO_ROOT / "tests" / "data" / "mesonet"
# From the weights' README (Keras on the PyTorch backend): probability that the face is REAL.
REFERENCE = {
    "Meso4_DF": [0.0482, 0.0253, 0.9897, 0.9966],
    "Meso4_F2F": [0.8277, 0.6877, 0.8810, 0.9432],
    "MesoInception_DF": [0.0189, 0.0008, 1.0000, 1.0000],
    "MesoInception_F2F": [0.9992, 1.0000, 1.0000, 0.9991],
}
ORDER = ["df/df00204.jpg", "df/df01254.jpg", "real/real00240.jpg", "real/real00772.jpg"]


def load_images() -> torch.Tensor:
    crops = []
    for rel in ORDER:
        image = cv2.imread(str(IMAGES / rel))
        assert image is not None, IMAGES / rel
        image = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), (256, 256), interpolation=cv2.INTER_LINEAR)
        crops.append(image)
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0


@pytest.mark.parametrize("weights", sorted(REFERENCE))
def test_reproduces_the_published_reference_probabilities(weights: str) -> None:
    model = create_detector(MESONET_WEIGHTS[weights], checkpoint=f"mesonet:{weights}")
    with torch.no_grad():
        p_fake = model(load_images()).softmax(dim=1)[:, 1]
    p_real = (1 - p_fake).numpy()
    np.testing.assert_allclose(p_real, REFERENCE[weights], atol=1e-3)


def test_the_shipped_files_carry_their_license() -> None:
    assert (MESONET_WEIGHTS_DIR / "LICENSE").read_text().count("Apache License") >= 1
    assert "Afchar" in (MESONET_WEIGHTS_DIR / "NOTICE").read_text()
    for key in MESONET_WEIGHTS:
        assert (MESONET_WEIGHTS_DIR / f"{key}.h5").is_file()


def test_a_plain_path_works_like_the_alias() -> None:
    a = create_detector("meso4", checkpoint="mesonet:Meso4_DF")
    b = create_detector("meso4", checkpoint=MESONET_WEIGHTS_DIR / "Meso4_DF.h5")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_weights_of_the_other_family_are_refused() -> None:
    with pytest.raises(CheckpointError, match="mesoinception4"):
        create_detector("meso4", checkpoint="mesonet:MesoInception_DF")
    with pytest.raises(CheckpointError, match="meso4"):
        create_detector("mesoinception4", checkpoint="mesonet:Meso4_F2F")


def test_wrong_input_size_and_non_meso_detectors_are_refused() -> None:
    with pytest.raises(CheckpointError, match="256"):
        create_detector("meso4", checkpoint="mesonet:Meso4_DF", input_size=128)
    with pytest.raises(CheckpointError, match="only the MesoNet family"):
        create_detector("cnn", checkpoint="mesonet:Meso4_DF")


def test_unknown_alias_lists_the_shipped_weights() -> None:
    with pytest.raises(KeyError, match="mesonet:Meso4_DF"):
        create_detector("meso4", checkpoint="mesonet:Meso5")


def test_corrupt_h5_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(CheckpointError, match="broken.h5"):
        create_detector("meso4", checkpoint=bad)
