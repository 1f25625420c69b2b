"""The photo canvas: zoom, pan, mask painting, face outlines and before/after comparison."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QCursor, QMouseEvent, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QStyleOptionGraphicsItem,
)

from faceinpaint_app.document import Document
from faceinpaint_app.mask_tools import BrushTool, PickFaceTool, PolygonTool, Tool
from faceinpaint_app.qimage import mask_view, rgb_to_pixmap, rgb_to_qimage, rgba_to_qimage, set_mask_colors

ZOOM_STEP = 1.25
MIN_ZOOM, MAX_ZOOM = 0.02, 32.0
FACE_COLOR = QColor(80, 200, 255)
SPLIT_GRAB_PX = 8  # the split divider can be grabbed this far (screen pixels) either side
RESIZE_MODIFIERS = (Qt.KeyboardModifier.ShiftModifier,
                    Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)


def cosmetic_pen(color: QColor, width: float, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    """A pen whose width is in screen pixels, whatever the zoom."""
    pen = QPen(color, width, style)
    pen.setCosmetic(True)
    return pen


class MaskItem(QGraphicsItem):
    """Draws the mask as a tinted overlay straight from the numpy array it shares memory with."""

    def __init__(self) -> None:
        super().__init__()
        self.view = None
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    def attach(self, mask: np.ndarray, color: QColor, opacity: float) -> None:
        self.prepareGeometryChange()
        self._mask = mask  # keeps the shared buffer alive as long as the view
        self.view = mask_view(mask, color, opacity)

    def set_colors(self, color: QColor, opacity: float) -> None:
        if self.view is not None:
            set_mask_colors(self.view, color, opacity)
            self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(self.view.rect()) if self.view is not None else QRectF()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        if self.view is not None:
            exposed = option.exposedRect.toAlignedRect().intersected(self.view.rect())
            painter.drawImage(exposed, self.view, exposed)


class Canvas(QGraphicsView):
    mask_edited = Signal(object, str)  # mask before the edit, undo text
    zoom_changed = Signal(float)
    face_clicked = Signal(int)  # index of the face clicked with the face tool, -1 for a miss
    split_moved = Signal(float)  # the divider was dragged to this fraction of the width
    brush_resized = Signal(float)  # a resize drag set the brush diameter to this many image pixels

    def __init__(self, document: Document, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # zoom_by anchors itself
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setBackgroundBrush(self.palette().dark())
        self.setMouseTracking(True)
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)

        self.image_item = QGraphicsPixmapItem()
        self.image_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.split_clip = QGraphicsRectItem()  # clips the original to the left of the split line
        self.split_clip.setFlag(QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape)
        self.split_clip.setPen(Qt.PenStyle.NoPen)
        self.original_item = QGraphicsPixmapItem(self.split_clip)
        self.split_line = QGraphicsPathItem()
        self.split_line.setPen(cosmetic_pen(QColor(255, 255, 255, 220), 2))
        self.mask_item = MaskItem()
        self.overlay_item = QGraphicsPixmapItem()
        self.overlay_item.setOpacity(0.55)
        self.outline_item = QGraphicsPathItem()
        self.outline_item.setPen(cosmetic_pen(QColor(255, 255, 255), 1.5, Qt.PenStyle.DashLine))
        self.cursor_item = QGraphicsEllipseItem()
        self.cursor_item.setPen(cosmetic_pen(QColor(255, 255, 255, 200), 1))
        items = (self.image_item, self.split_clip, self.overlay_item, self.mask_item, self.split_line,
                 self.outline_item, self.cursor_item)
        for z, item in enumerate(items):
            item.setZValue(z)
            self.scene().addItem(item)
        self.face_items: list[QGraphicsItem] = []

        self.tool: Tool = BrushTool()
        self.mask_color, self.mask_opacity = QColor(255, 40, 90), 0.5
        self.split: float | None = None
        self.preview: np.ndarray | None = None
        self.preview_label = ""  # the badge shown while a preview is on the canvas
        self._showing_original = False
        self._dragging_split = False
        self._fitted = True  # the photo follows the view's size until the user zooms
        self._resize_from: tuple[QPointF, float] | None = None  # press position, brush size then
        self._space_held = False
        self._pan_from: QPointF | None = None
        self._mask_before: np.ndarray | None = None

        document.loaded.connect(self._on_loaded)
        document.image_changed.connect(self._on_image_changed)
        document.mask_changed.connect(lambda rect: self.mask_item.update(QRectF(rect)))
        document.faces_changed.connect(self._draw_faces)

    # -- document -----------------------------------------------------------------------------
    def _on_loaded(self) -> None:
        doc = self.document
        self.preview = None
        self._showing_original = False
        self.original_item.setPixmap(rgb_to_pixmap(doc.original))
        self.image_item.setPixmap(rgb_to_pixmap(doc.image))
        self.mask_item.attach(doc.mask, self.mask_color, self.mask_opacity)
        self.overlay_item.setPixmap(QPixmap())
        self.scene().setSceneRect(QRectF(doc.full_rect()))
        self._draw_faces()
        self._update_split()
        self.fit()

    def _on_image_changed(self, rect: QRect) -> None:
        if self.preview is not None or self._showing_original:
            return  # the document shows again when the preview or comparison ends
        pixmap = self.image_item.pixmap()
        painter = QPainter(pixmap)
        part = self.document.image[rect.top() : rect.bottom() + 1, rect.left() : rect.right() + 1]
        painter.drawImage(rect.topLeft(), rgb_to_qimage(part))
        painter.end()
        self.image_item.setPixmap(pixmap)

    def displayed_image(self) -> np.ndarray:
        """What the canvas shows as "current": the previewed result, else the document image."""
        return self.preview if self.preview is not None else self.document.image

    def _refresh_image(self) -> None:
        shown = self.document.original if self._showing_original else self.displayed_image()
        self.image_item.setPixmap(rgb_to_pixmap(shown))

    def set_preview(self, image: np.ndarray | None, label: str = "") -> None:
        """Show ``image`` (a completion not applied yet) in place of the document, or stop."""
        self.preview = image
        self.preview_label = label if image is not None else ""
        self.mask_item.setVisible(image is None)  # the mask would hide the very completion to judge
        self._refresh_image()
        self.viewport().update()

    def show_original(self, show: bool) -> None:
        """While held: the photo as loaded, instead of the current result."""
        if show != self._showing_original:
            self._showing_original = show
            self._refresh_image()
            self.viewport().update()

    def badge_text(self) -> str:
        """The state badge in the top-left corner: "Original" while Tab is held, else the preview's."""
        return "Original" if self._showing_original else self.preview_label

    def split_x(self) -> float | None:
        """The divider's x in viewport pixels, or None when the split view is off."""
        if self.split is None or self.document.is_empty:
            return None
        return self.mapFromScene(QPointF(self.split * self.document.size[0], 0)).x()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        """Badges in screen pixels: the state (Original, Preview) and Before/After at the divider."""
        painter.save()
        painter.resetTransform()
        badge = self.badge_text()
        if badge:
            draw_badge(painter, QPointF(10, 10), badge, QColor(255, 190, 40) if badge == "Original" else FACE_COLOR)
        x = self.split_x()
        if x is not None:
            top = 44 if badge else 10
            after_width = painter.fontMetrics().horizontalAdvance("After") + 16
            draw_badge(painter, QPointF(x - after_width - 4, top), "Before", QColor(200, 200, 200))
            draw_badge(painter, QPointF(x + 6, top), "After", QColor(200, 200, 200))
        painter.restore()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        self.viewport().update()  # the badges stay put on screen: scrolled pixels would drag them along

    def set_split(self, fraction: float | None) -> None:
        """Original left of ``fraction`` of the width, current image right of it; None = off."""
        self.split = fraction
        self._update_split()

    def _update_split(self) -> None:
        self.viewport().update()
        w, h = self.document.size
        on = self.split is not None and w > 0
        self.split_clip.setVisible(on)
        self.split_line.setVisible(on)
        if on:
            x = self.split * w
            self.split_clip.setRect(QRectF(0, 0, x, h))
            line = QPainterPath(QPointF(x, 0))
            line.lineTo(x, h)
            self.split_line.setPath(line)

    def set_overlay(self, rgba: np.ndarray | None) -> None:
        """A model's extra output (segmentation, heatmaps) drawn over the photo; None hides it."""
        self.overlay_item.setPixmap(QPixmap.fromImage(rgba_to_qimage(rgba)) if rgba is not None else QPixmap())

    def set_mask_style(self, color: QColor, opacity: float) -> None:
        self.mask_color, self.mask_opacity = color, opacity
        self.mask_item.set_colors(color, opacity)

    # -- faces --------------------------------------------------------------------------------
    def _draw_faces(self) -> None:
        for item in self.face_items:
            self.scene().removeItem(item)
        self.face_items = []
        several = len(self.document.faces) > 1
        for index, face in enumerate(self.document.faces):
            selected = index == self.document.selected_face
            x0, y0, x1, y1 = face.box
            outline = QGraphicsPathItem()
            path = QPainterPath()
            radius = 0.12 * (x1 - x0)
            path.addRoundedRect(QRectF(x0, y0, x1 - x0, y1 - y0), radius, radius)
            outline.setPath(path)
            if selected:
                pen = cosmetic_pen(FACE_COLOR, 2)
            else:
                pen = cosmetic_pen(QColor(200, 200, 200, 160), 1.5, Qt.PenStyle.DashLine)
            outline.setPen(pen)
            outline.setZValue(self.outline_item.zValue())
            outline.setToolTip(f"Face {index + 1}" + ("" if selected else " (pick it with the face tool)"))
            self.scene().addItem(outline)
            self.face_items.append(outline)
            if several:
                label = QGraphicsSimpleTextItem(str(index + 1), outline)
                label.setBrush(QBrush(pen.color()))
                label.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
                label.setPos(x0, y0)

    def face_at(self, pos: QPointF) -> int | None:
        """Index of the smallest face whose box holds ``pos`` (nested faces: the inner one)."""
        hits = [(face.area, i) for i, face in enumerate(self.document.faces)
                if face.box[0] <= pos.x() <= face.box[2] and face.box[1] <= pos.y() <= face.box[3]]
        return min(hits)[1] if hits else None

    # -- zoom ---------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the photo point under ``anchor`` (viewport pixels) where it is.

        Without an anchor: the pointer when it is over the canvas, else the viewport's centre.
        """
        at_pointer = anchor is not None
        if anchor is None:
            pointer = self.viewport().mapFromGlobal(QCursor.pos())
            at_pointer = self.underMouse() and self.viewport().rect().contains(pointer)
            anchor = QPointF(pointer) if at_pointer else QPointF(self.viewport().rect().center())
        self._fitted = False
        factor = float(np.clip(self.zoom * factor, MIN_ZOOM, MAX_ZOOM)) / self.zoom
        scene_point = self.viewportTransform().inverted()[0].map(anchor)
        self.scale(factor, factor)
        moved = self.viewportTransform().map(scene_point) - anchor
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + round(moved.x()))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + round(moved.y()))
        if self._resize_from is None and at_pointer:  # the brush circle stays under the pointer
            self._update_cursor(self.viewportTransform().inverted()[0].map(anchor))
        self.zoom_changed.emit(self.zoom)

    def fit(self) -> None:
        """Show the whole photo, and keep showing it as the view resizes until the user zooms."""
        self._fitted = True
        if not self.document.is_empty:
            self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
            self.zoom_changed.emit(self.zoom)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    def actual_size(self) -> None:
        self.zoom_by(1.0 / self.zoom)

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120
        if steps and not self.document.is_empty:
            self.zoom_by(ZOOM_STEP**steps, event.position())
        event.accept()

    def viewportEvent(self, event: QEvent) -> bool:
        """Touchpad pinch zooms around the fingers."""
        if event.type() == QEvent.Type.NativeGesture and event.gestureType() == Qt.NativeGestureType.ZoomNativeGesture:
            if not self.document.is_empty:
                self.zoom_by(1.0 + event.value(), event.position())
            return True
        return super().viewportEvent(event)

    # -- tools --------------------------------------------------------------------------------
    def set_tool(self, tool: Tool) -> None:
        self.cancel_shape()
        self.tool = tool
        self._update_cursor(None)

    def cancel_shape(self) -> None:
        """Abandon a half-drawn shape (Esc); brush strokes are committed as they go."""
        if self._mask_before is not None and self.tool.paints_on_release:
            self.tool.cancel()
            self._mask_before = None
            self.outline_item.setPath(QPainterPath())

    def shape_in_progress(self) -> bool:
        return self._mask_before is not None

    def close_polygon(self) -> None:
        if isinstance(self.tool, PolygonTool) and self._mask_before is not None:
            self._painted(self.tool.close_polygon())
            self._commit_edit()

    def set_space_held(self, held: bool) -> None:
        self._space_held = held
        self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if held else Qt.CursorShape.CrossCursor)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.document.is_empty:
            return super().mousePressEvent(event)
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space_held):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        pos = self.mapToScene(event.position().toPoint())
        if button == Qt.MouseButton.LeftButton and self._near_split(event.position()):
            self._dragging_split = True
            return
        if button == Qt.MouseButton.LeftButton and getattr(self.tool, "size", None) is not None \
                and event.modifiers() in RESIZE_MODIFIERS:
            self._resize_from = (event.position(), float(self.tool.size))
            return
        if isinstance(self.tool, PickFaceTool):
            index = self.face_at(pos)
            self.face_clicked.emit(-1 if index is None else index)
            return
        if button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            if self._mask_before is None:
                self._mask_before = self.document.mask.copy()
            self._painted(self.tool.press(self.document.mask, pos, erase=button == Qt.MouseButton.RightButton))
            self._show_outline()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
            return
        if self._dragging_split:
            fraction = float(np.clip(self.mapToScene(event.position().toPoint()).x() / self.document.size[0], 0, 1))
            self.set_split(fraction)
            self.split_moved.emit(fraction)
            return
        if self._resize_from is not None:
            start, size = self._resize_from
            # The circle's edge follows the pointer: half the diameter per screen pixel dragged.
            self.tool.size = max(1.0, size + 2 * (event.position().x() - start.x()) / self.zoom)
            self._update_cursor(self.mapToScene(start.toPoint()))
            self.brush_resized.emit(self.tool.size)
            return
        self.viewport().setCursor(Qt.CursorShape.SplitHCursor if self._near_split(event.position())
                                  else Qt.CursorShape.CrossCursor)
        pos = self.mapToScene(event.position().toPoint())
        self._update_cursor(pos)
        if self._mask_before is not None and event.buttons() & (Qt.MouseButton.LeftButton | Qt.MouseButton.RightButton):
            self._painted(self.tool.move(pos))
            self._show_outline()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self.set_space_held(self._space_held)
            return
        if self._dragging_split or self._resize_from is not None:
            self._dragging_split, self._resize_from = False, None
            return
        if self._mask_before is None:
            return
        self._painted(self.tool.release(self.mapToScene(event.position().toPoint())))
        if self.tool.finished():
            self._commit_edit()
        else:
            self._show_outline()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if isinstance(self.tool, PolygonTool):
            self.close_polygon()
        else:
            self.mousePressEvent(event)

    def _near_split(self, pos: QPointF) -> bool:
        x = self.split_x()
        return x is not None and not self._space_held and abs(pos.x() - x) <= SPLIT_GRAB_PX

    def leaveEvent(self, event) -> None:
        self._update_cursor(None)
        super().leaveEvent(event)

    def _painted(self, rect: QRect | None) -> None:
        if rect is not None:
            self.document.notify_mask_painted(rect)

    def _commit_edit(self) -> None:
        before, self._mask_before = self._mask_before, None
        self.outline_item.setPath(QPainterPath())
        self.mask_edited.emit(before, self.tool.label)

    def _show_outline(self) -> None:
        self.outline_item.setPath(self.tool.outline() or QPainterPath())

    def _update_cursor(self, pos: QPointF | None) -> None:
        size = getattr(self.tool, "size", None)
        if pos is None or size is None or self._space_held:
            self.cursor_item.hide()
            return
        self.cursor_item.setRect(QRectF(pos.x() - size / 2, pos.y() - size / 2, size, size))
        self.cursor_item.show()


def draw_badge(painter: QPainter, top_left: QPointF, text: str, color: QColor) -> None:
    """A rounded label with dark fill, readable over any photo."""
    metrics = painter.fontMetrics()
    box = QRectF(top_left.x(), top_left.y(), metrics.horizontalAdvance(text) + 16, metrics.height() + 10)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(color, 1.5))
    painter.setBrush(QColor(20, 20, 20, 190))
    painter.drawRoundedRect(box, 6, 6)
    painter.setPen(color)
    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
