"""collaGAN (Liao et al. 2018): one U-Net completes the face and predicts its parsing and landmark heatmaps.

The generator's output channels are stacked per task (3.1, 3.4): 3 image channels, then K = 8
parsing channels (``engine.face.labels.PARSING_CLASSES``), then L = 5 landmark heatmaps, all
through tanh. The input is the masked crop (hole filled with noise, 4.1) plus the mask channel.

``generator = "residual-unet"`` is the quality recipe's form (``engine.models.residual_unet``):
the hole prefilled by Telea, a GroupNorm U-Net whose zero-initialised image head adds a residual
to the prefill, and the parsing and heatmap tasks as further head channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engine.errors import ConfigError
from engine.models.base import CropCompletion
from engine.models.face_analysis import NUM_PARSING_CLASSES
from engine.models.residual_unet import PREFILLS, ResidualUNet, prefill
from engine.models.torch_base import (
    TorchInpaintModel,
    crop_to_network,
    landmarks_to_network,
    network_to_crop,
    tensor_to_image,
)

TASKS = ("i", "s", "d")  # inpainting, segmentation (parsing), (landmark) detection
GENERATORS = ("pix2pix", "residual-unet")  # the paper's U-Net (3.4), the quality recipe's
NUM_HEATMAPS = 5  # CelebA's five landmarks (4.1)


@dataclass(frozen=True)
class CollaGANArchitecture:
    resolution: int = 128
    width: int = 64
    tasks: tuple[str, ...] = TASKS
    generator: str = "pix2pix"
    prefill: str = "noise"  # what the hole holds at the input (4.1: noise)

    def __post_init__(self) -> None:
        if self.generator not in GENERATORS or self.prefill not in PREFILLS:
            raise ConfigError(f"collaGAN generator must be one of {GENERATORS} and prefill one of {PREFILLS}, "
                             f"got {self.generator!r} / {self.prefill!r}")
        if "i" not in self.tasks or set(self.tasks) - set(TASKS):
            raise ConfigError(f"collaGAN tasks must include 'i' and be among {TASKS}, got {self.tasks}")
        if self.resolution < 16 or self.resolution & (self.resolution - 1):
            raise ConfigError(f"collaGAN needs a power-of-two resolution of at least 16, got {self.resolution}")

    @property
    def depth(self) -> int:
        """7 stride-2 convolutions at 128 px (3.4): down to 1 x 1, fewer for smaller crops."""
        return min(7, self.resolution.bit_length() - 1)

    @property
    def task_channels(self) -> dict[str, int]:
        sizes = {"i": 3, "s": NUM_PARSING_CLASSES, "d": NUM_HEATMAPS}
        return {t: sizes[t] for t in TASKS if t in self.tasks}


def split_tasks(output: Tensor, arch: CollaGANArchitecture) -> dict[str, Tensor]:
    """The stacked generator output as one tensor per task."""
    parts = torch.split(output, list(arch.task_channels.values()), dim=1)
    return dict(zip(arch.task_channels, parts))


class CollaGANGenerator(nn.Module):
    """U-Net after pix2pix: 4x4 stride-2 convs + BatchNorm + LeakyReLU down, transposed convs + ReLU up."""

    def __init__(self, arch: CollaGANArchitecture = CollaGANArchitecture()) -> None:
        super().__init__()
        self.arch = arch
        depth, w = arch.depth, arch.width
        widths = [w * min(2**i, 8) for i in range(depth)]
        self.down = nn.ModuleList()
        cin = 4  # masked RGB + mask
        for i, cout in enumerate(widths):
            innermost = i == depth - 1
            # The innermost map is 1 x 1: BatchNorm there would zero it for a batch of one, so it
            # is left out as in pix2pix (the paper says every layer; this is its practical form).
            layers = [nn.Conv2d(cin, cout, 4, 2, 1, bias=innermost)]
            if not innermost:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            self.down.append(nn.Sequential(*layers))
            cin = cout
        self.up = nn.ModuleList()
        for i in reversed(range(1, depth)):
            cin = widths[i] if i == depth - 1 else widths[i] * 2
            self.up.append(nn.Sequential(
                nn.ConvTranspose2d(cin, widths[i - 1], 4, 2, 1, bias=False), nn.BatchNorm2d(widths[i - 1]), nn.ReLU(True)
            ))
        out_channels = sum(arch.task_channels.values())
        self.head = nn.Sequential(nn.ConvTranspose2d(widths[0] * 2, out_channels, 4, 2, 1), nn.Tanh())

    def forward(self, masked: Tensor, mask: Tensor) -> Tensor:
        skips = []
        y = torch.cat([masked, mask], dim=1)
        for stage in self.down:
            y = stage(y)
            skips.append(y)
        for stage, skip in zip(self.up, reversed(skips[:-1])):
            y = torch.cat([stage(y), skip], dim=1)
        return self.head(y)


class CollaGANResidualGenerator(nn.Module):
    """The quality recipe's generator: (prefilled crop, mask) -> prefill + residual, then the task maps."""

    def __init__(self, arch: CollaGANArchitecture) -> None:
        super().__init__()
        self.arch = arch
        depth = min(6, arch.resolution.bit_length() - 3)  # down to 4 x 4
        self.unet = ResidualUNet(4, sum(arch.task_channels.values()), arch.width, depth)

    def forward(self, prefilled: Tensor, mask: Tensor) -> Tensor:
        raw = self.unet(torch.cat([prefilled, mask], dim=1))
        image = (prefilled + raw[:, :3].to(prefilled.dtype)).clamp(-1, 1)
        return torch.cat([image, torch.tanh(raw[:, 3:]).to(image.dtype)], dim=1)


def build_generator(arch: CollaGANArchitecture) -> nn.Module:
    """The generator an architecture record describes."""
    return CollaGANResidualGenerator(arch) if arch.generator == "residual-unet" else CollaGANGenerator(arch)


def fill_hole(image: Tensor, mask: Tensor, noise: Tensor | None) -> Tensor:
    """4.1: the hole holds uniform noise in [-1, 1] (block and noise masks) or zeros (``noise=None``)."""
    filler = torch.zeros_like(image) if noise is None else noise
    return image * (1 - mask) + filler * mask


def complete_tensor(net: nn.Module, arch: CollaGANArchitecture, image: Tensor, hole: Tensor,
                    generator: torch.Generator | None = None, landmarks=None) -> Tensor:
    """The composite completion of (N, 3, R, R) images in [-1, 1]: the network's image inside ``hole``
    (``landmarks``: (N, 68, 2) in the images' pixels, for the face-mirror prefill)."""
    output = split_tasks(net(prefill(image, hole, arch.prefill, generator, landmarks), hole), arch)["i"]
    return output * hole + image * (1 - hole)


class CollaGANInpainter(TorchInpaintModel):
    network_cls = staticmethod(build_generator)
    architecture_cls = CollaGANArchitecture

    @torch.no_grad()
    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None) -> list[CropCompletion]:
        device = self.net_device
        image, hole = crop_to_network(crop, mask, self.arch.resolution, device)
        points = landmarks_to_network(landmarks, crop.shape[1], self.arch.resolution)
        results = []
        for seed in seeds:
            generator = torch.Generator().manual_seed(seed)
            filled = prefill(image, hole, self.arch.prefill, generator, points)
            output = network_to_crop(self.net(filled, hole), crop.shape[:2])
            tasks = split_tasks(output, self.arch)
            extras = {}
            if "s" in tasks:
                extras["segmentation"] = tasks["s"][0].argmax(dim=0).to(torch.uint8).cpu().numpy()
            if "d" in tasks:
                extras["heatmaps"] = ((tasks["d"][0].float() + 1) / 2).clamp(0, 1).cpu().numpy()
            results.append(CropCompletion(image=tensor_to_image(tasks["i"][0]), seed=seed, extras=extras))
        return results
