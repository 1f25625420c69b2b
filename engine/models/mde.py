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
seed) and iterative resampling (3.1.2, complete, re-mask, complete again).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.errors import ConfigError
from engine.masks.channel import channel_masks
from engine.models.base import CropCompletion
from engine.models.torch_base import TorchInpaintModel, network_to_crop


@dataclass(frozen=True)
class MDEArchitecture:
    resolution: int = 96  # CelebA crops of 3.1
    width: int = 64  # VGG's first stage
    depth: int = 4  # strided downsamplings: 96 -> 6
    bottleneck: int = 4000  # the fully connected layer (3.2.3: "4000 -> 40")

    def __post_init__(self) -> None:
        if self.resolution % 2**self.depth:
            raise ConfigError(f"MDE resolution {self.resolution} is not divisible by 2**depth = {2**self.depth}")

    @property
    def widths(self) -> list[int]:
        return [self.width * min(2**i, 8) for i in range(self.depth)]


def conv_block(cin: int, cout: int) -> nn.Sequential:
    """VGG's unit, twice: 3x3 conv, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class MDEGenerator(nn.Module):
    """U-Net-like encoder / fully connected bottleneck / decoder; input and output in [0, 1]."""

    def __init__(self, arch: MDEArchitecture = MDEArchitecture()) -> None:
        super().__init__()
        self.arch = arch
        widths = arch.widths
        self.blocks = nn.ModuleList(conv_block(cin, cout) for cin, cout in zip([3] + widths[:-1], widths))
        self.downs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(w, w, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
            for w in widths
        )
        self.bottom_shape = (widths[-1], arch.resolution // 2**arch.depth, arch.resolution // 2**arch.depth)
        flat = math.prod(self.bottom_shape)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(flat, arch.bottleneck), nn.ReLU(inplace=True))
        self.unfc = nn.Sequential(nn.Linear(arch.bottleneck, flat), nn.ReLU(inplace=True))
        self.ups = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(w, w, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
            for w in widths
        )
        outs = [widths[0]] + widths[:-1]
        self.merges = nn.ModuleList(conv_block(2 * w, o) for w, o in zip(widths, outs))
        self.to_rgb = nn.Conv2d(widths[0], 3, 1)

    def encode(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The bottleneck code (the paper's learned representation) and the skip features."""
        skips = []
        for block, down in zip(self.blocks, self.downs):
            x = block(x)
            skips.append(x)
            x = down(x)
        return self.fc(x), skips

    def forward(self, masked: Tensor) -> Tensor:
        code, skips = self.encode(masked)
        x = self.unfc(code).view(-1, *self.bottom_shape)
        for up, merge, skip in zip(reversed(self.ups), reversed(self.merges), reversed(skips)):
            x = merge(torch.cat([up(x), skip], 1))
        return torch.sigmoid(self.to_rgb(x))


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
    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel) -> list[CropCompletion]:
        device = self.net_device
        size = self.arch.resolution
        hole = channel_hole(mask)
        results = []
        for index, seed in enumerate(seeds):
            rng = np.random.default_rng(seed)
            current = crop
            for step in range(settings.resample_steps):
                cancel.check(f"at resampling step {step} of sample {index + 1}")
                remask = channel_masks(crop.shape[:2], "REC", settings.remask_ratio, seed=rng) > 127
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
        out = network_to_crop(self.net(image * known), crop.shape[:2])
        return (out[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
