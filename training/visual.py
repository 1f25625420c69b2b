"""Sample grids: one row per validation face, columns masked input | output | composite | truth | tasks."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from engine.face.labels import PARSING_COLORS

IMAGE_COLUMNS = ("output", "composite")


def to_rgb(tensor: Tensor) -> np.ndarray:
    """One sample's task output as H x W x 3 uint8: images, parsing (labels or logits), heatmaps."""
    t = tensor.detach().float().cpu()
    if t.ndim == 2:  # label map
        return PARSING_COLORS[t.long().clamp(0, len(PARSING_COLORS) - 1).numpy()]
    if t.shape[0] == 3:
        return ((t.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    if t.shape[0] == len(PARSING_COLORS):
        return PARSING_COLORS[t.argmax(dim=0).numpy()]
    peak = t.max(dim=0).values  # heatmaps: the brightest of all channels
    if t.min() < 0:  # tanh-coded heatmaps in [-1, 1]
        peak = (peak + 1) / 2
    grey = (peak.clamp(0, 1) * 255).round().byte().numpy()
    return np.repeat(grey[:, :, None], 3, axis=2)


def sample_grid(batch: dict[str, Tensor], outputs: dict[str, Tensor]) -> np.ndarray:
    """The grid as one uint8 image; task outputs follow the four image columns in sorted order."""
    image, mask = batch["image"], batch["mask"]
    hole = mask if mask.shape[1] == 3 else mask.expand_as(image)
    masked = torch.where(hole > 0.5, torch.ones_like(image), image)  # hole shown white
    columns = [masked] + [outputs[k] for k in IMAGE_COLUMNS if k in outputs] + [image]
    tasks = sorted(k for k in outputs if k not in IMAGE_COLUMNS)
    rows = []
    for b in range(image.shape[0]):
        cells = [to_rgb(c[b]) for c in columns] + [to_rgb(outputs[k][b]) for k in tasks]
        rows.append(np.concatenate(cells, axis=1))
    return np.concatenate(rows, axis=0)
