"""The model table: every model the engine offers, by name, as a spec (after IOPaint's table).

A spec holds what front ends need without loading anything (its ``ModelInfo``, its run settings
dataclass, its weights' manifest name) and where the class lives (``"module:Class"``). The class
is imported only when a model is created, so listing models, checking readiness and building
option widgets import no torch.

Adding a model: one module in this package with an ``InpaintModel`` subclass implementing
``_inpaint_crop``, and one row below (plus a ``TrainMethod`` in ``training/`` if it is trained).
Baselines come first so pickers list the always-available models at the top.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import UnknownModelError
from engine.models.base import (
    CancelToken,
    InpaintModel,
    InpaintRequest,
    InpaintResult,
    ModelInfo,
    model_weights_status,
)
from engine.models.settings import MDESettings, NoSettings, SearchSettings, SettingField, settings_schema
from engine.weights import WeightsStatus

__all__ = [
    "MODELS",
    "CancelToken",
    "InpaintModel",
    "InpaintRequest",
    "InpaintResult",
    "ModelInfo",
    "ModelSpec",
    "SettingField",
    "WeightsStatus",
    "create_model",
    "get_model_class",
    "get_spec",
    "list_models",
    "register_class",
]


@dataclass
class ModelSpec:
    """One row of the table: what a model is, and where its class lives."""

    info: ModelInfo
    target: str  # "package.module:ClassName", imported on first use
    settings_cls: type = NoSettings
    _cls: type[InpaintModel] | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def weights_name(self) -> str | None:
        return self.info.weights_name

    def settings_schema(self) -> list[SettingField]:
        return settings_schema(self.settings_cls)

    def weights_status(self, weights: str | Path | None = None) -> WeightsStatus:
        """Whether the model can run now (no import of its module, no torch)."""
        return model_weights_status(self.info, weights)

    def model_class(self) -> type[InpaintModel]:
        """The model's class, imported now and given this row's info and settings class."""
        if self._cls is None:
            module, _, name = self.target.partition(":")
            cls = getattr(importlib.import_module(module), name)
            if not (isinstance(cls, type) and issubclass(cls, InpaintModel)):
                raise TypeError(f"{self.target} is not an InpaintModel subclass")
            bound = cls.__dict__.get("info")
            if bound is not None and bound != self.info:
                raise TypeError(f"{self.target} already serves the model {bound.name!r}; give each row its own class")
            cls.info, cls.settings_cls = self.info, self.settings_cls
            self._cls = cls
        return self._cls


def _spec(target: str, settings_cls: type = NoSettings, **info) -> ModelSpec:
    return ModelSpec(ModelInfo(**info), f"engine.models.{target}", settings_cls)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "opencv_baseline:TeleaInpainter",
            name="telea",
            display_name="Telea (OpenCV)",
            paper="Telea 2004, An image inpainting technique based on the fast marching method",
            resolution=0,
            needs_face=False,
            description="Fast classical fill from the hole's border; no face knowledge, no weights.",
        ),
        _spec(
            "opencv_baseline:NavierStokesInpainter",
            name="navier-stokes",
            display_name="Navier-Stokes (OpenCV)",
            paper="Bertalmio et al. 2001, Navier-Stokes, fluid dynamics, and image and video inpainting",
            resolution=0,
            needs_face=False,
            description="Classical fill that continues isophotes into the hole; no face knowledge, no weights.",
        ),
        _spec(
            "patchmatch_baseline:PatchMatchInpainter",
            name="patchmatch",
            display_name="PatchMatch",
            paper="Barnes et al. 2009, PatchMatch: a randomized correspondence algorithm for structural image editing",
            resolution=0,
            needs_face=False,
            diverse=True,
            description="Classical fill that copies patches of the photo into the hole; keeps texture, no face knowledge.",
        ),
        _spec(
            "pdgan:PDGANInpainter",
            name="pdgan",
            display_name="PD-GAN (faces)",
            paper="Shi, Wang, Zhang: Probabilistic Diverse GAN based face inpainting (after Liu et al. 2021)",
            resolution=128,
            diverse=True,
            weights_name="pdgan",
            description="Draws several different plausible faces for the hole, each reproducible from its seed.",
        ),
        _spec(
            "mde:MDEInpainter",
            MDESettings,
            name="mde",
            display_name="Missing Data Encoder",
            paper="Dapogny, Cord, Perez 2020: The Missing Data Encoder, cross-channel image completion (hide-and-seek GAN)",
            resolution=96,
            diverse=True,
            channel_masks=True,
            weights_name="mde",
            description="Completes holes and missing colour channels; seeds re-mask the known pixels for variety.",
        ),
        _spec(
            "collagan:CollaGANInpainter",
            name="collagan",
            display_name="collaGAN",
            paper="Liao et al. 2018, Face completion with semantic knowledge and collaborative adversarial learning",
            resolution=128,
            extra_outputs=("segmentation", "heatmaps"),
            weights_name="collagan",
            description="Completes the face while predicting its parsing map and landmark heatmaps.",
        ),
        _spec(
            "gfc:GFCInpainter",
            name="gfc",
            display_name="GFC",
            paper="Li et al. 2017, Generative face completion",
            resolution=128,
            weights_name="gfc",
            description="Encoder-decoder trained with local and global discriminators and a parsing loss.",
        ),
        _spec(
            "dcgan:DCGANInpainter",
            SearchSettings,
            name="dcgan",
            display_name="DCGAN latent search",
            paper="Sami, Khan, Rhidita 2018, Structurally and semantically coherent deep image inpainting "
            "(DCGAN latent search with a landmark loss, after Yeh et al. 2017)",
            resolution=64,
            diverse=True,
            iterative=True,
            weights_name="dcgan",
            description="Searches a face generator's latent space for the face that best fits around the hole.",
        ),
    )
}


def list_models() -> list[ModelInfo]:
    """Every model in the table, baselines first (imports no model module)."""
    return [spec.info for spec in MODELS.values()]


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(MODELS) or "none"
        raise UnknownModelError(f"no model called {name!r}; known models: {known}") from None


def get_model_class(name: str) -> type[InpaintModel]:
    """The class of a model (imports its module, and with it torch for learned models)."""
    return get_spec(name).model_class()


def create_model(name: str, *, device: str | None = None, weights: str | Path | None = None) -> InpaintModel:
    """Instantiate a model (weights load on first use, or call ``load()``)."""
    return get_model_class(name)(device=device, weights=weights)


def register_class(cls: type[InpaintModel], settings_cls: type | None = None) -> type[InpaintModel]:
    """Add a class that carries its own ``info`` (tests, plug-ins) as a row of the table."""
    name = cls.info.name
    existing = MODELS.get(name)
    if existing is not None and existing._cls is not cls:
        raise ValueError(f"two models registered as {name!r}")
    if settings_cls is not None:
        cls.settings_cls = settings_cls
    MODELS[name] = ModelSpec(cls.info, f"{cls.__module__}:{cls.__qualname__}", cls.settings_cls, cls)
    return cls
