"""The photo being edited: the original, the current image, the mask and the detected faces.

Arrays are changed in place (the canvas overlay shares the mask's memory), always through
``write_mask`` / ``write_image`` so every view hears about the changed rectangle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRect, Signal


class Document(QObject):
    loaded = Signal()
    image_changed = Signal(QRect)
    mask_changed = Signal(QRect)
    faces_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self.source_info: Any = None  # engine.imageio's info (format, EXIF) for saving like the input
        self.original = np.zeros((0, 0, 3), np.uint8)
        self.image = self.original
        self.mask = np.zeros((0, 0), np.uint8)
        self.faces: list = []
        self.selected_face: int | None = None

    @property
    def is_empty(self) -> bool:
        return self.original.size == 0

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.original.shape[1], self.original.shape[0]

    def load(self, image: np.ndarray, path: Path | None = None, source_info: Any = None) -> None:
        self.path, self.source_info = path, source_info
        self.original = np.ascontiguousarray(image, dtype=np.uint8)
        self.original.flags.writeable = False
        self.image = self.original.copy()
        self.mask = np.zeros(image.shape[:2], np.uint8)
        self.faces, self.selected_face = [], None
        self.loaded.emit()

    def write_mask(self, values: np.ndarray, rect: QRect | None = None) -> None:
        """Replace the mask inside ``rect`` (the whole mask when None) with ``values``."""
        rect = rect or self.full_rect()
        self.mask[rect.top() : rect.bottom() + 1, rect.left() : rect.right() + 1] = values
        self.mask_changed.emit(rect)

    def write_image(self, values: np.ndarray, rect: QRect | None = None) -> None:
        rect = rect or self.full_rect()
        self.image[rect.top() : rect.bottom() + 1, rect.left() : rect.right() + 1] = values
        self.image_changed.emit(rect)

    def notify_mask_painted(self, rect: QRect) -> None:
        """The mask was painted in place (a brush stroke in progress) inside ``rect``."""
        self.mask_changed.emit(rect.intersected(self.full_rect()))

    def set_faces(self, faces: list) -> None:
        self.faces = list(faces)
        self.selected_face = 0 if self.faces else None
        self.faces_changed.emit()

    def select_face(self, index: int) -> None:
        if 0 <= index < len(self.faces) and index != self.selected_face:
            self.selected_face = index
            self.faces_changed.emit()

    @property
    def face(self):
        """The face the user picked (the largest by default), or None."""
        return None if self.selected_face is None else self.faces[self.selected_face]

    def full_rect(self) -> QRect:
        return QRect(0, 0, *self.size)
