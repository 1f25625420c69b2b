"""Identity distance: zero for the same face, growing as the face is lost."""

from __future__ import annotations

import numpy as np
import pytest

from engine.face import detect_faces
from engine.face.identity import SAME_PERSON_DISTANCE, face_descriptor, identity_distance


@pytest.fixture(scope="module")
def face(sample_photo):
    [found] = detect_faces(sample_photo, backend="dlib")
    return sample_photo, found.box


def test_the_same_face_has_distance_zero_and_a_lost_face_does_not(face):
    image, box = face
    reference = face_descriptor(image, box)
    assert reference.shape == (128,)
    assert identity_distance(reference, face_descriptor(image.copy(), box)) == pytest.approx(0.0, abs=1e-6)
    x0, y0, x1, y1 = (int(v) for v in box)
    covered = image.copy()
    covered[y0 + (y1 - y0) // 4 : y1, x0:x1] = image[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0).astype(np.uint8)
    lost = identity_distance(reference, face_descriptor(covered, box))
    slightly = image.copy()
    slightly[y1 - (y1 - y0) // 8 : y1, x0:x1] //= 2  # the chin darkened
    assert 0 < identity_distance(reference, face_descriptor(slightly, box)) < lost
    assert lost > SAME_PERSON_DISTANCE / 3
