"""Face detection and 68-point landmarks behind one interface, with two backends.

* ``"dlib"``: dlib's HOG frontal-face detector and the 68-point shape predictor shipped with
  face-recognition-models. Always available offline once those packages are installed.
* ``"fan"``: the same HOG boxes, with landmarks from face-alignment's 2D-FAN-4 hourglass (more
  accurate on hard faces). Its weights are not shipped: it is available only when
  ``2DFAN4-11f355bf06.pth.tar`` is in torch hub's checkpoint folder (``download_fan_weights()``).

``"auto"`` uses FAN when its weights are present and falls back to dlib otherwise, also when
the FAN file turns out to be unreadable. Models load once per process behind a lock.

Detection runs on a copy no larger than ``MAX_DETECTION_SIDE`` (upsampled once when the photo is
small) and the landmarks on the full-resolution photo inside the rescaled box, so a 12 MP photo
costs about what a 1 MP one does.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
import threading
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from engine.device import select_device
from engine.errors import BackendUnavailableError, NoFaceError, WeightsError
from engine.face.align import warp_affine_region
from engine.face.labels import heatmap_peaks
from engine.face.types import Face

log = logging.getLogger(__name__)

BACKENDS = ("auto", "fan", "dlib")
MAX_DETECTION_SIDE = 1024
UPSAMPLE_BELOW = 400  # photos whose long side is shorter are searched at twice the size

DLIB_LANDMARKS_FILE = "shape_predictor_68_face_landmarks.dat"
FAN_WEIGHTS_FILE = "2DFAN4-11f355bf06.pth.tar"
FAN_WEIGHTS_URL = "https://www.adrianbulat.com/downloads/python-fan/" + FAN_WEIGHTS_FILE
# face-alignment's conventions for turning a detector box into FAN's 256 px input: the crop is
# centred on the box moved up by 12 % of its height and spans 200 * (w + h) / 195 pixels.
FAN_INPUT_SIZE = 256
FAN_HEATMAP_SIZE = 64
FAN_REFERENCE_SCALE = 195.0
FAN_CENTER_SHIFT = 0.12

INSTALL_HINT = "pip install dlib-bin face-recognition-models"

Box = tuple[float, float, float, float]

_load_lock = threading.Lock()
_hog_lock = threading.Lock()
_predictor_lock = threading.Lock()
_fan_lock = threading.Lock()
_hog_detector = None
_predictor = None
# (path, size, mtime) of the FAN file last loaded -> the network, or the WeightsError it raised
_fan_key: tuple | None = None
_fan_loaded = None


# -- where things are -----------------------------------------------------------------------------
def fan_weights_path() -> Path:
    """Where face-alignment keeps 2D-FAN-4: ``torch.hub.get_dir()/checkpoints/``."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / FAN_WEIGHTS_FILE


def dlib_landmarks_path() -> Path | None:
    """The 68-point predictor inside face-recognition-models, or None when the package is absent.

    Located with ``find_spec`` rather than by importing the package, whose ``__init__`` needs
    ``pkg_resources`` (gone in setuptools >= 81).
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models" / DLIB_LANDMARKS_FILE


def _missing_module(name: str) -> bool:
    return importlib.util.find_spec(name) is None


def _fan_file_key(path: Path) -> tuple:
    stat = path.stat()
    return (str(path), stat.st_size, stat.st_mtime_ns)


# -- availability -----------------------------------------------------------------------------------
def _dlib_reason() -> str:
    if _missing_module("dlib"):
        return "dlib is not installed (pip install dlib-bin)"
    path = dlib_landmarks_path()
    if path is None:
        return "face-recognition-models is not installed (pip install face-recognition-models)"
    if not path.is_file():
        return f"the 68-point landmark model {path} is missing (pip install --force-reinstall face-recognition-models)"
    return ""


def dlib_can_run() -> bool:
    """Whether the dlib backend is installed with its landmark model (imports nothing heavy)."""
    return not _dlib_reason()


def _fan_reason() -> str:
    if _missing_module("dlib"):
        return "FAN takes its face boxes from dlib, which is not installed (pip install dlib-bin)"
    if _missing_module("torch") or _missing_module("face_alignment"):
        return "torch and face-alignment are needed (pip install torch face-alignment)"
    path = fan_weights_path()
    if not path.is_file():
        return f"the FAN weights {path} are not there (engine.face.download_fan_weights() fetches them)"
    with _load_lock:
        if _fan_key == _fan_file_key(path) and isinstance(_fan_loaded, WeightsError):
            return str(_fan_loaded)
    return ""


_REASONS = {"fan": _fan_reason, "dlib": _dlib_reason}  # in "auto"'s order of preference


def available_backends() -> dict[str, str]:
    """Backend name -> "" when it can run, else the reason it cannot (cheap: loads nothing)."""
    return {name: reason() for name, reason in _REASONS.items()}


def _backend_order(backend: str) -> list[str]:
    """Backends to try for ``backend``, best first; raises when none can run."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown face backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend != "auto":
        reason = _REASONS[backend]()
        if reason:
            raise BackendUnavailableError(f"the {backend} face backend cannot run: {reason}")
        return [backend]
    reasons = available_backends()
    usable = [name for name, reason in reasons.items() if not reason]
    if not usable:
        details = "; ".join(f"{name}: {why}" for name, why in reasons.items())
        raise BackendUnavailableError(f"no face detector can run ({details}). Install one with: {INSTALL_HINT}")
    return usable


def _first_that_loads(order: list[str], work):
    """``work(name)`` for the first backend whose weights load ("auto" falls back past a bad FAN file)."""
    for name in order[:-1]:
        try:
            return work(name)
        except WeightsError as err:
            log.warning("%s; using the %s face backend instead", err, order[-1])
    return work(order[-1])


# -- loading ------------------------------------------------------------------------------------------
def _hog():
    global _hog_detector
    with _load_lock:
        if _hog_detector is None:
            import dlib

            _hog_detector = dlib.get_frontal_face_detector()
        return _hog_detector


def _shape_predictor():
    global _predictor
    with _load_lock:
        if _predictor is None:
            import dlib

            path = dlib_landmarks_path()
            if path is None or not path.is_file():
                raise BackendUnavailableError(f"the dlib face backend cannot run: {_dlib_reason()}")
            _predictor = dlib.shape_predictor(str(path))
        return _predictor


def _fan():
    """The 2D-FAN-4 network in eval mode, loaded once per weights file (raises WeightsError)."""
    global _fan_key, _fan_loaded
    path = fan_weights_path()
    if not path.is_file():
        raise BackendUnavailableError(f"the fan face backend cannot run: {_fan_reason()}")
    with _load_lock:
        key = _fan_file_key(path)
        if key != _fan_key:
            _fan_key, _fan_loaded = key, _load_fan(path)
        if isinstance(_fan_loaded, WeightsError):
            raise _fan_loaded
        return _fan_loaded


def _load_fan(path: Path):
    """Build FAN(4) and load ``path`` into it; returns the WeightsError instead when that fails."""
    import torch
    from face_alignment.models import FAN

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for truncated or foreign files
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return WeightsError(
            f"the FAN weights {path} could not be read ({first_line}); delete the file and download it again"
        )
    network = FAN(4)
    try:
        network.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        first_line = str(err).strip().splitlines()[0]
        return WeightsError(f"the FAN weights {path} do not fit 2D-FAN-4 ({first_line})")
    return network.eval().to(select_device("auto"))


def download_fan_weights(*, timeout: float = 15.0) -> Path:
    """Fetch 2D-FAN-4 into torch hub's checkpoint folder (atomic; a no-op when already there).

    Only runs when a user asks for it; offline it fails within ``timeout`` seconds with a
    WeightsError that says where to put a copy by hand.
    """
    dest = fan_weights_path()
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=dest.parent, prefix=f".{FAN_WEIGHTS_FILE}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(FAN_WEIGHTS_URL, timeout=timeout) as response:
            shutil.copyfileobj(response, out)
        os.replace(partial, dest)
    except OSError as err:  # URLError, timeouts and disk errors are all OSErrors
        Path(partial).unlink(missing_ok=True)
        reason = getattr(err, "reason", None) or err
        raise WeightsError(
            f"could not download the FAN weights from {FAN_WEIGHTS_URL} ({reason}); "
            f"without internet, copy {FAN_WEIGHTS_FILE} into {dest.parent} by hand"
        ) from err
    return dest


# -- the work -----------------------------------------------------------------------------------------
def _as_rgb(image: np.ndarray) -> np.ndarray:
    """Contiguous H x W x 3 uint8 (grey is stacked, an alpha channel dropped)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(f"face detection needs a uint8 image array, got {getattr(image, 'dtype', type(image))}")
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(f"face detection needs an H x W x 3 image, got shape {image.shape}")
    return np.ascontiguousarray(image)


def _hog_boxes(image: np.ndarray) -> list[tuple[Box, float]]:
    """HOG detections as ((x0, y0, x1, y1) in photo pixels, score), on a bounded-size copy."""
    height, width = image.shape[:2]
    long_side = max(height, width)
    if long_side > MAX_DETECTION_SIDE:
        small_w = max(1, round(width * MAX_DETECTION_SIDE / long_side))
        small_h = max(1, round(height * MAX_DETECTION_SIDE / long_side))
        search = cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_AREA)
    else:
        search = image
    sx, sy = width / search.shape[1], height / search.shape[0]
    upsample = 1 if long_side < UPSAMPLE_BELOW else 0
    detector = _hog()
    with _hog_lock:
        rects, scores, _ = detector.run(search, upsample, 0.0)
    # dlib's right/bottom are inclusive pixel indices; boxes here have exclusive edges.
    return [
        ((r.left() * sx, r.top() * sy, (r.right() + 1) * sx, (r.bottom() + 1) * sy), float(score))
        for r, score in zip(rects, scores)
    ]


def _dlib_landmarks(image: np.ndarray, box: Box) -> np.ndarray:
    import dlib

    predictor = _shape_predictor()
    x0, y0, x1, y1 = (round(v) for v in box)
    rect = dlib.rectangle(int(x0), int(y0), int(x1) - 1, int(y1) - 1)
    with _predictor_lock:
        shape = predictor(image, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def fan_input_matrix(box: Box) -> np.ndarray:
    """2x3 photo -> FAN-input matrix for a detector box, after face-alignment's crop convention."""
    x0, y0, x1, y1 = (float(v) for v in box)
    width, height = x1 - x0, y1 - y0
    centre_x = (x0 + x1) / 2 - 0.5  # exclusive box edges -> pixel-centre coordinates
    centre_y = (y0 + y1) / 2 - 0.5 - FAN_CENTER_SHIFT * height
    scale = FAN_INPUT_SIZE / (200.0 * (width + height) / FAN_REFERENCE_SCALE)
    half = (FAN_INPUT_SIZE - 1) / 2
    return np.array([[scale, 0, half - scale * centre_x], [0, scale, half - scale * centre_y]])


def _fan_landmarks(image: np.ndarray, box: Box) -> np.ndarray:
    """FAN on the 256 px crop around ``box``; heatmap peaks mapped back to photo pixels.

    No flip test-time augmentation (face-alignment's default doubles the cost for a small gain).
    """
    import torch

    network = _fan()
    matrix = fan_input_matrix(box)
    crop = warp_affine_region(image, matrix, (FAN_INPUT_SIZE, FAN_INPUT_SIZE), border_mode=cv2.BORDER_CONSTANT)
    device = next(network.parameters()).device
    batch = torch.from_numpy(crop).permute(2, 0, 1)[None].float().div(255.0).to(device)
    with _fan_lock, torch.inference_mode():
        heatmaps = network(batch)[-1][0].float().cpu().numpy()
    if not np.isfinite(heatmaps).all():
        raise WeightsError(f"the FAN weights {fan_weights_path()} produce non-finite heatmaps")
    # Heatmap cell j covers input pixels 4j..4j+3, whose centre is 4j + 1.5.
    stride = FAN_INPUT_SIZE / FAN_HEATMAP_SIZE
    in_input = heatmap_peaks(heatmaps) * stride + (stride - 1) / 2
    inverse = cv2.invertAffineTransform(matrix)
    return (in_input @ inverse[:, :2].T + inverse[:, 2]).astype(np.float32)


_LANDMARKERS = {"dlib": _dlib_landmarks, "fan": _fan_landmarks}


def _faces_with(backend: str, image: np.ndarray, detections: list[tuple[Box, float]]) -> list[Face]:
    landmarker = _LANDMARKERS[backend]
    faces = [Face(box=box, landmarks=landmarker(image, box), score=score, backend=backend) for box, score in detections]
    return sorted(faces, key=lambda face: (-face.area, -face.score))


def detect_faces(image: np.ndarray, backend: str = "auto") -> list[Face]:
    """Every face in an RGB photo with its 68 landmarks, largest first (ties: higher score first)."""
    order = _backend_order(backend)
    rgb = _as_rgb(image)
    detections = _hog_boxes(rgb)
    if not detections:
        return []
    return _first_that_loads(order, lambda name: _faces_with(name, rgb, detections))


def detect_landmarks(image: np.ndarray, box: Box, backend: str = "auto") -> np.ndarray:
    """(68, 2) float32 landmarks of the face in ``box`` (x0, y0, x1, y1), without detection.

    Eval uses it to compare a completion's landmarks with the original's inside the same box.
    """
    order = _backend_order(backend)
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"the box {box} is empty (need x0 < x1 and y0 < y1)")
    rgb = _as_rgb(image)
    return _first_that_loads(order, lambda name: _LANDMARKERS[name](rgb, (x0, y0, x1, y1)))


def pick_face_for_mask(faces: list[Face], mask: np.ndarray) -> Face:
    """The face whose box, enlarged 1.5x about its centre, holds the most hole pixels.

    The enlargement reaches hair, forehead and chin that the tight detector box leaves out.
    When the hole touches no face, the largest face is returned.
    """
    if not faces:
        raise NoFaceError("there is no face to complete")
    hole = np.asarray(mask)
    if hole.ndim == 3:
        hole = hole.max(axis=2)
    hole = hole > 127 if hole.dtype != bool else hole
    height, width = hole.shape

    def overlap(face: Face) -> int:
        x0, y0, x1, y1 = face.box
        cx, cy, half_w, half_h = (x0 + x1) / 2, (y0 + y1) / 2, 0.75 * (x1 - x0), 0.75 * (y1 - y0)
        left, right = max(0, int(cx - half_w)), min(width, int(np.ceil(cx + half_w)))
        top, bottom = max(0, int(cy - half_h)), min(height, int(np.ceil(cy + half_h)))
        return int(hole[top:bottom, left:right].sum()) if right > left and bottom > top else 0

    largest = max(faces, key=lambda face: (face.area, face.score))
    best = max(faces, key=lambda face: (overlap(face), face.area, face.score))
    return best if overlap(best) > 0 else largest
