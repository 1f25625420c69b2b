"""Training batches drawn on the training device from a face pack held there as uint8.

A large GPU steps through a batch in milliseconds; decoding, warping and masking faces one by one
in Python would leave it idle. So the pack's crops and landmarks move to the device once, every
per-face mask that depends on the face (the landmark presets) and every label map (parsing, skin)
is drawn once on the CPU, the face-independent masks (blocks, strokes, irregular, channel-wise)
come from a bank drawn once, and each batch is gathered, augmented (one affine warp of image,
mask and labels together, a mirror with the landmark permutation) and resized on the device.
The randomness of step ``k`` comes from ``(seed, k)`` alone, so a resumed run draws the batches
an uninterrupted one would have drawn.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from training.config import TrainConfig

BANK_SIZE = 512  # face-independent masks drawn once per kind (fewer for tiny packs: 8 a face)
PRESET_BANK_BYTES = 1 << 30  # at most this much memory for the per-face preset masks
FIVE_POINTS = ((36, 42), (42, 48), (30, 31), (48, 49), (54, 55))  # index ranges averaged, ``five_points`` order


class DeviceBatches:
    """``next_batch(step)`` -> a training batch with ``FaceDataset``'s keys, drawn on ``device``."""

    def __init__(self, dataset, cfg: TrainConfig, device: torch.device, keys: frozenset[str] | None) -> None:
        from training.data import FLIP_68, MASK_KINDS

        self.cfg, self.device, self.keys = cfg, device, keys
        self.mask_kinds_all = MASK_KINDS
        pack, indices = dataset.pack, dataset.indices
        self.size_native = pack.resolution
        self.count = len(indices)
        self.crops = torch.from_numpy(np.ascontiguousarray(pack.crops[indices])).to(device)  # N P P 3 uint8
        self.landmarks = torch.from_numpy(pack.landmarks[indices]).to(device)  # N 68 2, pack pixels
        self.flip = torch.as_tensor(FLIP_68, device=device)
        self.kinds, weights = dataset.mask_kinds, dataset.mask_weights
        self.kind_weights = torch.as_tensor(weights, dtype=torch.float32, device=device)
        self._draw_banks(dataset)
        self.parsing = self._labels(dataset, "parsing") if keys is None or "parsing" in keys else None
        self.skin = self._labels(dataset, "skin") if keys is None or "skin" in keys else None

    # -- drawn once ---------------------------------------------------------------------------------
    def _draw_banks(self, dataset) -> None:
        """Face-independent masks per kind, and a few jittered landmark presets per face (CPU, once)."""
        rng = np.random.default_rng(self.cfg.seed)
        dataset.size = self.size_native
        points = dataset.pack.landmarks[dataset.indices]
        self.bank: dict[str, Tensor] = {}
        self.bank_boxes: dict[str, Tensor] = {}
        self.bank_size = min(BANK_SIZE, 8 * self.count)
        for kind in self.kinds:
            if kind == "preset":
                continue
            dataset.mask_kinds, dataset.mask_weights = [kind], np.ones(1)
            drawn = [dataset._mask(rng, points[0]) for _ in range(self.bank_size)]
            masks = np.stack([m if m.ndim == 3 else m[:, :, None] for m, _, _ in drawn])
            self.bank[kind] = torch.from_numpy(masks > 127).permute(0, 3, 1, 2).to(self.device)
            self.bank_boxes[kind] = torch.from_numpy(np.stack([b for _, b, _ in drawn])).to(self.device)
        if "preset" in self.kinds:
            per_face = int(np.clip(PRESET_BANK_BYTES // max(1, self.count * self.size_native**2), 1, 11))
            masks = np.stack([[dataset._preset_mask(points[i], rng, 0) > 127 for _ in range(per_face)]
                              for i in range(self.count)])
            self.presets = torch.from_numpy(masks).to(self.device)  # N K P P bool
        dataset.mask_kinds, dataset.mask_weights = self.kinds, self.kind_weights.cpu().numpy()

    def _labels(self, dataset, key: str) -> Tensor:
        from engine.face.labels import parsing_map, skin_mask

        size = (self.size_native,) * 2
        make = parsing_map if key == "parsing" else skin_mask
        maps = np.stack([np.asarray(make(points, size), np.uint8) for points in dataset.pack.landmarks[dataset.indices]])
        return torch.from_numpy(maps).to(self.device)  # N P P uint8

    # -- every step ---------------------------------------------------------------------------------
    def next_batch(self, step: int, batch_size: int, size: int) -> dict[str, Tensor]:
        g = torch.Generator(device=self.device).manual_seed(int(self.cfg.seed) * 1_000_003 + int(step))
        dev = self.device

        def uniform(lo, hi, n=batch_size):
            return torch.rand(n, generator=g, device=dev) * (hi - lo) + lo

        index = torch.randint(self.count, (batch_size,), generator=g, device=dev)
        image = self.crops[index].permute(0, 3, 1, 2).float() / 127.5 - 1.0
        kind_index = torch.multinomial(self.kind_weights, batch_size, replacement=True, generator=g)
        channels = 3 if "channel" in self.kinds else 1
        mask = torch.zeros(batch_size, channels, self.size_native, self.size_native, device=dev)
        boxes = torch.zeros(batch_size, 3, 4, device=dev)
        for k, kind in enumerate(self.kinds):
            rows = (kind_index == k).nonzero().flatten()
            if len(rows) == 0:
                continue
            if kind == "preset":
                pick = torch.randint(self.presets.shape[1], (len(rows),), generator=g, device=dev)
                mask[rows] = self.presets[index[rows], pick][:, None].float().expand(-1, channels, -1, -1)
            else:
                pick = torch.randint(self.bank_size, (len(rows),), generator=g, device=dev)
                mask[rows] = self.bank[kind][pick].float().expand(-1, channels, -1, -1)
                boxes[rows] = self.bank_boxes[kind][pick]
        labels = {}
        if self.parsing is not None:
            labels["parsing"] = self.parsing[index][:, None].float()
        if self.skin is not None:
            labels["skin"] = self.skin[index][:, None].float()

        # One similarity (rotation, scale, shift) and a mirror for image, mask and labels alike.
        augment = self.cfg.augment
        from training.data import MAX_ROTATION_DEG, MAX_SHIFT, SCALE_RANGE

        angle = uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG) * math.pi / 180 if augment else torch.zeros(batch_size, device=dev)
        scale = uniform(*SCALE_RANGE) if augment else torch.ones(batch_size, device=dev)
        shift = (torch.rand(batch_size, 2, generator=g, device=dev) * 2 - 1) * MAX_SHIFT * 2 if augment \
            else torch.zeros(batch_size, 2, device=dev)
        flip = (torch.rand(batch_size, generator=g, device=dev) < 0.5) if augment else torch.zeros(batch_size, dtype=torch.bool, device=dev)
        # The forward warp is out = R(angle) * scale * mirror(in) + shift (normalised coordinates);
        # affine_grid wants its inverse, in = mirror(R(-angle) / scale * (out - shift)).
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        mirror = torch.where(flip, -1.0, 1.0)
        theta = torch.stack([
            torch.stack([mirror * cos, mirror * sin, -mirror * (cos * shift[:, 0] + sin * shift[:, 1])], 1),
            torch.stack([-sin, cos, -(-sin * shift[:, 0] + cos * shift[:, 1])], 1),
        ], 1)
        if size < self.size_native:  # anti-alias before sampling the smaller grid
            factor = self.size_native // size
            image = F.avg_pool2d(image, factor)
            mask = F.max_pool2d(mask, factor)  # a partly covered pixel is a hole
            labels = {k: F.interpolate(v, size=(size, size), mode="nearest") for k, v in labels.items()}
        grid = F.affine_grid(theta, (batch_size, 1, size, size), align_corners=False)
        image = F.grid_sample(image, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        mask = (F.grid_sample(mask, grid, mode="bilinear", padding_mode="zeros", align_corners=False) > 0.5).float()
        labels = {k: F.grid_sample(v, grid, mode="nearest", padding_mode="border", align_corners=False)
                  for k, v in labels.items()}

        # Landmarks: pack pixels -> normalised -> the forward transform -> output pixels.
        points = self.landmarks[index]
        norm = (points + 0.5) / self.size_native * 2 - 1
        a = torch.linalg.inv(torch.cat([theta, torch.tensor([0.0, 0.0, 1.0], device=dev).expand(batch_size, 1, 3)], 1))
        moved = norm @ a[:, :2, :2].transpose(1, 2) + a[:, :2, 2][:, None]
        points = (moved + 1) / 2 * size - 0.5
        points = torch.where(flip[:, None, None], points[:, self.flip], points)

        batch = {"image": image, "mask": mask, "mask_kind": torch.as_tensor(
            [self.mask_kinds_all.index(self.kinds[i]) for i in kind_index.tolist()], device=dev),
            "mask_boxes": boxes, "landmarks": points, "index": index}
        if "parsing" in labels:
            batch["parsing"] = labels["parsing"][:, 0].round().long()
        if "skin" in labels:
            batch["skin"] = labels["skin"]
        want = self.keys
        if want is None or "heatmaps5" in want:
            five = torch.stack([points[:, lo:hi].mean(1) for lo, hi in FIVE_POINTS], 1)
            batch["heatmaps5"] = heatmaps(five, size)
        if want is None or "heatmaps68" in want:
            batch["heatmaps68"] = heatmaps(points, size)
        return batch


def heatmaps(points: Tensor, size: int) -> Tensor:
    """(B, L, size, size) unnormalised Gaussians (peak 1) at (B, L, 2) points, the engine's sigma."""
    from engine.face.labels import default_sigma

    sigma = default_sigma((size, size))
    axis = torch.arange(size, device=points.device, dtype=torch.float32)
    gx = torch.exp(-((axis - points[..., :1]) ** 2) / (2 * sigma**2))
    gy = torch.exp(-((axis - points[..., 1:]) ** 2) / (2 * sigma**2))
    return gy[..., :, None] * gx[..., None, :]
