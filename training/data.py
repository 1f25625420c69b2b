"""Face data for training: photo folders (``training.scanning``) or a face pack (``training.pack``)
-> augmented crops with masks and labels.

A sample is a dict of tensors (see ``FaceDataset.__getitem__``). Its randomness (augmentation,
mask) is drawn from ``(seed, epoch, index)``, so it is the same whatever the worker count and a
resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from engine.errors import FaceInpaintError
from engine.face.align import warp_affine_region
from engine.face.types import five_points
from training.config import TrainConfig
from training.pack import Pack, load_pack
from training.sampler import ResumableSampler  # noqa: F401  (re-exported: the trainer's sampler)
from training.scanning import FaceRecord, FolderCount, ScanReport, scan_folders

log = logging.getLogger(__name__)

MASK_KINDS = ("block", "pattern", "noise", "strokes", "irregular", "channel", "preset")
# What users paint and the evaluation uses: landmark presets, jittered in size and position.
PRESET_CASES = ("left-eye", "right-eye", "upper-face", "left-face", "right-face", "lower-face",
                "both-eyes", "mouth", "left-half", "right-half", "center-block")
PRESET_JITTER_SCALE = (0.85, 1.2)
PRESET_JITTER_SHIFT = 0.06  # fraction of the crop size


def preset_probabilities(weights: dict[str, float]) -> np.ndarray | None:
    """The chance of each of ``PRESET_CASES`` under ``preset_weights``; None when all are equal."""
    unknown = sorted(set(weights) - set(PRESET_CASES))
    bad = [name for name, w in weights.items() if not (isinstance(w, (int, float)) and math.isfinite(w) and w >= 0)]
    if unknown or bad:
        raise FaceInpaintError(f"preset_weights: unknown cases {unknown} or weights that are not numbers >= 0 {bad}; "
                               f"the cases are {', '.join(PRESET_CASES)}")
    values = np.array([float(weights.get(case, 1.0)) for case in PRESET_CASES])
    if values.sum() <= 0:
        raise FaceInpaintError("preset_weights: at least one case needs a weight above 0")
    return None if np.all(values == values[0]) else values / values.sum()


# Index permutation that mirrors the 68-point iBUG layout: after a horizontal flip, point k of
# the flipped face is point FLIP_68[k] of the original (jaw, brows, nose, eyes, lips reversed).
FLIP_68 = np.array(
    list(range(16, -1, -1))
    + list(range(26, 16, -1))
    + [27, 28, 29, 30]
    + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)

# Augmentation ranges. Seed 000 (section 4.1) names random shift, scale, rotation and flip but no
# magnitudes; these are the moderate values common in face pipelines of the time, small enough
# that eyes, nose and mouth stay inside the crop.
MAX_SHIFT = 0.06  # fraction of the crop size
SCALE_RANGE = (0.9, 1.1)
MAX_ROTATION_DEG = 10.0


def _held_out(path: str, fraction: float) -> bool:
    """Stable split by a hash of the file name: the same photo is always on the same side."""
    digest = hashlib.sha1(Path(path).name.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def build_datasets(cfg: TrainConfig) -> tuple["FaceDataset", "FaceDataset", ScanReport]:
    """Training and held-out datasets plus the counts for the model card."""
    if cfg.prefill in ("mirror", "face-mirror") and cfg.augment and cfg.jitter > 0:
        log.warning("mirror prefill with geometric jitter %.2f: shifted or tilted crops move the face's axis off "
                    "the centre column the mirror assumes; --set jitter=0 trains on the engine's alignment", cfg.jitter)
    if cfg.pack:
        return _pack_datasets(cfg)
    if not cfg.data:
        raise FaceInpaintError("no training data given: pass --data DIR (a folder of face photos) or --pack PACK")
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else Path(cfg.out) / "cache"
    records, counts = scan_folders(list(cfg.data), cache_dir, cfg.num_workers)
    if cfg.val_data:
        val_records, val_counts = scan_folders(list(cfg.val_data), cache_dir, cfg.num_workers)
        counts.update(val_counts)
        overlap = {r.path for r in records} & {r.path for r in val_records}
        if overlap:
            raise FaceInpaintError(f"{len(overlap)} held-out photo(s) are also training photos, e.g. {min(overlap)}: "
                                   "pass disjoint --data and --val-data folders")
        train_records = records
    else:
        train_records = [r for r in records if not _held_out(r.path, cfg.val_fraction)]
        val_records = [r for r in records if _held_out(r.path, cfg.val_fraction)]
    report = ScanReport(counts, len(train_records), len(val_records))
    log.info("data: %s", report.summary())
    return FaceDataset(train_records, cfg, train=True), FaceDataset(val_records, cfg, train=False), report


def _pack_datasets(cfg: TrainConfig) -> tuple["FaceDataset", "FaceDataset", ScanReport]:
    """Training and held-out sets of a face pack, split by the same file-name hash as photo folders."""
    if not cfg.aligned:
        raise FaceInpaintError("a pack holds aligned crops: loose crops (aligned = false) need --data photo folders")
    pack = load_pack(cfg.pack)
    held = np.array([_held_out(str(name), cfg.val_fraction) for name in pack.names], bool)
    counts = {s["data"]: FolderCount(found=s["photos"], usable=s["faces"]) for s in pack.info["sources"]}
    report = ScanReport(counts, int((~held).sum()), int(held.sum()))
    log.info("data (pack %s): %s", cfg.pack, report.summary())
    train = PackDataset(pack, np.flatnonzero(~held), cfg, train=True)
    val = PackDataset(pack, np.flatnonzero(held), cfg, train=False)
    return train, val, report


# -- samples ------------------------------------------------------------------------------------
class FaceDataset(Dataset):
    """Augmented face crops with their mask and labels.

    Keys of a sample: "image" (3,R,R) in [-1,1]; "mask" (1,R,R), or (3,R,R) when the mix holds
    channel-wise masks, 1 = missing; "mask_kind" index into MASK_KINDS; "mask_boxes" (3,4) per channel
    kept box (x0, y0, x1, y1 as fractions, ``engine.masks.channel_mask_boxes``; zeros for other kinds); "heatmaps5" (5,R,R) and "heatmaps68" (68,R,R) in
    [0,1]; "parsing" (R,R) long; "skin" (1,R,R); "landmarks" (68,2) crop pixels; "index".
    Held-out samples (``train=False``) are neither augmented nor random: the same every call.
    """

    def __init__(self, records: list[FaceRecord], cfg: TrainConfig, *, train: bool) -> None:
        self.records = records
        self.cfg = cfg
        self.train = train
        self.epoch = 0
        kinds = {k: w for k, w in cfg.mask_mix.items() if w > 0}
        unknown = sorted(set(kinds) - set(MASK_KINDS))
        if unknown or not kinds:
            raise FaceInpaintError(f"mask_mix: unknown or no mask kinds {unknown}; choose from {', '.join(MASK_KINDS)}")
        if "irregular" in kinds and not cfg.masks:
            # A new user has no masks folder: the engine's free-form strokes stand in for it.
            kinds["strokes"] = kinds.get("strokes", 0.0) + kinds.pop("irregular")
            if train:
                log.warning("mask_mix asks for irregular masks but no --masks folder was given: "
                            "using generated free-form strokes instead")
        self.mask_kinds = list(kinds)
        weights = np.array(list(kinds.values()), np.float64)
        self.mask_weights = weights / weights.sum()
        self.preset_probabilities = preset_probabilities(cfg.preset_weights)
        self.channel_wise = "channel" in kinds
        self._mask_folders = None
        self.keys: set[str] | None = None  # the sample keys to compute; None = all (see TrainMethod.batch_keys)
        self.size = cfg.resolution  # crop size; the trainer lowers it for the low-resolution part of a run

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def _source(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(image to warp, its 68 landmarks, base matrix to the crop or None = crop it from the landmarks)."""
        from engine.imageio import read_image

        record = self.records[index]
        return read_image(record.path), record.landmarks, None

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        from engine.face.labels import landmark_heatmaps, parsing_map, skin_mask

        size = self.size
        image, landmarks, base = self._source(index)
        rng = self._rng(index)
        matrix, flipped = self._geometry(landmarks, rng, base)
        crop = warp_affine_region(image, matrix, (size, size))  # as the engine crops: anti-aliased, reflected borders
        points = (landmarks @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
        if flipped:
            points = points[FLIP_68]  # the image-left eye of the mirror is the original's right eye
        mask, boxes, kind = self._mask(rng, points)
        channels = mask[:, :, None] if mask.ndim == 2 else mask
        if self.channel_wise and channels.shape[2] == 1:
            channels = np.repeat(channels, 3, axis=2)
        labels = {
            "heatmaps5": lambda: torch.from_numpy(landmark_heatmaps(five_points(points), (size, size))),
            "heatmaps68": lambda: torch.from_numpy(landmark_heatmaps(points, (size, size))),
            "parsing": lambda: torch.from_numpy(np.asarray(parsing_map(points, (size, size)), np.int64)),
            "skin": lambda: torch.from_numpy((np.asarray(skin_mask(points, (size, size))) > 0).astype(np.float32))[None],
        }
        sample = {
            "image": torch.from_numpy(crop).permute(2, 0, 1).float().div(127.5).sub(1.0),
            "mask": torch.from_numpy((channels > 127).astype(np.float32)).permute(2, 0, 1).contiguous(),
            "mask_kind": torch.tensor(MASK_KINDS.index(kind)),
            "mask_boxes": torch.from_numpy(boxes),
            "landmarks": torch.from_numpy(points),
            "index": torch.tensor(index),
        }
        for key, make in labels.items():
            if self.keys is None or key in self.keys:
                sample[key] = make()
        return sample

    def _rng(self, index: int) -> np.random.Generator:
        stream = (self.cfg.seed, self.epoch, index) if self.train else (self.cfg.seed, 10**6, index)
        return np.random.default_rng(stream)

    def geometry(self, index: int) -> tuple[np.ndarray, bool]:
        """The 2x3 source -> crop matrix of sample ``index`` this epoch, and whether it is mirrored."""
        _, landmarks, base = self._source(index)
        return self._geometry(landmarks, self._rng(index), base)

    def _geometry(self, landmarks: np.ndarray, rng: np.random.Generator, base: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
        size = self.size
        matrix = self._crop_matrix(landmarks, rng, base)
        flipped = bool(self.train and self.cfg.augment and rng.random() < 0.5)
        if flipped:
            matrix = np.array([[-1, 0, size - 1], [0, 1, 0]], np.float64) @ np.vstack([matrix, [0, 0, 1]])
        return matrix, flipped

    def _crop_matrix(self, landmarks: np.ndarray, rng: np.random.Generator, base: np.ndarray | None = None) -> np.ndarray:
        """2x3 source -> crop transform: ``base`` (a pack's stored crop), else aligned (engine
        template) or loose from the landmarks; then the augmentation."""
        size = self.size
        if base is None and self.cfg.aligned:
            from engine.face import alignment_matrix

            base = np.asarray(alignment_matrix(landmarks, size), np.float64)
        elif base is None:
            base = self._loose_crop(landmarks, rng)
        if not (self.train and self.cfg.augment and self.cfg.jitter > 0):
            return base
        strength = self.cfg.jitter
        angle = rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG) * strength
        low, high = SCALE_RANGE
        scale = rng.uniform(1 + (low - 1) * strength, 1 + (high - 1) * strength)
        jitter = cv2.getRotationMatrix2D(((size - 1) / 2, (size - 1) / 2), angle, scale)
        jitter[:, 2] += rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2) * size * strength
        return jitter @ np.vstack([base, [0, 0, 1]])

    def _loose_crop(self, landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Seed 000, 4.1: no alignment, only a square that surely holds brows, eyes, nose and mouth.

        The side is 1.3-1.7x the extent of those parts, placed at random wherever they stay inside
        (held-out crops are centred at 1.5x). In-plane rotation of the photo is kept.
        """
        size = self.size
        inner = landmarks[17:]
        lo, hi = inner.min(axis=0), inner.max(axis=0)
        extent = float((hi - lo).max())
        side = extent * (rng.uniform(1.3, 1.7) if self.train else 1.5)
        slack = side - (hi - lo)
        corner = lo - (rng.uniform(0.0, 1.0, 2) if self.train else np.full(2, 0.5)) * slack
        scale = size / side
        return np.array([[scale, 0, -corner[0] * scale], [0, scale, -corner[1] * scale]], np.float64)

    def _mask(self, rng: np.random.Generator, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
        """(mask, channel boxes, kind): boxes are engine.masks' (3, 4) kept boxes for channel masks, else zeros."""
        from engine import masks

        size, cfg = self.size, self.cfg
        kind = self.mask_kinds[int(rng.choice(len(self.mask_kinds), p=self.mask_weights))]
        seed = int(rng.integers(0, 2**31 - 1))
        shape = (size, size)
        no_boxes = np.zeros((3, 4), np.float32)
        if kind == "channel":
            mask, boxes = masks.channel_masks_and_boxes(shape, cfg.channel_mode, cfg.channel_area, seed=seed)
            return mask, boxes.astype(np.float32), kind
        if kind == "block":
            mask = masks.random_block(shape, block=max(4, round(cfg.block_size * size / 128)), seed=seed)
        elif kind == "pattern":
            mask = masks.random_pattern(shape, ratio=0.25, seed=seed)
        elif kind == "noise":
            mask = masks.random_noise(shape, ratio=0.8, seed=seed)
        elif kind == "strokes":
            mask = masks.brush_strokes(shape, seed=seed)
        elif kind == "preset":
            mask = self._preset_mask(points, rng, seed)
        else:
            if self._mask_folders is None:
                self._mask_folders = [masks.IrregularMaskFolder(folder) for folder in cfg.masks]
            mask = self._mask_folders[int(rng.integers(len(self._mask_folders)))].sample(shape, rng)
        return mask, no_boxes, kind


    def _preset_mask(self, points: np.ndarray, rng: np.random.Generator, seed: int) -> np.ndarray:
        """A landmark preset drawn on jittered landmarks: bigger or smaller, shifted a little."""
        from engine import masks

        size = self.size
        centre = points.mean(axis=0)
        scale = rng.uniform(*PRESET_JITTER_SCALE)
        shift = rng.uniform(-PRESET_JITTER_SHIFT, PRESET_JITTER_SHIFT, 2) * size
        jittered = (points - centre) * scale + centre + shift
        if self.preset_probabilities is None:
            case = PRESET_CASES[int(rng.integers(len(PRESET_CASES)))]
        else:
            case = PRESET_CASES[int(rng.choice(len(PRESET_CASES), p=self.preset_probabilities))]
        if case == "center-block":  # drawn from the crop, not the face: jitter its size and place directly
            side = int(round(size / 2 * scale))
            x0, y0 = (np.clip((size - side) / 2 + shift, 0, size - side)).astype(int)
            mask = np.zeros((size, size), np.uint8)
            mask[y0:y0 + side, x0:x0 + side] = masks.HOLE
            return mask
        return masks.preset_mask(case, jittered, (size, size), seed=seed)


class PackDataset(FaceDataset):
    """``FaceDataset`` over a face pack: the stored aligned crop replaces the photo, so a sample
    costs a 128 px warp instead of decoding and warping a photo, and needs no loader processes."""

    def __init__(self, pack: Pack, indices: np.ndarray, cfg: TrainConfig, *, train: bool) -> None:
        records = [FaceRecord(str(pack.names[i]), pack.landmarks[i]) for i in indices]
        super().__init__(records, cfg, train=train)
        self.pack: Pack = pack
        self.indices = np.asarray(indices)

    def _source(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        i = self.indices[index]
        scale = self.size / self.pack.resolution
        base = np.array([[scale, 0, (scale - 1) / 2], [0, scale, (scale - 1) / 2]], np.float64)  # pixel centres stay put
        return np.asarray(self.pack.crops[i]), self.pack.landmarks[i], base


def collate(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {key: torch.stack([s[key] for s in samples]) for key in samples[0]}
