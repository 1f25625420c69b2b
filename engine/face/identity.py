"""Identity preservation: dlib's 128-D face descriptor (a ResNet trained for face recognition,
King 2017, shipped in face-recognition-models) of a completed face against the original's.

Face-completion papers report whether the completed face is still the same person; the distance
between descriptors is dlib's own measure (below 0.6: the same person in its LFW tests).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from engine.errors import BackendUnavailableError

RECOGNITION_MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SAME_PERSON_DISTANCE = 0.6  # dlib's threshold

_lock = threading.Lock()
_model = None


def recognition_model_path() -> Path | None:
    from engine.face.detection import dlib_landmarks_path

    landmarks = dlib_landmarks_path()
    return None if landmarks is None else landmarks.with_name(RECOGNITION_MODEL_FILE)


def _recognizer():
    global _model
    with _lock:
        if _model is None:
            import dlib

            path = recognition_model_path()
            if path is None or not path.is_file():
                raise BackendUnavailableError("the identity metric needs face-recognition-models (pip install face-recognition-models)")
            _model = dlib.face_recognition_model_v1(str(path))
        return _model


def face_descriptor(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The 128-D descriptor of the face in ``box`` (x0, y0, x1, y1; exclusive edges) of an RGB uint8 image."""
    import dlib

    from engine.face.detection import _predictor_lock, _shape_predictor

    x0, y0, x1, y1 = (round(v) for v in box)
    rect = dlib.rectangle(int(x0), int(y0), int(x1) - 1, int(y1) - 1)
    image = np.ascontiguousarray(image)
    with _predictor_lock:
        shape = _shape_predictor()(image, rect)
    recognizer = _recognizer()
    with _lock:
        return np.asarray(recognizer.compute_face_descriptor(image, shape, 0), np.float32)


def identity_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance of two descriptors: 0 = identical; above ``SAME_PERSON_DISTANCE`` = another person."""
    return float(np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32)))
