"""Old home of the model contract, kept as a thin facade while front ends move to ``engine.models``.

New code imports from ``engine.models`` (the table, ``create_model``, ``list_models``) and
``engine.models.base`` (the contract). ``MODELS`` here is the old name -> class view of the table.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

from engine import models
from engine.models import create_model, get_model_class, list_models
from engine.models import register_class as register
from engine.models.base import (
    CancelToken,
    CropCompletion,
    InpaintModel,
    InpaintRequest,
    InpaintResult,
    ModelInfo,
    ProgressCallback,
    ShouldCancel,
    composite,
    draw_seed,
    region_of_interest,
    validate_image_and_mask,
)
from engine.weights import WeightsStatus

__all__ = [
    "MODELS", "CancelToken", "CropCompletion", "InpaintModel", "InpaintRequest", "InpaintResult", "ModelInfo",
    "ProgressCallback", "ShouldCancel", "WeightsStatus", "composite", "create_model", "draw_seed",
    "get_model_class", "list_models", "region_of_interest", "register", "validate_image_and_mask",
]


class _ClassView(MutableMapping):
    """``engine.models.MODELS`` seen as name -> class; looking a name up imports its module."""

    def __getitem__(self, name: str) -> type[InpaintModel]:
        if name not in models.MODELS:
            raise KeyError(name)
        return models.MODELS[name].model_class()

    def __setitem__(self, name: str, cls: type[InpaintModel]) -> None:
        register(cls)

    def __delitem__(self, name: str) -> None:
        del models.MODELS[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(models.MODELS))

    def __len__(self) -> int:
        return len(models.MODELS)


MODELS = _ClassView()
