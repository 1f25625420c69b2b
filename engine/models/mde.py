"""The Missing Data Encoder (Dapogny, Cord and Perez 2020): completion from channel-wise fragments.

Generator (2.5, Fig. 4): a VGG-like encoder (3x3 conv / batch norm / ReLU, strided-conv
downsampling) ending in one large fully connected layer, a mirrored decoder (transposed convs) with
skip connections that preserve the kept pixels, and a sigmoid output. It sees ``M * Z`` only: the
image in [0, 1] with every missing channel value set to 0, exactly as in the paper.

Discriminator (2.4-2.5): the encoder again with leaky ReLU and global average pooling, one
real/fake logit and, for the hide-and-seek game, a 4-value sigmoid box per colour channel
regressed from the image with two coordinate channels appended (L_coord^HnS).

Inference takes ordinary masks (every channel missing alike) and channel-wise ones. Diversity comes
from the paper's own tools: re-masking (3.1.1, a fresh random REC mask over the known pixels per
seed) and iterative resampling (3.1.2, complete, re-mask, complete again). A ring of known pixels
around the hole is never re-masked, so every sample continues the same boundary.

``residual = True`` is the quality recipe's form: missing values prefilled by Telea (known channel
values kept), the kept mask as three more input channels, GroupNorm, resize-convolutions instead
of transposed ones, and a zero-initialised output added to the prefill: training starts at Telea.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.errors import ConfigError
from engine.masks.channel import channel_masks
from engine.models.base import CropCompletion
from engine.models.residual_unet import telea_prefill
from engine.models.torch_base import TorchInpaintModel, network_to_crop

REMASK_RING = 8  # px around the hole that re-masking leaves visible


@dataclass(frozen=True)
class MDEArchitecture:
    resolution: int = 96  # CelebA crops of 3.1
    width: int = 64  # VGG's first stage
    depth: int = 4  # strided downsamplings: 96 -> 6
    bottleneck: int = 4000  # the fully connected layer (3.2.3: "4000 -> 40")
    residual: bool = False  # the quality recipe's form (see the module docstring)

    def __post_init__(self) -> None:
        if self.resolution % 2**self.depth:
            raise ConfigError(f"MDE resolution {self.resolution} is not divisible by 2**depth = {2**self.depth}")

    @property
    def widths(self) -> list[int]:
        return [self.width * min(2**i, 8) for i in range(self.depth)]


def _norm(channels: int, group: bool) -> nn.Module:
    return nn.GroupNorm(8 if channels % 8 == 0 else 1, channels) if group else nn.BatchNorm2d(channels)


def conv_block(cin: int, cout: int, group: bool = False) -> nn.Sequential:
    """VGG's unit, twice: 3x3 conv, batch norm (GroupNorm in the recipe), ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), _norm(cout, group), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), _norm(cout, group), nn.ReLU(inplace=True),
    )


def _upsample(channels: int, group: bool) -> nn.Sequential:
    if group:  # resize-convolution: no checkerboard (Odena et al. 2016)
        conv = [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(channels, channels, 3, padding=1, bias=False)]
    else:
        conv = [nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1, bias=False)]
    return nn.Sequential(*conv, _norm(channels, group), nn.ReLU(inplace=True))


class MDEGenerator(nn.Module):
    """U-Net-like encoder / fully connected bottleneck / decoder; input and output in [0, 1]."""

    def __init__(self, arch: MDEArchitecture = MDEArchitecture()) -> None:
        super().__init__()
        self.arch = arch
        widths, group = arch.widths, arch.residual
        first = 6 if arch.residual else 3  # the recipe also sees the kept mask
        self.blocks = nn.ModuleList(conv_block(cin, cout, group) for cin, cout in zip([first] + widths[:-1], widths))
        self.downs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(w, w, 3, stride=2, padding=1, bias=False), _norm(w, group), nn.ReLU(inplace=True))
            for w in widths
        )
        self.bottom_shape = (widths[-1], arch.resolution // 2**arch.depth, arch.resolution // 2**arch.depth)
        flat = math.prod(self.bottom_shape)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(flat, arch.bottleneck), nn.ReLU(inplace=True))
        self.unfc = nn.Sequential(nn.Linear(arch.bottleneck, flat), nn.ReLU(inplace=True))
        self.ups = nn.ModuleList(_upsample(w, group) for w in widths)
        outs = [widths[0]] + widths[:-1]
        self.merges = nn.ModuleList(conv_block(2 * w, o, group) for w, o in zip(widths, outs))
        self.to_rgb = nn.Conv2d(widths[0], 3, 1)
        if arch.residual:
            nn.init.zeros_(self.to_rgb.weight)
            nn.init.zeros_(self.to_rgb.bias)

    def encode(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The bottleneck code (the paper's learned representation) and the skip features."""
        skips = []
        for block, down in zip(self.blocks, self.downs):
            x = block(x)
            skips.append(x)
            x = down(x)
        return self.fc(x), skips

    def forward(self, masked: Tensor, known: Tensor | None = None) -> Tensor:
        """Paper: ``masked`` = M * Z. Recipe: ``masked`` = the prefilled image in [0, 1] and ``known`` = M."""
        x = torch.cat([masked, known], 1) if self.arch.residual else masked
        code, skips = self.encode(x)
        x = self.unfc(code).view(-1, *self.bottom_shape)
        for up, merge, skip in zip(reversed(self.ups), reversed(self.merges), reversed(skips)):
            x = merge(torch.cat([up(x), skip], 1))
        if self.arch.residual:
            return (masked + self.to_rgb(x).to(masked.dtype)).clamp(0, 1)
        return torch.sigmoid(self.to_rgb(x))


def prefill_channels(image: Tensor, known: Tensor) -> Tensor:
    """``image`` in [0, 1] with its missing values (``known`` = 0, per channel) filled by Telea from
    the pixels whose every channel is known; known channel values are kept."""
    hole = 1.0 - known.amin(dim=1, keepdim=True)
    filled = (telea_prefill(image * 2 - 1, hole) + 1) / 2
    return known * image + (1 - known) * filled


def coordinate_channels(batch: int, size: int, device, dtype) -> Tensor:
    """(B, 2, S, S) x and y in [0, 1] (CoordConv), so boxes can be regressed by a convnet."""
    ramp = torch.linspace(0.0, 1.0, size, device=device, dtype=dtype)
    ys, xs = torch.meshgrid(ramp, ramp, indexing="ij")
    return torch.stack([xs, ys])[None].expand(batch, -1, -1, -1)


class MDEDiscriminator(nn.Module):
    """Real/fake logit and, per colour channel, the kept box (x0, y0, x1, y1) normalised to [0, 1]."""

    def __init__(self, arch: MDEArchitecture = MDEArchitecture(), coord: bool = True) -> None:
        super().__init__()
        self.coord = coord
        layers, cin = [], 3 + (2 if coord else 0)
        for i, w in enumerate(arch.widths):
            layers += [nn.Conv2d(cin, w, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            layers += [nn.Conv2d(w, w, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(w), nn.LeakyReLU(0.2, inplace=True)]
            cin = w
        self.features = nn.Sequential(*layers)
        self.real_fake = nn.Linear(cin, 1)
        self.boxes = nn.Linear(cin, 3 * 4)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        if self.coord:
            image = torch.cat([image, coordinate_channels(image.shape[0], image.shape[-1], image.device, image.dtype)], 1)
        pooled = self.features(image).mean(dim=(2, 3))  # global average pooling
        return self.real_fake(pooled).squeeze(1), torch.sigmoid(self.boxes(pooled)).view(-1, 3, 4)


def channel_hole(mask: np.ndarray) -> np.ndarray:
    """Any engine mask as an H x W x 3 bool array, True = missing in that channel."""
    hole = mask > 127
    return np.repeat(hole[:, :, None], 3, axis=2) if hole.ndim == 2 else hole


class MDEInpainter(TorchInpaintModel):
    """One sample per chunk, so Cancel waits for at most one sample's passes."""

    seeds_per_chunk = 1

    network_cls = MDEGenerator
    architecture_cls = MDEArchitecture

    @torch.inference_mode()
    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None) -> list[CropCompletion]:
        device = self.net_device
        size = self.arch.resolution
        hole = channel_hole(mask)
        results = []
        for index, seed in enumerate(seeds):
            rng = np.random.default_rng(seed)
            current = crop
            ring = cv2.dilate(hole.any(axis=2).astype(np.uint8), np.ones((2 * REMASK_RING + 1,) * 2, np.uint8)) > 0
            for step in range(settings.resample_steps):
                cancel.check(f"at resampling step {step} of sample {index + 1}")
                remask = (channel_masks(crop.shape[:2], "REC", settings.remask_ratio, seed=rng) > 127) & ~ring[:, :, None]
                current = self.complete_once(current, hole | remask, size, device)
                current = np.where(hole, current, crop)  # the user's known pixels are never resampled
            results.append(CropCompletion(current, seed))
            progress((index + 1) / len(seeds), f"sample {index + 1} of {len(seeds)}", current)
        return results

    def complete_once(self, crop: np.ndarray, hole: np.ndarray, size: int, device) -> np.ndarray:
        """One generator pass on ``crop`` with ``hole`` (H x W x 3 bool) missing."""
        image = torch.from_numpy(np.ascontiguousarray(crop)).to(device).permute(2, 0, 1)[None].float() / 255.0
        known = torch.from_numpy(np.ascontiguousarray(~hole)).to(device).permute(2, 0, 1)[None].float()
        if image.shape[-1] != size:  # weights trained at another size than the crop
            image = F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            known = (F.interpolate(known, size=(size, size), mode="area") >= 1.0 - 1e-6).float()
        if self.arch.residual:
            out = network_to_crop(self.net(prefill_channels(image, known), known), crop.shape[:2])
        else:
            out = network_to_crop(self.net(image * known), crop.shape[:2])
        return (out[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
