"""The completions strip: results grouped per hole, newest hole first, with their seeds.

Click a thumbnail to preview it on the canvas, apply it (undoable), delete it, ask the same
model for more samples, or reproduce one from its seed. Each run's mask is a hole; the hole
picker switches between the holes completed so far, and Clear empties the strip.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from faceinpaint_app.compare_view import hole_frame
from faceinpaint_app.icons import icon
from faceinpaint_app.qimage import rgb_to_pixmap

THUMBNAIL = 88
THUMBNAIL_CONTEXT = 0.5  # the hole plus half its size around it
PADDING_GREY = 64
ENTRY_ROLE = Qt.ItemDataRole.UserRole


@dataclass
class ResultEntry:
    """One completion and the mask of the run that made it (applying composites inside it)."""

    result: object  # engine.models.base.InpaintResult
    mask: np.ndarray
    model: str
    diverse: bool = False  # the model samples: its seed tells this completion apart


@dataclass
class HoleGroup:
    """The completions of one hole (one run mask), newest run first."""

    number: int
    key: str
    entries: list[ResultEntry] = field(default_factory=list)


def hole_key(mask: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(mask > 127).tobytes(), digest_size=12).hexdigest()


def hole_thumbnail(image: np.ndarray, mask: np.ndarray, size: int = THUMBNAIL) -> np.ndarray:
    """A ``size`` square of ``image`` around the hole, the same framing for every photo size.

    Beyond the photo's border the square is flat grey (not mirrored, which would invent a face).
    """
    frame = hole_frame(mask, THUMBNAIL_CONTEXT)
    h, w = image.shape[:2]
    if frame is None:
        cx, cy, side = w / 2, h / 2, float(max(w, h))
    else:
        cx, cy = frame.center().x(), frame.center().y()
        side = max(frame.width(), frame.height())
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    side = max(1, round(side))
    square = np.full((side, side, 3), PADDING_GREY, np.uint8)
    sx0, sy0 = max(0, x0), max(0, y0)
    sx1, sy1 = min(w, x0 + side), min(h, y0 + side)
    if sx1 > sx0 and sy1 > sy0:
        square[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    shrinking = side > size
    return cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def plural(count: int) -> str:
    return f"{count} completion{'s' if count != 1 else ''}"


def thumbnail_icon(rgb: np.ndarray) -> QIcon:
    """The same picture selected or not: the strip marks the selection with its frame, not a tint."""
    pixmap = rgb_to_pixmap(rgb)
    result = QIcon(pixmap)
    result.addPixmap(pixmap, QIcon.Mode.Selected)
    return result


class ResultsBrowser(QWidget):
    preview_requested = Signal(object)  # ResultEntry, or None to show the document again
    apply_requested = Signal(object)  # ResultEntry
    more_requested = Signal(object)  # ResultEntry whose model and hole to sample again
    reproduce_requested = Signal(object, int)  # ResultEntry, seed

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._busy = False
        self.groups: list[HoleGroup] = []  # newest hole first
        self._holes_seen = 0
        self.hole_picker = QComboBox()
        self.hole_picker.setToolTip("Each painted area completed so far, newest first")
        self.hole_picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.hole_picker.currentIndexChanged.connect(self._show_group)
        self.position = QLabel()
        self.clear_button = self._button("clear_results", "Clear", "Remove every completion from the strip")
        self.clear_button.clicked.connect(self.clear)
        self.strip = QListWidget()
        self.strip.setViewMode(QListView.ViewMode.IconMode)
        self.strip.setFlow(QListView.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setMovement(QListView.Movement.Static)
        self.strip.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        self.strip.setSpacing(6)
        self.strip.setFixedHeight(THUMBNAIL + 48)
        self.strip.setUniformItemSizes(True)
        self.strip.setGridSize(QSize(THUMBNAIL + 28, THUMBNAIL + 40))
        self.strip.setToolTip("Click a completion to preview it; double-click to apply it")
        self.strip.currentItemChanged.connect(self._on_current)
        self.strip.itemClicked.connect(self._on_current)  # preview again after an edit ended the preview
        self.strip.itemDoubleClicked.connect(lambda item: self.apply_requested.emit(item.data(ENTRY_ROLE)))

        self.apply_button = self._button("apply", "Apply", "Put this completion into the photo (Ctrl+Return)")
        self.apply_button.clicked.connect(lambda: self._emit_for_current(self.apply_requested.emit))
        self.delete_button = self._button("delete", "Delete", "Remove this completion from the strip (Del)")
        self.delete_button.clicked.connect(self.delete_current)
        self.more_button = self._button("more", "More", "Draw more samples from the same model")
        self.more_button.clicked.connect(lambda: self._emit_for_current(self.more_requested.emit))
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1025)
        self.seed.setToolTip("Seed to reproduce")
        self.reproduce_button = self._button("seed", "Reproduce", "Run the same model again with this seed")
        self.reproduce_button.clicked.connect(
            lambda: self._emit_for_current(lambda e: self.reproduce_requested.emit(e, self.seed.value()))
        )
        self.caption = QLabel("Completions appear here after a run.")
        self.live = QLabel()
        self.live.setFixedSize(THUMBNAIL, THUMBNAIL)
        self.live.setScaledContents(True)
        self.live.setToolTip("Live preview of the running model")
        self.live.hide()
        row = QHBoxLayout()
        for widget in (self.apply_button, self.delete_button, self.more_button):
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(QLabel("Seed:"))
        row.addWidget(self.seed)
        row.addWidget(self.reproduce_button)
        strip_row = QHBoxLayout()
        strip_row.addWidget(self.live)
        strip_row.addWidget(self.strip, 1)
        top = QHBoxLayout()
        top.addWidget(self.hole_picker)
        top.addWidget(self.position)
        top.addWidget(self.caption, 1)
        top.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addLayout(strip_row)
        layout.addLayout(row)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.setMaximumHeight(self.sizeHint().height())  # a strip: extra height would only be blank
        self._update_buttons()

    @staticmethod
    def _button(icon_key: str, text: str, tip: str) -> QPushButton:
        button = QPushButton(icon(icon_key), text)
        button.setToolTip(tip)
        return button

    def add(self, entries: list[ResultEntry], *, select: int = 0) -> None:
        """File completions under their hole, put that hole first, and preview the ``select``-th."""
        if not entries:
            return
        key = hole_key(entries[0].mask)
        group = next((g for g in self.groups if g.key == key), None)
        if group is None:
            self._holes_seen += 1
            group = HoleGroup(self._holes_seen, key)
        else:
            self.groups.remove(group)
        group.entries[:0] = entries  # the newest run first, its samples in seed order
        self.groups.insert(0, group)
        self._refill_picker()
        self._show_group(0, select=select)

    def _refill_picker(self) -> None:
        self.hole_picker.blockSignals(True)
        self.hole_picker.clear()
        for index, group in enumerate(self.groups):
            newest = " (newest)" if index == 0 and len(self.groups) > 1 else ""
            self.hole_picker.addItem(f"Hole {group.number}{newest}: {plural(len(group.entries))}")
        self.hole_picker.setCurrentIndex(0 if self.groups else -1)
        self.hole_picker.blockSignals(False)
        self.hole_picker.setVisible(bool(self.groups))

    def _show_group(self, index: int, *, select: int = 0) -> None:
        self.strip.blockSignals(True)
        self.strip.clear()
        group = self.groups[index] if 0 <= index < len(self.groups) else None
        for entry in group.entries if group else []:
            seed = f"seed {entry.result.seed}" if entry.diverse else "deterministic"
            item = QListWidgetItem(thumbnail_icon(hole_thumbnail(entry.result.image, entry.mask)),
                                   f"{entry.model}\n{seed}")
            item.setData(ENTRY_ROLE, entry)
            item.setToolTip(f"{entry.model}, {seed}")
            item.setSizeHint(self.strip.gridSize())
            self.strip.addItem(item)
        self.strip.blockSignals(False)
        self._update_buttons()
        if group:
            self.strip.setCurrentRow(min(select, len(group.entries) - 1))  # previews it
        else:
            self.preview_requested.emit(None)

    def show_live(self, preview: np.ndarray | None) -> None:
        """An iterative model's work in progress (its crop); None hides it."""
        if preview is None:
            self.live.hide()
        else:
            self.live.setPixmap(rgb_to_pixmap(preview))
            self.live.show()

    def entries(self) -> list[ResultEntry]:
        return [self.strip.item(row).data(ENTRY_ROLE) for row in range(self.strip.count())]

    def current(self) -> ResultEntry | None:
        item = self.strip.currentItem()
        return item.data(ENTRY_ROLE) if item is not None else None

    def current_group(self) -> HoleGroup | None:
        index = self.hole_picker.currentIndex()
        return self.groups[index] if 0 <= index < len(self.groups) else None

    def delete_current(self) -> None:
        row, group = self.strip.currentRow(), self.current_group()
        if row < 0 or group is None:
            return
        del group.entries[row]
        if group.entries:
            index = self.hole_picker.currentIndex()
            self.hole_picker.setItemText(index, f"Hole {group.number}: {plural(len(group.entries))}")
            self._show_group(index, select=row)
        else:
            self.groups.remove(group)
            self._refill_picker()
            self._show_group(0)

    def clear(self) -> None:
        self.groups = []
        self._refill_picker()
        self._show_group(-1)

    def _on_current(self, item: QListWidgetItem | None) -> None:
        entry = item.data(ENTRY_ROLE) if item is not None else None
        if entry is not None:
            self._show_seed(entry)
        self._update_buttons()
        self.preview_requested.emit(entry)  # last: the window then says whether Apply has anything to do

    def _show_seed(self, entry: ResultEntry) -> None:
        if entry.diverse and entry.result.seed is not None:  # a deterministic model's seed means nothing
            self.seed.setValue(entry.result.seed)

    def _emit_for_current(self, emit) -> None:
        entry = self.current()
        if entry is not None:
            emit(entry)

    def _update_buttons(self) -> None:
        entry = self.current()
        count = self.strip.count()
        self.position.setText(f"<b>{self.strip.currentRow() + 1} of {count}</b> ·" if entry is not None else "")
        self.caption.setText("click to preview, double-click to apply" if count
                             else "Completions appear here after a run.")
        self.clear_button.setEnabled(bool(self.groups))
        self.apply_button.setEnabled(entry is not None)
        self.delete_button.setEnabled(entry is not None)
        can_sample = entry is not None and entry.diverse and not self._busy
        for widget in (self.more_button, self.reproduce_button, self.seed):
            widget.setEnabled(can_sample)

    def set_busy(self, busy: bool) -> None:
        """No new runs while one is going; browsing the strip stays possible."""
        self._busy = busy
        self._update_buttons()
