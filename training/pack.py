"""Face packs: every usable face of some photo folders as pre-aligned uint8 crops with landmarks.

A pack is what training reads instead of photos: face detection, decoding and alignment are paid
once, so a training step costs only the network (no loader processes needed), and a pack small
enough to travel with the working tree lets a lent GPU machine train without ``../shared``.

Layout of a pack folder (all ``numpy.save`` arrays, read with ``allow_pickle=False``):

* ``pack.json`` — resolution, count, encoding, the data sets it came from (named by set and
  split, e.g. ``utkface/train``, never by a machine's absolute path) and how they were sampled;
* ``landmarks.npy`` — (N, 68, 2) float32 dlib landmarks in crop pixels;
* ``names.npy`` — (N,) file names (the held-out split hashes them, as for photo folders);
* ``crops.npy`` — (N, R, R, 3) uint8 (encoding ``raw``, memory-mapped when read), or
  ``jpeg.npy`` + ``jpeg_offsets.npy`` — the JPEG bytes of every crop back to back (encoding
  ``jpeg``, decoded into memory when read; ~5 KB a face at 128 px, quality 90).

The crops are the engine's own aligned crops (``engine.face.alignment_matrix`` +
``warp_affine_region``), so a pack sample equals the photo-folder sample of the same face.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.atomic import atomic_write
from engine.errors import FaceInpaintError
from engine.face.align import alignment_matrix, transform_points, warp_affine_region
from engine.imageio import read_image
from training.scanning import find_images, scan_folders

log = logging.getLogger(__name__)

PACK_VERSION = 1
ENCODINGS = ("jpeg", "raw")


class PackError(FaceInpaintError):
    """A pack folder is missing, incomplete or inconsistent."""


def data_set_name(folder: str | Path) -> str:
    """``…/utkface/train`` -> ``utkface/train``: how packs, cards and manifests name their data."""
    parts = Path(folder).resolve().parts
    return "/".join(parts[-2:]) if len(parts) >= 2 else parts[-1]


@dataclass
class Pack:
    """A loaded pack: ``crops`` (N, R, R, 3) uint8, ``landmarks`` (N, 68, 2), ``names`` and its record."""

    crops: np.ndarray
    landmarks: np.ndarray
    names: np.ndarray
    info: dict

    def __len__(self) -> int:
        return len(self.crops)

    @property
    def resolution(self) -> int:
        return int(self.crops.shape[1])


def build_pack(
    folders: list[str],
    out: str | Path,
    *,
    resolution: int = 128,
    encoding: str = "jpeg",
    quality: int = 90,
    every: int = 1,
    max_mib: float = 0.0,
    cache_dir: str | Path | None = None,
    workers: int = 2,
) -> dict:
    """Detect, align and store every usable face of ``folders``; returns the pack's record.

    ``every`` keeps every n-th photo of each folder (sorted); ``max_mib`` > 0 keeps an evenly
    spaced subset of the faces so the pack's files fit that many MiB.
    """
    if encoding not in ENCODINGS:
        raise PackError(f"unknown pack encoding {encoding!r}; choose {' or '.join(ENCODINGS)}")
    if not 16 <= resolution <= 1024:
        raise PackError(f"pack resolution must be 16..1024 px, got {resolution}")
    if every < 1:
        raise PackError(f"--every must be at least 1, got {every}")
    out = Path(out)
    if (out / "pack.json").exists():
        raise PackError(f"{out} already holds a pack; pick a new folder or delete it first")
    for folder in folders:
        find_images(folder)  # a missing folder fails before any work
    cache = Path(cache_dir) if cache_dir else out / "cache"
    records, counts = scan_folders(list(folders), cache, workers, every=every)
    if not records:
        raise PackError(f"no usable face in {', '.join(folders)}")
    crops = np.empty((len(records), resolution, resolution, 3), np.uint8)
    points = np.empty((len(records), 68, 2), np.float32)
    for i, record in enumerate(records):
        matrix = alignment_matrix(record.landmarks, resolution)
        crops[i] = warp_affine_region(read_image(record.path), matrix, (resolution, resolution))
        points[i] = transform_points(matrix, record.landmarks)
    names = np.array([Path(r.path).name for r in records])
    sources = [{"data": data_set_name(f), "photos": c.found, "faces": c.usable, "every": every}
               for f, c in counts.items()]
    keep = np.arange(len(records))
    encoded = [_encode(c, quality) for c in crops] if encoding == "jpeg" else None
    size = (sum(len(e) for e in encoded) if encoded is not None else crops.nbytes) + points.nbytes + names.nbytes
    if max_mib > 0 and size > max_mib * 2**20:
        count = int(len(records) * max_mib * 2**20 / size)
        if count < 1:
            raise PackError(f"not even one face fits in {max_mib} MiB")
        keep = np.linspace(0, len(records) - 1, count).round().astype(int)
    info = {
        "version": PACK_VERSION, "resolution": resolution, "count": int(len(keep)), "encoding": encoding,
        "quality": quality if encoding == "jpeg" else None, "sources": sources,
        "aligned": "engine.face.alignment_matrix (five-point similarity to the engine's template)",
        "landmarks": "dlib 68-point (face-recognition-models)",
    }
    out.mkdir(parents=True, exist_ok=True)
    _save(out / "landmarks.npy", points[keep])
    _save(out / "names.npy", names[keep])
    if encoded is not None:
        chosen = [encoded[i] for i in keep]
        offsets = np.cumsum([0] + [len(e) for e in chosen]).astype(np.int64)
        _save(out / "jpeg.npy", np.frombuffer(b"".join(chosen), np.uint8))
        _save(out / "jpeg_offsets.npy", offsets)
    else:
        _save(out / "crops.npy", crops[keep])
    atomic_write(out / "pack.json", lambda f: f.write(json.dumps(info, indent=2).encode()))
    log.info("pack %s: %d faces at %d px (%s), %.1f MiB", out, len(keep), resolution, encoding, pack_bytes(out) / 2**20)
    return info


def _encode(crop: np.ndarray, quality: int) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise PackError("JPEG encoding failed")
    return data.tobytes()


def _save(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))


def pack_bytes(folder: str | Path) -> int:
    """Bytes of a pack's data files (its landmark cache, if any, excluded)."""
    return sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file())


def load_pack(folder: str | Path) -> Pack:
    """Read a pack (JPEG crops are decoded into memory, raw crops memory-mapped)."""
    folder = Path(folder)
    try:
        info = json.loads((folder / "pack.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PackError(f"{folder}: not a face pack (no pack.json); make one with faceinpaint-train pack") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise PackError(f"{folder}/pack.json is unreadable ({err})") from None
    if not isinstance(info, dict) or info.get("version") != PACK_VERSION or info.get("encoding") not in ENCODINGS:
        raise PackError(f"{folder}: unsupported pack record (version {info.get('version') if isinstance(info, dict) else '?'})")
    try:
        landmarks = np.load(folder / "landmarks.npy", allow_pickle=False)
        names = np.load(folder / "names.npy", allow_pickle=False)
        if info["encoding"] == "raw":
            crops = np.load(folder / "crops.npy", mmap_mode="r", allow_pickle=False)
        else:
            data = np.load(folder / "jpeg.npy", allow_pickle=False)
            offsets = np.load(folder / "jpeg_offsets.npy", allow_pickle=False)
            crops = np.stack([_decode(data[offsets[i]:offsets[i + 1]]) for i in range(len(offsets) - 1)])
    except (OSError, ValueError) as err:
        raise PackError(f"{folder}: incomplete or damaged pack ({err})") from None
    size = int(info.get("resolution", 0))
    if not (len(crops) == len(landmarks) == len(names) == info.get("count")) or crops.shape[1:] != (size, size, 3):
        raise PackError(f"{folder}: the pack's arrays disagree with pack.json")
    return Pack(crops=crops, landmarks=landmarks.astype(np.float32), names=names, info=info)


def _decode(buffer: np.ndarray) -> np.ndarray:
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None:
        raise PackError("a pack crop is not a readable JPEG")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
