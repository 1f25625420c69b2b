"""Perceptual features for the losses of PD-GAN, MDE and friends.

``PerceptualFeatures`` is a frozen feature stack fed images in [-1, 1]. Its source, best first:

1. a standard VGG19 state dict (torchvision key layout ``features.N.weight``): the path given,
   or torch hub's cache ``checkpoints/vgg19-dcbb9e9d.pth``; read with ``weights_only=True``;
2. the encoder of our trained FaceAnalysisNet (a ``.safetensors`` path, or the manifest's
   "face-analysis"): a face-specific stand-in when no VGG weights can be had offline;
3. a randomly initialised VGG19, with a warning: enough for tests, not for real training.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.errors import WeightsError

log = logging.getLogger(__name__)

VGG19_HUB_FILE = "vgg19-dcbb9e9d.pth"
# torchvision's vgg19().features: channel counts, "M" = max pooling.
VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
# Outputs relu1_1 .. relu5_1 (indices into ``features``), the usual perceptual and style layers.
VGG19_LAYERS = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu5_1": 29}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_features() -> nn.Sequential:
    """VGG19's convolutional part with torchvision's module indices (so its state dicts load)."""
    layers: list[nn.Module] = []
    cin = 3
    for item in VGG19_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, item, 3, padding=1), nn.ReLU(inplace=False)]
            cin = item
    return nn.Sequential(*layers)


def hub_vgg19_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_HUB_FILE


class PerceptualFeatures(nn.Module):
    """Frozen features of images in [-1, 1]: ``features(x) -> list[Tensor]``, fine to coarse."""

    def __init__(self, weights: str | Path | None = None, *, device="cpu", layers: tuple[str, ...] | None = None) -> None:
        super().__init__()
        self.source = "random"
        self.face_net = None
        self.vgg = None
        path = Path(weights) if weights is not None else None
        if path is not None and path.suffix == ".safetensors":
            self._use_face_analysis(path)
        elif path is not None:
            self._use_vgg(path)
        elif hub_vgg19_path().is_file():
            self._use_vgg(hub_vgg19_path())
        else:
            try:
                self._use_face_analysis("face-analysis")
            except WeightsError:
                log.warning("no VGG19 or face-analysis weights found: perceptual features come from a RANDOM "
                            "VGG19 (fine for tests, meaningless for real training; see training/perceptual.py)")
                self.vgg = vgg19_features()
        if self.vgg is not None:
            names = layers or tuple(VGG19_LAYERS)
            unknown = [n for n in names if n not in VGG19_LAYERS]
            if unknown:
                raise ValueError(f"unknown VGG19 layers {unknown}; choose from {', '.join(VGG19_LAYERS)}")
            self.taps = sorted(VGG19_LAYERS[n] for n in names)
            self.vgg = self.vgg[: self.taps[-1] + 1]
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()
        self.to(device)

    def _use_vgg(self, path: Path) -> None:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise WeightsError(f"VGG19 weights {path} not found") from None
        except Exception as err:
            raise WeightsError(f"VGG19 weights {path} cannot be read safely: {err}") from None
        features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
        self.vgg = vgg19_features()
        try:
            self.vgg.load_state_dict(features)
        except RuntimeError as err:
            raise WeightsError(f"{path} is not a torchvision VGG19 state dict: {err}") from None
        self.source = f"vgg19 ({path})"

    def _use_face_analysis(self, source) -> None:
        from engine.models.face_analysis import load_face_analysis

        self.face_net, _ = load_face_analysis(source)
        self.source = f"face-analysis ({source})"

    def train(self, mode: bool = True) -> "PerceptualFeatures":
        return super().train(False)  # frozen: batch norm keeps its running statistics

    def forward(self, x: Tensor) -> list[Tensor]:
        if self.face_net is not None:
            return self.face_net.features(x)
        y = ((x + 1) / 2 - self.mean) / self.std
        outputs = []
        for index, layer in enumerate(self.vgg):
            y = layer(y)
            if index in self.taps:
                outputs.append(y)
        return outputs


_default_features: dict[str, PerceptualFeatures] = {}


def perceptual_loss(
    x: Tensor, y: Tensor, layers: tuple[str, ...] | None = None, weights: list[float] | None = None,
    *, features: PerceptualFeatures | None = None,
) -> Tensor:
    """Weighted sum of L1 distances between the features of ``x`` and of ``y`` (the target, detached).

    Without ``features``, a default ``PerceptualFeatures(layers=layers)`` is built once per device.
    """
    if features is None:
        key = f"{x.device}|{layers}"
        if key not in _default_features:
            _default_features[key] = PerceptualFeatures(device=x.device, layers=layers)
        features = _default_features[key]
    fx, fy = features(x), features(y)
    weights = weights or [1.0] * len(fx)
    if len(weights) != len(fx):
        raise ValueError(f"{len(weights)} weights for {len(fx)} feature layers")
    return sum(w * F.l1_loss(a, b.detach()) for w, a, b in zip(weights, fx, fy))
