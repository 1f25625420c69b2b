"""Plain data types of the face pipeline, shared by detection, alignment, masks and training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Indices into the 68-point iBUG 300-W layout (0-based) used throughout the project.
# "left"/"right" are AS SEEN IN THE IMAGE: left = smaller x. (The subject's own right eye is the
# image-left eye in a frontal photo.)
JAW = slice(0, 17)
LEFT_BROW = slice(17, 22)
RIGHT_BROW = slice(22, 27)
NOSE_BRIDGE = slice(27, 31)
NOSE_LOWER = slice(31, 36)
LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
OUTER_LIPS = slice(48, 60)
INNER_LIPS = slice(60, 68)
NOSE_TIP = 30
MOUTH_LEFT, MOUTH_RIGHT = 48, 54


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
