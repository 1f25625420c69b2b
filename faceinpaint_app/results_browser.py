"""The diverse-result browser: a strip of completions with their seeds.

Click a thumbnail to preview it on the canvas, apply it (undoable), delete it, ask the same
model for more samples, or reproduce one from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
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

from faceinpaint_app.icons import icon
from faceinpaint_app.qimage import rgb_to_pixmap

THUMBNAIL = 104
ENTRY_ROLE = Qt.ItemDataRole.UserRole


@dataclass
class ResultEntry:
    """One completion and the mask of the run that made it (applying composites inside it)."""

    result: object  # engine.inpainter.InpaintResult
    mask: np.ndarray
    model: str
    diverse: bool = False  # the model samples: its seed tells this completion apart


class ResultsBrowser(QWidget):
    preview_requested = Signal(object)  # ResultEntry, or None to show the document again
    apply_requested = Signal(object)  # ResultEntry
    more_requested = Signal(object)  # ResultEntry whose model and hole to sample again
    reproduce_requested = Signal(object, int)  # ResultEntry, seed

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._busy = False
        self.strip = QListWidget()
        self.strip.setViewMode(QListView.ViewMode.IconMode)
        self.strip.setFlow(QListView.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setMovement(QListView.Movement.Static)
        self.strip.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        self.strip.setSpacing(6)
        self.strip.setFixedHeight(THUMBNAIL + 52)
        self.strip.setToolTip("Click a completion to preview it; double-click to apply it")
        self.strip.currentItemChanged.connect(self._on_current)
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
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
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
        """Append completions to the strip and select the ``select``-th new one."""
        first_row = self.strip.count()
        for entry in entries:
            seed = f"seed {entry.result.seed}" if entry.diverse else "deterministic"
            item = QListWidgetItem(QIcon(rgb_to_pixmap(entry.result.crop)), f"{entry.model}\n{seed}")
            item.setData(ENTRY_ROLE, entry)
            item.setToolTip(f"{entry.model}, {seed}")
            self.strip.addItem(item)
        self.caption.setText(f"{self.strip.count()} completion(s) — click to preview, double-click to apply")
        if entries:
            self.strip.blockSignals(True)  # the newest result is applied already; no preview needed
            self.strip.setCurrentRow(first_row + select)
            self.strip.blockSignals(False)
            self._show_seed(entries[select])
        self._update_buttons()

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

    def delete_current(self) -> None:
        row = self.strip.currentRow()
        if row >= 0:
            self.strip.takeItem(row)
            self.preview_requested.emit(self.current())
            self._update_buttons()

    def clear(self) -> None:
        self.strip.clear()
        self.caption.setText("Completions appear here after a run.")
        self._update_buttons()

    def _on_current(self, item: QListWidgetItem | None) -> None:
        entry = item.data(ENTRY_ROLE) if item is not None else None
        if entry is not None:
            self._show_seed(entry)
        self.preview_requested.emit(entry)
        self._update_buttons()

    def _show_seed(self, entry: ResultEntry) -> None:
        if entry.result.seed is not None:
            self.seed.setValue(entry.result.seed)

    def _emit_for_current(self, emit) -> None:
        entry = self.current()
        if entry is not None:
            emit(entry)

    def _update_buttons(self) -> None:
        entry = self.current()
        self.apply_button.setEnabled(entry is not None)
        self.delete_button.setEnabled(entry is not None)
        can_sample = entry is not None and entry.diverse and not self._busy
        for widget in (self.more_button, self.reproduce_button, self.seed):
            widget.setEnabled(can_sample)

    def set_busy(self, busy: bool) -> None:
        """No new runs while one is going; browsing the strip stays possible."""
        self._busy = busy
        self._update_buttons()
