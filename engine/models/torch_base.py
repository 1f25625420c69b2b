"""What every learned (PyTorch) model of the engine shares.

``TorchInpaintModel`` loads its network from a weights file whose metadata records the
architecture (so narrow test networks and full ones load the same way) and moves it to the CPU
after an out-of-memory error; the helpers convert crops to and from the networks' tensors.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.errors import WeightsError
from engine.face.align import resize_points
from engine.models.base import InpaintModel
from engine.weights import build_checked, load_state_dict, match_module


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
    """Read weights (path or manifest name) once, build the network its metadata describes (matched
    on the meta device first, so a file cannot make us allocate more than it holds), check every
    key and shape against it, load, and return it in eval mode with its architecture."""
    tensors, metadata = load_state_dict(source, device="cpu")
    arch = architecture_from_metadata(arch_cls, metadata, str(source))
    net = build_checked(build, arch, tensors, source)
    net.load_state_dict(match_module(source, tensors, net))
    return net.to(device).eval(), arch


def image_to_tensor(image: np.ndarray, device) -> Tensor:
    """uint8 H x W x 3 -> (1, 3, H, W) float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def tensor_to_image(tensor: Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> uint8 H x W x 3."""
    return ((tensor.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def crop_to_network(crop: np.ndarray, mask: np.ndarray, size: int, device) -> tuple[Tensor, Tensor]:
    """The crop in [-1, 1] and its hole (1 = missing) at the network's size.

    Weights may be trained at another size than the crop the engine aligns (narrow test networks
    at 64 px): the crop is resized, and a resized pixel is a hole if any part of it was.
    """
    image = image_to_tensor(crop, device)
    hole = torch.from_numpy((mask > 127).astype(np.float32)).to(device)[None, None]
    if image.shape[-1] != size:
        image = F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        hole = (F.interpolate(hole, size=(size, size), mode="area") > 0).float()
    return image, hole


def landmarks_to_network(landmarks, crop_size: int, size: int) -> np.ndarray | None:
    """(N, 68, 2) landmarks (array or tensor; one (68, 2) set is batched as N = 1) in the pixels of
    the network's ``size``, as ``crop_to_network`` resizes a ``crop_size`` crop; None stays None."""
    if landmarks is None:
        return None
    if isinstance(landmarks, Tensor):
        landmarks = landmarks.detach().float().cpu().numpy()
    points = resize_points(landmarks, crop_size, size)
    return points if points.ndim == 3 else points[None]


def network_to_crop(output: Tensor, shape: tuple[int, int]) -> Tensor:
    """A network's (N, C, h, w) output resized to the crop's (H, W) when they differ."""
    if output.shape[-2:] != tuple(shape):
        output = F.interpolate(output, size=tuple(shape), mode="bilinear", align_corners=False)
    return output


class TorchInpaintModel(InpaintModel):
    """An ``InpaintModel`` whose network is built from its weights file's architecture record.

    Subclasses name ``network_cls`` (built from an architecture) and ``architecture_cls``; after
    ``load()`` they have ``self.net`` (eval mode, on ``self.device``) and ``self.arch``.
    """

    network_cls: ClassVar[Callable[[Any], nn.Module]]
    architecture_cls: ClassVar[type]

    def weights_source(self) -> Any:
        """What to load: the user's file, else the manifest name."""
        return self.weights_path if self.weights_path is not None else self.info.weights_name

    def _load(self) -> None:
        self.net, self.arch = load_network(
            self.weights_source(), self.network_cls, self.architecture_cls, device=self.device
        )

    def _networks(self) -> list[nn.Module]:
        """Every network this model holds (subclasses with auxiliary networks extend it)."""
        return [self.net]

    def to_cpu(self) -> None:
        super().to_cpu()
        if self._loaded:
            for net in self._networks():
                net.to("cpu")

    @property
    def net_device(self) -> torch.device:
        return next(self.net.parameters()).device
