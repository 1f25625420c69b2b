"""GFC, Generative Face Completion (Li et al. 2017): encoder-decoder with a bottleneck.

Encoder: VGG-19's conv1_1 .. pool3 (2, 2 and 4 3x3 convs with max pooling), two more convs and a
pool, then a fully connected bottleneck; the decoder mirrors it with upsampling. The input is the
crop with its hole filled with noise, as in the paper (the generator is not told where the hole is).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engine.errors import ConfigError
from engine.models.base import CropCompletion
from engine.models.torch_base import TorchInpaintModel, crop_to_network, network_to_crop, tensor_to_image

# VGG-19 up to pool3 plus GFC's two extra convs: (convs, channel multiple of ``width``) per stage.
ENCODER_STAGES = ((2, 1), (2, 2), (4, 4), (2, 8))


@dataclass(frozen=True)
class GFCArchitecture:
    resolution: int = 128
    width: int = 64  # VGG's 64
    bottleneck: int = 512  # the paper does not give the FC size; 512 keeps the FC layers at ~17M weights

    def __post_init__(self) -> None:
        if self.resolution % 16:
            raise ConfigError(f"GFC needs a resolution divisible by 16, got {self.resolution}")

    @property
    def coarse(self) -> int:
        return self.resolution // 16


def _convs(cin: int, cout: int, count: int, norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for k in range(count):
        layers.append(nn.Conv2d(cin if k == 0 else cout, cout, 3, 1, 1))
        if norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU(inplace=True))
    return layers


class GFCGenerator(nn.Module):
    def __init__(self, arch: GFCArchitecture = GFCArchitecture()) -> None:
        super().__init__()
        self.arch = arch
        w, c = arch.width, arch.coarse
        encoder, cin = [], 3
        for count, mult in ENCODER_STAGES:
            encoder += _convs(cin, w * mult, count, norm=False) + [nn.MaxPool2d(2)]  # VGG has no BatchNorm
            cin = w * mult
        self.encoder = nn.Sequential(*encoder)
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(cin * c * c, arch.bottleneck), nn.ReLU(inplace=True),
            nn.Linear(arch.bottleneck, cin * c * c), nn.ReLU(inplace=True),
        )
        decoder = []
        stages = list(reversed(ENCODER_STAGES))
        for k, (count, mult) in enumerate(stages):
            cout = w * stages[k + 1][1] if k + 1 < len(stages) else w
            decoder += [nn.Upsample(scale_factor=2, mode="nearest")] + _convs(cin, cout, count, norm=True)
            cin = cout
        self.decoder = nn.Sequential(*decoder, nn.Conv2d(cin, 3, 3, 1, 1), nn.Tanh())

    def forward(self, masked: Tensor) -> Tensor:
        code = self.encoder(masked)
        return self.decoder(self.fc(code).view_as(code))


def noise_fill(image: Tensor, mask: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """The hole replaced by uniform noise in [-1, 1]."""
    noise = torch.rand(image.shape, generator=generator).to(image.device) * 2 - 1
    return image * (1 - mask) + noise * mask


class GFCInpainter(TorchInpaintModel):
    network_cls = GFCGenerator
    architecture_cls = GFCArchitecture

    @torch.no_grad()
    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel) -> list[CropCompletion]:
        image, hole = crop_to_network(crop, mask, self.arch.resolution, self.net_device)
        out = network_to_crop(self.net(noise_fill(image, hole, torch.Generator().manual_seed(seeds[0]))), crop.shape[:2])
        return [CropCompletion(image=tensor_to_image(out[0]), seed=seeds[0])]
