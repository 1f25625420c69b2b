"""Side-by-side comparison: the original and each model's completion in a synchronised grid."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QGridLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from faceinpaint_app.qimage import rgb_to_pixmap, rgb_to_qimage

ZOOM_STEP = 1.25
CAPTION_HEIGHT = 56


class TileView(QGraphicsView):
    """One image of the grid; wheel and scroll are forwarded to the grid to keep all in step."""

    def __init__(self, grid: "CompareGrid") -> None:
        super().__init__()
        self.grid = grid
        self.setScene(QGraphicsScene(self))
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.item)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(self.palette().dark())
        # Ignore the image's size hint so every tile gets an equal share of the grid.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(120, 90)
        # No scroll bars: fitting would show or hide them, resize the view and fit again, forever.
        # Dragging still pans.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.horizontalScrollBar().valueChanged.connect(lambda _: grid.follow(self))
        self.verticalScrollBar().valueChanged.connect(lambda _: grid.follow(self))

    def show_image(self, rgb: np.ndarray) -> None:
        self.item.setPixmap(rgb_to_pixmap(rgb))
        self.scene().setSceneRect(QRectF(self.item.pixmap().rect()))

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.grid.zoom_all(ZOOM_STEP**steps, leader=self)
        event.accept()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.grid.auto_fit:
            self.fit()

    def fit(self) -> None:
        self.fitInView(self.grid.focus or self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)


class Tile(QFrame):
    def __init__(self, grid: "CompareGrid", title: str) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title_text = title
        self.title = QLabel(f"<b>{title}</b>")
        self.view = TileView(grid)
        self.caption = QLabel("running…")
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)
        self.image: np.ndarray | None = None


def format_metrics(metrics: dict[str, float]) -> str:
    parts = []
    if "PSNR" in metrics:
        parts.append("PSNR ∞" if math.isinf(metrics["PSNR"]) else f"PSNR {metrics['PSNR']:.2f} dB")
    if "SSIM" in metrics:
        parts.append(f"SSIM {metrics['SSIM']:.3f}")
    if "NME" in metrics:
        parts.append(f"landmark NME {metrics['NME']:.3f}")
    return " · ".join(parts)


def hole_frame(mask: np.ndarray, context: float = 1.0) -> QRectF | None:
    """The hole's bounding box with ``context`` times its size around it, inside the photo."""
    rows, cols = np.flatnonzero((mask > 127).any(axis=1)), np.flatnonzero((mask > 127).any(axis=0))
    if rows.size == 0:
        return None
    h, w = mask.shape[:2]
    pad_y, pad_x = context * (rows[-1] - rows[0] + 1), context * (cols[-1] - cols[0] + 1)
    pad = max(pad_x, pad_y, 16)
    x0, y0 = max(0.0, cols[0] - pad), max(0.0, rows[0] - pad)
    x1, y1 = min(float(w), cols[-1] + 1 + pad), min(float(h), rows[-1] + 1 + pad)
    return QRectF(x0, y0, x1 - x0, y1 - y0)


class CompareGrid(QWidget):
    """Original plus one tile per model; zoom and pan are linked across the tiles."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.layout_ = QGridLayout(self)
        self.tiles: dict[str, Tile] = {}
        self.auto_fit = True  # tiles follow the window size until the user zooms
        self.focus: QRectF | None = None  # the part the tiles fit to: around the hole
        self._following = False
        self.hint = QLabel("Tick several models in the model panel and press Compare (Ctrl+Shift+R).")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.layout_.addWidget(self.hint, 0, 0)

    def start(self, original: np.ndarray, models: list[tuple[str, str]], scored: bool, mask: np.ndarray) -> None:
        """Lay out the original and one pending tile per (name, display name), framed on the hole."""
        self.focus = hole_frame(mask)
        while self.layout_.count():
            widget = self.layout_.takeAt(0).widget()
            if widget is not None and widget is not self.hint:
                widget.deleteLater()
        self.hint.hide()
        self.tiles = {}
        self.auto_fit = True
        columns = math.ceil(math.sqrt(len(models) + 1))
        rows = math.ceil((len(models) + 1) / columns)
        for index in range(max(columns, rows, self.layout_.columnCount(), self.layout_.rowCount())):
            self.layout_.setColumnStretch(index, 1 if index < columns else 0)
            self.layout_.setRowStretch(index, 1 if index < rows else 0)
        original_tile = Tile(self, "Original")
        original_tile.caption.setText("reference for the scores" if scored else "as loaded")
        entries = [("__original__", original_tile)] + [(name, Tile(self, title)) for name, title in models]
        for index, (name, tile) in enumerate(entries):
            self.tiles[name] = tile
            self.layout_.addWidget(tile, index // columns, index % columns)
        self._show(original_tile, original)

    def model_tiles(self) -> dict[str, Tile]:
        return {name: tile for name, tile in self.tiles.items() if name != "__original__"}

    def set_result(self, model: str, image: np.ndarray, metrics: dict[str, float] | None) -> None:
        tile = self.tiles[model]
        self._show(tile, image)
        tile.caption.setText(format_metrics(metrics) if metrics else "done (not scored)")

    def set_error(self, model: str, message: str) -> None:
        tile = self.tiles[model]
        tile.caption.setText(f"<span style='color:#d9534f'>{message}</span>")
        tile.caption.setToolTip(message)

    def mark_cancelled(self) -> None:
        for tile in self.model_tiles().values():
            if tile.image is None:
                tile.caption.setText("cancelled")

    def _show(self, tile: Tile, image: np.ndarray) -> None:
        tile.image = image
        tile.view.show_image(image)
        leader = self.tiles["__original__"]
        if self.auto_fit or tile is leader:
            tile.view.fit()
        else:
            self.follow(leader.view)

    def fit_all(self) -> None:
        """Back to the whole photo in every tile."""
        self.auto_fit, self.focus = True, None
        for tile in self.tiles.values():
            tile.view.fit()

    def zoom_all(self, factor: float, leader: TileView) -> None:
        self.auto_fit = False
        for tile in self.tiles.values():
            tile.view.scale(factor, factor)
        self.follow(leader)

    def follow(self, leader: TileView) -> None:
        """Scroll every other tile to where ``leader`` is (guarded against echoes)."""
        if self._following:
            return
        self._following = True
        try:
            h, v = leader.horizontalScrollBar().value(), leader.verticalScrollBar().value()
            for tile in self.tiles.values():
                if tile.view is not leader:
                    tile.view.setTransform(leader.transform())
                    tile.view.horizontalScrollBar().setValue(h)
                    tile.view.verticalScrollBar().setValue(v)
        finally:
            self._following = False

    def sheet(self) -> QImage:
        """The grid at full resolution with captions, for saving as a PNG."""
        tiles = [t for t in self.tiles.values() if t.image is not None]
        if not tiles:
            return QImage()
        h, w = tiles[0].image.shape[:2]
        columns = math.ceil(math.sqrt(len(tiles)))
        rows = math.ceil(len(tiles) / columns)
        gap = 8
        sheet = QImage(columns * (w + gap) + gap, rows * (h + CAPTION_HEIGHT + gap) + gap, QImage.Format.Format_RGB888)
        sheet.fill(QColor("white"))
        painter = QPainter(sheet)
        font = QFont()
        font.setPixelSize(max(12, min(24, w // 28)))
        painter.setFont(font)
        for index, tile in enumerate(tiles):
            x = gap + (index % columns) * (w + gap)
            y = gap + (index // columns) * (h + CAPTION_HEIGHT + gap)
            painter.drawImage(x, y, rgb_to_qimage(tile.image))
            text = f"{tile.title_text}\n{tile.caption.text()}"
            painter.setPen(QColor("black"))
            caption_box = QRectF(x, y + h + 2, w, CAPTION_HEIGHT - 2)
            painter.drawText(caption_box, Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap, text)
        painter.end()
        return sheet
