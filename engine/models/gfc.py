"""GFC, Generative Face Completion (Li et al. 2017): encoder-decoder with a bottleneck.

Encoder: VGG-19's conv1_1 .. pool3 (2, 2 and 4 3x3 convs with max pooling), two more convs and a
pool, then a fully connected bottleneck; the decoder mirrors it with upsampling. The input is the
crop with its hole filled with noise, as in the paper (the generator is not told where the hole is).

``residual = True`` is the quality recipe's form: the hole prefilled by Telea and the mask as a
fourth input channel, GroupNorm in the decoder, and a zero-initialised last convolution whose
output is added to the prefill (``engine.models.residual_unet``), so training starts at Telea.

``skips = True`` departs from the paper for quality at little compute: each decoder stage also
receives the encoder's features at its resolution through a 1x1 convolution (additive, as in a
U-Net; Ronneberger et al. 2015). Everything the paper's decoder sees passes the fully connected
bottleneck, so a narrow bottleneck can only add a blurred residual; the skips carry the local
context past it. They start at zero, so a file trained without them continues unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engine.errors import ConfigError
from engine.models.base import CropCompletion
from engine.models.residual_unet import PREFILLS, prefill
from engine.models.torch_base import (
    TorchInpaintModel,
    crop_to_network,
    landmarks_to_network,
    network_to_crop,
    tensor_to_image,
)

# VGG-19 up to pool3 plus GFC's two extra convs: (convs, channel multiple of ``width``) per stage.
ENCODER_STAGES = ((2, 1), (2, 2), (4, 4), (2, 8))


@dataclass(frozen=True)
class GFCArchitecture:
    resolution: int = 128
    width: int = 64  # VGG's 64
    bottleneck: int = 512  # the paper does not give the FC size; 512 keeps the FC layers at ~17M weights
    prefill: str = "noise"  # the paper's noise, or the recipe's "telea"
    residual: bool = False  # the recipe: mask input, GroupNorm decoder, prefill + zero-initialised residual
    skips: bool = False  # the recipe: zero-initialised additive encoder-to-decoder skips (not in the paper)

    def __post_init__(self) -> None:
        if self.resolution % 16:
            raise ConfigError(f"GFC needs a resolution divisible by 16, got {self.resolution}")
        if self.prefill not in PREFILLS:
            raise ConfigError(f"GFC prefill must be one of {PREFILLS}, got {self.prefill!r}")

    @property
    def coarse(self) -> int:
        return self.resolution // 16


def _convs(cin: int, cout: int, count: int, norm: str | None) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for k in range(count):
        layers.append(nn.Conv2d(cin if k == 0 else cout, cout, 3, 1, 1))
        if norm == "batch":
            layers.append(nn.BatchNorm2d(cout))
        elif norm == "group":
            layers.append(nn.GroupNorm(8 if cout % 8 == 0 else 1, cout))
        layers.append(nn.ReLU(inplace=True))
    return layers


class GFCGenerator(nn.Module):
    def __init__(self, arch: GFCArchitecture = GFCArchitecture()) -> None:
        super().__init__()
        self.arch = arch
        w, c = arch.width, arch.coarse
        encoder, cin = [], 4 if arch.residual else 3
        for count, mult in ENCODER_STAGES:
            encoder += _convs(cin, w * mult, count, norm=None) + [nn.MaxPool2d(2)]  # VGG has no BatchNorm
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
            decoder += [nn.Upsample(scale_factor=2, mode="nearest")] + _convs(
                cin, cout, count, norm="group" if arch.residual else "batch")
            cin = cout
        head = nn.Conv2d(cin, 3, 3, 1, 1)
        if arch.residual:
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        self.decoder = nn.Sequential(*decoder, head, nn.Identity() if arch.residual else nn.Tanh())
        # One 1x1 projection per decoder stage, from the encoder stage of the same resolution (deepest first).
        self.skips = nn.ModuleList()
        if arch.skips:
            encoder_channels = [w * mult for _, mult in reversed(ENCODER_STAGES)]
            decoder_inputs = [w * mult for _, mult in stages]
            for cin_skip, cout_skip in zip(encoder_channels, decoder_inputs):
                projection = nn.Conv2d(cin_skip, cout_skip, 1)
                nn.init.zeros_(projection.weight)
                nn.init.zeros_(projection.bias)
                self.skips.append(projection)

    def forward(self, filled: Tensor, mask: Tensor | None = None) -> Tensor:
        """``filled``: the crop with its hole prefilled; ``mask`` (1 = hole) is read by the residual form only."""
        x = torch.cat([filled, mask], dim=1) if self.arch.residual else filled
        if self.arch.skips:
            out = self._forward_with_skips(x)
        else:
            code = self.encoder(x)
            out = self.decoder(self.fc(code).view_as(code))
        return (filled + out.to(filled.dtype)).clamp(-1, 1) if self.arch.residual else out

    def _forward_with_skips(self, x: Tensor) -> Tensor:
        """The same layers in order, keeping each encoder stage's output before its pooling and adding
        its projection right after the decoder's upsampling to that resolution."""
        features = []
        for layer in self.encoder:
            if isinstance(layer, nn.MaxPool2d):
                features.append(x)
            x = layer(x)
        x = self.fc(x).view_as(x)
        stage = 0
        for layer in self.decoder:
            x = layer(x)
            if isinstance(layer, nn.Upsample):
                x = x + self.skips[stage](features[-1 - stage])
                stage += 1
        return x


class GFCInpainter(TorchInpaintModel):
    network_cls = GFCGenerator
    architecture_cls = GFCArchitecture

    @torch.no_grad()
    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None) -> list[CropCompletion]:
        image, hole = crop_to_network(crop, mask, self.arch.resolution, self.net_device)
        points = landmarks_to_network(landmarks, crop.shape[1], self.arch.resolution)
        filled = prefill(image, hole, self.arch.prefill, torch.Generator().manual_seed(seeds[0]), points)
        out = network_to_crop(self.net(filled, hole), crop.shape[:2])
        return [CropCompletion(image=tensor_to_image(out[0]), seed=seeds[0])]
