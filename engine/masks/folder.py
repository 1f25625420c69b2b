"""Folders of irregular hole masks (e.g. NVIDIA's), sampled with augmentation, and hole-size buckets."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from engine.errors import MaskError
from engine.imageio import read_mask
from engine.maskops import Size, grow, hole_ratio, resize_mask
from engine.masks.generators import Seed, make_rng


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
        self.rng = make_rng(seed)

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int, size: Size | None = None) -> np.ndarray:
        """Mask ``index`` as stored (255 = hole), scaled to ``size`` if given."""
        mask = read_mask(self.files[index])
        return mask if size is None else resize_mask(mask, size)

    def sample(self, size: Size, rng: Seed = None) -> np.ndarray:
        """A random augmented mask of ``size``; ``rng`` defaults to the folder's own generator."""
        rng = self.rng if rng is None else make_rng(rng)
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
