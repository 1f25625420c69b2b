"""The one place where numpy arrays and Qt images meet."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor, QImage, QPixmap, qRgba


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """An H x W x 3 uint8 array as a QImage that owns a copy of the pixels."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def rgb_to_pixmap(rgb: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(rgb_to_qimage(rgb))


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """An H x W x 4 uint8 array (straight alpha) as a QImage owning a copy."""
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def qimage_to_rgb(image: QImage) -> np.ndarray:
    """Any QImage as an H x W x 3 uint8 RGB array (alpha dropped, rows unpadded)."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w = image.height(), image.width()
    rows = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.bytesPerLine() * h)
    return rows.reshape(h, image.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()


def mask_view(mask: np.ndarray, color: QColor, opacity: float) -> QImage:
    """An indexed QImage that SHARES ``mask``'s memory: value v shows ``color`` at alpha v*opacity.

    Sharing means painting into the numpy mask updates the overlay with no copy; the caller
    must keep ``mask`` alive (and C-contiguous) as long as the QImage is used.
    """
    if mask.dtype != np.uint8 or mask.ndim != 2 or not mask.flags.c_contiguous:
        raise ValueError("the mask view needs a C-contiguous H x W uint8 array")
    h, w = mask.shape
    view = QImage(mask.data, w, h, w, QImage.Format.Format_Indexed8)
    set_mask_colors(view, color, opacity)
    return view


def set_mask_colors(view: QImage, color: QColor, opacity: float) -> None:
    r, g, b = color.red(), color.green(), color.blue()
    view.setColorTable([qRgba(r, g, b, round(v * opacity)) for v in range(256)])
