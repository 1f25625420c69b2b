"""FaceAnalysisNet: 68 landmark heatmaps and an 8-class parsing map from one face crop.

No pretrained face parser, FAN or VGG weights can be had offline, yet GFC (parsing regulariser),
PD-GAN and the DCGAN search (landmark losses) and the perceptual losses need one, so we train this
compact U-Net ourselves (``faceinpaint-train face-analysis``; weights name "face-analysis").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.errors import ConfigError
from engine.models.torch_base import load_network

NUM_LANDMARKS = 68
NUM_PARSING_CLASSES = 8  # engine.face.labels.PARSING_CLASSES


# -- the network --------------------------------------------------------------------------------
@dataclass(frozen=True)
class FaceAnalysisArchitecture:
    resolution: int = 128
    width: int = 32
    depth: int = 4  # stride-2 stages of the encoder

    def __post_init__(self) -> None:
        if self.resolution % (2**self.depth):
            raise ConfigError(f"resolution {self.resolution} is not divisible by 2**depth = {2**self.depth}")


def _conv_block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class FaceAnalysisNet(nn.Module):
    """U-Net: input a crop in [-1, 1]; outputs 68 heatmaps (sigmoid, [0, 1]) and 8 parsing logits."""

    def __init__(self, arch: FaceAnalysisArchitecture = FaceAnalysisArchitecture()) -> None:
        super().__init__()
        self.arch = arch
        widths = [arch.width * min(2**i, 8) for i in range(arch.depth + 1)]
        self.stem = _conv_block(3, widths[0])
        self.down = nn.ModuleList(_conv_block(widths[i], widths[i + 1], stride=2) for i in range(arch.depth))
        self.up = nn.ModuleList(
            _conv_block(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(arch.depth))
        )
        self.heatmap_head = nn.Conv2d(widths[0], NUM_LANDMARKS, 1)
        self.parsing_head = nn.Conv2d(widths[0], NUM_PARSING_CLASSES, 1)

    def features(self, x: Tensor) -> list[Tensor]:
        """Encoder activations, fine to coarse: the face-specific perceptual features."""
        feats = [self.stem(x)]
        for stage in self.down:
            feats.append(stage(feats[-1]))
        return feats

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        feats = self.features(x)
        y = feats[-1]
        for stage, skip in zip(self.up, reversed(feats[:-1])):
            y = stage(torch.cat([F.interpolate(y, size=skip.shape[-2:], mode="nearest"), skip], dim=1))
        return torch.sigmoid(self.heatmap_head(y)), self.parsing_head(y)


def heatmap_landmarks(heatmaps: Tensor, temperature: float = 0.02) -> Tensor:
    """Differentiable soft-argmax: (B, L, H, W) heatmaps -> (B, L, 2) x, y in pixels.

    Each map is scaled to a peak of 1 and sharpened by a softmax with a small temperature, so the
    thousands of background pixels cannot outweigh the peak even when a network's peaks are low.
    """
    b, n, h, w = heatmaps.shape
    scaled = heatmaps.float() / heatmaps.float().amax(dim=(2, 3), keepdim=True).clamp_min(1e-6)
    weights = torch.softmax(scaled.reshape(b, n, h * w) / temperature, dim=-1).reshape(b, n, h, w)
    xs = torch.arange(w, device=heatmaps.device, dtype=weights.dtype)
    ys = torch.arange(h, device=heatmaps.device, dtype=weights.dtype)
    return torch.stack([(weights.sum(dim=2) * xs).sum(-1), (weights.sum(dim=3) * ys).sum(-1)], dim=-1)


def load_face_analysis(source="face-analysis", *, device="cpu") -> tuple[FaceAnalysisNet, FaceAnalysisArchitecture]:
    """The trained network from a weights file or the manifest (raises WeightsError naming the file)."""
    return load_network(source, FaceAnalysisNet, FaceAnalysisArchitecture, device=device)
