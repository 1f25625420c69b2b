"""Reading photos and masks from disk (saving them: ``engine.imagesave``).

Everything that reaches the engine is H x W x 3 uint8 RGB with its EXIF orientation already
applied, whatever the file held (gray, palette, alpha, 16-bit, float, CMYK); ``LoadedImage``
keeps what the file held beyond that (alpha, 16-bit samples, profile, EXIF) for saving in kind.
Every failure is an ``ImageReadError`` / ``MaskError`` whose message names the file and the reason.
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, TiffImagePlugin, UnidentifiedImageError

from engine.errors import ImageReadError, MaskError
from engine.maskops import resize_mask

DEFAULT_MAX_PIXELS = 100_000_000

READABLE_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF")  # MPO: JPEG as phones write it

WRITE_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
IMAGE_SUFFIXES = frozenset(WRITE_FORMATS)  # the file names every folder listing takes for images
LOSSY_FORMATS = ("JPEG",)
ALPHA_FORMATS = ("PNG", "WEBP", "TIFF")
DEEP_FORMATS = ("PNG", "TIFF")  # 16 bits per channel
PROFILE_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")
EXIF_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")

_EXIF_ORIENTATION = 0x0112
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")

PathLike = str | os.PathLike


class ImageLossWarning(UserWarning):
    """A save could not keep everything the source photo held (depth, alpha, profile, exact pixels)."""


@dataclass
class LoadedImage:
    """A decoded photo plus what is needed to save it back in kind (format, EXIF, colour profile)."""

    pixels: np.ndarray  # H x W x 3 uint8 RGB, EXIF orientation applied, alpha NOT composited
    alpha: np.ndarray | None  # H x W uint8 (255 = opaque), or None when the file has no alpha
    format: str  # Pillow's name: "JPEG", "PNG", "WEBP", "BMP", "TIFF"
    exif: bytes | None  # raw EXIF block as read (save_image resets its orientation tag)
    icc_profile: bytes | None  # the file's RGB colour profile; None when none or when converted
    path: Path
    # The file's own samples when it holds 16 bits per channel: H x W x 3 (RGB) or H x W x 4 (RGBA)
    # uint16, upright; None for 8-bit files. ``pixels`` and ``alpha`` are these scaled to 8 bits.
    deep: np.ndarray | None = None


# -- reading --------------------------------------------------------------------------------------
def read_image(path: PathLike, *, keep_alpha: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a photo into H x W x 3 uint8 RGB.

    Transparent images are composited over white, or returned as H x W x 4 RGBA when
    ``keep_alpha`` (images without alpha stay H x W x 3).
    """
    loaded = read_image_with_info(path, max_pixels=max_pixels)
    if loaded.alpha is None:
        return loaded.pixels
    if keep_alpha:
        return np.dstack([loaded.pixels, loaded.alpha])
    return composite_over_white(loaded.pixels, loaded.alpha)


def read_image_with_info(path: PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode a photo and keep its format, EXIF and colour profile for saving it back."""
    path = Path(path)
    try:
        with _open_checked(path, max_pixels) as im:
            source_format = im.format
            exif = im.info.get("exif") or None
            icc_profile = im.info.get("icc_profile") or None
            if _has_16_bit_samples(im, path):
                return _read_16_bit(path, source_format, exif, _rgb_profile_or_none(icc_profile), _orientation(im, path))
            image = _decode_fully(im, path)
    except _PillowCannotDecode:
        return _read_tiff_with_opencv(path, max_pixels)
    with image:
        rgb, alpha = _to_8bit(image, icc_profile, path)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    if image.mode == "CMYK":
        icc_profile = None  # the returned pixels are sRGB: the CMYK profile no longer fits
    return LoadedImage(rgb, alpha, source_format, exif, _rgb_profile_or_none(icc_profile), path)


def read_mask(path: PathLike, shape: tuple[int, ...] | None = None, *, resize: bool = False) -> np.ndarray:
    """Load a mask as uint8 H x W with 255 = hole.

    A pixel is a hole where any channel is above 127 (white, or painted in any bright colour, pure
    red included), or, when the file has a transparent background, where its alpha is above 127
    (masks painted on a transparent layer). With
    ``shape`` (an image's shape) a mask of another size is an error unless ``resize`` is set,
    which scales it with nearest-neighbour sampling so it stays binary.
    """
    path = Path(path)
    try:
        with _open_checked(path, DEFAULT_MAX_PIXELS) as im:
            image = _decode_fully(im, path)
            icc_profile = im.info.get("icc_profile") or None
    except _PillowCannotDecode:
        raise ImageReadError(f"{path}: this mask file uses an encoding that cannot be read") from None
    with image:
        values, alpha = _to_8bit(image, icc_profile, path)
    if alpha is not None and alpha.min() < 255:
        mask = alpha > 127
    elif values.ndim == 3:
        mask = values.max(axis=2) > 127
    else:
        mask = values > 127
    mask = mask.astype(np.uint8) * 255
    if shape is not None and mask.shape != tuple(shape[:2]):
        if not resize:
            h, w = shape[:2]
            raise MaskError(f"{path}: mask is {mask.shape[1]}x{mask.shape[0]}, image is {w}x{h}")
        mask = resize_mask(mask, shape)
    return mask


def composite_over_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Flatten straight (non-premultiplied) alpha onto a white page, rounding to nearest."""
    a = alpha.astype(np.uint32)[:, :, None]
    flat = (rgb.astype(np.uint32) * a + 255 * (255 - a) + 127) // 255
    return flat.astype(np.uint8)


class _PillowCannotDecode(Exception):
    """A TIFF Pillow does not understand (multi-channel float or 16-bit): OpenCV gets a try."""


def _open_checked(path: Path, max_pixels: int) -> Image.Image:
    """Open (header only) after the checks that need no decoding, refusing absurd sizes."""
    if not path.exists():
        raise ImageReadError(f"{path}: no such file")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a folder, not an image file")
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ImageReadError(f"{path}: cannot be read ({err.strerror or err})") from None
    if size == 0:
        raise ImageReadError(f"{path}: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            # We apply our own limit below; Pillow's warning threshold is lower than ours.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError as err:
        # Pillow refuses far above our own limit before we see the size: report that limit, and
        # the size when Pillow's message gives it ("Image size (N pixels) exceeds ...").
        found = re.search(r"\((\d+) pixels\)", str(err))
        size = f" ({int(found.group(1)) / 1e6:,.0f} megapixels)" if found else ""
        raise ImageReadError(
            f"{path}: the image{size} is over the limit of {max_pixels / 1e6:.0f} megapixels, too large to open safely"
        ) from None
    except UnidentifiedImageError:
        if _looks_like_tiff(path):
            raise _PillowCannotDecode() from None
        raise ImageReadError(f"{path}: not an image file (or a format that cannot be read)") from None
    except OSError as err:
        raise ImageReadError(f"{path}: cannot be read ({err.strerror or err})") from None
    width, height = im.size
    if im.format not in READABLE_FORMATS:
        im.close()
        raise ImageReadError(f"{path}: {im.format} images are not supported; use JPEG, PNG, WebP, BMP or TIFF")
    if width * height > max_pixels:
        im.close()
        raise ImageReadError(
            f"{path}: the image is {width}x{height} ({width * height / 1e6:.0f} megapixels), "
            f"over the limit of {max_pixels / 1e6:.0f} megapixels"
        )
    if width == 0 or height == 0:
        im.close()
        raise ImageReadError(f"{path}: the image has no pixels ({width}x{height})")
    return im


def _decode_fully(im: Image.Image, path: Path) -> Image.Image:
    """Decode every pixel now (so truncation is caught here) and apply the EXIF orientation."""
    try:
        im.load()
        upright = ImageOps.exif_transpose(im)
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"{path}: the file is truncated or corrupt ({err})") from None
    return upright


def _to_8bit(image: Image.Image, icc_profile: bytes | None, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """8-bit pixels (H x W gray or H x W x 3 RGB) and alpha (H x W, or None) of any Pillow mode."""
    mode = image.mode
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"))
        return rgba[:, :, :3].copy(), rgba[:, :, 3].copy()
    if mode in ("RGB", "L"):
        return np.asarray(image).copy(), None
    if mode == "CMYK":
        return _cmyk_to_rgb(image, icc_profile), None
    if mode in ("1", "P", "RGBX", "YCbCr", "LAB", "HSV"):
        return np.asarray(image.convert("RGB")), None
    if mode.startswith("I;16"):
        return _scale_to_8bit(np.asarray(image).astype(np.float64), 65535.0), None
    if mode == "I":  # Pillow's mode for 16-bit gray from some encoders: 16-bit values in int32
        values = np.asarray(image).astype(np.float64)
        if values.min() < 0 or values.max() > 65535:
            raise ImageReadError(f"{path}: 32-bit integer images are not supported")
        return _scale_to_8bit(values, 65535.0), None
    if mode == "F":
        return _float_to_8bit(np.asarray(image), path), None
    raise ImageReadError(f"{path}: the pixel mode {mode!r} is not supported")


def _scale_to_8bit(values: np.ndarray, full_scale: float) -> np.ndarray:
    """Map [0, full_scale] linearly onto [0, 255] (65535 -> 255: scaling, not clipping)."""
    return np.clip(np.rint(values * (255.0 / full_scale)), 0, 255).astype(np.uint8)


def _float_to_8bit(values: np.ndarray, path: Path) -> np.ndarray:
    """Float pixels are read as 0..1 (the convention of float TIFFs); brighter ones as 0..their max."""
    if not np.isfinite(values).all():
        raise ImageReadError(f"{path}: the float image contains NaN or infinite values")
    peak = float(values.max())
    return _scale_to_8bit(np.clip(values, 0, None), max(1.0, peak))


def _cmyk_to_rgb(image: Image.Image, icc_profile: bytes | None) -> np.ndarray:
    """Through the embedded CMYK profile when there is one (print files), else Pillow's formula."""
    if icc_profile is not None:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
            converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
            if converted is not None:
                return np.asarray(converted)
        except (ImageCms.PyCMSError, OSError):
            pass  # a broken profile: the plain conversion below is still a usable picture
    return np.asarray(image.convert("RGB"))


def _rgb_profile_or_none(icc_profile: bytes | None) -> bytes | None:
    """The profile if it describes RGB (the returned pixels); gray or broken ones no longer fit."""
    return icc_profile if _is_rgb_profile(icc_profile) else None


def _is_rgb_profile(icc_profile: bytes | None) -> bool:
    if icc_profile is None:
        return False
    try:
        return ImageCms.getOpenProfile(io.BytesIO(icc_profile)).profile.xcolor_space.strip() == "RGB"
    except (ImageCms.PyCMSError, OSError):
        return False


def _looks_like_tiff(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) in _TIFF_MAGIC


def _tiff_size(path: Path) -> tuple[int, int]:
    """Width and height from the first TIFF directory, read without decoding any pixels."""
    try:
        with open(path, "rb") as fh:
            directory = TiffImagePlugin.ImageFileDirectory_v2(fh.read(8))
            fh.seek(directory.next)
            directory.load(fh)
        return int(directory[256]), int(directory[257])  # ImageWidth, ImageLength
    except (KeyError, OSError, ValueError, SyntaxError, struct.error):
        raise ImageReadError(f"{path}: a TIFF whose header cannot be read") from None


def _has_16_bit_samples(im: Image.Image, path: Path) -> bool:
    """Whether the file stores 16-bit integer samples, which Pillow would cut to 8 bits for RGB."""
    if im.format == "PNG":
        with open(path, "rb") as fh:
            header = fh.read(25)
        return len(header) == 25 and header[24] == 16  # IHDR bit depth
    if im.format == "TIFF":
        bits = im.tag_v2.get(258, (1,))
        sample_format = im.tag_v2.get(339, (1,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        sample_format = sample_format if isinstance(sample_format, tuple) else (sample_format,)
        return max(bits) == 16 and set(sample_format) <= {1}  # unsigned integers
    return False


def _orientation(im: Image.Image, path: Path) -> int:
    """The EXIF orientation (1 when none); Pillow may decode a PNG to find its EXIF chunk."""
    try:
        orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
    except (OSError, SyntaxError, ValueError, struct.error) as err:
        raise ImageReadError(f"{path}: the file is truncated or corrupt ({err})") from None
    return orientation if isinstance(orientation, int) else 1


def _read_16_bit(path: Path, file_format: str, exif, icc_profile, orientation: int) -> LoadedImage:
    """Decode at full depth with OpenCV (Pillow has no 16-bit RGB mode), upright as EXIF says."""
    samples = _decode_with_opencv(path)
    if samples is None or samples.dtype != np.uint16:
        raise ImageReadError(f"{path}: the file is truncated or corrupt (its 16-bit pixels cannot be decoded)")
    deep = _deep_rgb(samples, path)
    deep = np.ascontiguousarray(_orient(deep, orientation))
    pixels = _scale_to_8bit(deep[:, :, :3].astype(np.float64), 65535.0)
    alpha = _scale_to_8bit(deep[:, :, 3].astype(np.float64), 65535.0) if deep.shape[2] == 4 else None
    return LoadedImage(pixels, alpha, file_format, exif, icc_profile, path, deep)


def _deep_rgb(samples: np.ndarray, path: Path) -> np.ndarray:
    """OpenCV's gray / BGR / BGRA 16-bit samples as H x W x 3 RGB or H x W x 4 RGBA."""
    if samples.ndim == 2:
        return np.repeat(samples[:, :, None], 3, axis=2)
    channels = samples.shape[2]
    if channels == 2:  # gray + alpha
        return np.dstack([samples[:, :, :1].repeat(3, axis=2), samples[:, :, 1]])
    if channels == 3:
        return samples[:, :, ::-1]
    if channels == 4:
        return samples[:, :, [2, 1, 0, 3]]
    raise ImageReadError(f"{path}: 16-bit images with {channels} channels are not supported")


def _orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to rows x columns, as ``ImageOps.exif_transpose`` does."""
    operations = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    return operations[orientation](pixels) if orientation in operations else pixels


def _decode_with_opencv(path: Path) -> np.ndarray | None:
    """Every sample as stored (None when OpenCV cannot decode it); a damaged file is an ImageReadError."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)  # fromfile + imdecode: works with non-ASCII paths
    try:
        return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as err:
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else "OpenCV cannot decode it"
        raise ImageReadError(f"{path}: the file is truncated or corrupt ({reason})") from None


def _read_tiff_with_opencv(path: Path, max_pixels: int) -> LoadedImage:
    """TIFFs Pillow cannot decode (3-channel float, some 16-bit layouts), through OpenCV."""
    width, height = _tiff_size(path)
    if width * height > max_pixels:
        raise ImageReadError(
            f"{path}: the image is {width}x{height}, over the limit of {max_pixels / 1e6:.0f} megapixels"
        )
    pixels = _decode_with_opencv(path)
    if pixels is None:
        raise ImageReadError(f"{path}: a TIFF in an encoding that cannot be read")
    if pixels.ndim == 3:
        pixels = pixels[:, :, 2::-1]  # BGR(A) -> RGB; a 4th channel of scientific TIFFs is not coverage
    deep = None
    if pixels.dtype == np.uint16:
        deep = np.ascontiguousarray(pixels if pixels.ndim == 3 else np.repeat(pixels[:, :, None], 3, axis=2))
        pixels = _scale_to_8bit(pixels.astype(np.float64), 65535.0)
    elif pixels.dtype.kind == "f":
        pixels = _float_to_8bit(pixels, path)
    elif pixels.dtype != np.uint8:
        raise ImageReadError(f"{path}: {pixels.dtype} TIFFs are not supported")
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return LoadedImage(np.ascontiguousarray(pixels), None, "TIFF", None, None, path, deep)


def image_files(folder: PathLike, *, recursive: bool = False) -> list[Path]:
    """The image files (by ``IMAGE_SUFFIXES``) in ``folder``, or below it, in sorted path order."""
    root = Path(folder)
    if not root.is_dir():
        raise ImageReadError(f"the folder {root} does not exist")
    candidates = root.rglob("*") if recursive else root.iterdir()
    return sorted(p for p in candidates if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
