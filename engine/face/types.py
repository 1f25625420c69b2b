"""Plain data types of the face pipeline, shared by detection, alignment, masks and training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.face.landmarks68 import (  # noqa: F401 -- the index constants are also reached from here
    INNER_LIPS,
    JAW,
    LEFT_BROW,
    LEFT_EYE,
    MOUTH_LEFT,
    MOUTH_RIGHT,
    NOSE_BRIDGE,
    NOSE_LOWER,
    NOSE_TIP,
    OUTER_LIPS,
    RIGHT_BROW,
    RIGHT_EYE,
)


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """(5, 2): image-left eye centre, image-right eye centre, nose tip, mouth left, mouth right."""
    lm = np.asarray(landmarks68, dtype=np.float32)
    return np.stack(
        [
            lm[LEFT_EYE].mean(axis=0),
            lm[RIGHT_EYE].mean(axis=0),
            lm[NOSE_TIP],
            lm[MOUTH_LEFT],
            lm[MOUTH_RIGHT],
        ]
    )


def yaw_proxy(landmarks68: np.ndarray) -> float:
    """How far the nose tip sits from the midpoint of the jaw's ends, in inter-ocular distances:
    about 0 for a frontal face, growing as the head turns (where mirroring one half onto the other
    stops paying; see docs/probe_mirror_prefill.py)."""
    lm = np.asarray(landmarks68, dtype=np.float64)
    jaw = lm[JAW]
    eyes = five_points(lm)[:2]
    return float(abs(lm[NOSE_TIP, 0] - (jaw[0, 0] + jaw[-1, 0]) / 2) / np.linalg.norm(eyes[1] - eyes[0]))


@dataclass
class Face:
    """One detected face in image pixel coordinates."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    landmarks: np.ndarray  # (68, 2) float32, x then y, iBUG 300-W order
    score: float = 1.0
    backend: str = ""

    @property
    def landmarks5(self) -> np.ndarray:
        return five_points(self.landmarks)

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)

    @property
    def interocular(self) -> float:
        """Distance between the two eye centres, the scale every preset and metric uses."""
        p = self.landmarks5
        return float(np.linalg.norm(p[1] - p[0]))
