"""The one contract every model implements and every front end uses.

A model is an ``InpaintModel`` subclass registered in ``MODELS`` (name -> class). Front ends
never import a model module directly: they call ``list_models()``, ``create_model(name)`` and
``model.inpaint(photo, mask, ...)``.

Two levels of work:

* ``complete_crop`` (abstract) fills the hole of one crop at the model's own resolution. Eval
  calls this directly on aligned validation crops.
* ``inpaint`` (template method) takes a whole photo of any size: for face models it detects and
  aligns the face, warps the mask into the crop, calls ``complete_crop``, warps the completed
  crop back and blends it ONLY inside the user's mask; for region models (the OpenCV
  baselines) it works on the mask's neighbourhood at full resolution. Either way pixels outside
  the mask are returned bit-identical, and a 12 MP photo costs about what a 1 MP one does.

Seeds: ``seed=None`` draws a base seed; sample ``k`` uses ``base + k`` and records it in its
result, so ``inpaint(..., samples=1, seed=result.seed)`` reproduces that sample exactly.
"""

from __future__ import annotations

import abc
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol

import numpy as np

from engine.errors import CancelledError, MaskError, NoFaceError, UnknownModelError

log = logging.getLogger(__name__)


class ProgressCallback(Protocol):
    """``progress(fraction in [0, 1], message, preview crop or None)``."""

    def __call__(self, fraction: float, message: str = "", preview: np.ndarray | None = None) -> None: ...


ShouldCancel = Callable[[], bool]


@dataclass(frozen=True)
class ModelInfo:
    """What a front end needs to show and drive a model, known without loading it."""

    name: str
    display_name: str
    paper: str
    resolution: int  # native crop size in pixels; 0 = any size (region models)
    diverse: bool = False  # different seeds give different completions
    iterative: bool = False  # reports progress and previews step by step, honours cancel
    needs_face: bool = True  # works on an aligned face crop (False: on the mask's region)
    channel_masks: bool = False  # accepts H x W x 3 channel-wise masks (MDE)
    extra_outputs: tuple[str, ...] = ()  # names of CropCompletion.extras it fills
    weights_name: str | None = None  # key in resources/weights/manifest.json; None = no weights
    description: str = ""


@dataclass
class WeightsStatus:
    """Whether a model can run: its weights are present and match its architecture."""

    ready: bool
    reason: str = ""
    path: Path | None = None


@dataclass
class CropCompletion:
    """One completed crop as a model returns it (uint8 RGB, crop-sized)."""

    image: np.ndarray
    seed: int | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class InpaintResult:
    """One completion of a whole photo.

    ``image`` is the completed photo (same size as the input, identical outside the mask);
    ``crop`` the completed region the model worked on (the aligned face crop for face models);
    ``crop_mask`` the mask in crop coordinates; ``extras`` optional model outputs such as
    ``"segmentation"`` (H x W int label map, classes of ``engine.face.labels.PARSING_CLASSES``)
    and ``"heatmaps"`` (L x H x W float in [0, 1]); ``alignment`` the transform used (or None).
    """

    image: np.ndarray
    crop: np.ndarray
    crop_mask: np.ndarray
    seed: int | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    alignment: Any = None
    model: str = ""


def _noop_progress(fraction: float, message: str = "", preview: np.ndarray | None = None) -> None:
    return None


def _never_cancel() -> bool:
    return False


def draw_seed() -> int:
    """A fresh base seed that fits every RNG we use (numpy, torch, Python)."""
    return secrets.randbelow(2**31 - 1024)


def validate_image_and_mask(image: np.ndarray, mask: np.ndarray, *, channel_masks: bool = False) -> np.ndarray:
    """Check shapes and types and return the mask as uint8 (H x W, or H x W x 3 if allowed).

    Any value above 127 counts as missing, so anti-aliased masks behave.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise MaskError(f"the image must be an H x W x 3 uint8 array, got {getattr(image, 'shape', type(image))}")
    if not isinstance(mask, np.ndarray):
        raise MaskError(f"the mask must be a numpy array, got {type(mask).__name__}")
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if mask.ndim == 3 and mask.shape[2] == 3 and not channel_masks:
        if np.array_equal(mask[:, :, 0], mask[:, :, 1]) and np.array_equal(mask[:, :, 0], mask[:, :, 2]):
            mask = mask[:, :, 0]
        else:
            raise MaskError("this model takes one mask for all channels, got a channel-wise mask")
    if mask.ndim not in (2, 3) or mask.shape[:2] != image.shape[:2]:
        raise MaskError(
            f"the mask is {mask.shape[1] if mask.ndim > 1 else '?'}x{mask.shape[0]} but the image is "
            f"{image.shape[1]}x{image.shape[0]}: resize it with engine.masks.resize_mask first"
        )
    if mask.dtype == bool:
        mask = mask.astype(np.uint8) * 255
    elif mask.dtype != np.uint8:
        raise MaskError(f"the mask must be uint8 (255 = missing) or bool, got {mask.dtype}")
    binary = np.where(mask > 127, 255, 0).astype(np.uint8)
    if not binary.any():
        raise MaskError("the mask is empty: paint the part of the photo to complete")
    return binary


class InpaintModel(abc.ABC):
    """Base class of every model (after IOPaint's ``InpaintModel``)."""

    info: ClassVar[ModelInfo]

    def __init__(self, device: str | None = None, weights: str | Path | None = None) -> None:
        self.requested_device = device or "auto"
        self.weights_path = Path(weights) if weights is not None else None
        self._loaded = False

    # -- weights and device -------------------------------------------------------------------
    @classmethod
    def weights_status(cls, weights: str | Path | None = None) -> WeightsStatus:
        """Cheap check (no network, no model build) used by pickers and ``--list-models``."""
        if cls.info.weights_name is None and weights is None:
            return WeightsStatus(True, "no weights needed")
        from engine.weights import check_weights  # local: keeps import of this module light

        return check_weights(cls.info.weights_name or cls.info.name, weights)

    def load(self) -> None:
        """Build the network and load weights once; later calls are free."""
        if not self._loaded:
            self._load()
            self._loaded = True

    def _load(self) -> None:
        """Subclasses with weights override this (raise ``WeightsError`` with the file's name)."""

    @property
    def device(self) -> str:
        from engine.device import select_device

        return str(select_device(self.requested_device))

    # -- the work -----------------------------------------------------------------------------
    @abc.abstractmethod
    def complete_crop(
        self,
        crop: np.ndarray,
        mask: np.ndarray,
        *,
        seeds: list[int],
        progress: ProgressCallback,
        should_cancel: ShouldCancel,
    ) -> list[CropCompletion]:
        """Fill ``mask`` (255 = missing) of ``crop`` (uint8 RGB), one completion per seed.

        For face models the crop is an aligned face at ``info.resolution``; region models accept
        any size. Pixels outside the mask may be changed here: the caller composites.
        Iterative models call ``progress`` and check ``should_cancel`` between steps and raise
        ``CancelledError`` when asked to stop.
        """

    def complete(
        self,
        crop: np.ndarray,
        mask: np.ndarray,
        *,
        samples: int = 1,
        seed: int | None = None,
        progress: ProgressCallback | None = None,
        should_cancel: ShouldCancel | None = None,
    ) -> list[CropCompletion]:
        """``complete_crop`` with validation, seeding and exact compositing; eval uses this."""
        mask = validate_image_and_mask(crop, mask, channel_masks=self.info.channel_masks)
        if self.info.needs_face and self.info.resolution and crop.shape[:2] != (self.info.resolution,) * 2:
            raise MaskError(
                f"{self.info.name} works on {self.info.resolution}x{self.info.resolution} aligned crops, "
                f"got {crop.shape[1]}x{crop.shape[0]}"
            )
        if samples < 1:
            raise ValueError("samples must be at least 1")
        if samples > 1 and not self.info.diverse:
            samples = 1  # a deterministic model has one answer; asking twice wastes time
        base = draw_seed() if seed is None else int(seed)
        seeds = [base + k for k in range(samples)]
        progress = progress or _noop_progress
        should_cancel = should_cancel or _never_cancel
        if should_cancel():
            raise CancelledError("cancelled before the model started")
        self.load()
        # The hole's pixels are blanked before any model sees them: a user often masks an intact
        # photo, and no model may read the answer it is asked to invent.
        blanked = composite(crop, np.zeros_like(crop), mask)
        outputs = self._with_oom_fallback(
            lambda: self.complete_crop(blanked, mask, seeds=seeds, progress=progress, should_cancel=should_cancel)
        )
        for out in outputs:
            out.image = composite(crop, out.image, mask)
        progress(1.0, "done", None)
        return outputs

    def inpaint(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        samples: int = 1,
        seed: int | None = None,
        progress: ProgressCallback | None = None,
        should_cancel: ShouldCancel | None = None,
        face: Any = None,
        poisson: bool = False,
    ) -> list[InpaintResult]:
        """Complete the masked part of a whole photo; returns one result per sample."""
        mask = validate_image_and_mask(image, mask, channel_masks=self.info.channel_masks)
        if self.info.needs_face:
            return self._inpaint_face(image, mask, samples, seed, progress, should_cancel, face, poisson)
        return self._inpaint_region(image, mask, samples, seed, progress, should_cancel)

    def _inpaint_face(self, image, mask, samples, seed, progress, should_cancel, face, poisson):
        from engine.face import align_face, detect_faces, paste_back, pick_face_for_mask

        flat_mask = mask if mask.ndim == 2 else mask.max(axis=2)
        if face is None:
            faces = detect_faces(image)
            if not faces:
                raise NoFaceError(f"{self.info.display_name} needs a face and none was found in the photo")
            face = pick_face_for_mask(faces, flat_mask)
        aligned = align_face(image, face, self.info.resolution)
        crop_mask = aligned.warp_mask(mask)
        if not crop_mask.any():
            raise MaskError("the painted area lies outside the face this model completes")
        outs = self.complete(
            aligned.crop, crop_mask, samples=samples, seed=seed, progress=progress, should_cancel=should_cancel
        )
        return [
            InpaintResult(
                image=paste_back(image, out.image, aligned, flat_mask, poisson=poisson),
                crop=out.image,
                crop_mask=crop_mask,
                seed=out.seed,
                extras=out.extras,
                alignment=aligned,
                model=self.info.name,
            )
            for out in outs
        ]

    def _inpaint_region(self, image, mask, samples, seed, progress, should_cancel):
        y0, y1, x0, x1 = region_of_interest(mask, margin=max(16, int(0.25 * max(image.shape[:2]) ** 0.5)))
        roi, roi_mask = image[y0:y1, x0:x1], mask[y0:y1, x0:x1]
        outs = self.complete(roi, roi_mask, samples=samples, seed=seed, progress=progress, should_cancel=should_cancel)
        results = []
        for out in outs:
            full = image.copy()
            full[y0:y1, x0:x1] = out.image  # already composited: identical outside the mask
            results.append(
                InpaintResult(full, out.image, roi_mask, out.seed, out.extras, None, self.info.name)
            )
        return results

    def _with_oom_fallback(self, run: Callable[[], list[CropCompletion]]) -> list[CropCompletion]:
        """Run; on a CUDA out-of-memory error move to the CPU with a warning and run again."""
        try:
            return run()
        except RuntimeError as err:  # torch.cuda.OutOfMemoryError subclasses RuntimeError
            if "out of memory" not in str(err).lower() or self.requested_device == "cpu":
                raise
            log.warning("%s ran out of GPU memory; running on the CPU instead", self.info.name)
            from engine.device import empty_cache

            empty_cache()
            self.to_cpu()
            return run()

    def to_cpu(self) -> None:
        """Move the network to the CPU (after an out-of-memory error); subclasses with torch override."""
        self.requested_device = "cpu"


def composite(original: np.ndarray, completed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Take ``completed`` inside the mask and ``original`` everywhere else, exactly.

    A channel-wise mask (H x W x 3) composites each channel on its own.
    """
    if completed.shape != original.shape:
        raise ValueError(f"model returned {completed.shape}, expected {original.shape}")
    hole = mask > 127
    if hole.ndim == 2:
        hole = hole[:, :, None]
    return np.where(hole, completed, original).astype(np.uint8)


def region_of_interest(mask: np.ndarray, margin: int) -> tuple[int, int, int, int]:
    """Bounding box (y0, y1, x0, x1) of the hole, widened by ``margin`` and clipped to the image."""
    flat = mask if mask.ndim == 2 else mask.max(axis=2)
    ys, xs = np.nonzero(flat)
    h, w = flat.shape
    return (
        max(0, int(ys.min()) - margin),
        min(h, int(ys.max()) + 1 + margin),
        max(0, int(xs.min()) - margin),
        min(w, int(xs.max()) + 1 + margin),
    )


# -- registry -------------------------------------------------------------------------------------
MODELS: dict[str, type[InpaintModel]] = {}


def register(cls: type[InpaintModel]) -> type[InpaintModel]:
    """Class decorator: put a model in the registry under ``cls.info.name``."""
    name = cls.info.name
    if name in MODELS and MODELS[name] is not cls:
        raise ValueError(f"two models registered as {name!r}")
    MODELS[name] = cls
    return cls


def _ensure_models_imported() -> None:
    import engine.models  # noqa: F401  (importing registers every model)


def list_models() -> list[ModelInfo]:
    """Every registered model, baselines first, in registration order."""
    _ensure_models_imported()
    return [cls.info for cls in MODELS.values()]


def get_model_class(name: str) -> type[InpaintModel]:
    _ensure_models_imported()
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(MODELS) or "none"
        raise UnknownModelError(f"no model called {name!r}; known models: {known}") from None


def create_model(name: str, *, device: str | None = None, weights: str | Path | None = None) -> InpaintModel:
    """Instantiate a registered model (weights load on first use, or call ``load()``)."""
    return get_model_class(name)(device=device, weights=weights)
