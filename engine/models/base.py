"""The one contract every model implements and every front end uses.

A model is an ``InpaintModel`` subclass named by one row of ``engine.models.MODELS``. Front ends
never import a model module: they call ``list_models()``, ``create_model(name)`` and
``model.inpaint(InpaintRequest(image, mask, ...))``.

Two levels of work:

* ``inpaint_crop`` fills the hole of one crop at the model's own resolution (eval calls it on
  aligned validation crops). It validates, draws the seeds, blanks the hole, then calls the
  model's protected hook ``_inpaint_crop`` once per chunk of ``seeds_per_chunk`` seeds, checking
  the cancel token before each chunk, and composites exactly.
* ``inpaint`` takes a whole photo of any size: for face models it detects and aligns the face,
  warps the mask into the crop, calls ``inpaint_crop``, warps the completed crop back and blends
  it ONLY inside the user's mask; for region models (the OpenCV baselines) it works on the mask's
  neighbourhood at full resolution. Pixels outside the mask are returned bit-identical.

Seeds: ``seed=None`` draws a base seed; sample ``k`` uses ``base + k`` and records it in its
result, so a request with ``samples=1, seed=result.seed`` reproduces that sample exactly.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

import engine.face  # looked up per call, so a test or a front end may swap the detector
from engine.device import empty_cache, select_device
from engine.errors import CancelledError, ConfigError, MaskError, NoFaceError
from engine.maskops import flatten
from engine.models.settings import NoSettings, make_settings
from engine.weights import WeightsStatus, check_weights

log = logging.getLogger(__name__)

# The most samples one call of a model's hook draws at once: a DCGAN search of 10,000 samples x its
# restarts in one batch would take gigabytes; in chunks it takes the memory of 64.
MAX_SEEDS_PER_CALL = 64


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
    iterative: bool = False  # reports progress and previews step by step
    needs_face: bool = True  # works on an aligned face crop (False: on the mask's region)
    channel_masks: bool = False  # accepts H x W x 3 channel-wise masks (MDE)
    extra_outputs: tuple[str, ...] = ()  # names of CropCompletion.extras it fills
    weights_name: str | None = None  # key in resources/weights/manifest.json; None = no weights
    description: str = ""


class CancelToken:
    """A flag a front end sets to stop a run; the base class checks it between chunks of seeds and
    iterative models between their steps. ``poll`` adds an outside condition (e.g. an Event)."""

    def __init__(self, poll: ShouldCancel | None = None) -> None:
        self._event = threading.Event()
        self._poll = poll

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or (self._poll is not None and bool(self._poll()))

    def is_set(self) -> bool:
        """``threading.Event`` spelling, so a token fits where a should-cancel callable is taken."""
        return self.cancelled

    def check(self, where: str) -> None:
        """Raise ``CancelledError`` if cancelled; ``where`` says where it stopped."""
        if self.cancelled:
            raise CancelledError(f"cancelled {where}")


@dataclass
class InpaintRequest:
    """One call: the photo, its mask (255 = missing), the seeds and the run settings.

    ``settings`` is the model's settings dataclass, a mapping of some of its fields, or None for
    the model's current ones; ``seeds`` given explicitly override ``samples`` and ``seed``.
    """

    image: np.ndarray
    mask: np.ndarray
    samples: int = 1
    seed: int | None = None
    seeds: Sequence[int] | None = None
    settings: Any = None
    progress: ProgressCallback | None = None
    cancel: CancelToken | None = None
    face: Any = None  # an engine.face.Face to use instead of detecting one
    poisson: bool = False  # Poisson-blend the pasted face crop


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


def draw_seed() -> int:
    """A fresh base seed that fits every RNG we use (numpy, torch, Python)."""
    return secrets.randbelow(2**31 - 1024)


def resolve_seeds(samples: int, seed: int | None, seeds: Sequence[int] | None, diverse: bool) -> list[int]:
    """The seeds of a call: explicit ones, else ``base + k`` for each sample (one if not diverse)."""
    if seeds is not None:
        resolved = [int(s) for s in seeds]
        if not resolved:
            raise ConfigError("seeds must not be empty: give at least one seed")
        return resolved if diverse else resolved[:1]
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ConfigError(f"samples must be a whole number of at least 1, got {samples!r}")
    if not diverse:
        samples = 1  # a deterministic model has one answer; asking twice wastes time
    base = draw_seed() if seed is None else int(seed)
    return [base + k for k in range(samples)]


def validate_image_and_mask(image: np.ndarray, mask: np.ndarray, *, channel_masks: bool = False) -> np.ndarray:
    """Check shapes and types and return the mask as uint8 (H x W, or H x W x 3 if allowed).

    Any value above 127 counts as missing, so anti-aliased masks behave. Every malformed input is
    a ``MaskError`` naming what is wrong, never an IndexError or ValueError from further down.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise MaskError(f"the image must be an H x W x 3 uint8 array, got {getattr(image, 'shape', type(image))}")
    if image.size == 0:
        raise MaskError(f"the image is empty ({image.shape[1]}x{image.shape[0]} pixels)")
    if not isinstance(mask, np.ndarray):
        raise MaskError(f"the mask must be a numpy array, got {type(mask).__name__}")
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if mask.ndim not in (2, 3) or (mask.ndim == 3 and mask.shape[2] != 3):
        raise MaskError(
            f"the mask must be H x W (one value per pixel) or H x W x 3 (one per channel), got shape {mask.shape}"
        )
    if mask.ndim == 3 and not channel_masks:
        if np.array_equal(mask[:, :, 0], mask[:, :, 1]) and np.array_equal(mask[:, :, 0], mask[:, :, 2]):
            mask = mask[:, :, 0]
        else:
            raise MaskError("this model takes one mask for all channels, got a channel-wise mask")
    if mask.shape[:2] != image.shape[:2]:
        raise MaskError(
            f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
            f"{image.shape[1]}x{image.shape[0]}: resize it with engine.maskops.resize_mask first"
        )
    if mask.dtype == bool:
        mask = mask.astype(np.uint8) * 255
    elif mask.dtype != np.uint8:
        raise MaskError(f"the mask must be uint8 (255 = missing) or bool, got {mask.dtype}")
    binary = np.where(mask > 127, 255, 0).astype(np.uint8)
    if not binary.any():
        raise MaskError("the mask is empty: paint the part of the photo to complete")
    return binary


class InpaintModel:
    """Base class of every model (after IOPaint's ``InpaintModel``).

    ``info`` and ``settings_cls`` come from the model's row in ``engine.models.MODELS`` (bound
    when the table first loads the class). ``seeds_per_chunk`` (0 = up to ``MAX_SEEDS_PER_CALL``)
    bounds how many samples one hook call draws, and so how long Cancel can wait and how much
    memory a request for thousands of samples can take at once.
    """

    info: ClassVar[ModelInfo]
    settings_cls: ClassVar[type] = NoSettings
    seeds_per_chunk: ClassVar[int] = 0

    def __init__(self, device: str | None = None, weights: str | Path | None = None) -> None:
        if not hasattr(type(self), "info"):
            raise TypeError(f"{type(self).__name__} has no ModelInfo: create it with engine.models.create_model")
        self.requested_device = device or "auto"
        self.weights_path = Path(weights) if weights is not None else None
        self._loaded = False
        self.settings = self.settings_cls()  # used when a request brings none

    # -- weights and device -------------------------------------------------------------------
    @classmethod
    def weights_status(cls, weights: str | Path | None = None) -> WeightsStatus:
        """Cheap check (no network, no model build) used by pickers and ``--list-models``."""
        return model_weights_status(cls.info, weights)

    def load(self) -> None:
        """Build the network and load weights once; later calls are free."""
        if not self._loaded:
            self._load()
            self._loaded = True

    def _load(self) -> None:
        """Subclasses with weights override this (raise ``WeightsError`` with the file's name)."""

    @property
    def device(self) -> str:
        return str(select_device(self.requested_device))

    # -- the work -----------------------------------------------------------------------------
    def _inpaint_crop(
        self, crop: np.ndarray, mask: np.ndarray, *, seeds: list[int], settings: Any,
        progress: ProgressCallback, cancel: CancelToken, landmarks: np.ndarray | None = None,
    ) -> list[CropCompletion]:
        """Fill ``mask`` (255 = missing) of ``crop`` (uint8 RGB, hole blanked), one completion per seed.

        Every model overrides this. For face models the crop is an aligned face at
        ``info.resolution``; region models accept any size. Pixels outside the mask may be
        changed: the caller composites. Iterative models report ``progress`` and call
        ``cancel.check`` between their steps. ``landmarks`` are the face's 68 points in the crop's
        pixels when the caller knows them (the alignment does), else None; a model that reads
        them (the face-mirror prefill) must work without them.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement _inpaint_crop")

    def inpaint_crop(
        self,
        crop: np.ndarray,
        mask: np.ndarray,
        *,
        samples: int = 1,
        seed: int | None = None,
        seeds: Sequence[int] | None = None,
        settings: Any = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        landmarks: np.ndarray | None = None,
    ) -> list[CropCompletion]:
        """``_inpaint_crop`` with validation, seeding, chunking, cancelling and exact compositing.

        ``landmarks``: the face's (68, 2) points in ``crop`` pixels, if known."""
        mask = validate_image_and_mask(crop, mask, channel_masks=self.info.channel_masks)
        if landmarks is not None:
            landmarks = np.asarray(landmarks, np.float32)
            if landmarks.shape != (68, 2) or not np.isfinite(landmarks).all():
                raise MaskError(f"landmarks must be 68 finite (x, y) points, got an array of shape {landmarks.shape}")
        if self.info.needs_face and self.info.resolution and crop.shape[:2] != (self.info.resolution,) * 2:
            raise MaskError(
                f"{self.info.name} works on {self.info.resolution}x{self.info.resolution} aligned crops, "
                f"got {crop.shape[1]}x{crop.shape[0]}"
            )
        seeds = resolve_seeds(samples, seed, seeds, self.info.diverse)
        settings = self.settings if settings is None else make_settings(self.settings_cls, settings)
        progress = progress or _noop_progress
        cancel = cancel or CancelToken()
        cancel.check("before the model started")
        self.load()
        # The hole's pixels are blanked before any model sees them: a user often masks an intact
        # photo, and no model may read the answer it is asked to invent.
        blanked = composite(crop, np.zeros_like(crop), mask)
        size = min(self.seeds_per_chunk or MAX_SEEDS_PER_CALL, MAX_SEEDS_PER_CALL)
        outputs: list[CropCompletion] = []
        for start in range(0, len(seeds), size):
            cancel.check(f"after {start} of {len(seeds)} samples")
            chunk = seeds[start : start + size]
            chunk_progress = _scaled_progress(progress, start / len(seeds), len(chunk) / len(seeds))
            outputs += self._with_oom_fallback(
                lambda chunk=chunk, chunk_progress=chunk_progress: self._inpaint_crop(
                    blanked, mask, seeds=chunk, settings=settings, progress=chunk_progress, cancel=cancel,
                    landmarks=landmarks)
            )
        for out in outputs:
            out.image = composite(crop, out.image, mask)
        progress(1.0, "done", None)
        return outputs

    def inpaint(self, request: InpaintRequest | np.ndarray, mask: np.ndarray | None = None, **fields: Any) -> list[InpaintResult]:
        """Complete the masked part of a whole photo; returns one result per sample.

        Takes an ``InpaintRequest``, or its fields: ``inpaint(image, mask, samples=, seed=, ...)``.
        """
        if not isinstance(request, InpaintRequest):
            request = InpaintRequest(request, mask, **fields)
        mask = validate_image_and_mask(request.image, request.mask, channel_masks=self.info.channel_masks)
        if self.info.needs_face:
            return self._inpaint_face(request, mask)
        return self._inpaint_region(request, mask)

    def _crop_call(self, request: InpaintRequest, crop: np.ndarray, crop_mask: np.ndarray,
                   landmarks: np.ndarray | None = None) -> list[CropCompletion]:
        return self.inpaint_crop(
            crop, crop_mask, samples=request.samples, seed=request.seed, seeds=request.seeds,
            settings=request.settings, progress=request.progress, cancel=request.cancel, landmarks=landmarks,
        )

    def _inpaint_face(self, request: InpaintRequest, mask: np.ndarray) -> list[InpaintResult]:
        image, face = request.image, request.face
        flat_mask = flatten(mask)
        if face is None:
            faces = engine.face.detect_faces(image)
            if not faces:
                raise NoFaceError(f"{self.info.display_name} needs a face and none was found in the photo")
            face = engine.face.pick_face_for_mask(faces, flat_mask)
        aligned = engine.face.align_face(image, face, self.info.resolution)
        crop_mask = aligned.warp_mask(mask)
        if not crop_mask.any():
            raise MaskError("the painted area lies outside the face this model completes")
        shared: dict = {}  # the photo-scale detail, made once for every sample
        return [
            InpaintResult(
                image=engine.face.paste_back(image, out.image, aligned, mask, poisson=request.poisson,
                                             crop_mask=crop_mask, shared=shared),
                crop=out.image,
                crop_mask=crop_mask,
                seed=out.seed,
                extras=out.extras,
                alignment=aligned,
                model=self.info.name,
            )
            for out in self._crop_call(request, aligned.crop, crop_mask, aligned.landmarks)
        ]

    def _inpaint_region(self, request: InpaintRequest, mask: np.ndarray) -> list[InpaintResult]:
        image = request.image
        y0, y1, x0, x1 = region_of_interest(mask, margin=max(16, int(0.25 * max(image.shape[:2]) ** 0.5)))
        roi, roi_mask = image[y0:y1, x0:x1], mask[y0:y1, x0:x1]
        results = []
        for out in self._crop_call(request, roi, roi_mask):
            full = image.copy()
            full[y0:y1, x0:x1] = out.image  # already composited: identical outside the mask
            results.append(InpaintResult(full, out.image, roi_mask, out.seed, out.extras, None, self.info.name))
        return results

    def _with_oom_fallback(self, run: Callable[[], list[CropCompletion]]) -> list[CropCompletion]:
        """Run; on a CUDA out-of-memory error move to the CPU with a warning and run again."""
        try:
            return run()
        except RuntimeError as err:  # torch.cuda.OutOfMemoryError subclasses RuntimeError
            if "out of memory" not in str(err).lower() or self.requested_device == "cpu":
                raise
            log.warning("%s ran out of GPU memory; running on the CPU instead", self.info.name)
            empty_cache()
            self.to_cpu()
            return run()

    def to_cpu(self) -> None:
        """Move the network to the CPU (after an out-of-memory error); subclasses with torch override."""
        self.requested_device = "cpu"


def model_weights_status(info: ModelInfo, weights: str | Path | None = None) -> WeightsStatus:
    """Whether the model ``info`` describes can run with ``weights`` (or its shipped ones)."""
    if info.weights_name is None and weights is None:
        return WeightsStatus(True, "no weights needed")
    return check_weights(info.weights_name or info.name, weights)


def _scaled_progress(progress: ProgressCallback, offset: float, span: float) -> ProgressCallback:
    """A chunk's progress mapped onto its share of the whole call."""

    def report(fraction: float, message: str = "", preview: np.ndarray | None = None) -> None:
        progress(offset + span * min(max(fraction, 0.0), 1.0), message, preview)

    return report


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
    flat = flatten(mask)
    ys, xs = np.nonzero(flat)
    h, w = flat.shape
    return (
        max(0, int(ys.min()) - margin),
        min(h, int(ys.max()) + 1 + margin),
        max(0, int(xs.min()) - margin),
        min(w, int(xs.max()) + 1 + margin),
    )
