"""Evaluation protocols: the papers' occlusion cases on aligned face crops, and the metrics.

Per image: read, detect the face once, align it at the protocol's resolution R, build each case's
mask in crop coordinates, let every model complete the crop, and score the whole aligned crop
(PSNR, SSIM, L1 inside the hole, landmark NME). Results are running sums per (model, case), so
memory stays flat over thousands of images. Images are taken in sorted path order and the mask of
image ``i`` is drawn from ``seed + i``, so a run is reproducible. Images where no face is found
(or that cannot be read) are listed as skipped, never silently dropped.

A face model whose native resolution differs from R gets the crop resized to its resolution and
its output resized back to R, then composited into the R crop; ``config["resized_models"]``
records this so tables never pass off a resized run as a native one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from engine.config import build_config, read_toml
from engine.errors import FaceInpaintError, ImageReadError, MaskError, NoFaceError, WeightsError
from engine.face import align_face, detect_faces, detect_landmarks
from engine.face.align import add_classical_detail, resize_points
from engine.face.identity import face_descriptor, identity_distance
from engine.imageio import image_files, read_image
from engine.maskops import flatten
from engine.masks import (
    COLLAGAN_CASES,
    COLLAGAN_CODES,
    MDE_CASES,
    IrregularMaskFolder,
    center_block,
    enlarge_mask_covering,
    hole_area_bucket,
    preset_mask,
    random_block,
    random_noise,
    shrink_mask_covering,
)
from engine.metrics import SSIM_SIGMA, l1_hole, landmark_nme, psnr, sample_spread, ssim
from engine.models import create_model, get_spec
from engine.models.base import InpaintModel, composite
from engine.prefill import classical_fill

METRICS = ("psnr", "ssim", "l1_hole", "landmark_nme", "identity_dist", "sample_spread")
# A diverse model's second completion of each hole (for ``sample_spread``) uses seed + this.
SPREAD_SEED_OFFSET = 1_000_003


# -- protocols ------------------------------------------------------------------------------------
MaskMaker = Callable[[str, np.ndarray, int, int], np.ndarray]  # (case, crop landmarks, R, seed) -> mask


@dataclass(frozen=True)
class Protocol:
    """A named set of occlusion cases and the resolution its paper evaluated at."""

    name: str
    default_resolution: int
    source: str
    cases: tuple[str, ...]
    make_mask: MaskMaker | None = None  # None: masks come from a folder (see IrregularMasks)
    labels: dict[str, str] = field(default_factory=dict)  # case -> column header, e.g. "O1 left-eye"


def _preset(case: str, landmarks: np.ndarray, size: int, seed: int) -> np.ndarray:
    return preset_mask(case, landmarks, (size, size), seed=seed)


def _center_block(case: str, landmarks: np.ndarray, size: int, seed: int) -> np.ndarray:
    return center_block((size, size))


def _random_block(case: str, landmarks: np.ndarray, size: int, seed: int) -> np.ndarray:
    """One square of half the crop's side at a random place (64 x 64 at 128 px, Liao et al. 2018 and Li et al. 2017)."""
    return random_block((size, size), block=size // 2, seed=seed)


def _noise_80(case: str, landmarks: np.ndarray, size: int, seed: int) -> np.ndarray:
    return random_noise((size, size), ratio=0.8, seed=seed)


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            "collagan-occlusions",
            128,
            "Liao et al. 2018 Table 1 (O1-O6)",
            COLLAGAN_CASES,
            _preset,
            {case: f"{code} {case}" for code, case in COLLAGAN_CODES.items()},
        ),
        Protocol("mde-occlusions", 96, "Dapogny et al. 2020 Table 3", MDE_CASES, _preset),
        Protocol("center-block", 64, "Sami et al. 2018 central square", ("center-block",), _center_block),
        Protocol("random-block", 128, "Liao et al. 2018 / Li et al. 2017 random 64x64 block at 128 px", ("random-block",), _random_block),
        Protocol("irregular", 128, "irregular masks from --masks, by hole-area bucket", ()),
        Protocol("noise-80", 64, "Sami et al. 2018 random mask, 80% of pixels missing", ("noise-80",), _noise_80),
    )
}


class IrregularMasks:
    """Masks of a folder, one per image drawn from ``seed + i``, bucketed by hole area after the fact."""

    def __init__(self, root: Path) -> None:
        # No flips or rotations: eval uses the masks as they are, only the choice is random.
        self.folder = IrregularMaskFolder(root, flip=False, rotate=False)

    def __call__(self, size: int, seed: int) -> tuple[str, np.ndarray]:
        mask = self.folder.sample((size, size), seed)
        lo, hi = hole_area_bucket(mask, 0.1)
        return f"{round(lo * 100)}-{round(hi * 100)}%", mask


# -- configuration and results --------------------------------------------------------------------
@dataclass
class EvalConfig:
    """What ``faceinpaint-eval`` was asked to do (recorded in the report)."""

    data: list[Path]
    protocol: str
    models: list[str]
    weights: dict[str, Path] = field(default_factory=dict)
    masks: Path | None = None
    resolution: int | None = None
    limit: int | None = None
    subset: int | None = None  # N images evenly spaced through the sorted list (a representative sample)
    seed: int = 0
    face_backend: str = "auto"
    device: str = "auto"
    face_metrics: bool = True  # landmark NME and identity distance (each reads the result's face again)
    sample_spread: bool = False  # diverse models complete each hole twice; their mean difference in the hole

    def __post_init__(self) -> None:
        self.data = [Path(d) for d in ([self.data] if isinstance(self.data, (str, Path)) else self.data)]
        self.models = [self.models] if isinstance(self.models, str) else list(self.models)
        self.weights = {name: Path(file) for name, file in self.weights.items()}
        self.masks = Path(self.masks) if self.masks is not None else None
        if self.protocol not in PROTOCOLS:
            raise FaceInpaintError(f"unknown protocol {self.protocol!r}; choose one of {', '.join(PROTOCOLS)}")
        if self.protocol == "irregular" and self.masks is None:
            raise MaskError("the irregular protocol needs --masks DIR (e.g. ../shared/data/masks/val)")
        if not self.models:
            raise FaceInpaintError("no models to evaluate")
        stray = sorted(set(self.weights) - set(self.models))
        if stray:
            raise FaceInpaintError(f"--weights given for {', '.join(stray)}, which --models does not list")

    @property
    def size(self) -> int:
        return self.resolution or PROTOCOLS[self.protocol].default_resolution

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> EvalConfig:
        """Read a config from TOML (keys = field names, values checked against their types);
        ``overrides`` that are not None win."""
        return build_config(cls, [(str(path), read_toml(path)),
                                  ("options", {k: v for k, v in overrides.items() if v is not None})])


@dataclass
class _Running:
    """Sums of each metric over the images it could be computed on."""

    n: int = 0
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(METRICS, 0.0))
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRICS, 0))

    def add(self, values: dict[str, float]) -> None:
        self.n += 1
        for key, value in values.items():
            if value is not None and math.isfinite(value):
                self.sums[key] += value
                self.counts[key] += 1

    def means(self) -> dict[str, float | None]:
        return {k: (self.sums[k] / self.counts[k] if self.counts[k] else None) for k in METRICS}


@dataclass
class EvalReport:
    rows: list[dict[str, Any]]
    skipped: list[dict[str, str]]
    config: dict[str, Any]
    cases: list[str]
    labels: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "skipped": len(self.skipped), "skipped_images": self.skipped, "config": self.config}

    def to_markdown(self) -> str:
        """Tables laid out like Liao et al. 2018 Table 1: models as rows, cases as columns."""
        models = list(dict.fromkeys(row["model"] for row in self.rows))
        cell = {(row["model"], row["case"]): row for row in self.rows}
        header = [self.labels.get(case, case) for case in self.cases]

        def table(title: str, fmt: Callable[[dict[str, Any]], str]) -> str:
            lines = [title, "", "| model | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
            for model in models:
                cells = [fmt(cell[(model, c)]) if (model, c) in cell else "-" for c in self.cases]
                lines.append(f"| {model} | " + " | ".join(cells) + " |")
            return "\n".join(lines)

        c = self.config
        intro = (
            f"Protocol `{c['protocol']}` at {c['resolution']} px on {c['images']} images "
            f"({c['skipped']} skipped: no face or unreadable), seed {c['seed']}, data {', '.join(c['data'])}."
        )
        if c["resized_models"]:
            intro += " Resized to their native resolution and back: " + ", ".join(c["resized_models"]) + "."
        quality = table("SSIM (%) / PSNR (dB), higher is better", lambda r: f"{_num(r['ssim'], 100, 1)}/{_num(r['psnr'], 1, 2)}")
        errors = table(
            "L1 inside the hole (0-1) / landmark NME (inter-ocular), lower is better",
            lambda r: f"{_num(r['l1_hole'], 1, 4)}/{_num(r['landmark_nme'], 1, 4)}",
        )
        identity = table(
            "Identity distance (dlib 128-D descriptors of the result vs the original; 0 = same face), lower is better",
            lambda r: _num(r.get("identity_dist"), 1, 4),
        )
        tables = [intro, quality, errors, identity]
        if any(row.get("sample_spread") is not None for row in self.rows):
            tables.append(table("Sample spread (two seeds' completions, mean difference in the hole, 0-255): "
                                "0 = one completion whatever the seed", lambda r: _num(r.get("sample_spread"), 1, 2)))
        return "\n\n".join(tables) + "\n"


def _num(value: float | None, scale: float, digits: int) -> str:
    return "n/a" if value is None else f"{value * scale:.{digits}f}"


# -- the run --------------------------------------------------------------------------------------
def list_images(folders: list[Path], limit: int | None = None, subset: int | None = None) -> list[Path]:
    """Image files of the folders (not recursive), in sorted path order: the first ``limit``, then
    ``subset`` evenly spaced among those (file names often sort by age or identity, so the first N
    are not a fair sample)."""
    found = [path for folder in folders for path in image_files(folder)]
    if not found:
        raise ImageReadError(f"no images in {', '.join(map(str, folders))}")
    found = sorted(found)[:limit]
    if subset is not None and subset < len(found):
        found = [found[int(k * len(found) / subset)] for k in range(subset)]
    return found


@dataclass
class _PreparedImage:
    """One image's aligned crop and the landmarks of the original crop (computed once per run)."""

    crop: np.ndarray
    landmarks: np.ndarray  # (68, 2) crop coordinates, from the alignment
    box: tuple[float, float, float, float]  # face box in crop coordinates, reused for the result
    reference: np.ndarray | None  # landmarks detected on the original crop in ``box``
    identity: np.ndarray | None = None  # dlib's 128-D descriptor of the original face


def prepare_image(path: Path, size: int, backend: str, face_metrics: bool = True) -> _PreparedImage:
    """One photo's first face aligned at ``size`` px, with what the face metrics need (raises NoFaceError)."""
    image = read_image(path)
    faces = detect_faces(image, backend=backend)
    if not faces:
        raise NoFaceError("no face found")
    aligned = align_face(image, faces[0], size)
    box = _box_in_crop(faces[0].box, aligned.matrix, size)
    if not face_metrics:  # PSNR and SSIM only: no reference landmarks or identity to read
        return _PreparedImage(aligned.crop, aligned.landmarks, box, None, None)
    return _PreparedImage(aligned.crop, aligned.landmarks, box, _landmarks_or_none(aligned.crop, box, backend),
                          _descriptor_or_none(aligned.crop, box))


def _descriptor_or_none(crop: np.ndarray, box) -> np.ndarray | None:
    """dlib's identity descriptor of the face in ``box``; None where dlib or its models are missing."""
    try:
        return face_descriptor(crop, box)
    except FaceInpaintError:
        return None


def _box_in_crop(box, matrix: np.ndarray, size: int) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64)
    mapped = corners @ np.asarray(matrix, np.float64)[:, :2].T + np.asarray(matrix, np.float64)[:, 2]
    lo, hi = np.clip(mapped.min(axis=0), 0, size - 1), np.clip(mapped.max(axis=0), 0, size - 1)
    return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def _landmarks_or_none(crop: np.ndarray, box, backend: str) -> np.ndarray | None:
    try:
        return np.asarray(detect_landmarks(crop, box, backend=backend), np.float64)
    except FaceInpaintError:
        return None


class _ModelRunner:
    """Runs one model on R-sized crops, resizing to and from its native resolution if needed."""

    def __init__(self, model: InpaintModel, size: int) -> None:
        self.model = model
        self.size = size
        native = model.info.resolution
        self.native = native if model.info.needs_face and native and native != size else None

    def __call__(self, crop: np.ndarray, mask: np.ndarray, seed: int, landmarks: np.ndarray | None = None) -> np.ndarray:
        """``landmarks``: the face's 68 points in ``crop`` pixels (the app hands models the alignment's)."""
        # The model never sees the ground truth: the hole is blanked before it gets the crop.
        crop = composite(crop, np.zeros_like(crop), mask)
        if self.native is None:
            return self.model.inpaint_crop(crop, mask, seed=seed, landmarks=landmarks)[0].image
        small = cv2.resize(crop, (self.native,) * 2, interpolation=cv2.INTER_AREA if self.native < self.size else cv2.INTER_CUBIC)
        # Shrinking with nearest neighbour would drop thin strokes and hand the model blanked pixels as
        # known ones (MDE at 96 px on 128 px irregular masks lost up to 10 dB that way).
        # Enlarging, bicubic spreads the blanked hole into the ring around it: that ring is a hole too.
        small_mask = (shrink_mask_covering(mask, (self.native, self.native)) if self.native < self.size
                      else enlarge_mask_covering(mask, (self.native, self.native)))
        small_landmarks = None if landmarks is None else resize_points(landmarks, self.size, self.native)
        out = self.model.inpaint_crop(small, small_mask, seed=seed, landmarks=small_landmarks)[0].image
        back = cv2.resize(out, (self.size,) * 2, interpolation=cv2.INTER_CUBIC)
        if self.native < self.size:  # what paste_back adds when a crop is enlarged into a photo
            flat_small = flatten(small_mask)
            small_fill = cv2.resize(classical_fill(small, flat_small), (self.size,) * 2, interpolation=cv2.INTER_CUBIC)
            hole = flatten(mask)
            back = add_classical_detail(back, crop, hole > 127, small_fill)
        return composite(crop, back, mask)


def evaluate(config: EvalConfig, *, progress: bool = True) -> EvalReport:
    """Run every model on every image and case of the protocol; see the module docstring."""
    protocol = PROTOCOLS[config.protocol]
    size = config.size
    images = list_images(config.data, config.limit, config.subset)
    runners = {}
    for name in config.models:
        status = get_spec(name).weights_status(config.weights.get(name))
        if not status.ready:
            raise WeightsError(f"{name} cannot run: {status.reason}")
        runners[name] = _ModelRunner(create_model(name, device=config.device, weights=config.weights.get(name)), size)
        runners[name].model.load()
    irregular = IrregularMasks(config.masks) if config.protocol == "irregular" else None
    cases = list(protocol.cases)
    totals: dict[tuple[str, str], _Running] = {}
    skipped: list[dict[str, str]] = []

    for index, path in enumerate(tqdm(images, desc=config.protocol, unit="img", disable=not progress)):
        try:
            prepared = prepare_image(path, size, config.face_backend, config.face_metrics)
        except FaceInpaintError as err:
            skipped.append({"file": str(path), "reason": str(err)})
            continue
        seed = config.seed + index
        for case, mask in _masks_for(protocol, irregular, cases, prepared, size, seed):
            for name, runner in runners.items():
                result = runner(prepared.crop, mask, seed, prepared.landmarks)
                values = _score(prepared, result, mask, config.face_backend, config.face_metrics)
                if config.sample_spread and runner.model.info.diverse:
                    values["sample_spread"] = sample_spread(result, runner(prepared.crop, mask, seed + SPREAD_SEED_OFFSET, prepared.landmarks), mask)
                totals.setdefault((name, case), _Running()).add(values)

    if irregular is not None:
        cases = sorted({case for _, case in totals}, key=lambda c: int(c.split("-")[0]))
    rows = [
        {"model": name, "case": case, "n": totals[(name, case)].n, **totals[(name, case)].means()}
        for name in config.models
        for case in cases
        if (name, case) in totals
    ]
    resized = [f"{n} ({r.native} px)" for n, r in runners.items() if r.native is not None]
    recorded = {
        **{k: v for k, v in asdict(config).items() if k not in ("data", "weights", "masks")},
        "data": [str(d) for d in config.data],
        "weights": {k: str(v) for k, v in config.weights.items()},
        "masks": str(config.masks) if config.masks else None,
        "resolution": size,
        "protocol_source": protocol.source,
        "cases": cases,
        "images": len(images),
        "skipped": len(skipped),
        "resized_models": resized,
        "metrics": "whole aligned crop, uint8 RGB: PSNR (dB), SSIM (Wang et al. 2004: Gaussian window, sigma "
        f"{SSIM_SIGMA}, population covariances, mean over channels); L1 in the hole (0-1);"
        " landmark NME = mean 68-point error on the result vs the original crop in the same box / inter-ocular;"
        " identity_dist = distance of dlib's 128-D face descriptors of the result and the original (same box);"
        " sample_spread (diverse models) = mean absolute difference in the hole of the completions with seeds s and"
        f" s + {SPREAD_SEED_OFFSET} (0-255)",
    }
    return EvalReport(rows, skipped, recorded, cases, protocol.labels)


def _masks_for(protocol, irregular, cases, prepared, size, seed) -> Iterator[tuple[str, np.ndarray]]:
    if irregular is not None:
        yield irregular(size, seed)
        return
    for case in cases:
        yield case, protocol.make_mask(case, prepared.landmarks, size, seed)


def _score(prepared: _PreparedImage, result: np.ndarray, mask: np.ndarray, backend: str,
           face_metrics: bool = True) -> dict[str, float]:
    if not face_metrics:
        return {"psnr": psnr(prepared.crop, result), "ssim": ssim(prepared.crop, result),
                "l1_hole": l1_hole(prepared.crop, result, mask), "landmark_nme": None, "identity_dist": None}
    nme = None
    if prepared.reference is not None:
        found = _landmarks_or_none(result, prepared.box, backend)
        nme = landmark_nme(found, prepared.reference) if found is not None else None
    return {
        "psnr": psnr(prepared.crop, result),
        "ssim": ssim(prepared.crop, result),
        "l1_hole": l1_hole(prepared.crop, result, mask),
        "landmark_nme": nme,
        "identity_dist": (identity_distance(found_identity, prepared.identity)
                          if prepared.identity is not None and (found_identity := _descriptor_or_none(result, prepared.box)) is not None
                          else None),
    }
