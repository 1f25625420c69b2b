"""Saving photos and masks without ever losing a file, and writing completions back in kind.

Saves go to a temporary file in the target's folder, are flushed to disk and then renamed over the
target, so a crash or a full disk never leaves a half-written photo behind. ``save_completion``
writes a completed photo back in kind: outside the hole every sample of the file as read (alpha,
16-bit depth and colour profile included) where the output format can hold it; what a format
cannot hold is reported as an ``ImageLossWarning`` instead of lost silently.
"""

from __future__ import annotations

import errno
import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from engine.atomic import atomic_path
from engine.errors import ImageWriteError, MaskError
from engine.imageio import (
    _EXIF_ORIENTATION,
    ALPHA_FORMATS,
    DEEP_FORMATS,
    EXIF_FORMATS,
    LOSSY_FORMATS,
    PROFILE_FORMATS,
    WRITE_FORMATS,
    ImageLossWarning,
    LoadedImage,
    PathLike,
    composite_over_white,
)
from engine.maskops import to_binary


def save_image(
    path: PathLike,
    image: np.ndarray,
    *,
    overwrite: bool = False,
    protect: PathLike | None = None,
    quality: int = 95,
    exif: bytes | Image.Exif | None = None,
    alpha: np.ndarray | None = None,
    icc_profile: bytes | None = None,
    lossless: bool = False,
) -> Path:
    """Save uint8 RGB (H x W x 3, or H x W x 4 RGBA, or H x W gray) atomically; returns the path.

    The format follows the extension. An existing file is never replaced unless ``overwrite``;
    ``protect`` (the photo being edited) is never replaced at all: a caller that has asked the
    user and means to replace the input passes ``protect=None``. EXIF keeps
    everything but the orientation, which is reset to 1 because the pixels are already upright.
    ``alpha`` (H x W uint8) is stored by PNG, WebP and TIFF; JPEG and BMP get it composited over white.
    ``lossless`` makes WebP store every pixel exactly (JPEG cannot).
    """
    path = Path(path)
    file_format = _format_for(path)
    pixels = _checked_pixels(image, path)
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        if alpha is not None:
            raise ImageWriteError(f"{path}: got alpha twice (an RGBA image and an alpha array)")
        pixels, alpha = pixels[:, :, :3], pixels[:, :, 3]
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.dtype != np.uint8 or alpha.shape != pixels.shape[:2]:
            raise ImageWriteError(
                f"{path}: alpha must be uint8 {pixels.shape[1]}x{pixels.shape[0]}, got {alpha.dtype} {alpha.shape}"
            )
        if pixels.ndim == 2:
            pixels = np.repeat(pixels[:, :, None], 3, axis=2)
        if file_format in ALPHA_FORMATS:
            pil = Image.fromarray(np.dstack([pixels, alpha]), "RGBA")
        else:
            pil = Image.fromarray(composite_over_white(pixels, alpha))
    else:
        pil = Image.fromarray(pixels)
    options: dict = {}
    if file_format == "WEBP" and lossless:
        options.update(lossless=True, exact=True)  # exact: colours under transparent pixels too
    elif file_format in ("JPEG", "WEBP"):
        options["quality"] = int(quality)
    if exif is not None and file_format in EXIF_FORMATS:
        options["exif"] = _upright_exif(exif)
    if icc_profile is not None and file_format in PROFILE_FORMATS:
        options["icc_profile"] = icc_profile
    _check_target(path, overwrite=overwrite, protect=protect)
    _write_atomically(path, lambda fh: pil.save(fh, format=file_format, **options))
    return path


def save_mask(path: PathLike, mask: np.ndarray, *, overwrite: bool = False, protect: PathLike | None = None) -> Path:
    """Save a mask as black/white (255 = hole) in a lossless format; H x W x 3 masks keep channels."""
    path = Path(path)
    file_format = _format_for(path)
    if file_format in LOSSY_FORMATS:
        raise ImageWriteError(f"{path}: masks must be saved losslessly (PNG, BMP, TIFF or WebP), not as {file_format}")
    binary = to_binary(mask)
    if binary.ndim not in (2, 3) or (binary.ndim == 3 and binary.shape[2] != 3):
        raise ImageWriteError(f"{path}: a mask must be H x W or H x W x 3, got shape {binary.shape}")
    options = {"lossless": True} if file_format == "WEBP" else {}
    pil = Image.fromarray(binary)
    _check_target(path, overwrite=overwrite, protect=protect)
    _write_atomically(path, lambda fh: pil.save(fh, format=file_format, **options))
    return path


def save_completion(
    path: PathLike,
    completed: np.ndarray,
    mask: np.ndarray,
    source: LoadedImage,
    *,
    overwrite: bool = False,
    protect: PathLike | None = None,
    quality: int = 95,
) -> Path:
    """Save a completion of ``source`` so that outside the hole the file holds what ``source`` did.

    ``completed`` is the engine's H x W x 3 uint8 result, ``mask`` its hole (H x W, or H x W x 3
    channel-wise: a channel is taken from ``completed`` only where its own mask is set). Outside
    the hole every sample comes from ``source``: 16-bit depth (PNG, TIFF), alpha (PNG, WebP,
    TIFF; kept everywhere) and the colour profile and EXIF are kept; WebP is written losslessly.
    What the chosen format cannot keep is saved anyway and reported as an ``ImageLossWarning``.
    """
    path = Path(path)
    file_format = _format_for(path)
    hole = _hole_per_channel(mask, source.pixels.shape, path)
    completed = _checked_pixels(completed, path)
    if completed.shape != source.pixels.shape:
        raise ImageWriteError(f"{path}: the completion is {completed.shape}, the photo {source.pixels.shape}")
    if source.deep is not None and file_format in DEEP_FORMATS:
        _check_target(path, overwrite=overwrite, protect=protect)
        deep = source.deep.copy()
        deep[:, :, :3] = np.where(hole, completed.astype(np.uint16) * 257, deep[:, :, :3])
        encoded = _encode_16_bit(deep, file_format, source.icc_profile, source.exif, path)
        _write_atomically(path, lambda fh: fh.write(encoded))
        losses = ["a 16-bit TIFF is written without the photo's EXIF block (camera, date, ...); .png keeps it"] if (
            source.exif is not None and file_format == "TIFF") else []
    else:
        save_image(
            path, np.where(hole, completed, source.pixels), overwrite=overwrite, protect=protect, quality=quality,
            exif=source.exif, alpha=source.alpha, icc_profile=source.icc_profile, lossless=True,
        )
        losses = _losses(source, file_format)
    for loss in losses:
        warnings.warn(f"{path}: {loss}", ImageLossWarning, stacklevel=2)
    return path


def _hole_per_channel(mask: np.ndarray, shape: tuple[int, ...], path: Path) -> np.ndarray:
    """The hole as an H x W x 3 boolean array (any value above 127 is missing)."""
    hole = to_binary(mask) > 0
    if hole.ndim == 3 and hole.shape[2] == 1:
        hole = hole[:, :, 0]
    if hole.ndim == 2:
        hole = hole[:, :, None]
    if hole.ndim != 3 or hole.shape[:2] != shape[:2] or hole.shape[2] not in (1, 3):
        raise MaskError(f"{path}: the mask's shape {mask.shape} does not fit the photo's {shape[:2]}")
    return np.broadcast_to(hole, shape)


def _losses(source: LoadedImage, file_format: str) -> list[str]:
    """What saving ``source`` as ``file_format`` through 8-bit ``save_image`` cannot keep."""
    losses = []
    if source.deep is not None:
        losses.append(f"{file_format} holds 8 bits per channel: the photo's 16-bit depth is reduced "
                      "(save as .png or .tif to keep it)")
    if source.alpha is not None and file_format not in ALPHA_FORMATS:
        losses.append(f"{file_format} has no transparency: transparent parts are flattened onto white "
                      "(save as .png, .webp or .tif to keep them)")
    if source.icc_profile is not None and file_format not in PROFILE_FORMATS:
        losses.append(f"{file_format} cannot store the photo's colour profile (save as .png or .tif to keep it)")
    if source.exif is not None and file_format not in EXIF_FORMATS:
        losses.append(f"{file_format} cannot store the photo's EXIF block (camera, date, ...)")
    if file_format in LOSSY_FORMATS:
        losses.append(f"{file_format} is lossy: the whole photo is re-encoded and pixels outside the hole change "
                      "slightly (save as .png to keep them identical)")
    return losses


def _encode_16_bit(deep: np.ndarray, file_format: str, icc_profile: bytes | None, exif, path: Path) -> bytes:
    """RGB(A) uint16 as a PNG (OpenCV, plus the profile and EXIF chunks) or a TIFF (tifffile)."""
    if file_format == "TIFF":
        import tifffile

        buffer = io.BytesIO()
        extra = {"extrasamples": ["unassalpha"]} if deep.shape[2] == 4 else {}
        tifffile.imwrite(buffer, deep, photometric="rgb", compression="zlib", iccprofile=icc_profile, **extra)
        return buffer.getvalue()
    import cv2

    ok, encoded = cv2.imencode(".png", deep[:, :, [2, 1, 0, 3]] if deep.shape[2] == 4 else deep[:, :, ::-1])
    if not ok:
        raise ImageWriteError(f"{path}: the 16-bit PNG could not be encoded")
    chunks = b""
    if icc_profile is not None:
        chunks += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc_profile))
    if exif is not None:
        raw = _upright_exif(exif)
        chunks += _png_chunk(b"eXIf", raw[6:] if raw.startswith(b"Exif\x00\x00") else raw)
    data = encoded.tobytes()
    header_end = 8 + 25  # signature, then the IHDR chunk: the profile and EXIF must precede IDAT
    return data[:header_end] + chunks + data[header_end:]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _format_for(path: Path) -> str:
    try:
        return WRITE_FORMATS[path.suffix.lower()]
    except KeyError:
        known = ", ".join(WRITE_FORMATS)
        shown = f"the extension {path.suffix!r}" if path.suffix else "no extension"
        raise ImageWriteError(f"{path}: cannot tell the format from {shown}; use one of {known}") from None


def _checked_pixels(image: np.ndarray, path: Path) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        got = getattr(image, "dtype", type(image).__name__)
        raise ImageWriteError(f"{path}: the image must be a uint8 numpy array, got {got}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))) or 0 in image.shape:
        raise ImageWriteError(f"{path}: the image must be H x W, H x W x 3 or H x W x 4, got shape {image.shape}")
    return np.ascontiguousarray(image)


def _upright_exif(exif: bytes | Image.Exif) -> bytes:
    """The EXIF block with orientation 1: our pixels are already rotated upright."""
    if isinstance(exif, Image.Exif):
        parsed = exif
    else:
        parsed = Image.Exif()
        parsed.load(exif)
    if _EXIF_ORIENTATION in parsed:
        parsed[_EXIF_ORIENTATION] = 1
    return parsed.tobytes()


def check_save_target(path: PathLike, *, overwrite: bool = False, protect: PathLike | None = None) -> Path:
    """Everything a save of ``path`` would refuse, checked now (format, folder, writable, existing,
    the input photo), so a front end can refuse a bad output before the work instead of after it."""
    path = Path(path)
    _format_for(path)
    _check_target(path, overwrite=overwrite, protect=protect)
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ImageWriteError(f"{path}: cannot write in the folder {path.parent} (permission denied)")
    return path


def _check_target(path: Path, *, overwrite: bool, protect: PathLike | None) -> None:
    if path.is_dir():
        raise ImageWriteError(f"{path}: is a folder")
    if not path.parent.is_dir():
        raise ImageWriteError(f"{path}: the folder {path.parent} does not exist")
    if protect is not None and _same_file(path, Path(protect)):
        raise ImageWriteError(f"{path}: this is the input photo; refusing to replace it (choose another file)")
    if path.exists() and not overwrite:
        raise ImageWriteError(f"{path}: the file already exists; choose another name, or replace it with --overwrite")


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)  # also catches hard links and case-insensitive file systems
    return a.resolve() == b.resolve()


def _write_atomically(path: Path, write) -> None:
    """Save through ``engine.atomic`` (umask permissions, fsync, rename, folder fsync), turning
    an OS error into a message that says whether the folder or the save itself failed."""
    started = False
    try:
        with atomic_path(path) as temp:
            started = True  # the temporary file exists: the folder is writable
            with open(temp, "wb") as fh:
                write(fh)
    except OSError as err:
        if not started:
            raise ImageWriteError(f"{path}: cannot write in {path.parent} ({err.strerror or err})") from None
        reason = "the disk is full" if err.errno == errno.ENOSPC else (err.strerror or str(err))
        raise ImageWriteError(f"{path}: could not be saved ({reason}); nothing was changed") from None


