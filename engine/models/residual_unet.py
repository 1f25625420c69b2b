"""The quality recipe's building blocks: a classical prefill and a zero-initialised residual U-Net.

Learned models trained on a few CPU-hours lose to OpenCV's Telea when they must paint the whole
hole from noise. Started from Telea's fill instead, with a residual whose last layer is zero, a
model *is* Telea at step 0 and training can only add structure (eyes, mouths, shading) to it.
The U-Net follows the choices that suit small batches and short runs: GroupNorm instead of
BatchNorm (Wu and He 2018), nearest-neighbour resize + convolution instead of transposed
convolutions, which leave checkerboards (Odena et al. 2016).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.prefill import classical_fill, mirror_fill

PREFILLS = ("telea", "mirror", "face-mirror", "noise", "zeros")
_POOL = ThreadPoolExecutor(max_workers=4)  # cv2 releases the GIL: a batch's fills run side by side


def _to_uint8(image: Tensor) -> np.ndarray:
    return ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def _fill_batch(image: Tensor, hole: Tensor, fill: Callable[..., np.ndarray], *extra: list) -> Tensor:
    """(N, 3, H, W) images in [-1, 1] with their (N, 1, H, W) holes (1 = missing) filled by ``fill``
    (an ``engine.prefill`` function of the 8-bit crop, its 255 = missing hole and one item of each
    ``extra`` list); known pixels keep their values."""
    images = [_to_uint8(img) for img in image]
    holes = [(h[0] > 0.5).byte().mul(255).cpu().numpy() for h in hole]
    arguments = list(zip(images, holes, *extra))
    if len(images) > 2:
        fills = list(_POOL.map(lambda args: fill(*args), arguments))
    else:
        fills = [fill(*args) for args in arguments]
    filled = torch.from_numpy(np.stack(fills)).to(image.device).permute(0, 3, 1, 2).to(image.dtype) / 127.5 - 1.0
    return image * (1 - hole) + filled * hole


def telea_prefill(image: Tensor, hole: Tensor) -> Tensor:
    """The holes filled by Telea: exactly the ``telea`` baseline's fill of the 8-bit crop
    (``engine.prefill.classical_fill``)."""
    return _fill_batch(image, hole, classical_fill)


def mirror_prefill(image: Tensor, hole: Tensor, landmarks: Tensor | np.ndarray | None = None) -> Tensor:
    """The holes filled with the face's mirror image where it is known, Telea elsewhere
    (``engine.prefill.mirror_fill``); with (N, 68, 2) ``landmarks`` in the images' pixels, only
    where the mirror falls inside the face."""
    if landmarks is None:
        return _fill_batch(image, hole, mirror_fill)
    points = [np.asarray(lm.detach().cpu() if isinstance(lm, Tensor) else lm, np.float32) for lm in landmarks]
    if len(points) != len(image):
        raise ValueError(f"{len(points)} landmark sets for {len(image)} images")
    return _fill_batch(image, hole, mirror_fill, points)


def prefill(image: Tensor, hole: Tensor, kind: str, generator: torch.Generator | None = None,
            landmarks: Tensor | np.ndarray | None = None) -> Tensor:
    """The network's view of the hole: Telea's fill, the mirrored face (Telea where its mirror is hidden
    too), the mirror kept inside the face outline of (N, 68, 2) ``landmarks`` in the images' pixels
    ("face-mirror": whole-crop mirror when no landmarks are known), uniform noise in [-1, 1] (the
    papers), or zeros."""
    if kind == "telea":
        return telea_prefill(image, hole)
    if kind == "mirror":
        return mirror_prefill(image, hole)
    if kind == "face-mirror":
        return mirror_prefill(image, hole, landmarks)
    if kind == "noise":
        noise = torch.rand(image.shape, generator=generator).to(image.device, image.dtype) * 2 - 1
        return image * (1 - hole) + noise * hole
    if kind == "zeros":
        return image * (1 - hole)
    raise ValueError(f"unknown prefill {kind!r}; choose one of {PREFILLS}")


def _groups(channels: int) -> int:
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each with GroupNorm and SiLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(_groups(cout), cout), nn.SiLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(_groups(cout), cout), nn.SiLU(inplace=True),
        )


class ResidualUNet(nn.Module):
    """U-Net of ``depth`` levels (width, 2 width, ... capped at 8 width) with a zero-initialised head.

    ``forward`` returns the head's raw output; ``ResidualUNet.zero_head`` keeps it at zero until
    training moves it, which is what makes prefill + residual start exactly at the prefill.
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 32, depth: int = 6) -> None:
        super().__init__()
        widths = [width * min(2**i, 8) for i in range(depth)]
        self.stem = ConvBlock(in_channels, widths[0])
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1), ConvBlock(widths[i + 1], widths[i + 1]))
            for i in range(depth - 1)
        )
        self.up = nn.ModuleList(
            nn.Conv2d(widths[i + 1], widths[i], 3, padding=1) for i in reversed(range(depth - 1))
        )
        self.merge = nn.ModuleList(ConvBlock(widths[i] * 2, widths[i]) for i in reversed(range(depth - 1)))
        self.head = nn.Conv2d(widths[0], out_channels, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor) -> Tensor:
        y = self.stem(x)
        skips = [y]
        for stage in self.down:
            y = stage(y)
            skips.append(y)
        skips.pop()
        for up, merge in zip(self.up, self.merge):
            y = up(F.interpolate(y, scale_factor=2.0, mode="nearest"))
            y = merge(torch.cat([y, skips.pop()], dim=1))
        return self.head(y)


def residual_composite(prefilled: Tensor, residual: Tensor, known: Tensor, hole: Tensor) -> Tensor:
    """``prefill + residual`` in the hole (clamped to the image range), the known pixels elsewhere."""
    return known * (1 - hole) + (prefilled + residual).clamp(-1, 1) * hole
