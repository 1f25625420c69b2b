"""Landmark presets: the papers' named occlusions (eyes, mouth, halves, ...) drawn from 68 landmarks.

"Left" and "right" always mean AS SEEN IN THE IMAGE: ``left-eye`` is the eye with the smaller x,
which is the subject's own right eye in a frontal photo. The papers' tables do not say which
convention they use; we use the image's everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.errors import MaskError, NoFaceError
from engine.face import landmarks68
from engine.face.align import TEMPLATE_FRACTIONS
from engine.maskops import HOLE, Size, size_hw
from engine.masks.generators import CENTER_BLOCK_SIDE, Seed, brush_strokes, random_block


@dataclass(frozen=True)
class Preset:
    """A named occlusion a user can pick and an evaluation can reproduce."""

    name: str  # stable identifier, used in files and on the command line
    label: str  # short text for menus
    description: str
    source: str  # where the occlusion comes from
    needs_landmarks: bool = True


class _FaceFrame:
    """Coordinates along the eye line (u, towards the image-right eye) and across it (v, down),
    in units of the inter-ocular distance d, with the origin between the eyes.

    Boxes are drawn in this frame, so presets follow the face's size and in-plane rotation.
    """

    def __init__(self, landmarks: np.ndarray) -> None:
        points = np.asarray(landmarks, np.float64)
        left_eye, right_eye = points[landmarks68.LEFT_EYE].mean(axis=0), points[landmarks68.RIGHT_EYE].mean(axis=0)
        self.origin = (left_eye + right_eye) / 2
        along = right_eye - left_eye
        self.d = float(np.hypot(*along))
        if self.d < 1e-6:
            raise MaskError("the landmarks put both eyes at the same place")
        self.u = along / self.d
        self.v = np.array([-self.u[1], self.u[0]])
        self.points = self.to_face(points)

    def to_face(self, xy: np.ndarray) -> np.ndarray:
        rel = np.atleast_2d(xy) - self.origin
        return np.stack([rel @ self.u, rel @ self.v], axis=-1) / self.d

    def centre(self, indices) -> np.ndarray:
        return self.points[indices].mean(axis=0)

    def fill_box(self, mask: np.ndarray, centre, width: float, height: float) -> None:
        """Set pixels whose index coordinates fall in the box ``[c - size/2, c + size/2)``.

        Half-open edges with a tiny tolerance make an axis-aligned box of side n cover exactly
        n pixels (the centre 64x64 of a 128 px crop), whatever the float noise in the landmarks.
        """
        h, w = mask.shape
        cu, cv = float(centre[0]) * self.d, float(centre[1]) * self.d
        half_u, half_v = width * self.d / 2, height * self.d / 2
        corners = self.origin + np.array([(cu + su * half_u) * self.u + (cv + sv * half_v) * self.v
                                          for su in (-1, 1) for sv in (-1, 1)])
        x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 1, (w, h))
        if x0 >= x1 or y0 >= y1:
            return
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        rel_x, rel_y = xs - self.origin[0], ys - self.origin[1]
        pu = rel_x * self.u[0] + rel_y * self.u[1] - cu
        pv = rel_x * self.v[0] + rel_y * self.v[1] - cv
        eps = 1e-6
        inside = (pu >= -half_u - eps) & (pu < half_u - eps) & (pv >= -half_v - eps) & (pv < half_v - eps)
        mask[y0:y1, x0:x1][inside] = HOLE


# Sizes in inter-ocular distances d (37 px at a 128 px canonical crop). The six collaGAN cases
# average about 1.13 d x 1.29 d = 42 x 48 px there, as Liao et al. 2018 report ("on average 40x48");
# the paper gives no per-case sizes, so these follow the GFC figure's layout: one box per eye,
# a band over both eyes and brows, a tall band over each cheek, a box over mouth and chin.
def _eye_box(indices):
    return lambda frame, mask: frame.fill_box(mask, frame.centre(indices), 1.05, 0.85)


def _cheek_box(eye, mouth_corner, outward):
    def draw(frame, mask):
        centre = (frame.centre(eye) + frame.points[mouth_corner]) / 2 + (outward * 0.15, 0.0)
        frame.fill_box(mask, centre, 0.85, 1.9)

    return draw


def _upper_face(frame, mask):
    frame.fill_box(mask, (0.0, -0.1), 1.75, 0.95)


def _lower_face(frame, mask):
    frame.fill_box(mask, frame.centre(landmarks68.OUTER_LIPS) + (0.0, 0.15), 1.25, 1.2)


def _both_eyes(frame, mask):
    frame.fill_box(mask, frame.centre(np.r_[landmarks68.LEFT_EYE, landmarks68.RIGHT_EYE]), 2.0, 0.8)


def _mouth(frame, mask):
    frame.fill_box(mask, frame.centre(landmarks68.OUTER_LIPS), 1.4, 0.8)


def _half(side):
    """One side of the face's vertical midline, from above the brows to below the chin."""

    def draw(frame, mask):
        midline = float(np.median(frame.points[[27, 28, 29, 30, 33, 51, 57, 8], 0]))
        jaw = frame.points[landmarks68.JAW]
        top = float(frame.points[17:27, 1].min()) - 0.6  # the forehead, above the brows
        bottom = float(jaw[:, 1].max()) + 0.15
        outer = float(jaw[:, 0].min()) - 0.15 if side < 0 else float(jaw[:, 0].max()) + 0.15
        lo, hi = sorted((outer, midline))
        frame.fill_box(mask, ((lo + hi) / 2, (top + bottom) / 2), hi - lo, bottom - top)

    return draw


def _center_block(frame, mask):
    """``center_block`` of the canonical crop, drawn in the face's frame so it follows the face in a photo."""
    left_eye, right_eye = TEMPLATE_FRACTIONS[0], TEMPLATE_FRACTIONS[1]
    interocular = float(np.hypot(*(right_eye - left_eye)))  # template is level: no rotation to undo
    crop_centre = (np.array([0.5, 0.5]) - (left_eye + right_eye) / 2) / interocular
    side = CENTER_BLOCK_SIDE / interocular
    frame.fill_box(mask, crop_centre, side, side)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("left-eye", "Left eye", "The eye on the left of the image, with its lower brow.", "collaGAN O1; MDE"),
        Preset("right-eye", "Right eye", "The eye on the right of the image, with its lower brow.", "collaGAN O2; MDE"),
        Preset("upper-face", "Upper face", "Both eyes and brows.", "collaGAN O3"),
        Preset("left-face", "Left face", "A tall band over the cheek on the left of the image.", "collaGAN O4"),
        Preset("right-face", "Right face", "A tall band over the cheek on the right of the image.", "collaGAN O5"),
        Preset("lower-face", "Lower face", "Mouth and chin.", "collaGAN O6"),
        Preset("both-eyes", "Both eyes", "A band over both eyes.", "MDE Table 3 (after GFC)"),
        Preset("mouth", "Mouth", "The mouth.", "MDE Table 3 (after GFC)"),
        Preset("left-half", "Left half", "The face left of its vertical midline, forehead to chin.", "MDE Table 3"),
        Preset("right-half", "Right half", "The face right of its vertical midline, forehead to chin.", "MDE Table 3"),
        Preset("center-block", "Centre block", "The centre 64x64 of a 128 px aligned crop.", "GFC; Sami et al. 2018"),
        Preset("random-block", "Random block", "A square half the image's shorter side, anywhere.", "Liao et al. 2018", False),
        Preset("random-strokes", "Random strokes", "Medium free-form brush strokes.", "DeepFill v2; LaMa", False),
    )
}

_PRESET_DRAWERS: dict[str, Callable[[_FaceFrame, np.ndarray], None]] = {
    "left-eye": _eye_box(landmarks68.LEFT_EYE),
    "right-eye": _eye_box(landmarks68.RIGHT_EYE),
    "upper-face": _upper_face,
    "left-face": _cheek_box(landmarks68.LEFT_EYE, landmarks68.MOUTH_LEFT, outward=-1),
    "right-face": _cheek_box(landmarks68.RIGHT_EYE, landmarks68.MOUTH_RIGHT, outward=1),
    "lower-face": _lower_face,
    "both-eyes": _both_eyes,
    "mouth": _mouth,
    "left-half": _half(-1),
    "right-half": _half(1),
    "center-block": _center_block,
}

COLLAGAN_CODES: dict[str, str] = {
    "O1": "left-eye",
    "O2": "right-eye",
    "O3": "upper-face",
    "O4": "left-face",
    "O5": "right-face",
    "O6": "lower-face",
}
COLLAGAN_CASES: tuple[str, ...] = tuple(COLLAGAN_CODES.values())
MDE_CASES: tuple[str, ...] = ("right-half", "left-half", "both-eyes", "right-eye", "left-eye", "mouth")


def preset_mask(name: str, landmarks: np.ndarray | None, shape: Size, *, seed: Seed = None) -> np.ndarray:
    """The H x W mask of preset ``name`` for a face with 68 iBUG landmarks (x, y) in ``shape``.

    ``random-block`` and ``random-strokes`` ignore the landmarks (``None`` is fine) and use ``seed``.
    """
    if name not in PRESETS:
        raise MaskError(f"unknown mask preset {name!r}; choose one of {', '.join(PRESETS)}")
    h, w = size_hw(shape)
    if name == "random-block":
        side = max(1, min(h, w) // 2)
        return random_block((h, w), side, seed=seed)
    if name == "random-strokes":
        return brush_strokes((h, w), "medium", seed=seed)
    if landmarks is None:
        raise NoFaceError(f"the {PRESETS[name].label.lower()} preset needs a detected face")
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        raise MaskError(f"presets need 68 finite (x, y) landmarks, got an array of shape {points.shape}")
    mask = np.zeros((h, w), np.uint8)
    _PRESET_DRAWERS[name](_FaceFrame(points), mask)
    return mask
