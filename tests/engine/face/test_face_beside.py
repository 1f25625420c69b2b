"""Detection in a forked child beside the model load: the same faces as detecting in turn."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engine.face import Face
from engine.face.beside import faces_from_json, faces_to_json
from engine.face.detection import dlib_landmarks_path

REPO = Path(__file__).resolve().parents[3]
needs_dlib = pytest.mark.skipif(dlib_landmarks_path() is None, reason="dlib's landmark model is not installed")


def test_faces_survive_the_trip_through_json_exactly():
    rng = np.random.default_rng(0)
    faces = [Face(box=(1.5, 2.25, 100.0, 120.75), landmarks=rng.uniform(0, 500, (68, 2)).astype(np.float32),
                  score=0.73, backend="dlib"), Face(box=(0.0, 0.0, 9.0, 9.0), landmarks=np.zeros((68, 2), np.float32))]
    back = faces_from_json(faces_to_json(faces))
    assert len(back) == 2
    for a, b in zip(faces, back):
        assert a.box == b.box and a.score == b.score and a.backend == b.backend
        assert b.landmarks.dtype == np.float32
        np.testing.assert_array_equal(a.landmarks, b.landmarks)


CHILD_SCRIPT = textwrap.dedent("""
    import sys, numpy as np
    import engine.face.beside as beside
    import engine.face.detection as detection
    from engine.imageio import read_image
    from engine.paths import sample_photo
    if sys.argv[1] == "child-fails":
        beside._detect_in_child = lambda connection, image, backend: beside.os._exit(1)
    image = read_image(sample_photo())
    assert beside.can_detect_beside("dlib"), "torch is not loaded: the child must be used"
    def work():
        import torch  # what the CLI overlaps: torch and the weights
        return detection._predictor is None  # the parent has not loaded dlib's predictor meanwhile
    faces, parent_idle = beside.detect_faces_beside(image, "dlib", work)
    assert parent_idle and "torch" in sys.modules
    forked = detection._predictor is None
    again = detection.detect_faces(image, backend="dlib")
    assert len(faces) == len(again) >= 1
    for a, b in zip(faces, again):
        assert a.box == b.box and a.score == b.score
        np.testing.assert_array_equal(a.landmarks, b.landmarks)
    print("forked" if forked else "here")
""")


@needs_dlib
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the child is forked on Linux only")
@pytest.mark.parametrize(("case", "where"), [("ok", "forked"), ("child-fails", "here")])
def test_a_fresh_process_detects_beside_and_gets_the_same_faces(case, where):
    done = subprocess.run([sys.executable, "-c", CHILD_SCRIPT, case], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == where
