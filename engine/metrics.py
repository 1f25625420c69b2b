"""Image-quality and landmark metrics, with the conventions of the papers' tables.

Images are compared as uint8 RGB over the whole aligned crop (as Liao et al. 2018 Table 1 and Dapogny et al. 2020
Table 3 report them), so PSNR is in dB for a 0-255 range and SSIM in [0, 1].
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from engine.errors import MaskError
from engine.face.types import five_points


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"metrics compare H x W x 3 uint8 RGB images, got {a.dtype} {a.shape}")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for 0-255 images (``inf`` when they are identical)."""
    _check_pair(a, b)
    if np.array_equal(a, b):
        return float("inf")
    return float(peak_signal_noise_ratio(a, b, data_range=255))


SSIM_SIGMA = 1.5  # Wang et al. 2004: an 11 x 11 Gaussian window, sigma 1.5, as the papers' tables use


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity of two RGB images as Wang et al. 2004 define it (Gaussian window, sigma 1.5,
    population covariances), averaged over the channels."""
    _check_pair(a, b)
    return float(structural_similarity(a, b, channel_axis=2, data_range=255, gaussian_weights=True, sigma=SSIM_SIGMA,
                                       use_sample_covariance=False))


def l1_hole(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute difference inside the hole, in [0, 1] units (1 = black vs white).

    ``mask`` is H x W (every channel of a hole pixel counts) or H x W x 3 (only the missing
    channels count, for channel-wise masks); values above 127 mean missing.
    """
    _check_pair(a, b)
    hole = np.asarray(mask) > 127
    if hole.shape not in (a.shape[:2], a.shape):
        raise MaskError(f"the mask is {hole.shape} but the images are {a.shape}")
    if hole.ndim == 2:
        hole = np.repeat(hole[:, :, None], 3, axis=2)
    if not hole.any():
        raise MaskError("the mask is empty: L1 inside the hole is undefined")
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float(diff[hole].mean() / 255.0)


def sample_spread(first: np.ndarray, second: np.ndarray, mask: np.ndarray) -> float:
    """How different two completions of one hole are: their mean absolute difference inside it, in
    grey levels (0-255). A diverse model (PD-GAN) that gives 0 has collapsed to one completion."""
    return l1_hole(first, second, mask) * 255.0


def landmark_nme(pred68: np.ndarray, ref68: np.ndarray) -> float:
    """Mean point-to-point distance normalised by the reference's inter-ocular distance.

    Inter-ocular = distance between the two eye centres (mean of each eye's six points), the
    same scale ``Face.interocular`` and the mask presets use.
    """
    pred, ref = np.asarray(pred68, np.float64), np.asarray(ref68, np.float64)
    if pred.shape != (68, 2) or ref.shape != (68, 2):
        raise ValueError(f"landmark_nme takes two (68, 2) arrays, got {pred.shape} and {ref.shape}")
    eyes = five_points(ref)[:2]
    interocular = float(np.linalg.norm(eyes[1] - eyes[0]))
    if interocular <= 0:
        raise ValueError("the reference landmarks have both eye centres at the same point")
    return float(np.linalg.norm(pred - ref, axis=1).mean() / interocular)
