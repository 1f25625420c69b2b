"""Masks: the papers' random generators, channel-wise MDE masks, landmark presets and operations.

A mask is a uint8 array with 255 = missing and 0 = kept: H x W, or H x W x 3 for channel-wise
masks (MDE), where each channel says what is missing in that colour channel. Sizes are
``(height, width)`` like numpy shapes; an int means a square.

Every random generator takes ``seed``: an int (same int -> same mask), ``None`` (fresh entropy)
or a ``np.random.Generator`` (drawn from, so a training loop can thread one generator through).

"Left" and "right" always mean AS SEEN IN THE IMAGE: ``left-eye`` is the eye with the smaller x,
which is the subject's own right eye in a frontal photo. The papers' tables do not say which
convention they use; we use the image's everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from engine.errors import MaskError, NoFaceError
from engine.face import types as lm
from engine.face.align import TEMPLATE_FRACTIONS

Seed = int | np.random.Generator | None
Size = int | tuple[int, int]

HOLE = 255


def _rng(seed: Seed) -> np.random.Generator:
    return np.random.default_rng(seed)  # returns a Generator unchanged, seeds an int, draws for None


def _hw(size: Size) -> tuple[int, int]:
    """``(height, width)`` from an int, a (H, W) pair or an image shape (H, W, C)."""
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        h, w = (int(v) for v in tuple(size)[:2])
    if h <= 0 or w <= 0:
        raise MaskError(f"a mask needs a positive size, got {size!r}")
    return h, w


# -- the papers' random masks ---------------------------------------------------------------------
def random_block(size: Size = (128, 128), block: int | tuple[int, int] = 64, *, seed: Seed = None) -> np.ndarray:
    """One ``block`` square (or (h, w) rectangle) at a uniformly random position (seed 000, GFC).

    The block is given in pixels and does not scale with ``size``: at 128 px the papers use 64.
    """
    h, w = _hw(size)
    bh, bw = _hw(block)
    if bh > h or bw > w:
        raise MaskError(f"a {bw}x{bh} block does not fit in a {w}x{h} mask")
    rng = _rng(seed)
    y = int(rng.integers(0, h - bh + 1))
    x = int(rng.integers(0, w - bw + 1))
    mask = np.zeros((h, w), np.uint8)
    mask[y : y + bh, x : x + bw] = HOLE
    return mask


def random_pattern(size: Size = (128, 128), ratio: float = 0.25, *, seed: Seed = None) -> np.ndarray:
    """Smooth random blobs covering ``ratio`` +- 0.05 of the image (the context encoder's pattern).

    After Pathak et al.'s released code: uniform noise on a coarse grid is upsampled bilinearly
    into a field larger than the image and thresholded, and a random window of it is kept if its
    hole ratio is within 0.05 of the target (their code accepted 20-30 %). The coarse grid has
    about 7.7 cells across the image (their 0.06 cells per pixel at 128 px), jittered by a
    random scale of 0.75-1.33 so blob sizes vary; blobs therefore scale with the image.
    """
    if not 0 < ratio < 1:
        raise MaskError(f"ratio must be between 0 and 1, got {ratio}")
    h, w = _hw(size)
    rng = _rng(seed)
    for _ in range(100):
        cell = min(h, w) / 7.68 * rng.uniform(0.75, 4 / 3)
        grid = (math.ceil(2 * h / cell) + 1, math.ceil(2 * w / cell) + 1)
        field = cv2.resize(
            rng.random(grid, dtype=np.float32),
            (round(grid[1] * cell), round(grid[0] * cell)),
            interpolation=cv2.INTER_LINEAR,
        )
        holes = field < np.quantile(field, ratio)
        y = int(rng.integers(0, field.shape[0] - h + 1))
        x = int(rng.integers(0, field.shape[1] - w + 1))
        window = holes[y : y + h, x : x + w]
        if abs(window.mean() - ratio) <= 0.05:
            return window.astype(np.uint8) * HOLE
    # Only tiny images get here (too few blobs to average out): threshold the window itself.
    window = field[y : y + h, x : x + w]
    return (window < np.quantile(window, ratio)).astype(np.uint8) * HOLE


def random_noise(size: Size = (128, 128), ratio: float = 0.8, *, seed: Seed = None) -> np.ndarray:
    """Each pixel missing independently with probability ``ratio`` (seed 000: 80 %, after SII)."""
    if not 0 <= ratio <= 1:
        raise MaskError(f"ratio must be between 0 and 1, got {ratio}")
    return (_rng(seed).random(_hw(size)) < ratio).astype(np.uint8) * HOLE


@dataclass(frozen=True)
class StrokePreset:
    """Free-form brush parameters; lengths and widths are fractions of the mask's shorter side."""

    strokes: tuple[int, int]  # how many strokes (inclusive range)
    vertices: tuple[int, int]  # segments per stroke (inclusive range)
    width: tuple[float, float]  # brush width
    segment: tuple[float, float]  # length of one segment
    max_turn: float  # largest change of direction at a vertex, radians


# Mean hole ratios measured over 500 seeds at 256 px (5th-95th percentile): thin 11 % (4-18 %),
# medium 24 % (12-37 %), thick 37 % (11-62 %), the coverages LaMa's thin / medium / thick masks aim at.
STROKE_PRESETS: dict[str, StrokePreset] = {
    "thin": StrokePreset(strokes=(2, 6), vertices=(4, 9), width=(0.015, 0.035), segment=(0.08, 0.3), max_turn=2.0),
    "medium": StrokePreset(strokes=(2, 4), vertices=(4, 10), width=(0.06, 0.11), segment=(0.1, 0.3), max_turn=2.0),
    "thick": StrokePreset(strokes=(1, 4), vertices=(4, 10), width=(0.12, 0.22), segment=(0.1, 0.35), max_turn=2.0),
}


def brush_strokes(size: Size = (256, 256), preset: str = "medium", *, seed: Seed = None) -> np.ndarray:
    """Free-form strokes after DeepFill v2 / LaMa: random walks of thick lines with round joints.

    Each stroke starts anywhere, then turns by up to ``max_turn`` at each vertex; a disc at every
    vertex rounds the joints as a real brush would. ``STROKE_PRESETS`` lists the presets.
    """
    try:
        spec = STROKE_PRESETS[preset]
    except KeyError:
        raise MaskError(f"unknown stroke preset {preset!r}; choose one of {', '.join(STROKE_PRESETS)}") from None
    h, w = _hw(size)
    side = min(h, w)
    rng = _rng(seed)
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(spec.strokes[0], spec.strokes[1] + 1))):
        width = max(1, round(rng.uniform(*spec.width) * side))
        point = np.array([rng.uniform(0, w - 1), rng.uniform(0, h - 1)])
        heading = rng.uniform(0, 2 * math.pi)
        cv2.circle(mask, _pixel(point), width // 2, HOLE, thickness=-1)
        for _ in range(int(rng.integers(spec.vertices[0], spec.vertices[1] + 1))):
            heading += rng.uniform(-spec.max_turn, spec.max_turn)
            step = rng.uniform(*spec.segment) * side
            end = np.clip(point + step * np.array([math.cos(heading), math.sin(heading)]), 0, [w - 1, h - 1])
            cv2.line(mask, _pixel(point), _pixel(end), HOLE, thickness=width)
            cv2.circle(mask, _pixel(end), width // 2, HOLE, thickness=-1)
            point = end
    return mask


def _pixel(point: np.ndarray) -> tuple[int, int]:
    return int(round(point[0])), int(round(point[1]))


class IrregularMaskFolder:
    """A folder of irregular hole masks (e.g. NVIDIA's, white = hole) sampled with augmentation.

    ``sample`` picks a random file, flips it, rotates it by a multiple of 90 degrees plus up to
    ``max_angle`` degrees, scales it to ``size`` and dilates it by a random number of pixels in
    the ``dilate`` range (in pixels of the output size).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        flip: bool = True,
        rotate: bool = True,
        max_angle: float = 10.0,
        dilate: tuple[int, int] = (0, 0),
        seed: Seed = None,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise MaskError(f"mask folder {self.root} does not exist")
        self.files = sorted(p for p in self.root.iterdir() if p.suffix.lower() == ".png" and p.is_file())
        if not self.files:
            raise MaskError(f"mask folder {self.root} holds no PNG masks")
        if not 0 <= dilate[0] <= dilate[1]:
            raise MaskError(f"dilate must be a (min, max) range of pixels, got {dilate}")
        self.flip, self.rotate, self.max_angle, self.dilate = flip, rotate, max_angle, dilate
        self.rng = _rng(seed)

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int, size: Size | None = None) -> np.ndarray:
        """Mask ``index`` as stored (255 = hole), scaled to ``size`` if given."""
        from engine.imageio import read_mask

        mask = read_mask(self.files[index])
        return mask if size is None else resize_mask(mask, size)

    def sample(self, size: Size, rng: Seed = None) -> np.ndarray:
        """A random augmented mask of ``size``; ``rng`` defaults to the folder's own generator."""
        rng = self.rng if rng is None else _rng(rng)
        mask = self.load(int(rng.integers(len(self.files))))
        if self.flip:
            if rng.random() < 0.5:
                mask = mask[:, ::-1]
            if rng.random() < 0.5:
                mask = mask[::-1, :]
        if self.rotate:
            mask = np.rot90(mask, int(rng.integers(4)))
            angle = rng.uniform(-self.max_angle, self.max_angle)
            mh, mw = mask.shape
            turn = cv2.getRotationMatrix2D(((mw - 1) / 2, (mh - 1) / 2), angle, 1.0)
            mask = cv2.warpAffine(np.ascontiguousarray(mask), turn, (mw, mh), flags=cv2.INTER_NEAREST, borderValue=0)
        mask = resize_mask(np.ascontiguousarray(mask), size)
        return grow(mask, int(rng.integers(self.dilate[0], self.dilate[1] + 1)))


def hole_area_bucket(mask: np.ndarray, width: float = 0.1) -> tuple[float, float]:
    """The ``[lo, hi)`` hole-ratio bucket of ``mask`` (the last bucket includes 1.0).

    Used to report results per hole size, as the partial-convolution and LaMa papers do.
    """
    if not 0 < width <= 1:
        raise MaskError(f"bucket width must be in (0, 1], got {width}")
    buckets = math.ceil(1 / width - 1e-9)
    k = min(int(hole_ratio(mask) / width + 1e-9), buckets - 1)
    return round(k * width, 10), round(min((k + 1) * width, 1.0), 10)


# -- MDE channel-wise masks (seed 004, section 2.3) ------------------------------------------------
CHANNEL_MODES = ("I", "RI", "RE", "REC", "C1", "C2")


def channel_masks(size: Size = (128, 128), mode: str = "REC", S: float = 0.1, *, seed: Seed = None) -> np.ndarray:
    """H x W x 3 channel-wise mask (255 = missing in that channel) for an MDE task.

    ``I``: a central rectangle of area S missing in all channels (inpainting). ``RI``: only that
    central rectangle kept (reverse inpainting). ``RE``: one random rectangle of area S kept in
    all channels (random extrapolation). ``REC``: an independent random rectangle kept per channel.
    ``C1`` / ``C2``: colourisation, one / two random channels kept whole and the rest missing.
    Central rectangles have the image's aspect ratio (the paper fixes them without saying how).
    The paper's M is 1 on KEPT pixels; ours is 255 on MISSING ones.
    """
    return channel_masks_and_boxes(size, mode, S, seed=seed)[0]


def channel_mask_boxes(size: Size = (128, 128), mode: str = "REC", S: float = 0.1, *, seed: Seed = None) -> np.ndarray:
    """(3, 4) float32 boxes (x0/W, y0/H, x1/W, y1/H) per channel, those of ``channel_masks``
    with the same arguments: MDE's hide-and-seek discriminator regresses them.

    A box is each channel's KEPT rectangle (for ``I`` the missing one); a channel kept whole is
    (0, 0, 1, 1) and a channel missing whole (0, 0, 0, 0). y grows downwards, as in the image.
    """
    return channel_masks_and_boxes(size, mode, S, seed=seed)[1]


def channel_masks_and_boxes(
    size: Size = (128, 128), mode: str = "REC", S: float = 0.1, *, seed: Seed = None
) -> tuple[np.ndarray, np.ndarray]:
    """``channel_masks`` and ``channel_mask_boxes`` from one draw (for a training loop)."""
    if mode not in CHANNEL_MODES:
        raise MaskError(f"unknown channel-mask mode {mode!r}; choose one of {', '.join(CHANNEL_MODES)}")
    if not 0 < S <= 1:
        raise MaskError(f"S (the kept area fraction) must be in (0, 1], got {S}")
    h, w = _hw(size)
    rng = _rng(seed)
    if mode in ("I", "RI"):
        bh, bw = math.sqrt(S) * h, math.sqrt(S) * w
        boxes = [_pixel_box((w - bw) / 2, (h - bh) / 2, bw, bh, w, h)] * 3
    elif mode == "RE":
        boxes = [_random_box(rng, S, w, h)] * 3
    elif mode == "REC":
        boxes = [_random_box(rng, S, w, h) for _ in range(3)]
    else:
        kept = set(rng.choice(3, size=1 if mode == "C1" else 2, replace=False).tolist())
        boxes = [(0, 0, w, h) if c in kept else (0, 0, 0, 0) for c in range(3)]
    mask = np.full((h, w, 3), HOLE, np.uint8)
    for c, (x0, y0, x1, y1) in enumerate(boxes):
        mask[y0:y1, x0:x1, c] = 0
    if mode == "I":
        mask = HOLE - mask
    normalised = np.array([(x0 / w, y0 / h, x1 / w, y1 / h) for x0, y0, x1, y1 in boxes], np.float32)
    return mask, normalised


def _random_box(rng: np.random.Generator, S: float, w: int, h: int) -> tuple[int, int, int, int]:
    """Eq. 6: h ~ U(S H, H), w = S W H / h, x ~ U(0, W - w), y ~ U(0, H - h)."""
    bh = rng.uniform(S * h, h)
    bw = S * w * h / bh
    return _pixel_box(rng.uniform(0, w - bw), rng.uniform(0, h - bh), bw, bh, w, h)


def _pixel_box(x: float, y: float, bw: float, bh: float, w: int, h: int) -> tuple[int, int, int, int]:
    """Round a continuous box to whole pixels ``(x0, y0, x1, y1)``, at least one pixel in size."""
    x0, y0 = min(round(x), w - 1), min(round(y), h - 1)
    return x0, y0, min(w, max(x0 + 1, round(x + bw))), min(h, max(y0 + 1, round(y + bh)))


# -- landmark presets -----------------------------------------------------------------------------
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

    def __init__(self, landmarks68: np.ndarray) -> None:
        points = np.asarray(landmarks68, np.float64)
        left_eye, right_eye = points[lm.LEFT_EYE].mean(axis=0), points[lm.RIGHT_EYE].mean(axis=0)
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
# average about 1.13 d x 1.29 d = 42 x 48 px there, as seed 000 reports ("on average 40x48");
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
    frame.fill_box(mask, frame.centre(lm.OUTER_LIPS) + (0.0, 0.15), 1.25, 1.2)


def _both_eyes(frame, mask):
    frame.fill_box(mask, frame.centre(np.r_[lm.LEFT_EYE, lm.RIGHT_EYE]), 2.0, 0.8)


def _mouth(frame, mask):
    frame.fill_box(mask, frame.centre(lm.OUTER_LIPS), 1.4, 0.8)


def _half(side):
    """One side of the face's vertical midline, from above the brows to below the chin."""

    def draw(frame, mask):
        midline = float(np.median(frame.points[[27, 28, 29, 30, 33, 51, 57, 8], 0]))
        jaw = frame.points[lm.JAW]
        top = float(frame.points[17:27, 1].min()) - 0.6  # the forehead, above the brows
        bottom = float(jaw[:, 1].max()) + 0.15
        outer = float(jaw[:, 0].min()) - 0.15 if side < 0 else float(jaw[:, 0].max()) + 0.15
        lo, hi = sorted((outer, midline))
        frame.fill_box(mask, ((lo + hi) / 2, (top + bottom) / 2), hi - lo, bottom - top)

    return draw


def _center_block(frame, mask):
    """The centre 0.5 S x 0.5 S square of the canonical crop, wherever the face is."""
    left_eye, right_eye = TEMPLATE_FRACTIONS[0], TEMPLATE_FRACTIONS[1]
    interocular = float(np.hypot(*(right_eye - left_eye)))  # template is level: no rotation to undo
    crop_centre = (np.array([0.5, 0.5]) - (left_eye + right_eye) / 2) / interocular
    side = 0.5 / interocular
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
        Preset("center-block", "Centre block", "The centre 64x64 of a 128 px aligned crop.", "GFC; seed 002"),
        Preset("random-block", "Random block", "A square half the image's shorter side, anywhere.", "seed 000", False),
        Preset("random-strokes", "Random strokes", "Medium free-form brush strokes.", "DeepFill v2; LaMa", False),
    )
}

_PRESET_DRAWERS: dict[str, Callable[[_FaceFrame, np.ndarray], None]] = {
    "left-eye": _eye_box(lm.LEFT_EYE),
    "right-eye": _eye_box(lm.RIGHT_EYE),
    "upper-face": _upper_face,
    "left-face": _cheek_box(lm.LEFT_EYE, lm.MOUTH_LEFT, outward=-1),
    "right-face": _cheek_box(lm.RIGHT_EYE, lm.MOUTH_RIGHT, outward=1),
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


def preset_mask(name: str, landmarks68: np.ndarray | None, shape: Size, *, seed: Seed = None) -> np.ndarray:
    """The H x W mask of preset ``name`` for a face with 68 iBUG landmarks (x, y) in ``shape``.

    ``random-block`` and ``random-strokes`` ignore the landmarks (``None`` is fine) and use ``seed``.
    """
    if name not in PRESETS:
        raise MaskError(f"unknown mask preset {name!r}; choose one of {', '.join(PRESETS)}")
    h, w = _hw(shape)
    if name == "random-block":
        side = max(1, min(h, w) // 2)
        return random_block((h, w), side, seed=seed)
    if name == "random-strokes":
        return brush_strokes((h, w), "medium", seed=seed)
    if landmarks68 is None:
        raise NoFaceError(f"the {PRESETS[name].label.lower()} preset needs a detected face")
    points = np.asarray(landmarks68, dtype=np.float64)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        raise MaskError(f"presets need 68 finite (x, y) landmarks, got an array of shape {points.shape}")
    mask = np.zeros((h, w), np.uint8)
    _PRESET_DRAWERS[name](_FaceFrame(points), mask)
    return mask


# -- operations -----------------------------------------------------------------------------------
def to_binary(mask: np.ndarray) -> np.ndarray:
    """Any mask as uint8 0/255: bool as is; uint8 > 127; uint16 > 32767; floats (0..1) > 0.5;
    other integer types are read as 0/1 labels (nonzero = hole)."""
    if not isinstance(mask, np.ndarray):
        raise MaskError(f"a mask must be a numpy array, got {type(mask).__name__}")
    if mask.dtype == bool:
        hole = mask
    elif mask.dtype == np.uint8:
        hole = mask > 127
    elif mask.dtype == np.uint16:
        hole = mask > 32767
    elif mask.dtype.kind == "f":
        hole = mask > 0.5
    elif mask.dtype.kind in "iu":
        hole = mask != 0
    else:
        raise MaskError(f"a mask must hold numbers or booleans, got {mask.dtype}")
    return hole.astype(np.uint8) * HOLE


def _disc(px: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))


def _check_px(px: int) -> int:
    if px < 0:
        raise MaskError(f"a pixel distance must be 0 or more, got {px}")
    return int(px)


def grow(mask: np.ndarray, px: int) -> np.ndarray:
    """The hole widened by ``px`` pixels in every direction (a disc dilation)."""
    binary = to_binary(mask)
    px = _check_px(px)
    return cv2.dilate(binary, _disc(px)) if px else binary


def shrink(mask: np.ndarray, px: int) -> np.ndarray:
    """The hole narrowed by ``px`` pixels (a disc erosion); the image border does not erode it."""
    binary = to_binary(mask)
    px = _check_px(px)
    return cv2.erode(binary, _disc(px)) if px else binary


def feather(mask: np.ndarray, px: int) -> np.ndarray:
    """float32 alpha in [0, 1]: 1 on the whole hole, fading smoothly to 0 over ``px`` pixels outside.

    The fade lies outside the hole so every missing pixel is still fully replaced when compositing.
    """
    binary = to_binary(mask)
    px = _check_px(px)
    if binary.ndim != 2:
        return np.stack([feather(binary[:, :, c], px) for c in range(binary.shape[2])], axis=-1)
    if not px or not binary.any():
        return (binary > 0).astype(np.float32)
    distance = cv2.distanceTransform(np.where(binary > 0, 0, 255).astype(np.uint8), cv2.DIST_L2, 5)
    ramp = np.clip(1.0 - distance / (px + 1), 0.0, 1.0)
    return (ramp * ramp * (3 - 2 * ramp)).astype(np.float32)  # smoothstep: no visible edge at either end


def invert(mask: np.ndarray) -> np.ndarray:
    """Holes become kept pixels and kept pixels holes."""
    return HOLE - to_binary(mask)


def _same_shapes(masks: tuple[np.ndarray, ...], what: str) -> list[np.ndarray]:
    if not masks:
        raise MaskError(f"{what} needs at least one mask")
    binaries = [to_binary(m) for m in masks]
    shapes = {b.shape for b in binaries}
    if len(shapes) > 1:
        raise MaskError(f"{what} needs masks of one size, got {', '.join(str(s) for s in sorted(shapes))}")
    return binaries


def union(*masks: np.ndarray) -> np.ndarray:
    """Missing where any mask is missing."""
    return np.maximum.reduce(_same_shapes(masks, "union"))


def intersect(*masks: np.ndarray) -> np.ndarray:
    """Missing only where every mask is missing."""
    return np.minimum.reduce(_same_shapes(masks, "intersect"))


def resize_mask(mask: np.ndarray, shape: Size) -> np.ndarray:
    """Nearest-neighbour resize to ``shape`` ((H, W) or an image shape); the result stays 0/255."""
    h, w = _hw(shape)
    binary = to_binary(mask)
    if binary.shape[:2] == (h, w):
        return binary
    return cv2.resize(binary, (w, h), interpolation=cv2.INTER_NEAREST_EXACT)


def hole_ratio(mask: np.ndarray) -> float:
    """Fraction of pixels missing; for a channel-wise mask, missing in every channel (MDE's "dropped")."""
    binary = to_binary(mask)
    if binary.ndim == 3:
        binary = binary.min(axis=2)
    return float(np.count_nonzero(binary)) / binary.size
