
import numpy as np
import pytest
import torch

from engine.face.types import LEFT_EYE, RIGHT_EYE, five_points
from training.config import TrainConfig
from training.data import FLIP_68, MASK_KINDS, FaceDataset, build_datasets, collate
from training.sampler import ResumableSampler


def test_scan_counts_bad_files_and_nested_folders(tiny_config):
    train, val, report = build_datasets(tiny_config(TrainConfig))
    (count,) = report.folders.values()
    assert (count.found, count.usable, count.unreadable, count.no_face) == (7, 6, 1, 0)
    assert (len(train), len(val)) == (4, 2)
    assert {r.path for r in train.records}.isdisjoint(r.path for r in val.records)


def test_held_out_folders_must_not_overlap_training(tiny_config, face_folder):
    from engine.errors import FaceInpaintError

    with pytest.raises(FaceInpaintError, match="also training photos"):
        build_datasets(tiny_config(TrainConfig, val_data=[str(face_folder / "nested")]))


def test_sample_keys_shapes_and_ranges(tiny_config):
    train, _, _ = build_datasets(tiny_config(TrainConfig, mask_mix={"block": 1.0, "pattern": 1.0}))
    batch = collate([train[i] for i in range(len(train))])
    r = 64
    assert batch["image"].shape == (4, 3, r, r) and -1 <= batch["image"].min() and batch["image"].max() <= 1
    assert batch["mask"].shape == (4, 1, r, r) and set(batch["mask"].unique().tolist()) == {0.0, 1.0}
    assert batch["heatmaps5"].shape == (4, 5, r, r) and batch["heatmaps68"].shape == (4, 68, r, r)
    assert batch["parsing"].dtype == torch.long and batch["parsing"].shape == (4, r, r)
    assert 0 <= batch["parsing"].min() and batch["parsing"].max() <= 7
    assert batch["skin"].shape == (4, 1, r, r) and batch["landmarks"].shape == (4, 68, 2)
    assert batch["mask_boxes"].shape == (4, 3, 4)
    assert set(batch["mask_kind"].tolist()) <= {MASK_KINDS.index("block"), MASK_KINDS.index("pattern")}
    # each 5-point heatmap peaks on its landmark
    peaks = batch["heatmaps5"][0].flatten(1).argmax(1)
    expected = torch.from_numpy(five_points(batch["landmarks"][0].numpy())).round().long().clamp(0, r - 1)
    assert torch.equal(torch.stack([peaks % r, peaks // r], 1), expected)


def test_aligned_held_out_crops_match_the_engine_alignment(tiny_config):
    from engine.face import align_face
    from engine.imageio import read_image

    _, val, _ = build_datasets(tiny_config(TrainConfig, aligned=True))
    sample = val[0]
    photo = read_image(val.records[0].path)
    aligned = align_face(photo, val.records[0].landmarks, 64)
    assert np.abs(sample["landmarks"].numpy() - aligned.landmarks).max() < 1e-3
    crop = ((sample["image"].permute(1, 2, 0).numpy() + 1) * 127.5).round()
    assert np.abs(crop - aligned.crop.astype(np.float32)).max() <= 1.0
    assert torch.equal(val[0]["image"], sample["image"]) and torch.equal(val[0]["mask"], sample["mask"])


@pytest.mark.parametrize("jitter", [0.0, 1.0])
def test_jitter_zero_keeps_the_engine_alignment_up_to_a_flip(tiny_config, jitter):
    """The mirror prefill flips about the centre column: without jitter a training crop is the
    engine's aligned crop or its mirror image, exactly; the default jitter moves it."""
    from engine.face import alignment_matrix

    train, _, _ = build_datasets(tiny_config(TrainConfig, aligned=True, jitter=jitter))
    size = train.size
    flip = np.array([[-1, 0, size - 1], [0, 1, 0], [0, 0, 1]], np.float64)
    moved = 0
    for i in range(len(train)):
        matrix, mirrored = train.geometry(i)
        aligned = np.vstack([np.asarray(alignment_matrix(train.records[i].landmarks, size), np.float64), [0, 0, 1]])
        expected = (flip @ aligned if mirrored else aligned)[:2]
        moved += not np.allclose(matrix, expected, atol=1e-6)
    assert moved == (0 if jitter == 0 else len(train))


def test_jitter_must_be_a_fraction(tiny_config):
    from training.config import ConfigError

    with pytest.raises(ConfigError, match="jitter"):
        tiny_config(TrainConfig, jitter=-0.5).validate()


def test_flip_permutation_is_a_mirror():
    assert sorted(FLIP_68.tolist()) == list(range(68)) and np.array_equal(FLIP_68[FLIP_68], np.arange(68))
    assert FLIP_68[36] == 45 and FLIP_68[48] == 54 and FLIP_68[30] == 30 and FLIP_68[0] == 16


def test_flipped_samples_keep_left_and_right_as_seen_in_the_image(tiny_config):
    train, _, _ = build_datasets(tiny_config(TrainConfig, aligned=True))
    flipped = 0
    for epoch in range(4):
        train.set_epoch(epoch)
        for i in range(len(train)):
            matrix, mirrored = train.geometry(i)
            lm = train[i]["landmarks"].numpy()
            assert (np.linalg.det(matrix[:, :2]) < 0) == mirrored
            assert lm[36, 0] < lm[39, 0] < lm[42, 0] < lm[45, 0]  # eye corners in image order
            assert lm[LEFT_EYE, 0].mean() < lm[RIGHT_EYE, 0].mean() and lm[48, 0] < lm[54, 0]
            flipped += mirrored
    assert 0 < flipped < 16


def test_randomness_depends_only_on_seed_epoch_and_index(tiny_config):
    cfg = tiny_config(TrainConfig, mask_mix={"block": 1, "noise": 1, "pattern": 1})
    a, _, _ = build_datasets(cfg)
    b, _, _ = build_datasets(cfg)
    assert torch.equal(a[1]["image"], b[1]["image"]) and torch.equal(a[1]["mask"], b[1]["mask"])
    b.set_epoch(1)
    assert not torch.equal(a[1]["image"], b[1]["image"])


def test_unaligned_crops_hold_eyes_nose_and_mouth(tiny_config):
    train, _, _ = build_datasets(tiny_config(TrainConfig, aligned=False))
    for epoch in range(3):
        train.set_epoch(epoch)
        for i in range(len(train)):
            inner = train[i]["landmarks"][17:]
            assert inner.min() >= -1 and inner.max() <= 65


def test_channel_masks_come_with_their_boxes(tiny_config):
    train, _, _ = build_datasets(tiny_config(TrainConfig, mask_mix={"channel": 1.0}))
    s = train[0]
    assert s["mask"].shape == (3, 64, 64) and (s["mask_boxes"] > 0).any()


def test_unknown_mask_kind_is_an_error(tiny_config):
    from engine.errors import FaceInpaintError

    with pytest.raises(FaceInpaintError, match="unknown"):
        FaceDataset([], tiny_config(TrainConfig, mask_mix={"squares": 1.0}), train=True)


def test_irregular_masks_without_a_folder_fall_back_to_strokes(tiny_config, caplog):
    """A new user has no masks folder: generated free-form strokes stand in, with a warning."""
    dataset = FaceDataset([], tiny_config(TrainConfig, mask_mix={"irregular": 1.0, "block": 1.0}), train=True)
    assert dict(zip(dataset.mask_kinds, dataset.mask_weights)) == {"strokes": 0.5, "block": 0.5}
    assert "free-form strokes" in caplog.text


def test_sampler_resumes_the_exact_order():
    full = ResumableSampler(10, seed=5)
    order = list(full)
    resumed = ResumableSampler(10, seed=5)
    resumed.load_state_dict({"epoch": 0, "position": 4})
    assert list(resumed) == order[4:]
    shards = [list(ResumableSampler(10, seed=5, num_replicas=2, rank=r)) for r in (0, 1)]
    assert sorted(shards[0] + shards[1]) == list(range(10))


def test_preset_weights_draw_a_case_more_often_and_refuse_unknown_cases(tiny_config, monkeypatch):
    from engine.errors import FaceInpaintError
    from training.data import PRESET_CASES, preset_probabilities

    assert preset_probabilities({}) is None and preset_probabilities({"mouth": 1.0}) is None  # uniform: as before
    chances = preset_probabilities({"upper-face": 3.0})
    upper = PRESET_CASES.index("upper-face")
    assert chances[upper] == pytest.approx(3 / (len(PRESET_CASES) + 2))
    assert chances.sum() == pytest.approx(1.0)
    only = preset_probabilities(dict.fromkeys(PRESET_CASES, 0.0) | {"mouth": 1.0})
    assert only[PRESET_CASES.index("mouth")] == 1.0
    for bad in ({"nose": 2.0}, {"mouth": -1.0}, dict.fromkeys(PRESET_CASES, 0.0)):
        with pytest.raises(FaceInpaintError, match="preset_weights"):
            preset_probabilities(bad)
    # the dataset draws by them: with the weight all on the mouth, every preset mask is the mouth's
    train, _, _ = build_datasets(tiny_config(TrainConfig, mask_mix={"preset": 1.0},
                                             preset_weights=dict.fromkeys(PRESET_CASES, 0.0) | {"mouth": 1.0}))
    import engine.masks

    drawn = []
    real = engine.masks.preset_mask
    monkeypatch.setattr(engine.masks, "preset_mask", lambda case, *a, **k: drawn.append(case) or real(case, *a, **k))
    points = np.random.default_rng(1).uniform(40, 90, (68, 2))
    rng = np.random.default_rng(0)
    for seed in range(20):
        train._preset_mask(points, rng, seed)
    assert drawn == ["mouth"] * 20
