"""Masks: the papers' random generators, MDE's channel-wise masks, landmark presets, mask folders.

A mask is a uint8 array with 255 = missing and 0 = kept (``engine.maskops`` says more and holds
the operations, re-exported here so ``engine.masks`` is the one place front ends look).
"""

from engine.maskops import (
    HOLE,
    Size,
    enlarge_mask_covering,
    feather,
    grow,
    hole_ratio,
    intersect,
    invert,
    resize_mask,
    shrink,
    shrink_mask_covering,
    size_hw,
    to_binary,
    union,
)
from engine.masks.channel import CHANNEL_MODES, channel_mask_boxes, channel_masks, channel_masks_and_boxes
from engine.masks.folder import IrregularMaskFolder, hole_area_bucket
from engine.masks.generators import (
    CENTER_BLOCK_SIDE,
    STROKE_PRESETS,
    Seed,
    StrokePreset,
    brush_strokes,
    center_block,
    make_rng,
    random_block,
    random_noise,
    random_pattern,
)
from engine.masks.presets import COLLAGAN_CASES, COLLAGAN_CODES, MDE_CASES, PRESETS, Preset, preset_mask

__all__ = [
    "CENTER_BLOCK_SIDE",
    "CHANNEL_MODES",
    "COLLAGAN_CASES",
    "COLLAGAN_CODES",
    "HOLE",
    "MDE_CASES",
    "PRESETS",
    "STROKE_PRESETS",
    "IrregularMaskFolder",
    "Preset",
    "Seed",
    "Size",
    "StrokePreset",
    "brush_strokes",
    "center_block",
    "channel_mask_boxes",
    "channel_masks",
    "channel_masks_and_boxes",
    "enlarge_mask_covering",
    "feather",
    "grow",
    "hole_area_bucket",
    "hole_ratio",
    "intersect",
    "invert",
    "make_rng",
    "preset_mask",
    "random_block",
    "random_noise",
    "random_pattern",
    "resize_mask",
    "shrink",
    "shrink_mask_covering",
    "size_hw",
    "to_binary",
    "union",
]
