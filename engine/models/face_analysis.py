"""FaceAnalysisNet: 68 landmark heatmaps and an 8-class parsing map from one face crop.

No pretrained face parser, FAN or VGG weights can be had offline, yet GFC (parsing regulariser),
PD-GAN and the DCGAN search (landmark losses) and the perceptual losses need one, so we train this
compact U-Net ourselves (``faceinpaint-train face-analysis``; weights name "face-analysis").

This module also holds the few helpers the learned crop models share: architecture records in
the weights' metadata, loading a network from a weights file, and image <-> tensor conversion.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.errors import WeightsError

NUM_LANDMARKS = 68
NUM_PARSING_CLASSES = 8  # engine.face.labels.PARSING_CLASSES


# -- helpers shared by the learned crop models -------------------------------------------------
def architecture_from_metadata(cls, metadata: dict[str, Any], source: str):
    """Rebuild an architecture dataclass from a weights file's "architecture" entry."""
    raw = metadata.get("architecture")
    if raw is None:
        raise WeightsError(f"{source}: the weights file records no architecture")
    try:
        values = json.loads(raw) if isinstance(raw, str) else dict(raw)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known})
    except (ValueError, TypeError) as err:
        raise WeightsError(f"{source}: unusable architecture record ({err})") from None


def load_network(source, build: Callable[[Any], nn.Module], arch_cls, *, device="cpu") -> tuple[nn.Module, Any]:
    """Read weights (path or manifest name), build the network its metadata describes, load it, eval mode."""
    from engine.weights import load_state_dict

    _, metadata = load_state_dict(source, device="cpu")
    arch = architecture_from_metadata(arch_cls, metadata, str(source))
    net = build(arch)
    tensors, _ = load_state_dict(source, module=net, device="cpu")
    net.load_state_dict(tensors)
    return net.to(device).eval(), arch


def image_to_tensor(image: np.ndarray, device) -> Tensor:
    """uint8 H x W x 3 -> (1, 3, H, W) float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def tensor_to_image(tensor: Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> uint8 H x W x 3."""
    return ((tensor.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def weights_source(model) -> Any:
    """What to load for an engine model: the user's file, else the manifest name."""
    return model.weights_path if model.weights_path is not None else model.info.weights_name


# -- the network --------------------------------------------------------------------------------
@dataclass(frozen=True)
class FaceAnalysisArchitecture:
    resolution: int = 128
    width: int = 32
    depth: int = 4  # stride-2 stages of the encoder

    def __post_init__(self) -> None:
        if self.resolution % (2**self.depth):
            raise ValueError(f"resolution {self.resolution} is not divisible by 2**depth = {2**self.depth}")


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
