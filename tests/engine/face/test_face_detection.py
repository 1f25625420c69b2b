"""Detection and landmarks with the dlib backend, backend choice, and picking the masked face."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import engine.face.detection as detection
from engine.errors import BackendUnavailableError, NoFaceError
from engine.face import (
    align_face,
    available_backends,
    detect_faces,
    detect_landmarks,
    pick_face_for_mask,
)


@pytest.fixture
def no_fan(tmp_path, monkeypatch):
    """A torch hub folder without the FAN weights, so "auto" means dlib."""
    import torch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    assert available_backends()["fan"]


def _inside(points: np.ndarray, box, slack: float = 0.0) -> bool:
    x0, y0, x1, y1 = box
    dx, dy = slack * (x1 - x0), slack * (y1 - y0)
    return bool(
        (points[:, 0] >= x0 - dx).all()
        and (points[:, 0] <= x1 + dx).all()
        and (points[:, 1] >= y0 - dy).all()
        and (points[:, 1] <= y1 + dy).all()
    )


def test_the_sample_face_is_found_with_its_landmarks(sample_photo, no_fan):
    faces = detect_faces(sample_photo)
    assert len(faces) == 1
    face = faces[0]
    assert face.backend == "dlib"
    x0, y0, x1, y1 = face.box
    assert abs(x0 - 175) < 15 and abs(x1 - 265) < 15 and abs(y0 - 76) < 15 and abs(y1 - 166) < 15
    assert face.landmarks.shape == (68, 2) and face.landmarks.dtype == np.float32
    assert _inside(face.landmarks, face.box, slack=0.1)
    left_eye, right_eye = face.landmarks5[:2]
    assert left_eye[0] < right_eye[0]
    assert 25 < face.interocular < 60


def test_several_faces_come_back_largest_first(sample_photo):
    head = sample_photo[30:240, 120:330]
    big = cv2.resize(head, None, fx=1.6, fy=1.6, interpolation=cv2.INTER_CUBIC)
    canvas = np.full((400, 900, 3), 128, dtype=np.uint8)
    canvas[40 : 40 + head.shape[0], 20 : 20 + head.shape[1]] = head
    canvas[50 : 50 + big.shape[0], 320 : 320 + big.shape[1]] = big[: 400 - 50]
    faces = detect_faces(canvas, backend="dlib")
    assert len(faces) == 2
    assert faces[0].area > faces[1].area
    assert faces[0].box[0] > 320 > faces[1].box[0]
    assert faces[0].interocular == pytest.approx(1.6 * faces[1].interocular, rel=0.15)


def test_a_photo_without_a_face_gives_no_faces():
    rng = np.random.default_rng(0)
    assert detect_faces(np.full((300, 300, 3), 90, dtype=np.uint8), backend="dlib") == []
    assert detect_faces(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), backend="dlib") == []


def test_small_aligned_crops_and_huge_photos_are_both_searched(sample_photo, sample_face):
    crop = align_face(sample_photo, sample_face, 128).crop
    assert len(detect_faces(crop, backend="dlib")) == 1
    huge = cv2.resize(sample_photo, (3600, 3600), interpolation=cv2.INTER_LINEAR)
    faces = detect_faces(huge, backend="dlib")  # at 1024 px the mission patch may also score weakly
    assert faces and faces[0].score > 1.0
    assert np.abs(faces[0].landmarks5 / (3600 / 512) - sample_face.landmarks5).max() < 3.0


def test_grey_and_rgba_photos_are_accepted(sample_photo):
    grey = cv2.cvtColor(sample_photo, cv2.COLOR_RGB2GRAY)
    rgba = np.dstack([sample_photo, np.full(sample_photo.shape[:2], 255, np.uint8)])
    assert len(detect_faces(grey, backend="dlib")) == 1
    assert len(detect_faces(rgba, backend="dlib")) == 1
    with pytest.raises(ValueError, match="uint8"):
        detect_faces(sample_photo.astype(np.float32), backend="dlib")


def test_landmarks_for_a_given_box_match_detection(sample_photo, sample_face, no_fan):
    landmarks = detect_landmarks(sample_photo, sample_face.box)
    np.testing.assert_allclose(landmarks, sample_face.landmarks, atol=1.0)
    with pytest.raises(ValueError, match="empty"):
        detect_landmarks(sample_photo, (10, 10, 5, 20), backend="dlib")


def test_backend_override_and_unknown_names(sample_photo, no_fan):
    assert all(face.backend == "dlib" for face in detect_faces(sample_photo, backend="dlib"))
    with pytest.raises(BackendUnavailableError, match="download_fan_weights"):
        detect_faces(sample_photo, backend="fan")
    with pytest.raises(ValueError, match="unknown face backend"):
        detect_faces(sample_photo, backend="mtcnn")


def test_no_backend_available_says_what_to_install(sample_photo, monkeypatch):
    monkeypatch.setattr(detection, "_missing_module", lambda name: True)
    reasons = available_backends()
    assert reasons["dlib"] and reasons["fan"]
    with pytest.raises(BackendUnavailableError, match="pip install dlib-bin"):
        detect_faces(sample_photo)
    with pytest.raises(BackendUnavailableError, match="pip install dlib-bin"):
        detect_faces(sample_photo, backend="dlib")


def test_a_missing_68_point_model_is_reported(sample_photo, tmp_path, monkeypatch):
    monkeypatch.setattr(detection, "dlib_landmarks_path", lambda: tmp_path / detection.DLIB_LANDMARKS_FILE)
    assert "68-point" in available_backends()["dlib"]
    with pytest.raises(BackendUnavailableError, match="68-point"):
        detect_faces(sample_photo, backend="dlib")


def test_pick_face_for_mask(sample_face):
    small = detection.Face(box=(400, 50, 440, 90), landmarks=sample_face.landmarks * 0.4 + 330)
    faces = [sample_face, small]
    mask = np.zeros((512, 512), dtype=np.uint8)
    mask[60:80, 405:430] = 255
    assert pick_face_for_mask(faces, mask) is small
    # a hole just outside the small face's box still belongs to it (the box is enlarged 1.5x)
    mask[:] = 0
    mask[92:96, 418:422] = 255
    assert pick_face_for_mask(faces, np.dstack([mask] * 3)) is small
    mask[:] = 0
    mask[480:500, 10:30] = 255
    assert pick_face_for_mask(faces, mask) is sample_face
    with pytest.raises(NoFaceError):
        pick_face_for_mask([], mask)
