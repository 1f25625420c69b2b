"""Batches drawn on the device: the pack's own pixels and landmarks when nothing is augmented,
image, mask and landmarks moving together when something is, and the same batch for the same step."""

from __future__ import annotations

import numpy as np
import torch

from training.config import TrainConfig


def batches(tmp_path, face_folder, landmark_cache, **overrides):
    from training.data import build_datasets
    from training.device_batches import DeviceBatches
    from training.pack import build_pack

    build_pack([str(face_folder)], tmp_path / "pack", resolution=64, encoding="raw", cache_dir=landmark_cache, workers=0)
    cfg = TrainConfig(pack=str(tmp_path / "pack"), out=str(tmp_path / "run"), resolution=64, val_fraction=0.3,
                      mask_mix={"block": 1.0, "preset": 1.0}, device_batches=True, **overrides)
    train, _, _ = build_datasets(cfg)
    return DeviceBatches(train, cfg, torch.device("cpu"), None), train

def test_without_augmentation_a_batch_is_the_packs_own_faces(tmp_path, face_folder, landmark_cache):
    from engine.face.labels import heatmaps5

    source, train = batches(tmp_path, face_folder, landmark_cache, augment=False)
    batch = source.next_batch(0, 4, 64)
    for row, index in enumerate(batch["index"].tolist()):
        face = train.indices[index]
        expected = torch.from_numpy(np.asarray(train.pack.crops[face])).permute(2, 0, 1).float() / 127.5 - 1
        assert torch.allclose(batch["image"][row], expected, atol=1e-4)
        assert torch.allclose(batch["landmarks"][row], torch.from_numpy(train.pack.landmarks[face]), atol=1e-3)
        target = torch.from_numpy(heatmaps5(train.pack.landmarks[face], (64, 64)))
        assert torch.allclose(batch["heatmaps5"][row], target, atol=1e-3)
    assert set(batch["mask"].unique().tolist()) <= {0.0, 1.0} and batch["mask"].sum() > 0

def test_augmented_landmarks_follow_the_image(tmp_path, face_folder, landmark_cache):
    """Where the warped heatmap peaks, the warped landmarks are: image-space warps and point warps agree."""
    source, _ = batches(tmp_path, face_folder, landmark_cache, augment=True)
    batch = source.next_batch(3, 6, 64)
    assert torch.equal(batch["image"], source.next_batch(3, 6, 64)["image"])  # the same step, the same batch
    assert not torch.equal(batch["image"], source.next_batch(4, 6, 64)["image"])
    mask_pixels = batch["mask"].sum(dim=(1, 2, 3))
    assert (mask_pixels > 0).all()
    # A label map drawn from the landmarks before the warp, warped with the image: its mouth is where
    # the warped landmarks put the mouth.
    parsing = batch["parsing"]
    eyes_x = batch["landmarks"][:, 36:42, 0].mean(1), batch["landmarks"][:, 42:48, 0].mean(1)
    assert (eyes_x[0] < eyes_x[1]).all()  # mirrored or not, points 36-41 stay the image-left eye
    for row in range(6):
        mouth = batch["landmarks"][row, 48:60].mean(0).round().long().clamp(0, 63)
        assert parsing[row, mouth[1], mouth[0]] in (5, 6, 7), parsing[row, mouth[1], mouth[0]]  # lips or mouth

def test_lower_resolution_batches(tmp_path, face_folder, landmark_cache):
    source, _ = batches(tmp_path, face_folder, landmark_cache)
    batch = source.next_batch(0, 2, 32)
    assert batch["image"].shape == (2, 3, 32, 32) and batch["mask"].shape == (2, 1, 32, 32)
    assert batch["landmarks"].max() < 40
