"""Photo folders -> cached 68-point landmarks: the face detection training pays once.

``scan_folders`` runs the engine's face pipeline once per photo in a process pool and caches the
landmarks in ``<cache_dir>/landmarks.npz`` (keyed by path, size and a hash of the bytes; no
pickle), so later epochs, runs and packs skip detection. Photos that cannot be read or hold no
face are counted in the ``ScanReport`` and left out, never fatal.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from engine.atomic import atomic_write
from engine.errors import FaceInpaintError
from engine.imageio import image_files

log = logging.getLogger(__name__)


@dataclass
class FolderCount:
    found: int = 0
    usable: int = 0
    no_face: int = 0
    unreadable: int = 0


@dataclass
class ScanReport:
    folders: dict[str, FolderCount] = field(default_factory=dict)
    train: int = 0
    val: int = 0

    def as_dict(self) -> dict:
        return {"folders": {k: vars(v) for k, v in self.folders.items()}, "train": self.train, "val": self.val}

    def summary(self) -> str:
        parts = [f"{k}: {v.usable}/{v.found} usable ({v.no_face} without a face, {v.unreadable} unreadable)"
                 for k, v in self.folders.items()]
        return "; ".join(parts) + f"; {self.train} train / {self.val} held-out faces"


@dataclass(frozen=True)
class FaceRecord:
    path: str
    landmarks: np.ndarray  # (68, 2) float32 in photo pixels


def find_images(folder: str | Path) -> list[Path]:
    """Every image below ``folder`` (recursively), sorted; a missing folder is a one-line error."""
    if not Path(folder).is_dir():
        raise FaceInpaintError(f"{folder}: data folder not found")
    return image_files(folder, recursive=True)


def _cache_key(path: Path) -> str:
    """Path, size and a hash of the bytes: an edited photo is detected again, while a copied or
    re-mounted data folder (new modification times, same content) keeps its landmarks."""
    data = path.read_bytes()
    return f"{path.resolve()}|{len(data)}|{hashlib.blake2b(data, digest_size=16).hexdigest()}"


def _legacy_cache_key(path: Path) -> str:
    """The key of caches written before content hashing (path, size, mtime), still honoured."""
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


_STATUS_OK, _STATUS_NO_FACE, _STATUS_UNREADABLE = 0, 1, 2
CACHE_SAVE_EVERY = 2000


def _detect_landmarks(path: str) -> tuple[int, np.ndarray]:
    """Worker: (status, landmarks) for one photo; never raises for a bad photo."""
    from engine.errors import ImageReadError, NoFaceError
    from engine.face import detect_faces
    from engine.imageio import read_image

    try:
        image = read_image(path)
    except ImageReadError:
        return _STATUS_UNREADABLE, np.zeros((68, 2), np.float32)
    try:
        faces = detect_faces(image, backend="dlib")  # dlib runs offline; face-alignment may need a download
    except NoFaceError:
        faces = []
    if not faces:
        return _STATUS_NO_FACE, np.zeros((68, 2), np.float32)
    return _STATUS_OK, np.asarray(faces[0].landmarks, np.float32)


class LandmarkCache:
    """``landmarks.npz`` with arrays ``keys`` (str), ``status`` (int8) and ``landmarks`` (N, 68, 2)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / "landmarks.npz"
        self.entries: dict[str, tuple[int, np.ndarray]] = self._read()

    def _read(self) -> dict[str, tuple[int, np.ndarray]]:
        entries: dict[str, tuple[int, np.ndarray]] = {}
        if self.path.exists():
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    for key, status, points in zip(data["keys"], data["status"], data["landmarks"]):
                        entries[str(key)] = (int(status), points)
            except (OSError, ValueError, KeyError) as err:
                log.warning("%s is unreadable (%s); detecting faces again", self.path, err)
        return entries

    def save(self) -> None:
        """Atomic, and merged with what other runs sharing the cache saved since we read it."""
        self.entries = {**self._read(), **self.entries}
        keys = list(self.entries)
        arrays = {
            "keys": np.array(keys, dtype=str),
            "status": np.array([self.entries[k][0] for k in keys], np.int8),
            "landmarks": np.stack([self.entries[k][1] for k in keys]) if keys else np.zeros((0, 68, 2), np.float32),
        }
        atomic_write(self.path, lambda f: np.savez_compressed(f, **arrays))


def scan_folders(
    folders: list[str], cache_dir: Path, workers: int, *, every: int = 1
) -> tuple[list[FaceRecord], dict[str, FolderCount]]:
    """Landmarks for every (``every``-th, in sorted order) photo under ``folders``, detecting only those not in the cache."""
    cache = LandmarkCache(cache_dir)
    listed = [(folder, path, _cache_key(path)) for folder in folders for path in find_images(folder)[::every]]
    migrated = 0
    for _, path, key in listed:
        if key not in cache.entries and (legacy := cache.entries.get(_legacy_cache_key(path))) is not None:
            cache.entries[key] = legacy
            migrated += 1
    if migrated:
        cache.save()
    todo = sorted({str(path) for _, path, key in listed if key not in cache.entries})
    if todo:
        log.info("detecting faces in %d new photo(s) with %d process(es)", len(todo), max(1, workers))
        keys = {str(path): key for _, path, key in listed}
        for done, (path, result) in enumerate(_map_detect(todo, workers), 1):
            cache.entries[keys[path]] = result
            if done % CACHE_SAVE_EVERY == 0:  # an interrupted scan keeps its work
                cache.save()
        cache.save()
    records, counts = [], {}
    for folder, path, key in listed:
        count = counts.setdefault(str(folder), FolderCount())
        count.found += 1
        status, points = cache.entries[key]
        if status == _STATUS_OK:
            count.usable += 1
            records.append(FaceRecord(str(path), points))
        elif status == _STATUS_NO_FACE:
            count.no_face += 1
        else:
            count.unreadable += 1
    return records, counts


def _map_detect(paths: list[str], workers: int):
    """Yield (path, (status, landmarks)) for each photo, in a spawned pool when it pays."""
    from tqdm import tqdm

    progress = tqdm(total=len(paths), desc="faces", unit="img", leave=False)
    if workers <= 1 or len(paths) < 8:
        for path in paths:
            yield path, _detect_landmarks(path)
            progress.update()
    else:
        with get_context("spawn").Pool(workers) as pool:  # spawn: dlib and torch threads do not fork well
            for path, result in zip(paths, pool.imap(_detect_landmarks, paths, chunksize=16)):
                yield path, result
                progress.update()
    progress.close()
