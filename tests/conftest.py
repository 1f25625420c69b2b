"""Shared fixtures: the bundled sample photo, its detected face, and ../shared/data when present."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FACEINPAINT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The suite's networks are tiny: they gain nothing from threads, and on a shared 2-core
    machine they lose a lot. Imported lazily so tests without torch do not pay for it."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (research-only data sets); tests that need it skip cleanly without it."""
    if not (SHARED_DATA / "utkface" / "val").is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_photo_path() -> Path:
    from engine.paths import sample_photo

    return sample_photo()


@pytest.fixture(scope="session")
def sample_photo(sample_photo_path) -> np.ndarray:
    """The bundled NASA astronaut portrait (public domain) as H x W x 3 uint8 RGB."""
    from PIL import Image

    with Image.open(sample_photo_path) as im:
        return np.asarray(im.convert("RGB")).copy()


@pytest.fixture(scope="session")
def sample_face(sample_photo):
    """The largest face of the sample photo (dlib backend: works offline)."""
    from engine.face import detect_faces

    faces = detect_faces(sample_photo, backend="dlib")
    assert faces, "the sample photo must have a detectable face"
    return faces[0]
