"""Channel-wise masks of the Missing Data Encoder (Dapogny, Cord and Perez 2020, section 2.3)."""

from __future__ import annotations

import math

import numpy as np

from engine.errors import MaskError
from engine.maskops import HOLE, Size, size_hw
from engine.masks.generators import Seed, make_rng

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
    h, w = size_hw(size)
    rng = make_rng(seed)
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
