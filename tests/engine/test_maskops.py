"""engine.maskops: grow / shrink / feather / invert / union / intersect, resizing and hole ratios."""

from __future__ import annotations

import numpy as np
import pytest

from engine import maskops
from engine.errors import MaskError

SQUARE = np.zeros((40, 40), np.uint8)
SQUARE[10:30, 10:30] = 255


def test_grow_then_shrink_restores_a_square():
    grown = maskops.grow(SQUARE, 3)
    assert np.count_nonzero(grown) > np.count_nonzero(SQUARE)
    assert (grown[7:33, 10:30] == 255).all() and grown[6, 20] == 0  # 3 px on each side, not 4
    np.testing.assert_array_equal(maskops.shrink(grown, 3), SQUARE)
    shrunk = maskops.shrink(SQUARE, 2)
    assert np.count_nonzero(shrunk) == 16 * 16
    np.testing.assert_array_equal(maskops.grow(SQUARE, 0), SQUARE)


def test_invert_twice_is_identity():
    np.testing.assert_array_equal(maskops.invert(maskops.invert(SQUARE)), SQUARE)
    assert np.count_nonzero(maskops.invert(SQUARE)) == 40 * 40 - 20 * 20


def test_union_and_intersect():
    other = np.zeros_like(SQUARE)
    other[20:40, 20:40] = 255
    both = maskops.union(SQUARE, other)
    common = maskops.intersect(SQUARE, other)
    assert np.count_nonzero(both) == 400 + 400 - 100 and np.count_nonzero(common) == 100
    assert (common[20:30, 20:30] == 255).all()
    np.testing.assert_array_equal(maskops.union(SQUARE), SQUARE)
    with pytest.raises(MaskError, match="one size"):
        maskops.union(SQUARE, np.zeros((8, 8), np.uint8))
    with pytest.raises(MaskError, match="at least one"):
        maskops.intersect()


def test_feather_is_one_on_the_hole_and_fades_outside():
    alpha = maskops.feather(SQUARE, 4)
    assert alpha.dtype == np.float32 and alpha.min() >= 0 and alpha.max() <= 1
    assert (alpha[SQUARE == 255] == 1).all()
    row = alpha[20, 30:40]
    assert (np.diff(row) <= 0).all() and 0 < row[1] < 1 and row[5:].max() == 0
    np.testing.assert_array_equal(maskops.feather(SQUARE, 0), SQUARE / 255)


def test_resize_mask_stays_binary():
    soft = np.linspace(0, 255, 40 * 40).reshape(40, 40).astype(np.uint8)
    for shape in ((13, 17), (160, 120, 3)):
        out = maskops.resize_mask(soft, shape)
        assert out.shape == shape[:2] and set(np.unique(out)) == {0, 255}
    np.testing.assert_array_equal(maskops.resize_mask(maskops.resize_mask(SQUARE, (80, 80)), (40, 40)), SQUARE)


def test_hole_ratio_and_to_binary_accept_any_type():
    assert maskops.hole_ratio(SQUARE) == 0.25
    assert maskops.hole_ratio(SQUARE > 0) == 0.25
    for variant in (SQUARE > 0, SQUARE / 255.0, (SQUARE // 255).astype(np.int64), SQUARE.astype(np.uint16) * 257):
        np.testing.assert_array_equal(maskops.to_binary(variant), SQUARE)
    with pytest.raises(MaskError, match="numpy array"):
        maskops.to_binary([[0, 1]])
    with pytest.raises(MaskError, match="pixel distance"):
        maskops.grow(SQUARE, -1)


def test_shrink_mask_covering_keeps_every_thin_stroke():
    mask = np.zeros((128, 128), np.uint8)
    mask[:, 5:125:3] = 255  # one-pixel strokes: nearest neighbour at 4:3 drops every third
    small = maskops.shrink_mask_covering(mask, (96, 96))
    assert small.shape == (96, 96) and set(np.unique(small)) == {0, 255}
    # every stroke pixel's footprint in the small grid is a hole ...
    assert (small[:, (np.arange(5, 125, 3) * 96 // 128)] == 255).all()
    assert not (maskops.resize_mask(mask, (96, 96))[:, (np.arange(5, 125, 3) * 96 // 128)] == 255).all()
    # ... no hole appears where there was none, and an empty mask stays empty
    assert (small[:, :3] == 0).all() and not maskops.shrink_mask_covering(np.zeros((128, 128), np.uint8), (96, 96)).any()
    np.testing.assert_array_equal(maskops.shrink_mask_covering(SQUARE, SQUARE.shape), SQUARE)


def test_flatten_marks_a_pixel_missing_where_any_channel_is():
    channel_wise = np.zeros((4, 5, 3), np.uint8)
    channel_wise[1, 2, 0] = 255  # only red missing
    channel_wise[3, 4, 2] = 255  # only blue missing
    flat = maskops.flatten(channel_wise)
    assert flat.shape == (4, 5) and flat[1, 2] == 255 and flat[3, 4] == 255 and flat.sum() == 2 * 255
    plain = np.eye(4, dtype=np.uint8) * 255
    assert maskops.flatten(plain) is plain


def test_enlarge_mask_covering_grows_the_hole_by_the_bicubic_reach_never_shrinks_it():
    mask = np.zeros((30, 30), np.uint8)
    mask[10:15, 12:14] = 255
    big = maskops.enlarge_mask_covering(mask, (45, 45))
    plain = maskops.resize_mask(mask, (45, 45))
    assert big.shape == (45, 45) and set(np.unique(big)) == {0, 255}
    assert np.all(big[plain > 0] == 255) and (big > 0).sum() > (plain > 0).sum()
    ys, _ = np.nonzero(big)
    assert ys.min() >= (10 - 3) * 1.5 and ys.max() <= (15 + 3) * 1.5  # grown by ~2 source pixels, not more
    channel_wise = np.zeros((30, 30, 3), np.uint8)
    channel_wise[5:8, 5:8, 1] = 255
    grown = maskops.enlarge_mask_covering(channel_wise, 45)
    assert grown.shape == (45, 45, 3) and grown[..., 1].any() and not grown[..., 0].any()
