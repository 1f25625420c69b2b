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


# (encoder stage, pooled grid) pairs the landmark regressor reads: stages 2-4 (1/4 to 1/16 of the
# crop) pooled to 4 x 4 cells, 5,120 numbers at width 16. A ridge fit on these over 8,000 training
# crops reached 0.034 NME on 115 held-out faces; 8 x 8 cells (14,336 numbers, 7.8 MB of weights)
# reached 0.033.
REGRESSION_POOLS = ((2, 4), (3, 4), (4, 4))


# -- the network --------------------------------------------------------------------------------
@dataclass(frozen=True)
class FaceAnalysisArchitecture:
    resolution: int = 128
    width: int = 32
    depth: int = 4  # stride-2 stages of the encoder
    # The quality recipe: heads start at zero on top of the training set's mean face (landmark
    # heatmaps around the mean aligned landmarks, per-pixel log class frequencies), so an untrained
    # network already answers with the mean face (on aligned crops ~0.09 NME) and learns the offsets.
    mean_face_prior: bool = False
    # Landmark regression: a linear map from pooled encoder features (REGRESSION_POOLS) to the 68
    # points moves the prior's Gaussians from the mean face to this face's landmarks. Linear
    # regression on image features is the supervised-descent idea (Xiong & De la Torre 2013); it can
    # be solved in closed form on frozen features (training.face_analysis), which a heatmap head
    # trained on 2 CPU cores never caught up with (0.091 NME against 0.094 for the mean face).
    landmark_regression: bool = False

    def __post_init__(self) -> None:
        if self.resolution % (2**self.depth):
            raise ConfigError(f"resolution {self.resolution} is not divisible by 2**depth = {2**self.depth}")
        if self.landmark_regression and not self.mean_face_prior:
            raise ConfigError("landmark_regression moves the mean-face prior: it needs mean_face_prior")
        if self.landmark_regression and self.depth < max(level for level, _ in REGRESSION_POOLS):
            raise ConfigError(f"landmark_regression reads encoder stage {max(level for level, _ in REGRESSION_POOLS)}: "
                              f"depth must be at least that, not {self.depth}")

    def regression_features(self) -> int:
        """Length of the pooled feature vector the landmark regressor reads."""
        widths = [self.width * min(2**i, 8) for i in range(self.depth + 1)]
        return sum(widths[level] * grid * grid for level, grid in REGRESSION_POOLS)



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
        heads = [self.heatmap_head, self.parsing_head]
        if arch.landmark_regression:
            self.landmark_regressor = nn.Linear(arch.regression_features(), NUM_LANDMARKS * 2)
            heads.append(self.landmark_regressor)
        if arch.mean_face_prior:
            size = arch.resolution
            self.register_buffer("mean_landmarks", torch.full((NUM_LANDMARKS, 2), size / 2.0))
            self.register_buffer("parsing_prior", torch.zeros(NUM_PARSING_CLASSES, size, size))
            for head in heads:  # an untrained network answers with the mean face
                nn.init.zeros_(head.weight)
                nn.init.zeros_(head.bias)

    @torch.no_grad()
    def set_mean_face(self, landmarks: Tensor, parsing: Tensor) -> None:
        """The prior from training labels: (N, 68, 2) landmarks in crop pixels, (N, H, W) class maps."""
        self.mean_landmarks.copy_(landmarks.float().mean(dim=0))
        counts = F.one_hot(parsing.long(), NUM_PARSING_CLASSES).float().sum(dim=0).permute(2, 0, 1)
        self.parsing_prior.copy_(torch.log((counts + 1.0) / (parsing.shape[0] + NUM_PARSING_CLASSES)))

    def landmark_prior_logits(self, size: tuple[int, int], points: Tensor | None = None) -> Tensor:
        """Gaussians (the training targets' sigma) at ``points`` ((..., 68, 2) in pixels of the
        architecture's resolution; default the mean landmarks), as logits from -4 (background, where
        the sigmoid's slope still lets a peak grow) to +4 (the point). Differentiable in ``points``."""
        from engine.face.labels import default_sigma

        h, w = size
        points = self.mean_landmarks if points is None else points.float()
        scale = torch.tensor([w / self.arch.resolution, h / self.arch.resolution], device=points.device)
        points = points * scale
        sigma = default_sigma((h, w))
        xs = torch.arange(w, device=points.device, dtype=torch.float32)
        ys = torch.arange(h, device=points.device, dtype=torch.float32)
        gx = torch.exp(-((xs - points[..., :1]) ** 2) / (2 * sigma**2))
        gy = torch.exp(-((ys - points[..., 1:]) ** 2) / (2 * sigma**2))
        return 8.0 * gy[..., :, None] * gx[..., None, :] - 4.0

    def pooled_features(self, feats: list[Tensor]) -> Tensor:
        """(B, regression_features) vector the landmark regressor reads, from ``features``' output."""
        return torch.cat([F.adaptive_avg_pool2d(feats[level], grid).flatten(1) for level, grid in REGRESSION_POOLS], 1)

    def regressed_landmarks(self, feats: list[Tensor]) -> Tensor:
        """(B, 68, 2) landmarks in pixels of the architecture's resolution: the mean face moved by the regressor."""
        pooled = self.pooled_features(feats).float()
        with torch.autocast(pooled.device.type, enabled=False):  # coordinates want fp32 (bf16 keeps ~0.1 px)
            offsets = self.landmark_regressor(pooled).view(-1, NUM_LANDMARKS, 2)
        return self.mean_landmarks + offsets

    def features(self, x: Tensor) -> list[Tensor]:
        """Encoder activations, fine to coarse: the face-specific perceptual features."""
        feats = [self.stem(x)]
        for stage in self.down:
            feats.append(stage(feats[-1]))
        return feats

    def forward(self, x: Tensor, with_landmarks: bool = False):
        """Heatmaps and parsing logits; ``with_landmarks`` adds the regressed landmarks ((B, 68, 2)
        pixels; None without the regressor). A flag of forward, not another method, so a DDP-wrapped
        network still synchronises the gradients of a training step that reads them."""
        feats = self.features(x)
        points = self.regressed_landmarks(feats) if self.arch.landmark_regression else None
        y = feats[-1]
        for stage, skip in zip(self.up, reversed(feats[:-1])):
            y = stage(torch.cat([F.interpolate(y, size=skip.shape[-2:], mode="nearest"), skip], dim=1))
        heatmap_logits, parsing = self.heatmap_head(y), self.parsing_head(y)
        if self.arch.mean_face_prior:
            size = heatmap_logits.shape[-2:]
            prior = self.parsing_prior
            if tuple(prior.shape[-2:]) != tuple(size):
                prior = F.interpolate(prior[None], size=size, mode="bilinear", align_corners=False)[0]
            heatmap_logits = heatmap_logits + self.landmark_prior_logits(tuple(size), points).to(heatmap_logits.dtype)
            parsing = parsing + prior.to(parsing.dtype)
        heatmaps = torch.sigmoid(heatmap_logits)
        return (heatmaps, parsing, points) if with_landmarks else (heatmaps, parsing)


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
