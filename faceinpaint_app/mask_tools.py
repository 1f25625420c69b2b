"""Mask painting tools. They draw into the document's numpy mask (255 = missing) with OpenCV.

A tool receives image-space points from the canvas and returns the rectangle it changed, so the
overlay repaints only that; the canvas turns a finished edit into one undo command.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF
from PySide6.QtGui import QPainterPath, QPolygonF

HOLE = 255


def _clip_rect(x0: float, y0: float, x1: float, y1: float, shape: tuple[int, ...]) -> QRect | None:
    h, w = shape[:2]
    left, top = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    right, bottom = min(w, int(np.ceil(x1)) + 1), min(h, int(np.ceil(y1)) + 1)
    if right <= left or bottom <= top:
        return None
    return QRect(left, top, right - left, bottom - top)


def paint_segment(
    mask: np.ndarray, p0: QPointF, p1: QPointF, size: float, hardness: float, erase: bool
) -> QRect | None:
    """Paint (or erase) a round-capped segment of diameter ``size`` with a soft edge.

    ``hardness`` 1 gives a crisp edge; lower values blur the outer part of the dab, and the
    engine counts values above 127 as missing, so the effective size stays ``size``.
    """
    radius = max(0.5, size / 2)
    soft = (1.0 - float(np.clip(hardness, 0.0, 1.0))) * radius
    pad = radius + 3 * soft + 2
    rect = _clip_rect(min(p0.x(), p1.x()) - pad, min(p0.y(), p1.y()) - pad,
                      max(p0.x(), p1.x()) + pad, max(p0.y(), p1.y()) + pad, mask.shape)
    if rect is None:
        return None
    dab = np.zeros((rect.height(), rect.width()), np.uint8)
    shift = 4  # sub-pixel precision of cv2 drawing: coordinates in 1/16 px
    a = (round((p0.x() - rect.left()) * 16), round((p0.y() - rect.top()) * 16))
    b = (round((p1.x() - rect.left()) * 16), round((p1.y() - rect.top()) * 16))
    cv2.line(dab, a, b, HOLE, thickness=max(1, round(2 * radius)), lineType=cv2.LINE_AA, shift=shift)
    if soft > 0.5:
        dab = cv2.GaussianBlur(dab, (0, 0), soft / 2)
    region = mask[rect.top() : rect.bottom() + 1, rect.left() : rect.right() + 1]
    if erase:
        np.minimum(region, HOLE - dab, out=region)
    else:
        np.maximum(region, dab, out=region)
    return rect


def fill_polygon(mask: np.ndarray, points: list[QPointF], erase: bool) -> QRect | None:
    """Fill (or clear) the polygon through ``points`` with a crisp edge."""
    if len(points) < 3:
        return None
    xy = np.array([[p.x(), p.y()] for p in points], np.float64)
    rect = _clip_rect(*xy.min(axis=0), *xy.max(axis=0), mask.shape)
    if rect is None:
        return None
    cv2.fillPoly(mask, [np.round(xy * 16).astype(np.int32)], 0 if erase else HOLE, lineType=cv2.LINE_8, shift=4)
    return rect


class Tool:
    """A mask tool; ``press``/``move``/``release`` return the rectangle they changed, if any."""

    name = ""
    label = ""  # the undo history's wording
    paints_on_release = False  # shapes change the mask only when finished

    def __init__(self) -> None:
        self.mask: np.ndarray | None = None
        self.erase = False

    def press(self, mask: np.ndarray, pos: QPointF, erase: bool) -> QRect | None:
        self.mask, self.erase = mask, erase
        return None

    def move(self, pos: QPointF) -> QRect | None:
        return None

    def release(self, pos: QPointF) -> QRect | None:
        return None

    def finished(self) -> bool:
        """True once the edit started by ``press`` is complete (a polygon waits for its last click)."""
        return True

    def outline(self) -> QPainterPath | None:
        """The shape being drawn, shown while the button is down."""
        return None

    def cancel(self) -> None:
        self.mask = None


class BrushTool(Tool):
    name, label = "brush", "Brush stroke"

    def __init__(self, size: float = 40, hardness: float = 0.8) -> None:
        super().__init__()
        self.size, self.hardness = size, hardness
        self._last = QPointF()

    def press(self, mask, pos, erase):
        super().press(mask, pos, erase)
        self._last = pos
        return paint_segment(mask, pos, pos, self.size, self.hardness, self.erase)

    def move(self, pos):
        if self.mask is None:
            return None
        rect = paint_segment(self.mask, self._last, pos, self.size, self.hardness, self.erase)
        self._last = pos
        return rect

    def release(self, pos):
        rect = self.move(pos)
        self.mask = None
        return rect


class EraserTool(BrushTool):
    """The brush with the buttons swapped: left erases, right paints."""

    name, label = "eraser", "Eraser stroke"

    def press(self, mask, pos, erase):
        return super().press(mask, pos, not erase)


class RectangleTool(Tool):
    name, label, paints_on_release = "rectangle", "Rectangle", True

    def __init__(self) -> None:
        super().__init__()
        self._start = self._end = QPointF()

    def press(self, mask, pos, erase):
        super().press(mask, pos, erase)
        self._start = self._end = pos
        return None

    def move(self, pos):
        self._end = pos
        return None

    def release(self, pos):
        self._end = pos
        rect = QRectF(self._start, self._end).normalized()
        corners = [rect.topLeft(), rect.topRight(), rect.bottomRight(), rect.bottomLeft()]
        changed = fill_polygon(self.mask, corners, self.erase) if self.mask is not None else None
        self.mask = None
        return changed

    def outline(self):
        if self.mask is None:
            return None
        path = QPainterPath()
        path.addRect(QRectF(self._start, self._end).normalized())
        return path


class LassoTool(Tool):
    """Freehand: drag around the area; releasing closes the shape."""

    name, label, paints_on_release = "lasso", "Lasso", True

    def __init__(self) -> None:
        super().__init__()
        self.points: list[QPointF] = []

    def press(self, mask, pos, erase):
        super().press(mask, pos, erase)
        self.points = [pos]
        return None

    def move(self, pos):
        if self.mask is not None:
            self.points.append(pos)
        return None

    def release(self, pos):
        self.move(pos)
        changed = fill_polygon(self.mask, self.points, self.erase) if self.mask is not None else None
        self.cancel()
        return changed

    def outline(self):
        if self.mask is None or len(self.points) < 2:
            return None
        path = QPainterPath()
        path.addPolygon(QPolygonF(self.points))
        path.closeSubpath()
        return path

    def cancel(self):
        super().cancel()
        self.points = []


class PolygonTool(LassoTool):
    """Click the corners; double-click (or Enter) closes the polygon, Esc abandons it."""

    name, label = "polygon", "Polygon"

    def press(self, mask, pos, erase):
        if self.mask is None:
            return super().press(mask, pos, erase)
        self.points.append(pos)
        return None

    def move(self, pos):
        return None

    def release(self, pos):
        return None

    def finished(self):
        return self.mask is None

    def close_polygon(self) -> QRect | None:
        changed = fill_polygon(self.mask, self.points, self.erase) if self.mask is not None else None
        self.cancel()
        return changed


class PickFaceTool(Tool):
    """Not a painter: a click picks which detected face the models complete."""

    name, label = "pick_face", "Pick face"
