"""Toy models that reach the engine through the table alone (one row naming "module:Class").

``add_row(monkeypatch, spec)`` puts a row in ``engine.models.MODELS`` for one test; nothing here
is imported by the engine itself, exactly as for a new model's module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from engine.models import MODELS, ModelSpec
from engine.models.base import CropCompletion, InpaintModel, ModelInfo
from engine.models.settings import setting

HERE = __name__


@dataclass(frozen=True)
class ToySettings:
    level: int = setting(128, label="Grey level:", help="the value painted into the hole", min=0, max=255, step=1)


class NoiseInpainter(InpaintModel):
    """Diverse: fills the hole with noise drawn from the sample's seed."""

    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None):
        return [
            CropCompletion(np.random.default_rng(s).integers(0, 256, crop.shape, dtype=np.uint8), seed=s) for s in seeds
        ]


class GreyInpainter(InpaintModel):
    """Deterministic, with one setting: paints the hole ``settings.level``; 64 px face crops or any region."""

    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None):
        if self.info.needs_face:
            assert crop.shape == (64, 64, 3)
        return [CropCompletion(np.full_like(crop, settings.level), seed=seeds[0])]


class FlatFaceInpainter(GreyInpainter):
    """The same fill as a 64 px face model (a class serves one row)."""


class CountingInpainter(InpaintModel):
    """Diverse, one seed per chunk; records the seeds of every hook call."""

    seeds_per_chunk = 1
    calls: ClassVar[list[list[int]]] = []

    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None):
        type(self).calls.append(list(seeds))
        progress(1.0, "chunk done", None)
        return [CropCompletion(np.full_like(crop, 7), seed=s) for s in seeds]


NOISE = ModelSpec(ModelInfo(name="test-noise", display_name="Noise", paper="none", resolution=0, diverse=True,
                            needs_face=False), f"{HERE}:NoiseInpainter")
GREY = ModelSpec(ModelInfo(name="test-grey", display_name="Grey", paper="none", resolution=0, needs_face=False),
                 f"{HERE}:GreyInpainter", ToySettings)
FACE = ModelSpec(ModelInfo(name="test-face", display_name="Flat face", paper="none", resolution=64),
                 f"{HERE}:FlatFaceInpainter", ToySettings)
COUNTING = ModelSpec(ModelInfo(name="test-count", display_name="Counting", paper="none", resolution=0, diverse=True,
                               needs_face=False), f"{HERE}:CountingInpainter")


def add_row(monkeypatch, spec: ModelSpec) -> ModelSpec:
    """Put a fresh copy of ``spec`` in the table for one test (a class binds to one row at a time)."""
    row = ModelSpec(spec.info, spec.target, spec.settings_cls)
    monkeypatch.setitem(MODELS, spec.name, row)
    return row
