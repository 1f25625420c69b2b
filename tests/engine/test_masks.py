"""engine.masks: reproducible generators hitting their ratios, mask folders, MDE channel masks, presets."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine import masks
from engine.errors import MaskError, NoFaceError
from engine.face import landmarks68
from engine.face.align import TEMPLATE_FRACTIONS

CROP = 128
TEMPLATE_EYES = TEMPLATE_FRACTIONS[:2] * CROP


def _canonical(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks moved by a similarity so the eye centres sit exactly on the 128 px template."""
    points = np.asarray(landmarks, np.float64)
    eyes = np.stack([points[landmarks68.LEFT_EYE].mean(axis=0), points[landmarks68.RIGHT_EYE].mean(axis=0)])
    as_complex = lambda p: p[..., 0] + 1j * p[..., 1]
    scale_rotation = as_complex(TEMPLATE_EYES[1] - TEMPLATE_EYES[0]) / as_complex(eyes[1] - eyes[0])
    moved = (as_complex(points) - as_complex(eyes[0])) * scale_rotation + as_complex(TEMPLATE_EYES[0])
    return np.stack([moved.real, moved.imag], axis=1)


@pytest.fixture(scope="module")
def canonical_landmarks(sample_face) -> np.ndarray:
    return _canonical(sample_face.landmarks)


def _covers(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Whether each (x, y) point lies on a hole pixel."""
    xy = np.rint(points).astype(int)
    return mask[xy[:, 1], xy[:, 0]] == 255


def _box_size(mask: np.ndarray) -> tuple[int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


# -- generators -----------------------------------------------------------------------------------
GENERATORS = {
    "block": lambda seed: masks.random_block((128, 128), 64, seed=seed),
    "pattern": lambda seed: masks.random_pattern((128, 128), 0.25, seed=seed),
    "noise": lambda seed: masks.random_noise((128, 128), 0.8, seed=seed),
    "thin": lambda seed: masks.brush_strokes((128, 128), "thin", seed=seed),
    "medium": lambda seed: masks.brush_strokes((128, 128), "medium", seed=seed),
    "thick": lambda seed: masks.brush_strokes((128, 128), "thick", seed=seed),
    "REC": lambda seed: masks.channel_masks((64, 96), "REC", 0.1, seed=seed),
    "preset-strokes": lambda seed: masks.preset_mask("random-strokes", None, (96, 96), seed=seed),
}


@pytest.mark.parametrize("name", GENERATORS)
def test_generators_are_reproducible_and_binary(name):
    make = GENERATORS[name]
    first, again, other = make(7), make(7), make(8)
    assert first.dtype == np.uint8 and set(np.unique(first)) <= {0, 255}
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_a_generator_can_be_threaded_through():
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    sequence_a = [masks.random_block(64, 16, seed=rng_a) for _ in range(3)]
    sequence_b = [masks.random_block(64, 16, seed=rng_b) for _ in range(3)]
    for a, b in zip(sequence_a, sequence_b):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(sequence_a[0], sequence_a[1])


@pytest.mark.parametrize("seed", range(5))
def test_random_block_is_exactly_one_64_block(seed):
    mask = masks.random_block((128, 128), 64, seed=seed)
    assert np.count_nonzero(mask) == 64 * 64
    assert _box_size(mask) == (64, 64)


def test_random_block_positions_spread():
    corners = {tuple(np.argwhere(masks.random_block(128, 64, seed=s))[0]) for s in range(20)}
    assert len(corners) > 15


def test_random_pattern_hits_25_percent():
    ratios = [masks.hole_ratio(masks.random_pattern((128, 128), seed=s)) for s in range(30)]
    assert all(0.20 <= r <= 0.30 for r in ratios)
    assert abs(np.mean(ratios) - 0.25) < 0.02


def test_random_pattern_is_blobs_not_noise():
    mask = masks.random_pattern((128, 128), seed=0) > 0
    same_as_right = np.mean(mask[:, 1:] == mask[:, :-1])
    assert same_as_right > 0.9  # i.i.d. noise at 25 % would give about 0.62


def test_random_noise_hits_80_percent():
    for seed in range(5):
        assert abs(masks.hole_ratio(masks.random_noise((128, 128), 0.8, seed=seed)) - 0.8) < 0.02


def test_brush_presets_order_by_coverage():
    mean = {
        preset: np.mean([masks.hole_ratio(masks.brush_strokes(128, preset, seed=s)) for s in range(60)])
        for preset in masks.STROKE_PRESETS
    }
    assert 0.04 < mean["thin"] < mean["medium"] < mean["thick"] < 0.6


def test_generators_refuse_bad_arguments():
    with pytest.raises(MaskError, match="does not fit"):
        masks.random_block((32, 32), 64)
    with pytest.raises(MaskError, match="ratio"):
        masks.random_pattern(64, ratio=1.5)
    with pytest.raises(MaskError, match="ratio"):
        masks.random_noise(64, ratio=-0.1)
    with pytest.raises(MaskError, match="unknown stroke preset 'huge'"):
        masks.brush_strokes(64, "huge")
    with pytest.raises(MaskError, match="positive size"):
        masks.random_noise((0, 10))


# -- irregular mask folder ------------------------------------------------------------------------
@pytest.fixture
def mask_folder(tmp_path):
    for i in range(3):
        hole = np.zeros((64, 64), np.uint8)
        hole[8 * i : 8 * i + 20, 5:40] = 255
        Image.fromarray(hole).save(tmp_path / f"{i:05d}.png")
    (tmp_path / "notes.txt").write_text("not a mask")
    return tmp_path


def test_irregular_folder_loads_and_samples(mask_folder):
    folder = masks.IrregularMaskFolder(mask_folder, dilate=(0, 2), seed=1)
    assert len(folder) == 3
    first = folder.load(0, (32, 32))
    assert first.shape == (32, 32) and np.count_nonzero(first) == 10 * 18  # rows 0-19 / 2, cols 5-39 / 2
    samples = [folder.sample((48, 48)) for _ in range(10)]
    assert all(s.shape == (48, 48) and set(np.unique(s)) <= {0, 255} for s in samples)
    assert all(0.05 < masks.hole_ratio(s) < 0.5 for s in samples)
    assert len({s.tobytes() for s in samples}) > 5  # flips, rotations and files vary
    again = [folder.sample(40, np.random.default_rng(5)) for _ in range(2)]
    np.testing.assert_array_equal(*again)


def test_irregular_folder_errors(tmp_path):
    with pytest.raises(MaskError, match="does not exist"):
        masks.IrregularMaskFolder(tmp_path / "nowhere")
    with pytest.raises(MaskError, match="no PNG masks"):
        masks.IrregularMaskFolder(tmp_path)


@pytest.mark.shared_data
def test_irregular_folder_on_the_shared_masks(shared_data):
    folder = masks.IrregularMaskFolder(shared_data / "masks" / "val", seed=0)
    assert len(folder) > 0
    mask = folder.sample((128, 128))
    assert mask.shape == (128, 128) and 0 < masks.hole_ratio(mask) < 1


def test_hole_area_bucket():
    mask = np.zeros((10, 10), np.uint8)
    mask[:3] = 255
    assert masks.hole_area_bucket(mask) == (0.3, 0.4)
    assert masks.hole_area_bucket(np.full((4, 4), 255, np.uint8)) == (0.9, 1.0)
    assert masks.hole_area_bucket(np.zeros((4, 4), np.uint8), width=0.25) == (0.0, 0.25)


# -- MDE channel-wise masks -----------------------------------------------------------------------
def test_random_extrapolation_drops_1_minus_s():
    for seed in range(10):
        mask = masks.channel_masks((128, 160), "RE", S=0.1, seed=seed)
        assert mask.shape == (128, 160, 3)
        assert (mask[:, :, 0] == mask[:, :, 1]).all() and (mask[:, :, 0] == mask[:, :, 2]).all()
        assert abs(masks.hole_ratio(mask) - 0.9) < 0.01


def test_rec_channels_differ_and_drop_about_0_729():
    mask = masks.channel_masks((128, 128), "REC", S=0.1, seed=0)
    assert not np.array_equal(mask[:, :, 0], mask[:, :, 1]) and not np.array_equal(mask[:, :, 1], mask[:, :, 2])
    for c in range(3):
        assert abs(np.mean(mask[:, :, c] == 0) - 0.1) < 0.01
    dropped = np.mean([masks.hole_ratio(masks.channel_masks(128, "REC", 0.1, seed=s)) for s in range(200)])
    assert abs(dropped - 0.729) < 0.02  # the paper's (1 - S)^3


def test_boxes_match_the_kept_rectangles():
    size = (96, 128)
    mask, boxes = masks.channel_masks_and_boxes(size, "REC", 0.2, seed=4)
    np.testing.assert_array_equal(boxes, masks.channel_mask_boxes(size, "REC", 0.2, seed=4))
    np.testing.assert_array_equal(mask, masks.channel_masks(size, "REC", 0.2, seed=4))
    for c in range(3):
        x0, y0, x1, y1 = np.rint(boxes[c] * [128, 96, 128, 96]).astype(int)
        kept = np.zeros(size, bool)
        kept[y0:y1, x0:x1] = True
        np.testing.assert_array_equal(mask[:, :, c] == 0, kept)
    assert ((boxes >= 0) & (boxes <= 1)).all()


def test_eq6_box_shapes():
    heights = []
    for seed in range(100):
        boxes = masks.channel_mask_boxes((100, 100), "RE", 0.25, seed=seed)
        w, h = boxes[0, 2] - boxes[0, 0], boxes[0, 3] - boxes[0, 1]
        assert 0.25 - 0.011 <= h <= 1 and 0.25 - 0.011 <= w <= 1  # h ~ U(S H, H), w = S W H / h
        assert abs(w * h - 0.25) < 0.02
        heights.append(h)
    assert np.std(heights) > 0.1  # heights spread over the range


def test_inpainting_and_reverse_inpainting_are_complements():
    hole = masks.channel_masks((64, 64), "I", S=0.25)
    kept_centre = masks.channel_masks((64, 64), "RI", S=0.25)
    np.testing.assert_array_equal(hole, 255 - kept_centre)
    assert (hole[16:48, 16:48] == 255).all() and np.count_nonzero(hole[:, :, 0]) == 32 * 32


def test_colourisation_modes():
    one = masks.channel_masks((8, 8), "C1", seed=1)
    two = masks.channel_masks((8, 8), "C2", seed=1)
    assert sorted(bool((one[:, :, c] == 0).all()) for c in range(3)) == [False, False, True]
    assert sorted(bool((two[:, :, c] == 0).all()) for c in range(3)) == [False, True, True]
    assert all((one[:, :, c] == 255).all() or (one[:, :, c] == 0).all() for c in range(3))


def test_channel_masks_refuse_bad_arguments():
    with pytest.raises(MaskError, match="unknown channel-mask mode 'X'"):
        masks.channel_masks(64, "X")
    with pytest.raises(MaskError, match="S"):
        masks.channel_masks(64, "REC", S=0)


# -- landmark presets -----------------------------------------------------------------------------
def test_preset_catalogue():
    assert set(masks.COLLAGAN_CASES) | set(masks.MDE_CASES) < set(masks.PRESETS)
    assert list(masks.COLLAGAN_CODES) == ["O1", "O2", "O3", "O4", "O5", "O6"]
    assert masks.COLLAGAN_CASES[0] == "left-eye" and masks.COLLAGAN_CASES[-1] == "lower-face"
    for name, preset in masks.PRESETS.items():
        assert preset.name == name and preset.label and preset.description and preset.source


def test_presets_land_on_the_right_part_of_the_sample_face(sample_photo, sample_face):
    points = sample_face.landmarks
    shape = sample_photo.shape

    def preset(name):
        mask = masks.preset_mask(name, points, shape)
        assert mask.shape == shape[:2] and mask.dtype == np.uint8
        return mask

    left_eye, right_eye = preset("left-eye"), preset("right-eye")
    assert _covers(left_eye, points[landmarks68.LEFT_EYE]).all() and not _covers(left_eye, points[landmarks68.RIGHT_EYE]).any()
    assert _covers(right_eye, points[landmarks68.RIGHT_EYE]).all() and not _covers(right_eye, points[landmarks68.LEFT_EYE]).any()
    assert _covers(preset("mouth"), points[landmarks68.OUTER_LIPS.start : landmarks68.INNER_LIPS.stop]).all()
    assert not _covers(preset("mouth"), points[landmarks68.LEFT_EYE]).any()
    eyes = points[landmarks68.LEFT_EYE.start : landmarks68.RIGHT_EYE.stop]
    assert _covers(preset("upper-face"), eyes).all() and _covers(preset("both-eyes"), eyes).all()
    assert not _covers(preset("upper-face"), points[landmarks68.OUTER_LIPS]).any()
    assert _covers(preset("lower-face"), points[landmarks68.OUTER_LIPS]).all() and not _covers(preset("lower-face"), eyes).any()
    left_cheek, right_cheek = points[[2, 3, 4]], points[[12, 13, 14]]  # jaw points beside the cheeks
    inner_left_cheek = (left_cheek + points[[31, 31, 48]]) / 2
    inner_right_cheek = (right_cheek + points[[35, 35, 54]]) / 2
    for name, near, far in (
        ("left-half", inner_left_cheek, inner_right_cheek),
        ("right-half", inner_right_cheek, inner_left_cheek),
        ("left-face", inner_left_cheek, inner_right_cheek),
        ("right-face", inner_right_cheek, inner_left_cheek),
    ):
        mask = preset(name)
        assert _covers(mask, near).all() and not _covers(mask, far).any(), name
    halves = preset("left-half") | preset("right-half")
    assert _covers(halves, points).mean() > 0.95  # together the halves cover the face


def test_preset_sizes_match_the_papers_at_the_canonical_crop(canonical_landmarks):
    sizes = np.array([_box_size(masks.preset_mask(n, canonical_landmarks, (CROP, CROP))) for n in masks.COLLAGAN_CASES])
    mean_width, mean_height = sizes.mean(axis=0)
    assert abs(mean_width - 40) <= 5 and abs(mean_height - 48) <= 5  # seed 000: "on average 40x48"
    centre = masks.preset_mask("center-block", canonical_landmarks, (CROP, CROP))
    expected = np.zeros((CROP, CROP), np.uint8)
    expected[32:96, 32:96] = 255
    np.testing.assert_array_equal(centre, expected)


def test_presets_scale_and_rotate_with_the_face(canonical_landmarks):
    small = masks.preset_mask("left-eye", canonical_landmarks, (CROP, CROP))
    large = masks.preset_mask("left-eye", canonical_landmarks * 4, (4 * CROP, 4 * CROP))
    assert abs(np.count_nonzero(large) / np.count_nonzero(small) - 16) < 1
    angle = np.deg2rad(30)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([CROP / 2, CROP / 2])
    tilted = (canonical_landmarks - centre) @ turn.T + centre
    for name in ("left-eye", "mouth", "upper-face"):
        upright = masks.preset_mask(name, canonical_landmarks, (CROP, CROP))
        rotated = masks.preset_mask(name, tilted, (CROP, CROP))
        assert abs(np.count_nonzero(rotated) / np.count_nonzero(upright) - 1) < 0.05
    assert _covers(masks.preset_mask("upper-face", tilted, (CROP, CROP)), tilted[36:48]).all()


def test_landmark_free_presets():
    block = masks.preset_mask("random-block", None, (128, 128), seed=3)
    assert _box_size(block) == (64, 64) and np.count_nonzero(block) == 64 * 64
    assert masks.hole_ratio(masks.preset_mask("random-strokes", None, (64, 80), seed=3)) > 0
    assert not masks.PRESETS["random-block"].needs_landmarks and masks.PRESETS["mouth"].needs_landmarks


def test_presets_refuse_bad_input(canonical_landmarks):
    with pytest.raises(MaskError, match="unknown mask preset 'nose'"):
        masks.preset_mask("nose", canonical_landmarks, (CROP, CROP))
    with pytest.raises(NoFaceError, match="needs a detected face"):
        masks.preset_mask("mouth", None, (CROP, CROP))
    with pytest.raises(MaskError, match="68 finite"):
        masks.preset_mask("mouth", canonical_landmarks[:5], (CROP, CROP))
    broken = canonical_landmarks.copy()
    broken[40] = np.nan
    with pytest.raises(MaskError, match="68 finite"):
        masks.preset_mask("mouth", broken, (CROP, CROP))
    with pytest.raises(MaskError, match="same place"):
        masks.preset_mask("mouth", np.zeros((68, 2)), (CROP, CROP))


@pytest.mark.parametrize("size", [64, 65, 128])
def test_center_block_is_the_centred_quarter_of_the_crop_and_the_preset_agrees_on_the_template(size):
    block = masks.center_block(size)
    rows, cols = np.nonzero(block)
    assert rows.min() == size - 1 - rows.max() and cols.min() == size - 1 - cols.max()  # centred
    assert abs(masks.hole_ratio(block) - 0.25) < 0.03
    if size == 128:  # the preset, drawn from the template's landmarks, is the same square
        from engine.face.align import canonical_five_points

        eyes = canonical_five_points(size)[:2]
        landmarks = np.zeros((68, 2))
        landmarks[36:42], landmarks[42:48] = eyes[0], eyes[1]
        assert np.array_equal(masks.preset_mask("center-block", landmarks, size), block)
