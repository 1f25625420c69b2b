"""Align a face to the canonical crop, and paste a completed crop back into the photo.

Coordinates are pixel-centre based (pixel (i, j) is the point x = j, y = i), as in OpenCV. The
template is defined in fractions of the crop *edge* length, so a crop at 256 px resized to 128 px
is exactly the crop aligned at 128 px.

Both directions work on small regions only: ``align_face`` reads the part of the photo the crop
covers (area-averaged first when it shrinks), and ``paste_back`` writes the bounding box of the
mask; a 12 MP photo costs about what a 1 MP one does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from engine.errors import MaskError
from engine.face.types import Face, five_points
from engine.maskops import flatten
from engine.prefill import classical_fill

# Canonical five points as fractions of the crop size: image-left eye, image-right eye, nose tip,
# mouth left, mouth right. The inter-ocular distance is 0.29 of the crop (37 px at 128 px).
TEMPLATE_FRACTIONS = np.array(
    [[0.355, 0.40], [0.645, 0.40], [0.5, 0.565], [0.38, 0.735], [0.62, 0.735]], dtype=np.float64
)
# Default feather of ``paste_back`` in crop pixels: about the blur a crop gets when it is scaled
# back up, so the seam between sharp photo and softer crop fades over it.
FEATHER_CROP_PIXELS = 2.0
# Neighbourhood (pixels) cv2.inpaint uses to fill mask pixels outside the crop's footprint.
TELEA_RADIUS = 5
MIN_CROP_SIZE = 16
# Grain is matched when the crop is enlarged by more than this (crop pixels per photo pixel below
# it): nearer 1:1 the completion carries its own texture.
GRAIN_BELOW_SCALE = 1 / 1.5
# Crops enlarged more than this into the photo get the photo-scale detail (add_classical_detail).
DETAIL_ABOVE_ENLARGEMENT = 1.2
# Width (photo pixels) of the known ring around the hole whose grain the fill takes on.
GRAIN_RING = 12


def canonical_five_points(size: int) -> np.ndarray:
    """(5, 2) float32 template points of a ``size`` x ``size`` crop, in pixel-centre coordinates."""
    return (TEMPLATE_FRACTIONS * size - 0.5).astype(np.float32)


def similarity_fit(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """2x3 similarity (rotation, uniform scale, shift) mapping ``source`` onto ``target``, least squares.

    With x' = a x - b y + tx and y' = b x + a y + ty the problem is linear in (a, b, tx, ty), and
    its least-squares solution is Umeyama's (no reflection). Written out because scikit-image's
    estimator API differs across the versions this project supports.
    """
    src = np.asarray(source, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(target, dtype=np.float64).reshape(-1, 2)
    if src.shape != dst.shape or len(src) < 2:
        raise ValueError(f"need two matching sets of at least 2 points, got {src.shape} and {dst.shape}")
    if np.ptp(src, axis=0).max() < 1e-6:
        raise ValueError("the points are degenerate (all in one place): no alignment possible")
    ones, zeros = np.ones(len(src)), np.zeros(len(src))
    rows_x = np.stack([src[:, 0], -src[:, 1], ones, zeros], axis=1)
    rows_y = np.stack([src[:, 1], src[:, 0], zeros, ones], axis=1)
    (a, b, tx, ty), *_ = np.linalg.lstsq(np.concatenate([rows_x, rows_y]), np.concatenate(dst.T), rcond=None)
    return np.array([[a, -b, tx], [b, a, ty]], dtype=np.float64)


def alignment_matrix(landmarks: np.ndarray, size: int) -> np.ndarray:
    """2x3 image -> crop matrix for (68, 2) or (5, 2) landmarks aligned at ``size`` px."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape == (68, 2):
        points = five_points(points)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        raise ValueError(f"alignment needs (68, 2) or (5, 2) finite landmarks, got shape {points.shape}")
    return similarity_fit(points, canonical_five_points(size))


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (N, 2) points."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return (pts @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def resize_points(points: np.ndarray, from_size: int, to_size: int) -> np.ndarray:
    """Points (any leading shape, x and y last) of a square image resized from ``from_size`` to
    ``to_size`` px, in the resized image's pixels: cv2.resize and torch's ``interpolate`` keep pixel
    centres, x_to + 0.5 = (x_from + 0.5) * to_size / from_size."""
    return ((np.asarray(points, np.float32) + 0.5) * (to_size / from_size) - 0.5).astype(np.float32)


def matrix_scale(matrix: np.ndarray) -> float:
    """Linear scale factor of a similarity (output pixels per input pixel)."""
    return math.sqrt(abs(float(np.linalg.det(matrix[:, :2]))))


def warp_affine_region(
    source: np.ndarray,
    matrix: np.ndarray,
    size: tuple[int, int],
    *,
    interpolation: int = cv2.INTER_LINEAR,
    border_mode: int = cv2.BORDER_REFLECT_101,
    border_value: float = 0,
) -> np.ndarray:
    """``cv2.warpAffine`` that reads only the part of ``source`` the output covers.

    When the warp shrinks, that part is first area-averaged to the output's scale so a large
    face does not alias, and the cost stays proportional to the face, not the photo.
    ``size`` is (width, height) as in OpenCV.
    """
    width, height = int(size[0]), int(size[1])
    src_h, src_w = source.shape[:2]
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[-0.5, -0.5], [width - 0.5, -0.5], [-0.5, height - 0.5], [width - 0.5, height - 0.5]])
    footprint = transform_points(inverse, corners)
    pad = 2  # interpolation kernels reach one or two pixels past the footprint
    x0 = int(np.clip(math.floor(footprint[:, 0].min()) - pad, 0, src_w - 1))
    y0 = int(np.clip(math.floor(footprint[:, 1].min()) - pad, 0, src_h - 1))
    x1 = int(np.clip(math.ceil(footprint[:, 0].max()) + pad + 1, x0 + 1, src_w))
    y1 = int(np.clip(math.ceil(footprint[:, 1].max()) + pad + 1, y0 + 1, src_h))
    region = source[y0:y1, x0:x1]
    local = matrix.astype(np.float64).copy()
    local[:, 2] += local[:, :2] @ np.array([x0, y0], dtype=np.float64)
    scale = matrix_scale(matrix)
    if scale < 1.0:
        small_w = max(1, round(region.shape[1] * scale))
        small_h = max(1, round(region.shape[0] * scale))
        fx, fy = small_w / region.shape[1], small_h / region.shape[0]
        region = cv2.resize(region, (small_w, small_h), interpolation=cv2.INTER_AREA)
        # cv2.resize maps a small pixel q to the region pixel (q + 0.5) / f - 0.5.
        unshrink = np.array([[1 / fx, 0, 0.5 / fx - 0.5], [0, 1 / fy, 0.5 / fy - 0.5], [0, 0, 1]])
        local = local @ unshrink
    return cv2.warpAffine(
        region, local, (width, height), flags=interpolation, borderMode=border_mode, borderValue=border_value
    )


def _flat_hole(mask: np.ndarray, shape: tuple[int, int], what: str) -> np.ndarray:
    """Boolean H x W hole (any channel > 127) of a uint8/bool mask that must match ``shape``."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    if mask.ndim != 2 or mask.shape != tuple(shape):
        raise MaskError(f"{what} has shape {mask.shape}, expected {tuple(shape)} (H x W or H x W x 3)")
    return mask > 127 if mask.dtype != bool else mask


@dataclass
class AlignedFace:
    """A face warped to the canonical template, and the transform to go back."""

    crop: np.ndarray  # size x size x 3 uint8 RGB
    size: int
    matrix: np.ndarray  # 2x3, image -> crop
    inverse: np.ndarray  # 2x3, crop -> image
    landmarks: np.ndarray  # (68, 2) float32 in crop coordinates
    source_shape: tuple[int, int]  # (H, W) of the photo

    @property
    def scale(self) -> float:
        """Crop pixels per photo pixel (below 1 when the face is larger than the crop)."""
        return matrix_scale(self.matrix)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) photo coordinates -> crop coordinates."""
        return transform_points(self.matrix, points)

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) crop coordinates -> photo coordinates."""
        return transform_points(self.inverse, points)

    def warp_mask(self, mask: np.ndarray) -> np.ndarray:
        """The photo's mask (H x W, or H x W x 3 channel-wise) in crop coordinates, binary 0/255.

        A crop pixel is a hole when any photo pixel it samples is one, so even thin strokes
        survive the shrink; the hole may grow by up to one crop pixel, never shrink.
        """
        mask = np.asarray(mask)
        if mask.shape[:2] != tuple(self.source_shape) or mask.ndim not in (2, 3):
            raise MaskError(f"the mask is {mask.shape[:2]} but the aligned photo is {tuple(self.source_shape)}")
        hole = mask if mask.dtype == bool else mask > 127
        coverage = warp_affine_region(
            hole.astype(np.float32),
            self.matrix,
            (self.size, self.size),
            border_mode=cv2.BORDER_CONSTANT,
        )
        return np.where(coverage > 0, 255, 0).astype(np.uint8)


def align_face(image: np.ndarray, face: Face | np.ndarray, size: int) -> AlignedFace:
    """Warp ``face`` (a ``Face`` or its (68, 2) landmarks) to the canonical template at ``size`` px.

    Parts of the crop beyond the photo's edge are mirrored in (reflect-101), as FFHQ-style
    alignment does, so models see plausible context rather than black.
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"align_face needs an H x W x 3 uint8 image, got {getattr(image, 'shape', type(image))}")
    if int(size) < MIN_CROP_SIZE:
        raise ValueError(f"crop size must be at least {MIN_CROP_SIZE} px, got {size}")
    size = int(size)
    landmarks = np.asarray(face.landmarks if isinstance(face, Face) else face, dtype=np.float32)
    if landmarks.shape != (68, 2):
        raise ValueError(f"align_face needs (68, 2) landmarks, got shape {landmarks.shape}")
    matrix = alignment_matrix(landmarks, size)
    crop = warp_affine_region(image, matrix, (size, size))
    return AlignedFace(
        crop=crop,
        size=size,
        matrix=matrix,
        inverse=cv2.invertAffineTransform(matrix),
        landmarks=transform_points(matrix, landmarks),
        source_shape=(int(image.shape[0]), int(image.shape[1])),
    )


def seamless_clone(source: np.ndarray, target: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Poisson-blend ``source`` into ``target`` inside ``region`` (same-size arrays); elsewhere ``source``.

    cv2.seamlessClone places the mask's bounding box centred on ``center``, and OpenCV versions
    round that centre differently for even sizes; an odd-sized box is placed the same by all, so
    the box is widened by one pixel where needed (a pixel outside the hole, which the caller's
    final composite discards). The 2-pixel padding keeps room for that and keeps the hole off
    the array's border, which OpenCV clears.
    """
    pad = 2
    clone_mask = cv2.copyMakeBorder(region.astype(np.uint8) * 255, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    x, y, w, h = cv2.boundingRect(clone_mask)
    if w % 2 == 0:
        clone_mask[y, x + w] = 255
        w += 1
    if h % 2 == 0:
        clone_mask[y + h, x] = 255
        h += 1
    padded_source = cv2.copyMakeBorder(source, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    padded_target = cv2.copyMakeBorder(target, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    cloned = cv2.seamlessClone(padded_source, padded_target, clone_mask, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)
    return np.where(region[:, :, None], cloned[pad:-pad, pad:-pad], source)


def paste_back(
    image: np.ndarray,
    crop: np.ndarray,
    aligned: AlignedFace,
    mask: np.ndarray,
    *,
    feather: float | None = None,
    poisson: bool = False,
    grain: bool = True,
    detail: bool = True,
    crop_mask: np.ndarray | None = None,
    shared: dict | None = None,
) -> np.ndarray:
    """Put the completed ``crop`` back into ``image``, changing only pixels inside ``mask``.

    Pasting several completions of one request: pass the ``crop_mask`` already warped
    (``aligned.warp_mask(mask)``) and one ``shared`` dict to every call, so the photo-scale
    detail (two Telea fills, most of the cost on a large photo) is made once, not once a sample.

    A crop smaller than the face it fills is brought up to the photo's scale smoothly
    (``upsampled_warp``: no blocks however large the photo), with ``detail`` given what the
    crop's resolution cannot hold (``add_classical_detail``: Telea's fill at the photo's scale
    minus the same fill seen through the crop, so thin strokes and hole edges stay as sharp as
    the photo), and, with ``grain``, given the fine-grain energy of the pixels around the hole
    (``match_grain``), so a 24 MP photo gets no plasticky patch; ``poisson`` also matches its
    colours to the surroundings.

    Works on the mask's bounding box only. Inside the mask the crop is blended with alpha 1 deep
    inside, falling towards the mask's edge over ``feather`` photo pixels (default
    ``FEATHER_CROP_PIXELS`` crop pixels at the crop's scale; 1 or less = hard paste). With
    ``poisson`` the crop is instead Poisson-blended (cv2.seamlessClone) into the box, which matches
    its colours to the surroundings, and pasted without feathering. Mask pixels the crop does not
    cover (beyond its footprint) are filled with cv2.inpaint (Telea) rather than left as a hole.
    Finally every pixel outside the mask is copied from ``image`` bit for bit; a channel-wise
    mask (H x W x 3, MDE's) keeps each channel's known pixels, so a green-only hole changes green only.
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"paste_back needs an H x W x 3 uint8 image, got {getattr(image, 'shape', type(image))}")
    if image.shape[:2] != tuple(aligned.source_shape):
        raise ValueError(f"the image is {image.shape[:2]} but the face was aligned on {aligned.source_shape}")
    if crop.shape != (aligned.size, aligned.size, 3) or crop.dtype != np.uint8:
        raise ValueError(f"the crop must be {aligned.size}x{aligned.size}x3 uint8, got {crop.dtype} {crop.shape}")
    hole = _flat_hole(mask, image.shape[:2], "the mask")
    channel_hole = _channel_hole(mask, hole)
    result = image.copy()
    if not hole.any():
        return result
    feather_px = FEATHER_CROP_PIXELS / aligned.scale if feather is None else float(feather)
    margin = int(math.ceil(max(feather_px, TELEA_RADIUS))) + 2
    ys, xs = np.nonzero(hole)
    y0, y1 = max(0, int(ys.min()) - margin), min(image.shape[0], int(ys.max()) + 1 + margin)
    x0, x1 = max(0, int(xs.min()) - margin), min(image.shape[1], int(xs.max()) + 1 + margin)
    box_hole = hole[y0:y1, x0:x1]
    box_image = image[y0:y1, x0:x1]

    crop_to_box = aligned.inverse.astype(np.float64).copy()
    crop_to_box[:, 2] -= (x0, y0)
    box_size = (x1 - x0, y1 - y0)
    warped = upsampled_warp(crop, crop_to_box, box_size)
    if detail and matrix_scale(crop_to_box) > DETAIL_ABOVE_ENLARGEMENT:
        key = ("detail", y0, y1, x0, x1)
        if shared is None or key not in shared:
            crop_hole = flatten(aligned.warp_mask(mask) if crop_mask is None else crop_mask)
            crop_fill = upsampled_warp(classical_fill(aligned.crop, crop_hole), crop_to_box, box_size)
            fine = classical_detail(box_image, box_hole, crop_fill)
            if shared is not None:
                shared[key] = fine
        else:
            fine = shared[key]
        warped = _plus_detail(warped, fine)
    everywhere = np.full((aligned.size, aligned.size), 255, dtype=np.uint8)
    covered = cv2.warpAffine(everywhere, crop_to_box, box_size, flags=cv2.INTER_NEAREST) > 0
    fill = box_hole & covered

    if poisson:
        candidate = seamless_clone(warped, box_image, fill)
        alpha = fill.astype(np.float32)
    else:
        candidate = warped
        if grain and aligned.scale < GRAIN_BELOW_SCALE:
            candidate = match_grain(warped, box_image, fill, box_hole)
        depth = cv2.distanceTransform(box_hole.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        alpha = np.clip(depth / max(feather_px, 1.0), 0.0, 1.0) * fill
    blended = alpha[:, :, None] * candidate + (1.0 - alpha[:, :, None]) * box_image
    blended = np.clip(np.rint(blended), 0, 255).astype(np.uint8)

    uncovered = box_hole & ~covered
    if uncovered.any():
        blended = cv2.inpaint(blended, uncovered.astype(np.uint8) * 255, TELEA_RADIUS, cv2.INPAINT_TELEA)
    result[y0:y1, x0:x1] = np.where(channel_hole[y0:y1, x0:x1], blended, box_image)
    return result


def add_classical_detail(fill: np.ndarray, photo: np.ndarray, hole: np.ndarray,
                         crop_fill_enlarged: np.ndarray) -> np.ndarray:
    """``fill`` (a completion enlarged from a smaller crop) plus the detail its crop could not hold.

    The detail is Telea's fill of ``hole`` in ``photo`` at the photo's scale minus
    ``crop_fill_enlarged``, the same fill made at the crop's scale (what the quality recipe's
    networks start from) and enlarged alike. For a network that adds a residual to that prefill
    the result is the photo-scale fill plus the enlarged residual: strokes thinner than a crop
    pixel and the rim of the hole stay as sharp as the photo, and the learned structure is the
    crop's (in the spirit of Yi et al. 2020's low-resolution completion plus context residuals).
    """
    return _plus_detail(fill, classical_detail(photo, hole, crop_fill_enlarged))


def _plus_detail(fill: np.ndarray, detail: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(fill.astype(np.float32) + detail), 0, 255).astype(np.uint8)


def classical_detail(photo: np.ndarray, hole: np.ndarray, crop_fill_enlarged: np.ndarray) -> np.ndarray:
    """float32 detail ``add_classical_detail`` adds: Telea's fill at the photo's scale minus the enlarged crop-scale one."""
    full = classical_fill(photo, hole.astype(np.uint8) * 255).astype(np.float32)
    return full - crop_fill_enlarged.astype(np.float32)


def upsampled_warp(crop: np.ndarray, crop_to_box: np.ndarray, box_size: tuple[int, int]) -> np.ndarray:
    """``crop`` warped by ``crop_to_box`` into a (width, height) box, smooth at any enlargement.

    ``cv2.warpAffine`` quantises sample positions to 1/32 of a source pixel, so enlarging a 64 px
    crop 40x gives runs of identical pixels: blocks. Here the part of the crop the box sees is
    first enlarged by ``cv2.resize`` (bicubic, exact positions) to about the photo's scale, and
    the remaining warp is close to 1:1, where 1/32 pixel is invisible. Cost follows the box.
    """
    width, height = int(box_size[0]), int(box_size[1])
    enlarge = matrix_scale(crop_to_box)  # photo pixels per crop pixel
    if enlarge <= 1.5:
        return cv2.warpAffine(crop, crop_to_box, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    box_to_crop = cv2.invertAffineTransform(crop_to_box)
    corners = transform_points(box_to_crop, np.array([[-0.5, -0.5], [width - 0.5, -0.5], [-0.5, height - 0.5],
                                                     [width - 0.5, height - 0.5]]))
    size = crop.shape[0]
    pad = 3  # the bicubic kernel's reach, plus rounding
    cx0 = int(np.clip(math.floor(corners[:, 0].min()) - pad, 0, crop.shape[1] - 1))
    cy0 = int(np.clip(math.floor(corners[:, 1].min()) - pad, 0, size - 1))
    cx1 = int(np.clip(math.ceil(corners[:, 0].max()) + pad + 1, cx0 + 1, crop.shape[1]))
    cy1 = int(np.clip(math.ceil(corners[:, 1].max()) + pad + 1, cy0 + 1, size))
    factor = int(math.ceil(enlarge))
    part = crop[cy0:cy1, cx0:cx1]
    big = cv2.resize(part, (part.shape[1] * factor, part.shape[0] * factor), interpolation=cv2.INTER_CUBIC)
    # cv2.resize maps big pixel u to part pixel (u + 0.5) / factor - 0.5, i.e. crop pixel + (cx0, cy0).
    big_to_crop = np.array([[1 / factor, 0, 0.5 / factor - 0.5 + cx0], [0, 1 / factor, 0.5 / factor - 0.5 + cy0], [0, 0, 1]])
    big_to_box = crop_to_box.astype(np.float64) @ big_to_crop
    return cv2.warpAffine(big, big_to_box[:2], (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def high_frequency(image: np.ndarray) -> np.ndarray:
    """The fine grain of an image: it minus its Gaussian blur (sigma 1 px), float32."""
    as_float = image.astype(np.float32)
    return as_float - cv2.GaussianBlur(as_float, (0, 0), 1.0)


def match_grain(fill: np.ndarray, photo: np.ndarray, region: np.ndarray, hole: np.ndarray, seed: int = 0) -> np.ndarray:
    """``fill`` with noise added inside ``region`` so its fine-grain energy per channel matches the
    known ring of ``photo`` around ``hole`` (an enlarged crop is smooth; the photo around it is not).

    One noise field serves every channel (scaled per channel), as sensor and film grain is mostly
    luminance; it is seeded, so a paste is reproducible. Nothing is added where the fill already
    has the ring's energy.
    """
    outside = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 3)
    ring = (outside > 0) & (outside <= GRAIN_RING)
    inside = cv2.erode(region.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # away from the seam
    if ring.sum() < 16 or inside.sum() < 16:
        return fill
    want = high_frequency(photo)[ring].std(axis=0)
    have = high_frequency(fill)[inside].std(axis=0)
    missing = np.sqrt(np.maximum(want**2 - have**2, 0.0))
    if not missing.any():
        return fill
    noise = np.random.default_rng(seed).standard_normal(fill.shape[:2]).astype(np.float32)
    noise /= max(float(high_frequency(noise)[inside].std()), 1e-6)  # unit fine-grain energy
    grained = fill.astype(np.float32) + noise[:, :, None] * missing[None, None, :].astype(np.float32)
    return np.where(region[:, :, None], np.clip(np.rint(grained), 0, 255), fill).astype(np.uint8)


def _channel_hole(mask: np.ndarray, flat_hole: np.ndarray) -> np.ndarray:
    """H x W x 1 (one mask for all channels) or H x W x 3 (channel-wise) boolean hole."""
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 3:
        return mask if mask.dtype == bool else mask > 127
    return flat_hole[:, :, None]
